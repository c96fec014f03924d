"""The transcription probe against the simulator: round trip, ledger, deletion, cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from monitor.models import ErrorKind, Status
from monitor.probeclip import load_clip
from monitor.providers.assemblyai import transcription, transcripts
from monitor.providers.assemblyai.specs import TranscriptionSpec
from monitor.simulator import SimulatorHandle
from tests.support.fixture_types import SimFactory
from tests.support.probes import (
    KEY,
    NOTHING_LEFT,
    MemoryLedger,
    WatchedLedger,
    context,
    leftovers,
    target_for,
)

SPEC = TranscriptionSpec(timeout=4, degraded_after=3, poll_interval=0.05, poll_max_interval=0.2)
PHASES = ["upload", "submit", "queued", "processing", "verify", "delete", "confirm"]


async def test_healthy_round_trip_is_up_and_leaves_nothing(
    sim: SimulatorHandle, ledger: Any
) -> None:
    result = await transcription.run(target_for(sim), SPEC, context(ledger))
    assert result.status is Status.UP, result.message
    assert list(result.phases) == PHASES
    d = result.details
    assert d["wer"] == 0.0
    assert d["speech_model_used"] == "universal-2"
    assert d["turnaround_s"] >= d["queue_s"] + d["processing_s"] - 1e-6
    assert await ledger.pending() == []
    assert leftovers(sim) == NOTHING_LEFT


async def test_slow_job_is_degraded(make_sim: SimFactory, ledger: Any) -> None:
    handle = await make_sim(jobs={"queued_ms": 200, "processing_ms": 400})
    spec = SPEC.model_copy(update={"degraded_after": 0.3})
    result = await transcription.run(target_for(handle), spec, context(ledger))
    assert result.status is Status.DEGRADED, result.message
    assert result.details["turnaround_s"] > 0.3
    assert leftovers(handle) == NOTHING_LEFT


async def test_hosted_clip_skips_the_upload(sim: SimulatorHandle, ledger: Any) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{sim.base_url}/v2/upload", data=load_clip().wav, headers={"Authorization": KEY}
        ) as resp,
    ):
        url = (await resp.json())["upload_url"]
    spec = SPEC.model_copy(
        update={"audio_url": url, "reference_text": "The quick brown fox jumps over the lazy dog"}
    )
    result = await transcription.run(target_for(sim), spec, context(ledger))
    assert result.status is Status.UP, result.message
    assert "upload" not in result.phases
    assert result.details["wer"] == 0.0
    assert leftovers(sim) == NOTHING_LEFT


async def test_the_id_is_in_the_ledger_before_the_first_poll(
    make_sim: SimFactory,
) -> None:
    handle = await make_sim(jobs={"queued_ms": 400, "processing_ms": 100})
    at_record: list[tuple[str, int, int]] = []

    class Spy(MemoryLedger):
        async def record(self, target: str, transcript_id: str) -> None:
            # How many creates and GETs the simulator had served at record time.
            requests = handle.state()["requests"]
            kind = "marker" if transcript_id.startswith(transcripts.SUBMISSION_PREFIX) else "id"
            at_record.append(
                (kind, requests.get("transcript.create", 0), requests.get("transcript.get", 0))
            )
            await super().record(target, transcript_id)

    spy = Spy()
    result = await transcription.run(target_for(handle), SPEC, context(spy))
    assert result.status is Status.UP, result.message
    # The submission marker before the create, the id before the first poll.
    assert at_record == [("marker", 0, 0), ("id", 1, 0)]
    marker = next(t for _, t in spy.deleted if t.startswith(transcripts.SUBMISSION_PREFIX))
    assert spy.deleted == {("sim", result.details["transcript_id"]), ("sim", marker)}


async def test_cancelled_mid_poll_still_deletes(make_sim: SimFactory, ledger: Any) -> None:
    handle = await make_sim(jobs={"queued_ms": 300, "processing_ms": 300})
    watched = WatchedLedger(ledger)
    task = asyncio.create_task(transcription.run(target_for(handle), SPEC, context(watched)))
    await watched.recorded.wait()
    await asyncio.sleep(0.15)  # a few polls in, the job still queued
    assert handle.state()["requests"]["transcript.get"] >= 1
    assert handle.state()["transcripts"]["undeleted"] == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert leftovers(handle) == NOTHING_LEFT
    assert await ledger.pending() == []


async def test_ledger_failure_does_not_stop_deletion(sim: SimulatorHandle) -> None:
    broken = MemoryLedger()
    broken.fail_record = True
    result = await transcription.run(target_for(sim), SPEC, context(broken))
    assert result.status is Status.UP, result.message
    assert result.details["ledger_error"] == "OSError"
    assert leftovers(sim) == NOTHING_LEFT


async def test_failed_job_reports_the_api_message_as_data(
    sim: SimulatorHandle, ledger: Any
) -> None:
    hostile = "Download error\x1b[31m <script>" + "x" * 500
    sim.set_faults([{"endpoint": "transcript.create", "action": "fail_job", "error": hostile}])
    result = await transcription.run(target_for(sim), SPEC, context(ledger))
    assert result.error_kind is ErrorKind.TRANSCRIPTION_FAILED
    assert "Download error" in result.message
    assert "\x1b" not in result.message
    assert len(result.details["api_error"]) <= 200
    assert leftovers(sim) == NOTHING_LEFT


async def test_wrong_text_is_inaccurate_with_its_wer(sim: SimulatorHandle, ledger: Any) -> None:
    sim.set_faults(
        [{"endpoint": "transcript.create", "action": "wrong_text", "text": "Hello there world."}]
    )
    result = await transcription.run(target_for(sim), SPEC, context(ledger))
    assert result.error_kind is ErrorKind.INACCURATE
    assert result.details["wer"] == 1.0
    assert "delete" in result.phases and "confirm" in result.phases
    assert leftovers(sim) == NOTHING_LEFT


async def test_stuck_job_times_out_and_stays_in_the_ledger(
    sim: SimulatorHandle, ledger: Any
) -> None:
    sim.set_faults([{"endpoint": "transcript.create", "action": "stuck", "stage": "processing"}])
    spec = SPEC.model_copy(update={"timeout": 1.5})
    result = await transcription.run(target_for(sim), spec, context(ledger))
    assert result.error_kind is ErrorKind.JOB_TIMEOUT
    assert result.details["last_status"] == "processing"
    assert result.duration_s < spec.timeout + 1.0
    pending = await ledger.pending()
    assert [e.transcript_id for e in pending] == [result.details["transcript_id"]]


async def test_ignored_delete_is_deletion_failed(sim: SimulatorHandle, ledger: Any) -> None:
    sim.set_faults([{"endpoint": "transcript.delete", "action": "ignore_delete"}])
    result = await transcription.run(target_for(sim), SPEC, context(ledger))
    assert result.error_kind is ErrorKind.DELETION_FAILED
    assert "read-back" in result.message
    [entry] = await ledger.pending()
    assert entry.attempts == 1 and entry.last_error is not None
