"""The janitor: deletes every transcript the deletion ledger still lists.

The scheduler runs :func:`sweep` at start-up (a process killed mid-probe
left an orphan), every 60 s, and once more on shutdown. For each pending
ledger entry it reads the transcript:

- gone (HTTP 400 lookup error or 404) or already scrubbed → marked deleted;
- still ``queued``/``processing`` → left alone, nothing recorded (the
  provider deletes finished jobs; it is retried next sweep), unless the entry
  is older than ``delete_unfinished_after`` — then a DELETE is tried anyway
  and its failure recorded, so a job stuck for an hour cannot hide;
- terminal → DELETE and a read-back GET (text ``Deleted by user.``, audio URL
  ``http://deleted_by_user``), with the very function the transcription probe
  uses (:func:`monitor.providers.assemblyai.transcripts.remove_transcript`); success is
  ``mark_deleted``, anything else ``mark_attempt(error)``.

A *submission marker* (``submitted:<upload URL>``, written by the probe
before it submits a job) means a job made from that upload may exist whose id
nobody learnt (the submit answer was lost, or the process was killed while it
was in flight). The janitor looks for it in the transcript list by its upload
URL: found → its id is recorded and deleted like any other entry, and the
marker dropped; not found once the marker is ``settle_submissions_after`` old
→ no job was made, the marker is dropped; list unreadable → an attempt is
recorded and the next sweep tries again.

Entries of a target that is no longer configured cannot be deleted (no key)
and are counted as ``unknown_target``. Every entry is bounded in time, and a
few are handled at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp

from monitor.config import Target
from monitor.models import LedgerEntry, ProbeContext
from monitor.probes.failures import EXPECTED_ERRORS, from_exception
from monitor.providers.assemblyai.transcripts import (
    DeletionOutcome,
    find_by_audio_url,
    marked_upload,
    remove_transcript,
)

log = logging.getLogger(__name__)

ENTRY_TIMEOUT_S = 10.0
CONCURRENCY = 4
DELETE_UNFINISHED_AFTER_S = 3600.0
# A submission whose job is not in the list by then never made one (a submit in
# flight when the probe gave up is answered within seconds).
SETTLE_SUBMISSIONS_AFTER_S = 60.0
# How much of the transcript list is searched for a marker's job (newest first).
MARKER_SEARCH_PAGES = 5
MARKER_SEARCH_PAGE_SIZE = 200


@dataclass(slots=True)
class SweepReport:
    """What one sweep did with the pending ledger entries."""

    checked: int = 0
    deleted: int = 0
    still_running: int = 0
    failed: int = 0
    unknown_target: int = 0
    markers_resolved: int = 0  # submission markers turned into a transcript id, or dropped
    errors: dict[str, str] = field(default_factory=dict)  # transcript id -> last error

    @property
    def clean(self) -> bool:
        """Return True when nothing is left pending after the sweep."""
        return self.checked == self.deleted


async def _one(
    entry: LedgerEntry,
    target: Target,
    ctx: ProbeContext,
    session: aiohttp.ClientSession,
    delete_unfinished_after: float,
) -> DeletionOutcome:
    age = (ctx.clock.now() - entry.created_at).total_seconds()
    try:
        async with asyncio.timeout(ENTRY_TIMEOUT_S):
            return await remove_transcript(
                session,
                target,
                entry.transcript_id,
                ctx.clock,
                ctx.user_agent,
                delete_running=age >= delete_unfinished_after,
            )
    except TimeoutError:
        return DeletionOutcome(
            deleted=False, error=f"Deletion did not finish within {ENTRY_TIMEOUT_S:g} s"
        )
    except EXPECTED_ERRORS as exc:
        return DeletionOutcome(
            deleted=False, error=from_exception(exc, during="deleting the transcript").message
        )


async def _resolve_marker(
    entry: LedgerEntry,
    upload_url: str,
    target: Target,
    ctx: ProbeContext,
    session: aiohttp.ClientSession,
    settle_after: float,
) -> LedgerEntry | str | bool:
    """Return the ledger entry of the marker's job, an error, or whether the marker was dropped.

    Dropped (True): the list was read, no job came from the upload, and the
    marker is old enough to be sure. False: not found yet, kept for later.
    """
    try:
        async with asyncio.timeout(ENTRY_TIMEOUT_S):
            found = await find_by_audio_url(
                session,
                target,
                upload_url,
                ctx.user_agent,
                pages=MARKER_SEARCH_PAGES,
                page_size=MARKER_SEARCH_PAGE_SIZE,
            )
    except TimeoutError:
        return f"Searching the transcript list did not finish within {ENTRY_TIMEOUT_S:g} s"
    if found.transcript_id is not None:
        # Recorded before the marker goes, so the job is never out of the ledger.
        await ctx.ledger.record(entry.target, found.transcript_id)
        await ctx.ledger.mark_deleted(entry.target, entry.transcript_id)
        return LedgerEntry(entry.target, found.transcript_id, entry.created_at)
    if not found.searched:
        return "Could not read the transcript list to find a job whose submit answer was lost"
    age = (ctx.clock.now() - entry.created_at).total_seconds()
    if age < settle_after:
        return False
    await ctx.ledger.mark_deleted(entry.target, entry.transcript_id)
    return True


async def sweep(
    targets: Mapping[str, Target],
    ctx: ProbeContext,
    *,
    delete_unfinished_after: float = DELETE_UNFINISHED_AFTER_S,
    settle_submissions_after: float = SETTLE_SUBMISSIONS_AFTER_S,
) -> SweepReport:
    """Return the report of one pass over the ledger's pending entries (deleting what it can)."""
    report = SweepReport()
    entries = await ctx.ledger.pending()
    if not entries:
        return report
    limit = asyncio.Semaphore(CONCURRENCY)

    async def handle(entry: LedgerEntry, session: aiohttp.ClientSession) -> None:
        target = targets.get(entry.target)
        report.checked += 1
        if target is None:
            report.unknown_target += 1
            return
        async with limit:
            upload_url = marked_upload(entry.transcript_id)
            if upload_url is not None:
                resolved = await _resolve_marker(
                    entry, upload_url, target, ctx, session, settle_submissions_after
                )
                if isinstance(resolved, str):
                    await ctx.ledger.mark_attempt(entry.target, entry.transcript_id, resolved)
                    report.failed += 1
                    report.errors[entry.transcript_id] = resolved
                    return
                if resolved is False:
                    report.still_running += 1
                    return
                if resolved is True:
                    report.markers_resolved += 1
                    report.deleted += 1
                    return
                report.markers_resolved += 1
                entry = resolved
            outcome = await _one(entry, target, ctx, session, delete_unfinished_after)
        if outcome.deleted:
            await ctx.ledger.mark_deleted(entry.target, entry.transcript_id)
            report.deleted += 1
        elif outcome.error is None:
            report.still_running += 1
        else:
            await ctx.ledger.mark_attempt(entry.target, entry.transcript_id, outcome.error)
            report.failed += 1
            report.errors[entry.transcript_id] = outcome.error
            log.warning(
                "janitor: transcript %s of %s not deleted yet: %s",
                entry.transcript_id,
                entry.target,
                outcome.error,
            )

    async with ctx.session_factory() as session, asyncio.TaskGroup() as group:
        for entry in entries:
            group.create_task(handle(entry, session))
    return report
