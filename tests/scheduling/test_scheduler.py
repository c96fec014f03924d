"""The scheduler on a virtual clock: cadence, stagger, skips, lateness, failures, shutdown.

The probes here are tiny stand-ins registered in the dict the scheduler takes
(a double of the *probe*, not of the scheduler under test); results go to real
sinks (a list and a real :class:`Metrics`), the ledger is a real SQLite store.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Config, Target, parse_config
from monitor.isolation import run_probe
from monitor.metrics import Metrics
from monitor.models import ErrorKind, ProbeContext, ProbeFn, ProbeResult, Status, SystemClock
from monitor.scheduler import FIRST_RUN_WINDOW, Scheduler
from monitor.store import Store

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class VirtualClock:
    """A clock whose time only moves when the test advances it; `sleep` waits for that."""

    def __init__(self, oversleep: float = 0.0) -> None:
        self.t = 0.0
        self.oversleep = oversleep
        self._heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self._new_sleeper = asyncio.Event()

    def monotonic(self) -> float:
        return self.t

    def now(self) -> datetime:
        return EPOCH + timedelta(seconds=self.t)

    async def sleep(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        wake = self.t + max(seconds, 0.0) + self.oversleep
        heapq.heappush(self._heap, (wake, next(self._seq), fut))
        self._new_sleeper.set()
        await fut

    def sleeping_until(self, when: float) -> bool:
        """Return True when some task sleeps until exactly `when`."""
        return any(w == when and not f.done() for w, _, f in self._heap)

    async def wait_for_sleeper(self, when: float) -> None:
        """Wait (real time, bounded) until a task sleeps until `when`; for work done in threads."""
        async with asyncio.timeout(2.0):
            while not self.sleeping_until(when):
                self._new_sleeper.clear()
                await self._new_sleeper.wait()

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, waking each sleeper at its own instant."""
        end = self.t + seconds
        await _settle()
        while self._heap and self._heap[0][0] <= end:
            wake, _, fut = heapq.heappop(self._heap)
            if fut.done():  # a cancelled sleep
                continue
            self.t = max(self.t, wake)
            fut.set_result(None)
            await _settle()
        self.t = end
        await _settle()


async def _settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0)


def make_config(tmp_path: Path, targets: int = 1, **probes: Any) -> Config:
    probes = probes or {"reachability": {"interval": "60s"}}
    return parse_config(
        {
            "database": str(tmp_path / "sttwatch.db"),
            "targets": [
                {
                    "name": f"t{i}",
                    "api_key": "k",
                    "api_base": "http://127.0.0.1:9",
                    "probes": probes,
                }
                for i in range(targets)
            ],
        }
    )


Behaviour = Callable[[Target, Any, ProbeContext], Awaitable[ProbeResult | None]]


class FakeProbes:
    """Probe stand-ins that log when they start, then do what the test says."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.starts: list[tuple[str, str, float]] = []
        self.behaviour = behaviour

    def registry(self) -> dict[str, ProbeFn]:
        return {name: self._fn(name) for name in ("reachability", "transcription", "streaming")}

    def _fn(self, name: str) -> ProbeFn:
        async def run(target: Any, spec: Any, ctx: ProbeContext) -> ProbeResult:
            started = ctx.clock.now()
            self.starts.append((target.name, name, ctx.clock.monotonic()))
            if self.behaviour is not None:
                result = await self.behaviour(target, spec, ctx)
                if result is not None:
                    return result
            return ProbeResult(target.name, name, started, 0.01, Status.UP)

        return run

    def times(self, target: str = "t0", probe: str = "reachability") -> list[float]:
        return [t for tg, p, t in self.starts if (tg, p) == (target, probe)]


class Harness:
    def __init__(self, config: Config, clock: VirtualClock, store: Store) -> None:
        self.config = config
        self.clock = clock
        self.store = store
        self.results: list[ProbeResult] = []
        self.metrics = Metrics(config)
        self.sweeps: list[float] = []
        self.ctx = ProbeContext(session_factory=_no_sessions, clock=clock, ledger=store)

    async def collect(self, result: ProbeResult) -> None:
        self.results.append(result)

    async def sweeper(self, targets: Any, ctx: ProbeContext) -> str:
        self.sweeps.append(self.clock.monotonic())
        return "swept"

    def scheduler(self, probes: FakeProbes, **kw: Any) -> Scheduler:
        kw.setdefault("sinks", [self.collect, self.metrics.observe])
        return Scheduler(
            self.config,
            ctx=self.ctx,
            probes=probes.registry(),
            clock=self.clock,
            metrics=self.metrics,
            sweeper=self.sweeper,
            **kw,
        )

    def sample(self, name: str, **labels: str) -> float | None:
        # Every target here is AssemblyAI's: its series carry that provider label.
        return self.metrics.registry.get_sample_value(
            name, {**labels, "provider": "assemblyai", "location": "local"}
        )


def _no_sessions(**_: Any) -> Any:
    raise AssertionError("the fake probes open no HTTP session")


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def harness(tmp_path: Path, clock: VirtualClock, store: Store) -> Harness:
    return Harness(make_config(tmp_path), clock, store)


@pytest.mark.parametrize("n", [1, 3, 10], ids=["1-interval", "3-intervals", "10-intervals"])
async def test_runs_once_per_interval_without_drift(harness: Harness, n: int) -> None:
    probes = FakeProbes()
    sched = harness.scheduler(probes)
    await sched.start()
    try:
        # Just short of the (n+1)-th due time.
        await harness.clock.advance((n - 1) * 60.0 + 59.0)
    finally:
        await sched.stop()
    assert probes.times() == [k * 60.0 for k in range(n)]
    assert [r.status for r in harness.results] == [Status.UP] * n
    assert harness.sample(
        "sttwatch_probe_runs_total", target="t0", probe="reachability", status="up"
    ) == float(n)
    assert sched.state.skipped == 0


async def test_slow_probe_is_not_doubled_and_the_skip_is_counted(harness: Harness) -> None:
    async def slow(target: Any, spec: Any, ctx: ProbeContext) -> None:
        await ctx.clock.sleep(150.0)  # outlasts two due times (60 s, 120 s)

    probes = FakeProbes(slow)
    sched = harness.scheduler(probes)
    await sched.start()
    try:
        await harness.clock.advance(200.0)
    finally:
        await sched.stop(grace=0.1)
    assert probes.times() == [0.0, 180.0]
    assert sched.state.skipped == 2
    assert harness.sample("sttwatch_probe_skipped_total", target="t0", probe="reachability") == 2.0
    # The first run completed at 150 s and was delivered; the second was cancelled at stop.
    assert len(harness.results) == 1


async def test_lateness_is_measured_and_exported(tmp_path: Path, store: Store) -> None:
    clock = VirtualClock(oversleep=0.25)  # every wake-up comes 250 ms late
    h = Harness(make_config(tmp_path), clock, store)
    probes = FakeProbes()
    sched = h.scheduler(probes, janitor_every=3600.0)
    await sched.start()
    try:
        await clock.advance(3 * 60.0)
    finally:
        await sched.stop()
    runs = len(probes.times())
    assert runs == 3
    labels = {"target": "t0", "probe": "reachability"}
    assert h.sample("sttwatch_scheduler_lateness_seconds_count", **labels) == runs
    # The first run is due at start: no sleep, no lateness. The others are 250 ms late.
    assert h.sample("sttwatch_scheduler_lateness_seconds_sum", **labels) == pytest.approx(0.5)
    # Lateness does not accumulate: due times stay on the start + k * interval grid.
    assert probes.times() == pytest.approx([0.0, 60.25, 120.25])


@pytest.mark.parametrize(
    ("targets", "interval", "window"),
    [(3, "60s", FIRST_RUN_WINDOW), (4, "5s", 5.0), (1, "60s", FIRST_RUN_WINDOW)],
    ids=["3-targets-60s", "4-targets-5s-interval", "single-target"],
)
async def test_first_runs_are_staggered_within_the_window(
    tmp_path: Path, clock: VirtualClock, store: Store, targets: int, interval: str, window: float
) -> None:
    probes_cfg = {
        "reachability": {"interval": interval, "timeout": "1s", "degraded_after": "500ms"},
        "streaming": {"interval": interval, "timeout": "2s", "degraded_after": "1s"},
    }
    h = Harness(make_config(tmp_path, targets=targets, **probes_cfg), clock, store)
    probes = FakeProbes()
    sched = h.scheduler(probes)
    await sched.start()
    try:
        await clock.advance(window - 0.001)
    finally:
        await sched.stop()
    firsts = [t for _, _, t in probes.starts]
    assert len(firsts) == 2 * targets, "every job ran once within the first window"
    assert len(set(firsts)) == len(firsts), "no two jobs started together"
    assert all(0.0 <= t < window for t in firsts)
    assert sorted(firsts) == firsts == sorted(sched.offsets.values())


async def test_later_runs_are_spread_over_the_whole_interval(
    tmp_path: Path, clock: VirtualClock, store: Store
) -> None:
    # First runs come within the first-run window; from the second on, each job keeps
    # a phase of its own across the interval, so the load is even and nothing doubles.
    h = Harness(make_config(tmp_path, targets=4), clock, store)
    probes = FakeProbes()
    sched = h.scheduler(probes, janitor_every=3600.0)
    await sched.start()
    try:
        await clock.advance(3 * 60.0 - 0.001)
    finally:
        await sched.stop()
    for i in range(4):
        first = FIRST_RUN_WINDOW * i / 4
        phase = 60.0 * i / 4
        assert probes.times(f"t{i}") == pytest.approx([first, phase + 60.0, phase + 120.0])
    assert h.sample("sttwatch_probe_skipped_total", target="t3", probe="reachability") == 0.0


async def test_a_raising_probe_becomes_internal_and_the_schedule_goes_on(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    async def buggy(target: Any, spec: Any, ctx: ProbeContext) -> None:
        if len(probes.starts) == 1:
            raise ZeroDivisionError("oops")

    probes = FakeProbes(buggy)
    sched = harness.scheduler(probes)
    await sched.start()
    try:
        await harness.clock.advance(61.0)
    finally:
        await sched.stop()
    first, second = harness.results
    assert (first.status, first.error_kind) == (Status.DOWN, ErrorKind.INTERNAL)
    assert first.message == "internal error: ZeroDivisionError"
    assert second.status is Status.UP
    assert sched.state.internal_errors == 1
    assert "Traceback" in caplog.text and "ZeroDivisionError: oops" in caplog.text
    assert (
        harness.sample(
            "sttwatch_probe_errors_total", target="t0", probe="reachability", error_kind="internal"
        )
        == 1.0
    )


async def test_a_failing_sink_does_not_stop_the_others(harness: Harness) -> None:
    async def broken(result: ProbeResult) -> None:
        raise OSError("disk full")

    probes = FakeProbes()
    sched = harness.scheduler(probes, sinks=[broken, harness.collect, harness.metrics.observe])
    await sched.start()
    try:
        await harness.clock.advance(121.0)
    finally:
        await sched.stop()
    assert len(harness.results) == 3
    assert sched.state.sink_errors == 3
    assert sched.state.runs == 3


async def test_stop_cancels_hung_probes_and_awaits_every_task(harness: Harness) -> None:
    cancelled = asyncio.Event()

    async def hang(target: Any, spec: Any, ctx: ProbeContext) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    probes = FakeProbes(hang)
    sched = harness.scheduler(probes)
    await sched.start()
    await harness.clock.advance(1.0)
    assert sched.state.in_flight == 1
    sweeps_before = len(harness.sweeps)
    await sched.stop(grace=0.05)
    assert cancelled.is_set()
    assert not sched.state.running
    assert sched.state.in_flight == 0
    assert len(harness.sweeps) == sweeps_before + 1, "a final sweep runs at stop"
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert [t.get_name() for t in others if t.get_name().startswith("sttwatch")] == []


async def test_stop_lets_a_running_probe_finish(harness: Harness) -> None:
    release = asyncio.Event()

    async def wait_for_release(target: Any, spec: Any, ctx: ProbeContext) -> None:
        await release.wait()

    probes = FakeProbes(wait_for_release)
    sched = harness.scheduler(probes)
    await sched.start()
    await harness.clock.advance(1.0)
    stopping = asyncio.create_task(sched.stop(grace=5.0))
    await _settle()
    assert not stopping.done()
    release.set()
    await stopping
    assert [r.status for r in harness.results] == [Status.UP]


async def test_janitor_sweeps_at_start_and_every_period_and_exports_backlog(
    harness: Harness,
) -> None:
    await harness.store.record("t0", "orphan-1")
    await harness.store.record("t0", "orphan-2")
    # 25 s: off the probes' 60 s grid, so the only sleeper due at 25, 50, 75 is the janitor.
    sched = harness.scheduler(FakeProbes(), janitor_every=25.0)
    await sched.start()
    try:
        for when in (25.0, 50.0, 75.0):
            # The backlog is read from SQLite in a thread: let each sweep finish first.
            await harness.clock.wait_for_sleeper(when)
            await harness.clock.advance(25.0)
    finally:
        await sched.stop()
    assert harness.sweeps == [0.0, 25.0, 50.0, 75.0, 75.0]  # start-up, every 25 s, final
    assert harness.sample("sttwatch_deletions_pending", target="t0") == 2.0


async def test_cycle_completes_when_every_job_has_run(tmp_path: Path, store: Store) -> None:
    clock = VirtualClock()
    cfg = make_config(
        tmp_path,
        targets=2,
        reachability={"interval": "60s"},
        streaming={"interval": "60s", "timeout": "30s"},
    )
    h = Harness(cfg, clock, store)
    cycles: list[float] = []

    async def on_cycle() -> None:
        cycles.append(clock.monotonic())

    sched = h.scheduler(FakeProbes(), on_cycle=on_cycle)
    await sched.start()
    try:
        assert sched.state.last_cycle_completed_at is None
        await clock.advance(65.0)
        state = sched.state
    finally:
        await sched.stop()
    assert state.running and state.cycles == 1
    assert cycles == [max(sched.offsets.values())]
    assert state.last_cycle_completed_monotonic == cycles[0]
    assert state.last_cycle_completed_at == EPOCH + timedelta(seconds=cycles[0])


@pytest.mark.timing
async def test_deadline_cancels_a_probe_that_ignores_its_timeout(tmp_path: Path) -> None:
    cfg = make_config(
        tmp_path, reachability={"timeout": "100ms", "degraded_after": "50ms", "interval": "1s"}
    )
    target = cfg.targets[0]
    spec = target.probes.reachability

    async def hang(target: Any, spec: Any, ctx: ProbeContext) -> ProbeResult:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async with asyncio.timeout(2.0):
        ctx = ProbeContext(session_factory=_no_sessions, clock=SystemClock(), ledger=None)  # type: ignore[arg-type]
        result = await run_probe(hang, target, "reachability", spec, ctx, grace=0.05)
    assert (result.status, result.error_kind) == (Status.DOWN, ErrorKind.TIMEOUT)
    assert 0.15 <= result.duration_s < 1.0


async def test_a_probe_raising_timeouterror_itself_is_internal(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    target = cfg.targets[0]

    async def buggy(target: Any, spec: Any, ctx: ProbeContext) -> ProbeResult:
        raise TimeoutError

    ctx = ProbeContext(session_factory=_no_sessions, clock=SystemClock(), ledger=None)  # type: ignore[arg-type]
    result = await run_probe(buggy, target, "reachability", target.probes.reachability, ctx)
    assert result.error_kind is ErrorKind.INTERNAL
    assert result.message == "internal error: TimeoutError"


def test_unregistered_probe_is_refused(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, streaming={})
    ctx = ProbeContext(session_factory=_no_sessions, clock=VirtualClock(), ledger=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no probe registered for streaming"):
        Scheduler(cfg, ctx=ctx, sinks=[], probes={"reachability": FakeProbes()._fn("r")})


async def test_sweeps_leave_alone_the_transcript_a_running_probe_owns(harness: Harness) -> None:
    await harness.store.record("t0", "old-orphan")
    seen: list[tuple[float, list[str]]] = []

    async def sweeper(targets: Any, ctx: ProbeContext) -> None:
        pending = await ctx.ledger.pending()
        seen.append((harness.clock.monotonic(), sorted(e.transcript_id for e in pending)))

    async def transcribing(target: Any, spec: Any, ctx: ProbeContext) -> None:
        await ctx.ledger.record(target.name, "in-flight")
        await ctx.clock.sleep(30.0)  # polling; a sweep at 25 s must not touch "in-flight"

    sched = Scheduler(
        harness.config,
        ctx=harness.ctx,
        sinks=[harness.collect],
        probes=FakeProbes(transcribing).registry(),
        sweeper=sweeper,
        janitor_every=25.0,
    )
    await sched.start()
    try:
        await harness.clock.wait_for_sleeper(30.0)  # the probe has recorded, and polls
        for when in (25.0, 50.0):
            await harness.clock.wait_for_sleeper(when)
            await harness.clock.advance(25.0)
    finally:
        await sched.stop()
    assert seen[:3] == [
        (0.0, ["old-orphan"]),
        (25.0, ["old-orphan"]),
        # The run ended at 30 s without deleting: now it is the janitor's.
        (50.0, ["in-flight", "old-orphan"]),
    ]


async def test_every_target_key_and_config_secret_is_masked_out_of_results(
    tmp_path: Path, clock: VirtualClock, store: Store
) -> None:
    # A server echoing credentials back: each target's own key, another target's key and
    # an alert URL's password all stay out of the results the sinks get.
    cfg = parse_config(
        {
            "database": str(tmp_path / "sttwatch.db"),
            "alerts": {"urls": ["json://alerts:hunter2-pw@127.0.0.1:9/hook"]},
            "targets": [
                {"name": f"t{i}", "api_key": f"key-of-t{i}", "api_base": "http://127.0.0.1:9"}
                for i in range(2)
            ],
        }
    )
    echoed = "key-of-t0 key-of-t1 hunter2-pw"

    async def echo(target: Any, spec: Any, ctx: ProbeContext) -> ProbeResult:
        return ProbeResult(
            target.name, "reachability", ctx.clock.now(), 0.01, Status.DOWN,
            ErrorKind.AUTH, f"401: {echoed}", {}, {"body": echoed, "headers": [echoed]},
        )  # fmt: skip

    harness = Harness(cfg, clock, store)
    sched = harness.scheduler(FakeProbes(echo))
    await sched.start()
    try:
        await clock.advance(FIRST_RUN_WINDOW)
    finally:
        await sched.stop()
    assert {r.target for r in harness.results} == {"t0", "t1"}
    for r in harness.results:
        assert r.message == "401: **** **** ****"
        assert r.details == {
            "body": "**** **** ****",
            "headers": [r.details["body"]],
        }


async def test_a_probe_that_keeps_raising_logs_its_traceback_once_a_streak(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = make_config(tmp_path)
    target = cfg.targets[0]
    spec = target.probes.reachability
    outcome: list[Exception | None] = [ValueError("x"), ValueError("x"), None, ValueError("x")]

    async def flaky(target: Any, spec: Any, ctx: ProbeContext) -> ProbeResult:
        exc = outcome.pop(0)
        if exc is not None:
            raise exc
        return ProbeResult(target.name, "reachability", ctx.clock.now(), 0.01, Status.UP)

    ctx = ProbeContext(session_factory=_no_sessions, clock=SystemClock(), ledger=None)  # type: ignore[arg-type]
    raising: dict[tuple[str, str], str] = {}  # what a scheduler keeps across runs
    with caplog.at_level(logging.ERROR, logger="monitor.isolation"):
        kinds = [
            (await run_probe(flaky, target, "reachability", spec, ctx, raising=raising)).error_kind
            for _ in range(4)
        ]
    assert kinds == [ErrorKind.INTERNAL, ErrorKind.INTERNAL, None, ErrorKind.INTERNAL]
    # A traceback at the first raise and again after the good run, one line in between.
    assert [r.exc_info is not None for r in caplog.records] == [True, False, True]
    assert "raised ValueError again" in caplog.records[1].getMessage()
