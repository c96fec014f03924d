"""When probes run — never what they do.

Every (target, probe) pair is a *job*. A job first runs within
``min(interval, 10 s)`` of start, offset by its index so targets do not fire
together, then at ``start + phase + k * interval`` (k >= 1) on the injected
monotonic clock (due times never drift), its phase spreading the jobs evenly
over the whole interval: a thousand targets every 60 s are ~17 runs a second,
not a hundred a second for ten seconds and then none, so a pause of the loop
(a /metrics scrape, a render, a collection) delays a sixth as many runs. A
run still going when the next one is due is not doubled: the slot is skipped
and counted. Each result is handed to the sinks in order (store, metrics,
alerting); a failing sink is logged and the others still get the result.

Two bounds use the event loop's real time rather than the injected clock: the
per-run deadline (``timeout + grace``, a last line of defence against a probe
that ignores its own timeout) and the stop grace. They guard against bugs,
not schedule work, and must hold even when a test clock stands still.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from monitor.models import (
    Clock,
    DeletionLedger,
    ErrorKind,
    LedgerEntry,
    ProbeContext,
    ProbeFn,
    ProbeResult,
    Status,
)
from monitor.redaction import Redactor

if TYPE_CHECKING:
    from monitor.config import Config, Target
    from monitor.metrics import Metrics

__all__ = [
    "DEFAULT_GRACE",
    "FIRST_RUN_WINDOW",
    "Maintenance",
    "ResultSink",
    "Scheduler",
    "SchedulerState",
    "Sweeper",
    "run_probe",
]

log = logging.getLogger(__name__)

ResultSink = Callable[[ProbeResult], Awaitable[None]]
"""Receives every probe result; store, metrics and alerting are sinks."""

Sweeper = Callable[["Mapping[str, Target]", ProbeContext], Awaitable[object]]
"""Deletes what the ledger says is still pending (``monitor.janitor.sweep``)."""

FIRST_RUN_WINDOW = 10.0
"""Every job runs first within min(interval, this many seconds) of start."""

DEFAULT_GRACE = 8.0
"""Seconds a probe may overrun its own timeout before the scheduler cancels it.

Above the transcription probe's deletion budget (5 s after its timeout), so the
scheduler never cuts a probe that is still cleaning up as designed."""


class Maintenance(Protocol):
    """What the scheduler needs from the store besides the ledger in the context."""

    async def prune(self) -> Any:
        """Delete rows older than their retention."""
        ...


@dataclass(frozen=True, slots=True)
class SchedulerState:
    """A snapshot of the scheduler for ``/healthz`` and the status page."""

    running: bool
    started_at: datetime | None
    cycles: int
    last_cycle_completed_at: datetime | None
    last_cycle_completed_monotonic: float | None
    runs: int
    skipped: int
    internal_errors: int
    sink_errors: int
    sweeps: int
    sweep_errors: int
    in_flight: int


@dataclass(slots=True, eq=False)
class _Job:
    target: Target
    probe: str
    spec: Any
    fn: ProbeFn
    offset: float
    phase: float
    task: asyncio.Task[None] | None = None
    runs: int = 0
    skipped: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.target.name, self.probe)


class _LiveLedger:
    """The deletion ledger as the janitor sees it: minus transcripts a running probe owns.

    Without this, a periodic sweep could find a job that just completed and delete
    it while its own probe is between "completed" and its verify/delete steps — a
    spurious ``inaccurate`` or ``deletion_failed``.
    """

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


class _RunLedger(_LiveLedger):
    """The ledger one probe run writes to; what it records is live until the run ends."""

    def __init__(self, shared: _LiveLedger) -> None:
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


def _internal(target: str, probe: str, started: datetime, duration: float, msg: str) -> ProbeResult:
    return ProbeResult(
        target=target,
        probe=probe,
        started_at=started,
        duration_s=duration,
        status=Status.DOWN,
        error_kind=ErrorKind.INTERNAL,
        message=msg,
    )


async def run_probe(
    fn: ProbeFn,
    target: Target,
    probe: str,
    spec: Any,
    ctx: ProbeContext,
    *,
    grace: float = DEFAULT_GRACE,
    secrets: Sequence[str] = (),
    redactor: Redactor | None = None,
) -> ProbeResult:
    """Return the result of one probe run; a bug or an overrun becomes a down result.

    The target's API key and the other `secrets` (the config's) are masked out
    of the result (see `without_secrets`). A caller running many probes passes
    `redactor` instead, built once from every secret including each target's key.
    """
    clock = ctx.clock
    started = clock.now()
    t0 = clock.monotonic()
    limit = float(spec.timeout) + grace
    try:
        async with asyncio.timeout(limit) as deadline:
            result = await fn(target, spec, ctx)
    except TimeoutError:
        duration = clock.monotonic() - t0
        if not deadline.expired():
            log.exception("probe %s of target %s raised TimeoutError", probe, target.name)
            return _internal(target.name, probe, started, duration, "internal error: TimeoutError")
        log.error(
            "probe %s of target %s overran its %.1fs timeout by the %.1fs grace; cancelled",
            probe,
            target.name,
            float(spec.timeout),
            grace,
        )
        return ProbeResult(
            target=target.name,
            probe=probe,
            started_at=started,
            duration_s=duration,
            status=Status.DOWN,
            error_kind=ErrorKind.TIMEOUT,
            message=f"no result within {limit:g}s; the probe was cancelled by the scheduler",
        )
    except Exception as exc:
        log.exception("probe %s of target %s raised", probe, target.name)
        duration = clock.monotonic() - t0
        return _internal(
            target.name, probe, started, duration, f"internal error: {type(exc).__name__}"
        )
    if not isinstance(result, ProbeResult):
        log.error("probe %s returned %r instead of a ProbeResult", probe, type(result).__name__)
        duration = clock.monotonic() - t0
        return _internal(
            target.name, probe, started, duration, "internal error: probe returned no result"
        )
    if redactor is None:
        redactor = Redactor([target.api_key.get_secret_value(), *secrets])
    return without_secrets(result, redactor)


def without_secrets(result: ProbeResult, secrets: Sequence[str] | Redactor) -> ProbeResult:
    """Return `result` with every secret masked out of its message and details.

    A server, or a proxy in front of it, may echo the Authorization header back
    in an error body, a header (Retry-After) or a close reason, and probes copy
    such text into results. Every result passes through `run_probe`, so this is
    the one place that keeps the key out of the store, the status page, the API,
    ``once --json`` and alerts (DESIGN.md rule 4).
    """
    redactor = secrets if isinstance(secrets, Redactor) else Redactor(secrets)
    if not redactor.secrets:
        return result
    return replace(
        result, message=redactor.scrub(result.message), details=redactor.scrub(result.details)
    )


def _default_probes() -> Mapping[str, ProbeFn]:
    from monitor.probes import PROBES

    return PROBES


def _default_sweeper() -> Sweeper:
    from monitor import janitor

    sweep: Sweeper = janitor.sweep
    return sweep


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class Scheduler:
    """Runs every configured probe on its interval and hands results to the sinks."""

    def __init__(
        self,
        config: Config,
        *,
        ctx: ProbeContext,
        sinks: Sequence[ResultSink],
        probes: Mapping[str, ProbeFn] | None = None,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        store: Maintenance | None = None,
        sweeper: Sweeper | None = None,
        janitor_every: float = 60.0,
        prune_every: float = 3600.0,
        grace: float = DEFAULT_GRACE,
        sweep_timeout: float = 60.0,
        on_cycle: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._config = config
        # Built once: per result it was a set and a sort of every secret in the config
        # (a thousand API keys at a thousand targets). config.secrets() holds every
        # target's key, so this one masks each target's own key too.
        self._redactor = Redactor(
            [*(t.api_key.get_secret_value() for t in config.targets), *config.secrets()]
        )
        self._ctx = ctx
        self._live = _LiveLedger(ctx.ledger)
        self._sweep_ctx = replace(ctx, ledger=self._live)
        self._sinks = list(sinks)
        self._probes = _default_probes() if probes is None else probes
        self._clock = clock or ctx.clock
        self._metrics = metrics
        self._store = store
        self._sweeper = sweeper
        self._janitor_every = janitor_every
        self._prune_every = prune_every
        self._grace = grace
        self._sweep_timeout = sweep_timeout
        self._on_cycle = on_cycle
        self._targets = {t.name: t for t in config.targets}
        self._jobs = self._plan()
        self._loops: list[asyncio.Task[None]] = []
        self._running = False
        self._start_mono = 0.0
        self._started_at: datetime | None = None
        self._cycle_done: set[tuple[str, str]] = set()
        self._cycles = 0
        self._last_cycle_wall: datetime | None = None
        self._last_cycle_mono: float | None = None
        self._internal_errors = 0
        self._sink_errors = 0
        self._sweeps = 0
        self._sweep_errors = 0
        self._sweep_lock = asyncio.Lock()

    def _plan(self) -> list[_Job]:
        pairs = [(t, name, spec) for t in self._config.targets for name, spec in _enabled(t)]
        missing = sorted({name for _, name, _ in pairs if name not in self._probes})
        if missing:
            raise ValueError(f"no probe registered for {', '.join(missing)}")
        n = len(pairs)
        return [
            _Job(
                target=t,
                probe=name,
                spec=spec,
                fn=self._probes[name],
                offset=min(float(spec.interval), FIRST_RUN_WINDOW) * i / n,
                phase=float(spec.interval) * i / n,
            )
            for i, (t, name, spec) in enumerate(pairs)
        ]

    @property
    def offsets(self) -> dict[tuple[str, str], float]:
        """Return each job's first-run offset in seconds from start, by (target, probe)."""
        return {job.key: job.offset for job in self._jobs}

    @property
    def state(self) -> SchedulerState:
        """Return a snapshot of the scheduler's progress and error counts."""
        return SchedulerState(
            running=self._running,
            started_at=self._started_at,
            cycles=self._cycles,
            last_cycle_completed_at=self._last_cycle_wall,
            last_cycle_completed_monotonic=self._last_cycle_mono,
            runs=sum(j.runs for j in self._jobs),
            skipped=sum(j.skipped for j in self._jobs),
            internal_errors=self._internal_errors,
            sink_errors=self._sink_errors,
            sweeps=self._sweeps,
            sweep_errors=self._sweep_errors,
            in_flight=sum(1 for j in self._jobs if j.task is not None and not j.task.done()),
        )

    async def __aenter__(self) -> Scheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the job loops and the janitor; returns once they are scheduled."""
        if self._running:
            raise RuntimeError("scheduler already running")
        self._running = True
        self._start_mono = self._clock.monotonic()
        self._started_at = self._clock.now()
        self._loops = [
            asyncio.create_task(self._job_loop(job), name=f"sttwatch-{job.target.name}-{job.probe}")
            for job in self._jobs
        ]
        self._loops.append(asyncio.create_task(self._janitor_loop(), name="sttwatch-janitor"))
        if self._store is not None:
            self._loops.append(asyncio.create_task(self._prune_loop(), name="sttwatch-prune"))
        log.info(
            "scheduler started: %d probe(s) on %d target(s)", len(self._jobs), len(self._targets)
        )

    async def stop(self, grace: float | None = None, *, final_sweep: bool = True) -> None:
        """Stop scheduling, finish or cancel running probes, sweep the ledger; all tasks awaited.

        Running probes get `grace` seconds (default: until their own deadline, which
        ``run_probe`` bounds by timeout + grace) before they are cancelled.
        """
        if not self._running and not self._loops:
            return
        self._running = False
        loops, self._loops = self._loops, []
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        runs = [j.task for j in self._jobs if j.task is not None and not j.task.done()]
        if runs:
            log.info("waiting for %d running probe(s) to finish", len(runs))
            _, late = await asyncio.wait(runs, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*runs, return_exceptions=True)
        if final_sweep:
            await self.sweep()
        log.info("scheduler stopped")

    async def sweep(self) -> None:
        """Run one janitor sweep (bounded in time) and refresh the deletion backlog metric."""
        async with self._sweep_lock:
            try:
                sweeper = self._sweeper or _default_sweeper()
                async with asyncio.timeout(self._sweep_timeout):
                    report = await sweeper(self._targets, self._sweep_ctx)
                self._sweeps += 1
                log.debug("janitor sweep: %s", report)
            except Exception:
                self._sweep_errors += 1
                log.exception("janitor sweep failed")
            await self._refresh_backlog()

    async def _refresh_backlog(self) -> None:
        if self._metrics is None:
            return
        try:
            counts = dict.fromkeys(self._targets, 0)
            pending_counts = getattr(self._ctx.ledger, "pending_counts", None)
            if pending_counts is not None:
                counts.update(await _maybe_await(pending_counts()))
            else:
                for entry in await self._ctx.ledger.pending():
                    counts[entry.target] = counts.get(entry.target, 0) + 1
            self._metrics.set_deletions_pending(counts)
        except Exception:
            log.exception("could not read the deletion backlog")

    async def _janitor_loop(self) -> None:
        # Start-up sweep first: a process killed mid-probe left orphans to delete.
        n = 0
        while True:
            await self.sweep()
            n += 1
            await self._sleep_until(self._start_mono + n * self._janitor_every)

    async def _prune_loop(self) -> None:
        assert self._store is not None
        n = 0
        while True:
            try:
                await self._store.prune()
            except Exception:
                log.exception("pruning old rows failed")
            n += 1
            await self._sleep_until(self._start_mono + n * self._prune_every)

    async def _sleep_until(self, when: float) -> None:
        delay = when - self._clock.monotonic()
        if delay > 0:
            await self._clock.sleep(delay)

    async def _job_loop(self, job: _Job) -> None:
        interval = float(job.spec.interval)
        base = self._start_mono + job.phase
        due = self._start_mono + job.offset  # the first run, within the first-run window
        k = 0
        # The run tasks created here are owned by stop(), which waits for or cancels them.
        while True:
            await self._sleep_until(due)
            now = self._clock.monotonic()
            if job.task is not None and not job.task.done():
                self._skip(job, 1, "the previous run is still going")
            else:
                if self._metrics is not None:
                    self._metrics.observe_lateness(job.target.name, job.probe, now - due)
                job.task = asyncio.create_task(
                    self._run_and_deliver(job),
                    name=f"sttwatch-run-{job.target.name}-{job.probe}",
                )
            # If the loop woke more than an interval late, the slots in between are gone.
            k_next = max(k + 1, int((now - base) // interval) + 1)
            if k_next > k + 1:
                self._skip(job, k_next - k - 1, "the scheduler fell behind")
            k = k_next
            due = base + k * interval

    def _skip(self, job: _Job, count: int, why: str) -> None:
        job.skipped += count
        if self._metrics is not None:
            self._metrics.probe_skipped_run(job.target.name, job.probe, count)
        log.warning("skipped %d run(s) of %s/%s: %s", count, job.target.name, job.probe, why)

    async def _run_and_deliver(self, job: _Job) -> None:
        ledger = _RunLedger(self._live)
        try:
            ctx = replace(self._ctx, ledger=ledger)
            result = await run_probe(
                job.fn,
                job.target,
                job.probe,
                job.spec,
                ctx,
                grace=self._grace,
                redactor=self._redactor,
            )
        finally:
            ledger.release()
        job.runs += 1
        if result.error_kind is ErrorKind.INTERNAL:
            self._internal_errors += 1
        log.log(
            logging.WARNING if result.status is Status.DOWN else logging.DEBUG,
            "%s/%s %s%s in %.2fs: %s",
            result.target,
            result.probe,
            result.status.value,
            f" ({result.error_kind.value})" if result.error_kind else "",
            result.duration_s,
            result.message,
        )
        await self.deliver(result)
        await self._completed(job)

    async def deliver(self, result: ProbeResult) -> None:
        """Hand `result` to every sink in order; a failing sink is logged and skipped."""
        for sink in self._sinks:
            try:
                await sink(result)
            except Exception:
                self._sink_errors += 1
                log.exception(
                    "result sink %s failed for %s/%s",
                    getattr(sink, "__qualname__", repr(sink)),
                    result.target,
                    result.probe,
                )

    async def _completed(self, job: _Job) -> None:
        self._cycle_done.add(job.key)
        if len(self._cycle_done) < len(self._jobs):
            return
        self._cycle_done.clear()
        self._cycles += 1
        self._last_cycle_mono = self._clock.monotonic()
        self._last_cycle_wall = self._clock.now()
        if self._on_cycle is not None:
            try:
                await self._on_cycle()
            except Exception:
                log.exception("cycle hook failed")


def _enabled(target: Target) -> list[tuple[str, Any]]:
    return list(target.probes.enabled().items())
