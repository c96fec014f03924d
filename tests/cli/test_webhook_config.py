"""webhook_base_url: validated, needed by the webhook probe, noted by check-config; once skips."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.config import ConfigError
from monitor.simulator import SimulatorHandle
from tests.support.configs import config_doc, parsed, sim_target, write_config

REPO = Path(__file__).resolve().parents[2]
WEBHOOK = {"webhook": {"timeout": "5s", "degraded_after": "2s"}}


def sttwatch(*args: str) -> subprocess.CompletedProcess[str]:
    """Return the finished `python -m monitor ARGS` process."""
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def problems(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parsed(doc)
    return [f"{path}: {message}" for path, message in caught.value.problems]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.com", "must be an http(s) URL with a host, got 'ftp://example.com'"),
        ("example.com/hooks", "must be an http(s) URL with a host, got 'example.com/hooks'"),
        ("https://", "must be an http(s) URL with a host, got 'https://'"),
        ("https://example.com/?a=1", "must have no query or fragment"),
        ("https://example.com:99999", "a port 1-65535"),
        ("https://example.com:https", "a port 1-65535"),
        ("https://example.com:0", "a port 1-65535"),
        ("https://exam ple.com", "no spaces"),
    ],
    ids=[
        "scheme",
        "no-scheme",
        "no-host",
        "query",
        "port-too-big",
        "port-no-number",
        "port-0",
        "space",
    ],
)
def test_a_bad_webhook_base_url_is_refused_naming_it(
    tmp_path: Path, sim: SimulatorHandle, url: str, message: str
) -> None:
    doc = config_doc(tmp_path, [sim_target(sim, probes=WEBHOOK)], webhook_base_url=url)
    (found,) = problems(doc)
    assert found.startswith("webhook_base_url: ") and message in found, found


def test_the_webhook_probe_without_a_base_url_is_refused(
    tmp_path: Path, sim: SimulatorHandle
) -> None:
    doc = config_doc(tmp_path, [sim_target(sim, probes=WEBHOOK)])
    (found,) = problems(doc)
    assert found.startswith("targets[0].probes.webhook: needs webhook_base_url"), found


def test_a_base_url_behind_a_proxy_is_kept_without_its_trailing_slash(
    tmp_path: Path, sim: SimulatorHandle
) -> None:
    doc = config_doc(
        tmp_path,
        [sim_target(sim, probes=WEBHOOK)],
        webhook_base_url="https://example.com/sttwatch/",
    )
    cfg = parsed(doc)
    assert cfg.webhook_base_url == "https://example.com/sttwatch"
    assert cfg.notes() == []


def test_check_config_notes_the_webhook_probe_is_off_without_a_base_url(
    tmp_path: Path, sim: SimulatorHandle
) -> None:
    path = write_config(tmp_path, config_doc(tmp_path, [sim_target(sim)]))
    out = sttwatch("check-config", "-c", str(path))
    assert out.returncode == 0, out.stderr
    assert "# note: the webhook probe is off: set webhook_base_url" in out.stdout
    with_url = config_doc(tmp_path, [sim_target(sim)], webhook_base_url="https://example.com")
    out = sttwatch("check-config", "-c", str(write_config(tmp_path, with_url, "b.yaml")))
    assert out.returncode == 0, out.stderr
    assert "# note:" not in out.stdout
    assert "webhook_base_url: https://example.com" in out.stdout


async def test_once_skips_the_webhook_probe_with_a_warning_and_runs_the_rest(
    tmp_path: Path, sim: SimulatorHandle
) -> None:
    probes = {"reachability": {}, **WEBHOOK}
    doc = config_doc(
        tmp_path, [sim_target(sim, probes=probes)], webhook_base_url="https://example.com"
    )
    # Not subprocess.run: the simulator answers from this test's event loop.
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        "once",
        "--json",
        "-c",
        str(write_config(tmp_path, doc)),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    raw_out, raw_err = await asyncio.wait_for(proc.communicate(), 60)
    stdout, stderr = raw_out.decode(), raw_err.decode()
    assert proc.returncode == 0, stdout + stderr
    results = [json.loads(line) for line in stdout.splitlines()]
    assert [r["probe"] for r in results] == ["reachability"]
    assert "webhook of sim skipped" in stderr
    assert "`sttwatch run` probes it" in stderr


@pytest.mark.parametrize(
    ("port", "code", "shown"),
    [
        ("", 0, "webhook_base_url: https://probe:****@example.com/sttwatch"),
        (":99999", 2, "got 'https://probe:****@example.com:99999/sttwatch'"),
    ],
    ids=["resolved", "refused"],
)
def test_check_config_masks_the_password_of_the_base_url_only(
    tmp_path: Path, sim: SimulatorHandle, port: str, code: int, shown: str
) -> None:
    url = f"https://probe:hunter2-secret@example.com{port}/sttwatch"
    doc = config_doc(tmp_path, [sim_target(sim)], webhook_base_url=url)
    out = sttwatch("check-config", "-c", str(write_config(tmp_path, doc)))
    assert out.returncode == code, out.stderr
    assert "hunter2-secret" not in out.stdout + out.stderr
    assert shown in out.stdout + out.stderr
    if code == 0:  # the logs' redactor is fed it too
        assert "hunter2-secret" in parsed(doc).secrets()
