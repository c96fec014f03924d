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

Each run goes through :func:`monitor.isolation.run_probe` (its deadline, bugs
as results, secrets scrubbed); the janitor sweeps and pruning run beside the
jobs in :class:`monitor.housekeeping.Housekeeping`, started and stopped with
the scheduler. The stop grace uses the event loop's real time rather than the
injected clock: it guards against bugs, not schedule work, and must hold even
when a test clock stands still.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.housekeeping import Housekeeping, Maintenance, Sweeper
from monitor.isolation import DEFAULT_GRACE, run_probe
from monitor.models import (
    Clock,
    ErrorKind,
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
    "FIRST_RUN_WINDOW",
    "ResultSink",
    "Scheduler",
    "SchedulerState",
]

log = logging.getLogger(__name__)

ResultSink = Callable[[ProbeResult], Awaitable[None]]
"""Receives every probe result; store, metrics and alerting are sinks."""

FIRST_RUN_WINDOW = 10.0
"""Every job runs first within min(interval, this many seconds) of start."""


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


def probe_fn(target: Target, kind: str, probes: Mapping[str, ProbeFn] | None = None) -> ProbeFn:
    """Return the run of `kind` for `target`: its provider's (or a plugin's), unless overridden.

    `probes` (kind -> run) replaces the registry for every target, as tests do.
    """
    if probes is not None:
        return probes[kind]
    from monitor.probes.registry import implementation

    return implementation(target.provider, kind)


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
        self._raising: dict[tuple[str, str], str] = {}  # see run_probe
        self._sinks = list(sinks)
        self._probes = probes
        self._clock = clock or ctx.clock
        self._metrics = metrics
        self._grace = grace
        self._on_cycle = on_cycle
        self._targets = {t.name: t for t in config.targets}
        self.housekeeping = Housekeeping(
            self._targets,
            ctx,
            clock=self._clock,
            metrics=metrics,
            store=store,
            sweeper=sweeper,
            janitor_every=janitor_every,
            prune_every=prune_every,
            sweep_timeout=sweep_timeout,
        )
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

    def _plan(self) -> list[_Job]:
        pairs = [(t, name, spec) for t in self._config.targets for name, spec in _enabled(t)]
        missing = sorted(
            {name for _, name, _ in pairs if self._probes is not None and name not in self._probes}
        )
        if missing:
            raise ValueError(f"no probe registered for {', '.join(missing)}")
        n = len(pairs)
        return [
            _Job(
                target=t,
                probe=name,
                spec=spec,
                fn=probe_fn(t, name, self._probes),
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
            sweeps=self.housekeeping.sweeps,
            sweep_errors=self.housekeeping.sweep_errors,
            in_flight=sum(1 for j in self._jobs if j.task is not None and not j.task.done()),
        )

    async def __aenter__(self) -> Scheduler:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the job loops and housekeeping; returns once they are scheduled."""
        if self._running:
            raise RuntimeError("scheduler already running")
        self._running = True
        self._start_mono = self._clock.monotonic()
        self._started_at = self._clock.now()
        self._loops = [
            asyncio.create_task(self._job_loop(job), name=f"sttwatch-{job.target.name}-{job.probe}")
            for job in self._jobs
        ]
        self._loops += self.housekeeping.loops(self._start_mono)
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
        """Run one janitor sweep now (see `Housekeeping.sweep`)."""
        await self.housekeeping.sweep()

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
        ledger = self.housekeeping.run_ledger()
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
                raising=self._raising,
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
