"""A real Prometheus scrapes a real ``sttwatch run`` probing the simulator.

Prometheus (Debian's /usr/bin/prometheus) runs on loopback with a temporary
TSDB and a one-second scrape interval; the test reads ``sttwatch_probe_success``
back through its HTTP API, the way a Grafana panel or an alert rule would.
``promtool check metrics`` lints the exposition a scrape sees.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from monitor.simulator import Scenario, SimulatorHandle, start_simulator

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
TARGETS = ("sim-a", "sim-b")
PROBES = ("reachability", "transcription", "streaming")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="Debian prometheus not installed"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sttwatch_config(tmp: Path, sim: SimulatorHandle, port: int) -> dict[str, Any]:
    probes = {
        "reachability": {"interval": "1s", "timeout": "800ms", "degraded_after": "500ms"},
        "transcription": {
            "interval": "2s",
            "timeout": "1900ms",
            "degraded_after": "1500ms",
            "poll_interval": "100ms",
            "poll_max_interval": "200ms",
        },
        "streaming": {"interval": "4s", "timeout": "3900ms", "degraded_after": "3s"},
    }
    return {
        "database": str(tmp / "sttwatch.db"),
        "site_dir": str(tmp / "site"),
        "listen": f"127.0.0.1:{port}",
        "targets": [
            {
                "name": name,
                "api_base": sim.base_url,
                "streaming_base": sim.ws_base,
                "api_key": "sim-key",
                "probes": probes,
            }
            for name in TARGETS
        ],
    }


@pytest.fixture
async def sim() -> AsyncIterator[SimulatorHandle]:
    scenario = Scenario.model_validate({"jobs": {"queued_ms": 100, "processing_ms": 200}})
    handle = await start_simulator(port=0, scenario=scenario)
    try:
        yield handle
    finally:
        await handle.close()


async def stop(proc: asyncio.subprocess.Process) -> int:
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()
    assert proc.returncode is not None
    return proc.returncode


async def test_prometheus_scrapes_probe_success_for_every_target_and_probe(
    tmp_path: Path, sim: SimulatorHandle
) -> None:
    port, prom_port = free_port(), free_port()
    config = tmp_path / "sttwatch.yaml"
    config.write_text(yaml.safe_dump(sttwatch_config(tmp_path, sim, port)))
    config.chmod(0o600)
    prom_config = tmp_path / "prometheus.yml"
    prom_config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "sttwatch",
                        "scrape_interval": "1s",
                        "scrape_timeout": "900ms",
                        "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
                    }
                ],
            }
        )
    )
    run_log = (tmp_path / "run.log").open("wb")
    prom_log = (tmp_path / "prometheus.log").open("wb")
    run = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "-c", str(config), stdout=run_log, stderr=run_log
    )
    prom = await asyncio.create_subprocess_exec(
        PROMETHEUS,
        f"--config.file={prom_config}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
        "--storage.tsdb.retention.time=1h",
        stdout=prom_log,
        stderr=prom_log,
    )
    try:
        async with aiohttp.ClientSession() as session:
            series = await _poll_probe_success(session, prom_port)
            assert set(series) == {(t, p) for t in TARGETS for p in PROBES}
            assert set(series.values()) == {"1"}, series

            async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                assert resp.status == 200
                exposition = await resp.read()
            async with session.get(
                f"http://127.0.0.1:{prom_port}/api/v1/targets", params={"state": "active"}
            ) as resp:
                [target] = (await resp.json())["data"]["activeTargets"]
                assert target["health"] == "up", target
    finally:
        prom_code = await stop(prom)
        run_code = await stop(run)
        run_log.close()
        prom_log.close()
    assert run_code == 0, (tmp_path / "run.log").read_text()
    assert prom_code == 0

    lint = await asyncio.to_thread(
        subprocess.run, [PROMTOOL, "check", "metrics"], input=exposition, capture_output=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout.strip() == b"" and lint.stderr.strip() == b""


async def _poll_probe_success(
    session: aiohttp.ClientSession, prom_port: int
) -> dict[tuple[str, str], str]:
    """Return {(target, probe): value} of sttwatch_probe_success once every series is there."""
    want = {(t, p) for t in TARGETS for p in PROBES}
    series: dict[tuple[str, str], str] = {}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 60
    url = f"http://127.0.0.1:{prom_port}/api/v1/query"
    while loop.time() < deadline:
        try:
            # Only series whose last run is known: the pre-initialised 0s before the
            # first run carry no last-run timestamp yet.
            query = "sttwatch_probe_success and sttwatch_probe_last_run_timestamp_seconds > 0"
            async with session.get(url, params={"query": query}) as resp:
                body = await resp.json()
            series = {
                (r["metric"]["target"], r["metric"]["probe"]): r["value"][1]
                for r in body["data"]["result"]
            }
            if set(series) == want and set(series.values()) == {"1"}:
                return series
        except (aiohttp.ClientError, KeyError):
            pass  # Prometheus still starting
        await asyncio.sleep(0.5)
    return series
