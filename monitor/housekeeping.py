"""Housekeeping beside the probes: janitor sweeps of the deletion ledger, and pruning.

The janitor (:func:`monitor.janitor.sweep`) runs at start-up (a process
killed mid-probe left orphans to delete), every ``janitor_every`` seconds, and
once more on shutdown; after each sweep the deletion backlog gauge is
refreshed. Old rows are pruned every ``prune_every`` seconds. Both run on the
injected monotonic clock, at ``start + k * period`` (no drift).

A sweep sees the ledger minus the transcripts a running probe owns
(:class:`LiveLedger`): without that, it could find a job that just completed
and delete it while its own probe is between "completed" and its
verify/delete steps — a spurious ``inaccurate`` or ``deletion_failed``. Each
probe run writes through its own :class:`RunLedger`, released when it ends.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from monitor.models import Clock, DeletionLedger, LedgerEntry, ProbeContext

if TYPE_CHECKING:
    from monitor.config import Target
    from monitor.metrics import Metrics

__all__ = ["Housekeeping", "LiveLedger", "Maintenance", "RunLedger", "Sweeper"]

log = logging.getLogger(__name__)

Sweeper = Callable[["Mapping[str, Target]", ProbeContext], Awaitable[object]]
"""Deletes what the ledger says is still pending (``monitor.janitor.sweep``)."""


class Maintenance(Protocol):
    """What housekeeping needs from the store besides the ledger in the context."""

    async def prune(self) -> Any:
        """Delete rows older than their retention."""
        ...


class LiveLedger:
    """The deletion ledger as the janitor sees it: minus transcripts a running probe owns."""

    def __init__(self, inner: DeletionLedger) -> None:
        self.inner = inner
        self.live: set[tuple[str, str]] = set()

    async def record(self, target: str, transcript_id: str) -> None:
        """Persist the entry (see DeletionLedger)."""
        await self.inner.record(target, transcript_id)

    async def mark_deleted(self, target: str, transcript_id: str) -> None:
        """Persist the confirmed deletion (see DeletionLedger)."""
        await self.inner.mark_deleted(target, transcript_id)

    async def mark_attempt(self, target: str, transcript_id: str, error: str) -> None:
        """Persist a failed attempt (see DeletionLedger)."""
        await self.inner.mark_attempt(target, transcript_id, error)

    async def pending(self, target: str | None = None) -> list[LedgerEntry]:
        """Return the pending entries that no running probe owns, oldest first."""
        entries = await self.inner.pending(target)
        return [e for e in entries if (e.target, e.transcript_id) not in self.live]


class RunLedger(LiveLedger):
    """The ledger one probe run writes to; what it records is live until the run ends."""

    def __init__(self, shared: LiveLedger) -> None:
        super().__init__(shared.inner)
        self.shared = shared
        self.mine: set[tuple[str, str]] = set()

    async def record(self, target: str, transcript_id: str) -> None:
        """Persist the entry and mark it as owned by this run."""
        self.mine.add((target, transcript_id))
        self.shared.live.add((target, transcript_id))
        await self.inner.record(target, transcript_id)

    async def pending(self, target: str | None = None) -> list[LedgerEntry]:
        """Return every pending entry (a probe sees the whole ledger)."""
        return await self.inner.pending(target)

    def release(self) -> None:
        """Hand what this run recorded back to the janitor."""
        self.shared.live.difference_update(self.mine)


def _default_sweeper() -> Sweeper:
    from monitor import janitor

    sweep: Sweeper = janitor.sweep
    return sweep


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class Housekeeping:
    """Runs janitor sweeps and pruning on their periods; counts sweeps and their failures."""

    def __init__(
        self,
        targets: Mapping[str, Target],
        ctx: ProbeContext,
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        store: Maintenance | None = None,
        sweeper: Sweeper | None = None,
        janitor_every: float = 60.0,
        prune_every: float = 3600.0,
        sweep_timeout: float = 60.0,
    ) -> None:
        self._targets = targets
        self._ledger = ctx.ledger
        self.live = LiveLedger(ctx.ledger)
        self._sweep_ctx = replace(ctx, ledger=self.live)
        self._clock = clock or ctx.clock
        self._metrics = metrics
        self._store = store
        self._sweeper = sweeper
        self._janitor_every = janitor_every
        self._prune_every = prune_every
        self._sweep_timeout = sweep_timeout
        self._sweep_lock = asyncio.Lock()
        self.sweeps = 0
        self.sweep_errors = 0

    def run_ledger(self) -> RunLedger:
        """Return the ledger for one probe run; call its ``release`` when the run ends."""
        return RunLedger(self.live)

    def loops(self, start: float) -> list[asyncio.Task[None]]:
        """Return the started janitor (and, with a store, prune) loops; the caller owns them.

        `start` is the monotonic reading the periods count from.
        """
        tasks = [
            asyncio.create_task(
                self._every(start, self._janitor_every, self.sweep), name="sttwatch-janitor"
            )
        ]
        if self._store is not None:
            tasks.append(
                asyncio.create_task(
                    self._every(start, self._prune_every, self._prune), name="sttwatch-prune"
                )
            )
        return tasks

    async def sweep(self) -> None:
        """Run one janitor sweep (bounded in time) and refresh the deletion backlog metric."""
        async with self._sweep_lock:
            try:
                sweeper = self._sweeper or _default_sweeper()
                async with asyncio.timeout(self._sweep_timeout):
                    report = await sweeper(self._targets, self._sweep_ctx)
                self.sweeps += 1
                log.debug("janitor sweep: %s", report)
            except Exception:
                self.sweep_errors += 1
                log.exception("janitor sweep failed")
            await self._refresh_backlog()

    async def _prune(self) -> None:
        assert self._store is not None
        try:
            await self._store.prune()
        except Exception:
            log.exception("pruning old rows failed")

    async def _refresh_backlog(self) -> None:
        if self._metrics is None:
            return
        try:
            counts = dict.fromkeys(self._targets, 0)
            pending_counts = getattr(self._ledger, "pending_counts", None)
            if pending_counts is not None:
                counts.update(await _maybe_await(pending_counts()))
            else:
                for entry in await self._ledger.pending():
                    counts[entry.target] = counts.get(entry.target, 0) + 1
            self._metrics.set_deletions_pending(counts)
        except Exception:
            log.exception("could not read the deletion backlog")

    async def _every(
        self, start: float, period: float, work: Callable[[], Awaitable[None]]
    ) -> None:
        # The first run is at once: the start-up sweep deletes what a killed process left.
        n = 0
        while True:
            await work()
            n += 1
            delay = start + n * period - self._clock.monotonic()
            if delay > 0:
                await self._clock.sleep(delay)
