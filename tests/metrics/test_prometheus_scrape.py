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
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest
import yaml

from monitor.simulator import SimulatorHandle
from tests.support.prometheus_stack import (
    fast_probes,
    free_port,
    prometheus_command,
    prometheus_config,
    sttwatch_config,
)

if TYPE_CHECKING:
    from tests.support.fixture_types import SimStarter

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
TARGETS = ("sim-a", "sim-b")
PROBES = ("reachability", "transcription", "streaming")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="Debian prometheus not installed"),
]


@pytest.fixture
async def sim(start_sim: SimStarter) -> SimulatorHandle:
    return await start_sim({"jobs": {"queued_ms": 100, "processing_ms": 200}})


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
    config.write_text(
        yaml.safe_dump(
            sttwatch_config(
                tmp_path,
                api_base=sim.base_url,
                ws_base=sim.ws_base,
                port=port,
                targets=TARGETS,
                probes=fast_probes(),
            )
        )
    )
    config.chmod(0o600)
    prom_config = tmp_path / "prometheus.yml"
    prom_config.write_text(yaml.safe_dump(prometheus_config(port)))
    run_log = (tmp_path / "run.log").open("wb")
    prom_log = (tmp_path / "prometheus.log").open("wb")
    run = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "-c", str(config), stdout=run_log, stderr=run_log
    )
    prom = await asyncio.create_subprocess_exec(
        *prometheus_command(PROMETHEUS, prom_config, tmp_path, prom_port),
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
