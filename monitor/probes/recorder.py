"""Bookkeeping of one probe run: start time, timed phases, details, and the final result.

Every probe builds its :class:`~monitor.models.ProbeResult` through a
:class:`RunRecorder`, so `started_at`, `duration_s`, phase timing and the
up/degraded/down decision are done the same way everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from monitor.durations import seconds_text
from monitor.models import Clock, ProbeContext, ProbeResult, ProbeTarget, Status

if TYPE_CHECKING:
    # failures.py imports aiohttp; the recorder stays light so that the registry is.
    from monitor.probes.failures import Failure


class RunRecorder:
    """Collects what one probe run measured, then turns it into a ProbeResult."""

    def __init__(self, target: ProbeTarget, probe: str, ctx: ProbeContext) -> None:
        self.target = target.name
        self.probe = probe
        self.clock: Clock = ctx.clock
        self.started_at = ctx.clock.now()
        self.t0 = ctx.clock.monotonic()
        self.phases: dict[str, float] = {}
        self.details: dict[str, Any] = {}
        self.current: str | None = None

    def now(self) -> float:
        """Return the monotonic clock reading."""
        return self.clock.monotonic()

    def elapsed(self) -> float:
        """Return seconds since the run started."""
        return self.clock.monotonic() - self.t0

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as phase `name` (recorded even when the block fails)."""
        previous, self.current = self.current, name
        start = self.clock.monotonic()
        try:
            yield
        finally:
            self.phases[name] = self.clock.monotonic() - start
            self.current = previous

    def down(self, failure: Failure) -> ProbeResult:
        """Return the down result for `failure` (its details merged over the run's)."""
        return ProbeResult(
            target=self.target,
            probe=self.probe,
            started_at=self.started_at,
            duration_s=self.elapsed(),
            status=Status.DOWN,
            error_kind=failure.kind,
            message=failure.message,
            phases=dict(self.phases),
            details={**self.details, **failure.details},
        )

    def passed(self, latency: float, degraded_after: float, what: str) -> ProbeResult:
        """Return an up result, or degraded when `latency` (the key latency) is too high."""
        slow = latency > degraded_after
        message = (
            f"{what}, but slow: {seconds_text(latency)} (degraded above {degraded_after:g} s)"
            if slow
            else f"{what} in {seconds_text(latency)}"
        )
        return ProbeResult(
            target=self.target,
            probe=self.probe,
            started_at=self.started_at,
            duration_s=self.elapsed(),
            status=Status.DEGRADED if slow else Status.UP,
            message=message,
            phases=dict(self.phases),
            details=dict(self.details),
        )
