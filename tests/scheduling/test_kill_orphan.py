"""The kill test of issue 3: ``kill -9`` mid-poll leaves an orphan; the next start deletes it."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
import yaml

from monitor.providers.assemblyai.transcripts import SUBMISSION_PREFIX
from monitor.simulator import SimulatorHandle
from tests.support.polling import eventually

if TYPE_CHECKING:
    from tests.support.fixture_types import SimStarter

pytestmark = pytest.mark.slow

# Jobs slow enough that the probe is surely polling when it is killed.
SLOW_JOBS = {"jobs": {"queued_ms": 200, "processing_ms": 3000}}


@pytest.fixture
async def sim(start_sim: SimStarter) -> SimulatorHandle:
    return await start_sim(SLOW_JOBS)


async def state(sim: SimulatorHandle) -> dict[str, Any]:
    return sim.state()


def pending_ids(db: Path) -> list[str]:
    """Return the transcript ids the ledger still has to delete (read-only, as a user would)."""
    if not db.exists():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0) as conn:
            rows = conn.execute("SELECT transcript_id FROM ledger WHERE deleted_at IS NULL")
            return [r[0] for r in rows]
    except sqlite3.OperationalError:  # schema not created yet
        return []


async def transcript_status(sim: SimulatorHandle, transcript_id: str) -> str:
    """Return the job status the API reports for `transcript_id`."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{sim.base_url}/v2/transcript/{transcript_id}", headers={"Authorization": "sim-key"}
        ) as resp,
    ):
        resp.raise_for_status()
        body = await resp.json()
        return str(body["status"])


async def start_run(config: Path, log: Path) -> asyncio.subprocess.Process:
    with log.open("ab") as sink:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            "run",
            "-c",
            str(config),
            stdout=sink,
            stderr=sink,
        )


async def test_orphan_of_a_killed_run_is_deleted_on_the_next_start(
    tmp_path: Path, sim: SimulatorHandle
) -> None:
    db = tmp_path / "sttwatch.db"
    config = tmp_path / "sttwatch.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": str(db),
                "listen": "127.0.0.1:0",
                "site_dir": str(tmp_path / "site"),
                "targets": [
                    {
                        "name": "sim",
                        "api_base": sim.base_url,
                        "streaming_base": sim.ws_base,
                        "api_key": "sim-key",
                        "probes": {
                            "transcription": {
                                "interval": "60s",
                                "timeout": "20s",
                                "degraded_after": "15s",
                            }
                        },
                    }
                ],
            }
        )
    )
    config.chmod(0o600)
    log = tmp_path / "run.log"

    def transcript_ids() -> list[str]:
        # Before the submit the probe records a submission marker; the orphan is the job.
        return [i for i in pending_ids(db) if not i.startswith(SUBMISSION_PREFIX)]

    async def ledger_has_pending() -> bool:
        return bool(transcript_ids())

    first = await start_run(config, log)
    try:
        await eventually(ledger_has_pending, "a pending ledger entry", 20.0, every=0.1)
        (orphan,) = transcript_ids()
    finally:
        first.send_signal(signal.SIGKILL)
        await first.wait()
    assert first.returncode == -signal.SIGKILL

    s = await state(sim)
    assert orphan in s["transcripts"]["undeleted_ids"], "the killed run left its transcript"

    # The provider deletes only finished jobs, and so does the janitor: restart once the
    # orphan's job is done, as a restarted container would find it a few seconds later.
    async def orphan_finished() -> bool:
        return await transcript_status(sim, orphan) in ("completed", "error")

    await eventually(orphan_finished, "the orphaned job to finish", 20.0, every=0.1)

    second = await start_run(config, log)
    try:

        async def orphan_deleted() -> bool:
            return orphan not in (await state(sim))["transcripts"]["undeleted_ids"]

        async def nothing_left() -> bool:
            return (await state(sim))["transcripts"]["undeleted"] == 0 and not pending_ids(db)

        await eventually(orphan_deleted, "the orphan's deletion", 30.0, every=0.1)
        # The second run's own transcript is deleted by its probe too.
        await eventually(nothing_left, "no undeleted transcript", 30.0, every=0.1)
    finally:
        if second.returncode is None:
            second.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(second.wait(), 30.0)
    assert code == 0, log.read_text()
    assert (await state(sim))["transcripts"]["undeleted"] == 0
    assert "sim-key" not in log.read_text()
