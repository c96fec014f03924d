"""The janitor deletes what the ledger lists, against the simulator and the real SQLite store."""

from __future__ import annotations

from monitor import janitor
from monitor.models import ErrorKind
from monitor.providers.assemblyai import transcription, transcripts
from monitor.providers.assemblyai.specs import TranscriptionSpec
from monitor.simulator import SimulatorHandle
from monitor.store import Store
from tests.support.fixture_types import SimFactory
from tests.support.probes import (
    NOTHING_LEFT,
    context,
    create_transcript,
    jobs_finished,
    leftovers,
    target_for,
)


async def test_orphans_of_a_dead_process_are_deleted(sim: SimulatorHandle, ledger: Store) -> None:
    ids = [await create_transcript(sim) for _ in range(3)]
    for tid in ids:
        await ledger.record("sim", tid)
    await jobs_finished(sim)
    report = await janitor.sweep({"sim": target_for(sim)}, context(ledger))
    assert (report.checked, report.deleted, report.failed) == (3, 3, 0)
    assert report.clean
    assert await ledger.pending() == []
    assert leftovers(sim) == NOTHING_LEFT


async def test_running_job_is_left_alone_until_it_finishes(
    sim: SimulatorHandle, ledger: Store
) -> None:
    tid = await create_transcript(sim)
    await ledger.record("sim", tid)
    targets = {"sim": target_for(sim)}
    first = await janitor.sweep(targets, context(ledger))
    assert (first.still_running, first.deleted, first.failed) == (1, 0, 0)
    [entry] = await ledger.pending()
    assert entry.attempts == 0  # waiting is not a failed attempt
    assert "transcript.delete" not in sim.state()["requests"]
    await jobs_finished(sim)
    second = await janitor.sweep(targets, context(ledger))
    assert second.deleted == 1
    assert leftovers(sim) == NOTHING_LEFT


async def test_id_unknown_to_the_api_counts_as_deleted(make_sim: SimFactory, ledger: Store) -> None:
    for status in (400, 404):
        handle = await make_sim(unknown_id_status=status)
        await ledger.record(f"t{status}", "3f0c1f5e-0000-4000-8000-000000000000")
        report = await janitor.sweep({f"t{status}": target_for(handle)}, context(ledger))
        assert report.deleted == 1, status
    assert await ledger.pending() == []


async def test_failed_delete_is_recorded_then_retried(sim: SimulatorHandle, ledger: Store) -> None:
    tid = await create_transcript(sim)
    await ledger.record("sim", tid)
    await jobs_finished(sim)
    sim.set_faults([{"endpoint": "transcript.delete", "action": "status", "status": 500}])
    targets = {"sim": target_for(sim)}
    report = await janitor.sweep(targets, context(ledger))
    assert (report.failed, report.deleted) == (1, 0)
    [entry] = await ledger.pending()
    assert entry.attempts == 1
    assert entry.last_error is not None and "HTTP 500" in entry.last_error
    sim.clear_faults()
    again = await janitor.sweep(targets, context(ledger))
    assert again.deleted == 1
    assert leftovers(sim) == NOTHING_LEFT


async def test_delete_that_does_not_scrub_is_a_failed_attempt(
    sim: SimulatorHandle, ledger: Store
) -> None:
    tid = await create_transcript(sim)
    await ledger.record("sim", tid)
    await jobs_finished(sim)
    sim.set_faults([{"endpoint": "transcript.delete", "action": "ignore_delete"}])
    report = await janitor.sweep({"sim": target_for(sim)}, context(ledger))
    assert report.failed == 1
    assert "read-back" in report.errors[tid]
    assert sim.state()["transcripts"]["undeleted_ids"] == [tid]
    sim.clear_faults()
    await janitor.sweep({"sim": target_for(sim)}, context(ledger))
    assert leftovers(sim) == NOTHING_LEFT


async def test_entry_of_an_unconfigured_target_is_kept(sim: SimulatorHandle, ledger: Store) -> None:
    tid = await create_transcript(sim)
    await ledger.record("gone-target", tid)
    report = await janitor.sweep({"sim": target_for(sim)}, context(ledger))
    assert (report.checked, report.unknown_target, report.deleted) == (1, 1, 0)
    assert [e.transcript_id for e in await ledger.pending()] == [tid]
    # Configured again, it is cleaned up.
    await jobs_finished(sim)
    await janitor.sweep({"gone-target": target_for(sim)}, context(ledger))
    assert leftovers(sim) == NOTHING_LEFT


async def test_long_stuck_job_is_deleted_anyway(make_sim: SimFactory, ledger: Store) -> None:
    handle = await make_sim(
        jobs={"delete_in_progress": "allow"},
        faults=[{"endpoint": "transcript.create", "action": "stuck", "stage": "queued"}],
    )
    tid = await create_transcript(handle)
    await ledger.record("sim", tid)
    targets = {"sim": target_for(handle)}
    patient = await janitor.sweep(targets, context(ledger))
    assert patient.still_running == 1
    forced = await janitor.sweep(targets, context(ledger), delete_unfinished_after=0)
    assert forced.deleted == 1
    assert leftovers(handle) == NOTHING_LEFT


async def test_long_stuck_job_the_api_refuses_to_delete_is_reported(
    make_sim: SimFactory, ledger: Store
) -> None:
    handle = await make_sim(
        faults=[{"endpoint": "transcript.create", "action": "stuck", "stage": "processing"}]
    )
    tid = await create_transcript(handle)
    await ledger.record("sim", tid)
    report = await janitor.sweep(
        {"sim": target_for(handle)}, context(ledger), delete_unfinished_after=0
    )
    assert report.failed == 1
    [entry] = await ledger.pending()
    assert entry.attempts == 1
    assert "still being processed" in (entry.last_error or "")


async def test_janitor_finishes_what_a_timed_out_probe_left(
    make_sim: SimFactory, ledger: Store
) -> None:
    handle = await make_sim(jobs={"queued_ms": 300, "processing_ms": 300})
    spec = TranscriptionSpec(timeout=0.4, degraded_after=0.3, poll_interval=0.05)
    result = await transcription.run(target_for(handle), spec, context(ledger))
    assert result.error_kind is ErrorKind.JOB_TIMEOUT
    assert len(await ledger.pending()) == 1
    await jobs_finished(handle)
    report = await janitor.sweep({"sim": target_for(handle)}, context(ledger))
    assert report.deleted == 1
    assert await ledger.pending() == []
    assert leftovers(handle) == NOTHING_LEFT


async def test_a_job_whose_submit_answer_was_lost_is_found_by_its_upload_and_deleted(
    sim: SimulatorHandle, ledger: Store
) -> None:
    """The create answer is unreadable and the probe cannot read the list either: the
    submission marker it wrote first lets the janitor find the job later (chaos run)."""
    sim.set_faults(
        [
            {"endpoint": "transcript.create", "action": "malformed", "body_kind": "truncated"},
            {"endpoint": "transcript.list", "action": "status", "status": 500},
        ]
    )
    spec = TranscriptionSpec(timeout=3.0, degraded_after=2.0)
    result = await transcription.run(target_for(sim), spec, context(ledger))
    assert result.error_kind is ErrorKind.BAD_RESPONSE
    [marker] = await ledger.pending()
    assert transcripts.marked_upload(marker.transcript_id) is not None
    assert len(leftovers(sim)["undeleted"]) == 1

    sim.clear_faults()
    await jobs_finished(sim)
    report = await janitor.sweep({"sim": target_for(sim)}, context(ledger))
    assert (report.markers_resolved, report.deleted, report.failed) == (1, 1, 0)
    assert await ledger.pending() == []
    assert leftovers(sim) == NOTHING_LEFT


async def test_a_marker_without_a_job_is_dropped_once_settled(
    sim: SimulatorHandle, ledger: Store
) -> None:
    marker = transcripts.submission_marker(f"{sim.base_url}/upload/never-submitted")
    await ledger.record("sim", marker)
    targets = {"sim": target_for(sim)}
    young = await janitor.sweep(targets, context(ledger))
    assert (young.still_running, young.deleted) == (1, 0)
    assert [e.transcript_id for e in await ledger.pending()] == [marker]
    settled = await janitor.sweep(targets, context(ledger), settle_submissions_after=0)
    assert (settled.markers_resolved, settled.deleted) == (1, 1)
    assert await ledger.pending() == []
