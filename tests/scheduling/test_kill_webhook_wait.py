"""``kill -9`` while the webhook probe waits for its call: the next start deletes the transcript."""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from monitor.providers.assemblyai.transcripts import SUBMISSION_PREFIX
from monitor.simulator import SimulatorHandle
from tests.support.chaos import ledger_pending, stored_results
from tests.support.configs import config_doc, sim_target, write_config
from tests.support.polling import eventually

if TYPE_CHECKING:
    from tests.support.fixture_types import SimStarter

pytestmark = pytest.mark.slow


def free_port() -> int:
    """Return a loopback port free right now (sttwatch binds it a moment later)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def waiting_transcripts(db: Path) -> list[str]:
    """Return the transcript ids (not submission markers) the ledger has yet to delete."""
    if not db.exists():
        return []
    try:
        return [i for i in ledger_pending(db) if not i.startswith(SUBMISSION_PREFIX)]
    except sqlite3.OperationalError:  # the schema is not there yet
        return []


async def start_run(config: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "-c", str(config), stdout=sink, stderr=sink
        )


async def test_a_run_killed_while_waiting_for_its_webhook_leaves_nothing_after_restart(
    tmp_path: Path, start_sim: SimStarter
) -> None:
    # The first run's webhook never comes (dropped), so it is surely waiting when killed.
    sim: SimulatorHandle = await start_sim(
        {
            "jobs": {"queued_ms": 100, "processing_ms": 300},
            "faults": [{"endpoint": "webhook", "action": "drop", "count": 1}],
        }
    )
    port = free_port()
    db = tmp_path / "sttwatch.db"
    probes = {"webhook": {"interval": "60s", "timeout": "20s", "degraded_after": "5s"}}
    doc = config_doc(
        tmp_path,
        [sim_target(sim, probes=probes)],
        listen=f"127.0.0.1:{port}",
        webhook_base_url=f"http://127.0.0.1:{port}",
    )
    config = write_config(tmp_path, doc)
    log = tmp_path / "run.log"

    async def job_done_and_waiting() -> bool:
        ids = waiting_transcripts(db)
        return bool(ids) and sim.state()["webhooks"]["dropped"] == 1

    first = await start_run(config, log)
    try:
        await eventually(job_done_and_waiting, "the run waiting for its webhook", 20.0, every=0.1)
        (orphan,) = waiting_transcripts(db)
        await asyncio.sleep(0.5)  # past the job's end: the probe is waiting for the call
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    assert first.returncode == -signal.SIGKILL
    assert orphan in sim.state()["transcripts"]["undeleted_ids"], "the killed run left it"

    second = await start_run(config, log)
    try:

        async def orphan_deleted() -> bool:
            return orphan not in sim.state()["transcripts"]["undeleted_ids"]

        async def nothing_left() -> bool:
            return sim.state()["transcripts"]["undeleted"] == 0 and not waiting_transcripts(db)

        await eventually(orphan_deleted, "the orphan's deletion by the janitor", 30.0, every=0.1)
        # The second run's own webhook arrives (the drop fired once) and it deletes its own.
        await eventually(nothing_left, "no undeleted transcript", 30.0, every=0.1)
        assert sim.state()["webhooks"]["delivered"] >= 1
    finally:
        if second.returncode is None:
            second.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(second.wait(), 30.0)
    assert code == 0, log.read_text()
    # The restarted probe's own run: the call arrived and it was up.
    ((_, kind),) = {(r.status, r.error_kind) for r in stored_results(db) if r.probe == "webhook"}
    assert kind is None, log.read_text()
    assert "sim-key" not in log.read_text()
