"""What ``/healthz`` says: ok, degraded or unhealthy, and why.

*unhealthy* — probing itself is in trouble: no probe cycle completed yet or
recently, or the scheduler stopped. *degraded* — probing goes on but a user
would miss something: the status page cannot be written, the database cannot
be written, or alert deliveries have failed for longer than
``alerts.degrade_health_after`` with none succeeding. Both answer 503, so a
container health check notices either. Each change of state is logged once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from monitor import __version__
from monitor.config import Config
from monitor.models import Clock, iso
from monitor.renderer import SiteRenderer
from monitor.scheduler import SchedulerState
from monitor.store import StoreHealth

if TYPE_CHECKING:
    from monitor.alerting import AlertMetrics

__all__ = ["DeliveryHealth", "Health", "HealthReport", "staleness_limit"]

log = logging.getLogger(__name__)

AlertResult = Literal["sent", "failed", "gave_up"]

HARD = frozenset({"no_cycle", "stale", "stopped"})
"""Probing itself is in trouble: *unhealthy*."""
SOFT = frozenset({"database", "site", "alerts"})
"""Probing goes on, but a user would miss something: *degraded*."""


class DeliveryHealth:
    """Watches alert delivery outcomes (an ``AlertMetrics``), passing them on to `inner`.

    Deliveries are *failing* from the first failed attempt after the last
    successful one; one success ends it. The alerter reports every attempt
    through its metrics hook, so this sits there rather than inside alerting.
    """

    def __init__(self, clock: Clock, inner: AlertMetrics | None = None) -> None:
        self._clock = clock
        self._inner = inner
        self.failing_since: datetime | None = None
        self.failures = 0

    def alert_sent(self, result: AlertResult) -> None:
        """Record one delivery outcome (and count it in the metrics, when kept)."""
        if self._inner is not None:
            self._inner.alert_sent(result)
        if result == "sent":
            self.failing_since = None
            self.failures = 0
            return
        if self.failing_since is None:
            self.failing_since = self._clock.now()
        self.failures += 1


def staleness_limit(config: Config) -> float:
    """Return how many seconds without a completed probe cycle still count as healthy.

    A cycle ends when every probe has run once, so it takes up to the longest
    interval plus that probe's timeout; two of those leave room for one late cycle.
    """
    specs = [s for t in config.targets for s in t.probes.enabled().values()]
    longest = max((float(s.interval) + float(s.timeout) for s in specs), default=60.0)
    return 2 * longest + 10.0


@dataclass(frozen=True, slots=True)
class HealthReport:
    """The answer of ``/healthz``: its status, HTTP code and JSON body."""

    status: Literal["ok", "degraded", "unhealthy"]
    problems: tuple[tuple[str, str], ...]
    """(kind, reason) pairs: kinds are those of ``HARD`` and ``SOFT``."""
    body: dict[str, Any]

    @property
    def http_status(self) -> int:
        """Return 200 when ok, else 503."""
        return 200 if self.status == "ok" else 503


class Health:
    """Computes the health report from the running parts; logs each change of state."""

    def __init__(
        self,
        config: Config,
        clock: Clock,
        *,
        scheduler: Callable[[], SchedulerState],
        store: Callable[[], StoreHealth],
        renderer: SiteRenderer,
        deliveries: DeliveryHealth | None,
        leadership: Callable[[], dict[str, Any]] | None = None,
        buffer: Callable[[], int] | None = None,
    ) -> None:
        self._config = config
        self._clock = clock
        self._scheduler = scheduler
        self._store = store
        self._renderer = renderer
        self._deliveries = deliveries
        self._leadership = leadership
        self._buffer = buffer
        self._logged: frozenset[str] = frozenset()

    def check(self) -> HealthReport:
        """Return the current report, logging a line when its causes changed."""
        report = self.report()
        # "No cycle yet" is expected at start: not worth a line of its own.
        causes = {kind: text for kind, text in report.problems if kind != "no_cycle"}
        if frozenset(causes) != self._logged:
            if not causes:
                log.info("health: ok again")
            else:
                status = "unhealthy" if causes.keys() & HARD else "degraded"
                log.warning("health: %s: %s", status, "; ".join(causes.values()))
            self._logged = frozenset(causes)
        return report

    def report(self) -> HealthReport:
        """Return the current report (without logging)."""
        state = self._scheduler()
        store = self._store()
        renderer = self._renderer
        limit = staleness_limit(self._config)
        hard: list[tuple[str, str]] = []
        soft: list[tuple[str, str]] = []
        age: float | None = None
        if state.last_cycle_completed_monotonic is None:
            hard.append(("no_cycle", "no probe cycle has completed yet"))
        else:
            age = self._clock.monotonic() - state.last_cycle_completed_monotonic
            if age > limit:
                hard.append(
                    ("stale", f"the last probe cycle completed {age:.0f}s ago (limit {limit:.0f}s)")
                )
        if not state.running:
            hard.append(("stopped", "the scheduler is not running"))
        buffered = self._buffer() if self._buffer is not None else 0
        if not store.writable and self._buffer is not None:
            # A shared PostgreSQL database: probing goes on into the local buffer.
            soft.append(("database", f"database unreachable, {buffered} results buffered"))
        elif not store.writable:
            soft.append(
                ("database", f"the database is not writable: {store.last_error or 'unknown error'}")
            )
        elif buffered:
            soft.append(("database", f"writing {buffered} buffered results to the database"))
        if not renderer.writable:
            soft.append(("site", f"the status page cannot be written: {renderer.last_error}"))
        failing = self._alerts_failing_for()
        after = float(self._config.alerts.degrade_health_after)
        if failing is not None and after > 0 and failing > after:
            soft.append(
                (
                    "alerts",
                    f"alert deliveries have been failing for {failing:.0f}s "
                    f"(alerts.degrade_health_after: {after:g}s)",
                )
            )
        problems = hard + soft
        status: Literal["ok", "degraded", "unhealthy"] = (
            "unhealthy" if hard else "degraded" if soft else "ok"
        )
        rendered = renderer.last_rendered_at
        deliveries = self._deliveries
        body: dict[str, Any] = {
            "status": status,
            "reasons": [text for _, text in problems],
            "version": __version__,
            "scheduler": {
                "running": state.running,
                "cycles": state.cycles,
                "last_cycle_completed_at": iso(state.last_cycle_completed_at)
                if state.last_cycle_completed_at
                else None,
                "seconds_since_last_cycle": None if age is None else round(age, 3),
                "runs": state.runs,
                "skipped": state.skipped,
            },
            "database": {
                "writable": store.writable,
                "last_error": store.last_error,
                "failing_since": iso(store.failing_since) if store.failing_since else None,
                "buffered_results": buffered,
            },
            "site": {
                "writable": renderer.writable,
                "renders": renderer.renders,
                "last_rendered_at": iso(rendered) if rendered else None,
                "last_error": renderer.last_error,
                "failing_since": iso(renderer.failing_since) if renderer.failing_since else None,
            },
            "alerts": {
                "failing_since": iso(deliveries.failing_since)
                if deliveries is not None and deliveries.failing_since
                else None,
                "failed_attempts": deliveries.failures if deliveries is not None else 0,
            },
        }
        if self._leadership is not None:
            body["leadership"] = self._leadership()
        return HealthReport(status, tuple(problems), body)

    def _alerts_failing_for(self) -> float | None:
        if self._deliveries is None or self._deliveries.failing_since is None:
            return None
        return (self._clock.now() - self._deliveries.failing_since).total_seconds()
