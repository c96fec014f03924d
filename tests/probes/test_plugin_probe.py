"""A probe kind from another package: the sttwatch_ping plugin of docs/extending.md.

The package is built from its own pyproject.toml (entry point group
``sttwatch.probes``) and pip-installed into a temporary virtual environment
layered over the one running the tests, so it is found the way a user's
plugin is: through its installed entry point, by a separate sttwatch process.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
import yaml

from tests.support.configs import config_doc, sim_target, write_config

if TYPE_CHECKING:
    from monitor.simulator import SimulatorHandle
    from tests.support.fixture_types import SimStarter

REPO = Path(__file__).resolve().parents[2]
SIM_KEY = "sim-key"
OFFLINE = ("--no-index", "--disable-pip-version-check")

PYPROJECT = """\
[build-system]
requires = ["setuptools", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "sttwatch-ping"
version = "0.1.0"
dependencies = ["aiohttp"]

[project.entry-points."sttwatch.probes"]
ping = "sttwatch_ping:PROBE"
"""

# The plugin of issue 13, word for word.
PLUGIN = """\
import aiohttp
from monitor.probes import ProbeSpec, ProbeType, RunRecorder

class PingSpec(ProbeSpec):
    path: str = "/"

async def run(target, spec, ctx):
    rec = RunRecorder(target, "ping", ctx)
    with rec.phase("get"):
        async with aiohttp.ClientSession() as s:
            async with s.get(str(target.api_base).rstrip("/") + spec.path) as r:
                await r.read()
    return rec.passed(rec.phases["get"], spec.degraded_after, f"HTTP {r.status}")

PROBE = ProbeType(name="ping", label="Ping", spec=PingSpec, run=run,
                  phases=("get",), key_phase="get")
"""


@pytest.fixture(scope="module")
def plugin_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the python of a venv that has sttwatch_ping installed (and our dependencies)."""
    root = tmp_path_factory.mktemp("plugin")
    pkg = root / "sttwatch-ping"
    (pkg / "sttwatch_ping").mkdir(parents=True)
    (pkg / "pyproject.toml").write_text(PYPROJECT)
    (pkg / "sttwatch_ping" / "__init__.py").write_text(PLUGIN)
    venv = root / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)],
        check=True,
        timeout=60,
    )
    python = venv / "bin" / "python"
    # The venv sees the packages of the environment running the tests (aiohttp,
    # pydantic, pip, setuptools...), as a user's venv sees what sttwatch needs.
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()
    Path(purelib, "tests-parent-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            *OFFLINE,
            str(pkg),
        ],
        check=True,
        timeout=120,
        capture_output=True,
    )
    return python


def config(tmp_path: Path, sim: SimulatorHandle, ping: dict[str, Any]) -> Path:
    target = sim_target(sim, key="${STTWATCH_TEST_KEY}", probes={"ping": ping})
    return write_config(tmp_path, config_doc(tmp_path, [target]))


def sttwatch(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``sttwatch ARGS`` with the plugin's venv (this checkout's monitor/)."""
    return subprocess.run(
        [str(python), "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "STTWATCH_TEST_KEY": SIM_KEY},
    )


@pytest.fixture
async def sim(start_sim: SimStarter) -> SimulatorHandle:
    return await start_sim()


def test_the_plugin_is_not_seen_without_its_entry_point() -> None:
    # The control: in the environment running the tests, no "ping" kind exists.
    from monitor.probes import probe_types

    assert "ping" not in probe_types()


async def test_check_config_validates_the_plugin_spec(
    plugin_python: Path, tmp_path: Path, sim: SimulatorHandle
) -> None:
    good = sttwatch(
        plugin_python, "check-config", "-c", str(config(tmp_path, sim, {"path": "/v2"}))
    )
    assert good.returncode == 0, good.stderr
    assert "ping:" in good.stdout and "path: /v2" in good.stdout

    bad = sttwatch(plugin_python, "check-config", "-c", str(config(tmp_path, sim, {"patth": "/"})))
    assert bad.returncode == 2
    assert "targets[0].probes.ping.patth: unknown key (did you mean 'path'?)" in bad.stderr

    slow = config(tmp_path, sim, {"timeout": "5s", "degraded_after": "6s"})
    late = sttwatch(plugin_python, "check-config", "-c", str(slow))
    assert late.returncode == 2
    assert "targets[0].probes.ping.degraded_after: degraded_after (6s) must be shorter" in (
        late.stderr
    )


async def test_an_unknown_kind_gets_a_did_you_mean(
    plugin_python: Path, tmp_path: Path, sim: SimulatorHandle
) -> None:
    path = config(tmp_path, sim, {})
    raw = yaml.safe_load(path.read_text())
    raw["targets"][0]["probes"] = {"pnig": {}}
    path.write_text(yaml.safe_dump(raw))
    out = sttwatch(plugin_python, "check-config", "-c", str(path))
    assert out.returncode == 2
    assert "targets[0].probes.pnig: unknown probe kind (did you mean 'ping'?)" in out.stderr


async def test_once_runs_the_plugin_against_the_simulator(
    plugin_python: Path, tmp_path: Path, sim: SimulatorHandle
) -> None:
    cfg = config(tmp_path, sim, {"path": "/v2/transcript", "timeout": "5s"})
    proc = await asyncio.create_subprocess_exec(
        str(plugin_python),
        "-m",
        "monitor",
        "once",
        "-c",
        str(cfg),
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "STTWATCH_TEST_KEY": SIM_KEY},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    (result,) = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert result["probe"] == "ping"
    assert result["target"] == "sim"
    assert result["status"] == "up"
    # No API key is sent by the plugin: the simulator's REST API answers 401.
    assert result["message"].startswith("HTTP 401 in ")
    assert set(result["phases"]) == {"get"}


async def test_run_exports_the_plugin_series_and_shows_a_ping_component(
    plugin_python: Path, tmp_path: Path, sim: SimulatorHandle
) -> None:
    cfg = config(tmp_path, sim, {"interval": "2s", "timeout": "1s", "degraded_after": "500ms"})
    proc = await asyncio.create_subprocess_exec(
        str(plugin_python),
        "-m",
        "monitor",
        "run",
        "-c",
        str(cfg),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO,
        env={**os.environ, "STTWATCH_TEST_KEY": SIM_KEY},
    )
    try:
        assert proc.stderr is not None
        port = None
        while port is None:
            line = await asyncio.wait_for(proc.stderr.readline(), 30)
            assert line, "sttwatch run exited before serving"
            if m := re.search(rb"serving on http://127\.0\.0\.1:(\d+)/", line):
                port = int(m.group(1))
        # Keep reading its log so that the pipe never fills up.
        drain = asyncio.create_task(proc.stderr.read())
        base = f"http://127.0.0.1:{port}"
        where, rest = 'location="local"', 'probe="ping",provider="assemblyai"'
        labels = f"{where},{rest}"
        phase = f'sttwatch_probe_phase_seconds{{{where},phase="get",{rest},target="sim"}}'
        runs = f'sttwatch_probe_runs_total{{{labels},status="up",target="sim"}}'
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            metrics = page = ""
            while time.monotonic() < deadline:
                async with http.get(f"{base}/metrics") as r:
                    metrics = await r.text()
                async with http.get(f"{base}/") as r:
                    page = await r.text() if r.status == 200 else ""
                ran = re.search(re.escape(runs) + r" [1-9]", metrics)
                if phase in metrics and ran and re.search(r">\s*Ping\s*<", page):
                    break
                await asyncio.sleep(0.2)
        assert phase in metrics
        assert re.search(re.escape(runs) + r" [1-9]", metrics), metrics
        assert f'sttwatch_probe_success{{{labels},target="sim"}} 1.0' in metrics
        assert re.search(r">\s*Ping\s*<", page), page
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.wait(), 30)
    drain.cancel()
