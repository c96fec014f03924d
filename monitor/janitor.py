"""The janitor: deletes every transcript the deletion ledger still lists.

The scheduler runs :func:`sweep` at start-up (a process killed mid-probe
left an orphan), every cycle, and once more on shutdown. For each pending
ledger entry it reads the transcript:

- gone (HTTP 400 lookup error or 404) or already scrubbed → marked deleted;
- still ``queued``/``processing`` → left alone, nothing recorded (the
  provider deletes finished jobs; it is retried next sweep), unless the entry
  is older than ``delete_unfinished_after`` — then a DELETE is tried anyway
  and its failure recorded, so a job stuck for an hour cannot hide;
- terminal → DELETE and a read-back GET (text ``Deleted by user.``, audio URL
  ``http://deleted_by_user``), with the very function the transcription probe
  uses (:func:`monitor.probes.transcription.remove_transcript`); success is
  ``mark_deleted``, anything else ``mark_attempt(error)``.

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
from monitor.probes.transcription import DeletionOutcome, remove_transcript

log = logging.getLogger(__name__)

ENTRY_TIMEOUT_S = 10.0
CONCURRENCY = 4
DELETE_UNFINISHED_AFTER_S = 3600.0


@dataclass(slots=True)
class SweepReport:
    """What one sweep did with the pending ledger entries."""

    checked: int = 0
    deleted: int = 0
    still_running: int = 0
    failed: int = 0
    unknown_target: int = 0
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


async def sweep(
    targets: Mapping[str, Target],
    ctx: ProbeContext,
    *,
    delete_unfinished_after: float = DELETE_UNFINISHED_AFTER_S,
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
