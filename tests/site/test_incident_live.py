"""An operator's words reach a running ``sttwatch run``'s pages within a render.

A real ``sttwatch run`` (a subprocess, probing a simulator) and ``sttwatch
incident`` from another process on the same SQLite file. The probes run every
30 s, so no probe cycle renders in between: what shows the update is the
renderer's watch on the store (docs/incidents.md, "How soon it shows").
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from monitor.simulator import SimulatorHandle
from tests.support.cli import run_sttwatch
from tests.support.configs import config_doc, sim_target, write_config
from tests.support.polling import eventually


async def test_an_update_posted_beside_run_shows_on_its_page(
    tmp_path: Path, sim: SimulatorHandle
) -> None:
    probes = {"reachability": {"interval": "30s", "timeout": "5s", "degraded_after": "2s"}}
    config = write_config(tmp_path, config_doc(tmp_path, [sim_target(sim, probes=probes)]))
    site = tmp_path / "site"
    log = (tmp_path / "run.log").open("wb")
    run = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", "run", "-c", str(config), stdout=log, stderr=log
    )
    try:
        # The first cycle's result is on the page: the database exists, the loop is idle.
        await eventually(
            lambda: (
                "Last checked" in _read(site / "index.html") and "ms" in _read(site / "index.html")
            ),
            "run's first render with a result",
            within=30,
        )
        code, out, err = await run_sttwatch(
            "incident", "open", "-c", str(config), "--target", "sim", "--title", "Slow uploads",
            "--message", "We are looking into slow uploads",
        )  # fmt: skip
        assert code == 0, err
        page = site / "incidents" / f"{int(out)}.html"
        await eventually(
            lambda: "We are looking into slow uploads" in _read(page), "the incident page", 25, 0.2
        )
        assert "Slow uploads" in _read(site / "index.html")
        code, _, err = await run_sttwatch(
            "incident", "update", out.strip(), "-c", str(config), "--status", "identified",
            "--message", "Identified: the upstream storage provider",
        )  # fmt: skip
        assert code == 0, err
        await eventually(
            lambda: "the upstream storage provider" in _read(page), "the update on it", 25, 0.2
        )
        assert 'data-status="identified"' in _read(page)
    finally:
        if run.returncode is None:
            run.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(run.wait(), 20)
            except TimeoutError:
                run.kill()
                await run.wait()
        log.close()
    assert run.returncode == 0, (tmp_path / "run.log").read_text()


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""
