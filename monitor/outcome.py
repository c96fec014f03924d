"""The outcome machine: one component's streak of results, judged against the thresholds.

Pure: no I/O, no clock. Each consumer keeps a component's `Streak`, passes it
with every result to `step` and acts on the returned `Outcome`: incidents
(store/ingest.py) open on `down` and close on `good`; alerts
(alerting/rules.py) open on `down` or `degraded`, resolve on `up`, and do
neither while `held`; the database alert (alerting/database.py) opens on
`down` and resolves on `good`. None of them compares a count with a threshold
itself, so the thresholds mean the same everywhere (docs/storage.md,
docs/alerting.md).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Self

from monitor.config import AlertsConfig
from monitor.models import Status

__all__ = ["Outcome", "Streak", "Thresholds", "step"]

_DEFAULTS = AlertsConfig()


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Results in a row that confirm an outage, a recovery, or a latency problem."""

    # The defaults are the config's (DESIGN.md rule 3: defaults live in one place),
    # and the field names are its keys, so `from_config` copies by name.
    failure_threshold: int = _DEFAULTS.failure_threshold
    success_threshold: int = _DEFAULTS.success_threshold
    degraded_threshold: int = _DEFAULTS.degraded_threshold

    @classmethod
    def from_config(cls, alerts: AlertsConfig) -> Self:
        """Return the thresholds (and, on a subclass, its other knobs) configured in `alerts`."""
        return cls(**{f.name: getattr(alerts, f.name) for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class Streak:
    """Where a component's run of results stands: the state `step` advances."""

    status: Status | None = None  # the last result's
    length: int = 0  # results in a row with that status
    since: datetime | None = None  # when the first of them started
    # Results in a row that were not down (up or degraded), and since when: an
    # outage is over when the API answers, however slowly.
    good: int = 0
    good_since: datetime | None = None

    @property
    def down(self) -> int:
        """Return how many results in a row were down (0 after a good one)."""
        return self.length if self.status is Status.DOWN else 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one result means, judged on the streak it extended."""

    streak: Streak
    # `failure_threshold` downs in a row: an outage.
    down: bool
    # `degraded_threshold` (when > 0) degraded results in a row: a latency problem.
    degraded: bool
    # `success_threshold` ups in a row: every problem, slow or down, is over.
    up: bool
    # `success_threshold` results in a row that were not down: an outage is over.
    good: bool
    # Inside a maintenance window: the streak counts, but nothing may open or close
    # for alerting; the first result after the window is judged on the whole streak.
    held: bool = False

    @property
    def started(self) -> bool:
        """Return whether this result began a new streak of its status."""
        return self.streak.length == 1

    @property
    def good_started(self) -> bool:
        """Return whether this result was the first good one after a down (or the first ever)."""
        return self.streak.good == 1


def _advance(streak: Streak, status: Status, at: datetime) -> Streak:
    if status is streak.status:
        new = replace(streak, length=streak.length + 1)
    else:
        new = replace(streak, status=status, length=1, since=at)
    if status is Status.DOWN:
        return replace(new, good=0, good_since=None)
    if new.good == 0:
        return replace(new, good=1, good_since=at)
    return replace(new, good=new.good + 1)


def step(
    streak: Streak,
    status: Status,
    at: datetime,
    thresholds: Thresholds,
    in_maintenance: bool = False,
) -> Outcome:
    """Return `streak` advanced by a result of `status` that started `at`, and what it means."""
    new = _advance(streak, status, at)
    return Outcome(
        streak=new,
        down=status is Status.DOWN and new.length >= thresholds.failure_threshold,
        degraded=status is Status.DEGRADED
        and thresholds.degraded_threshold > 0
        and new.length >= thresholds.degraded_threshold,
        up=status is Status.UP and new.length >= thresholds.success_threshold,
        good=status is not Status.DOWN and new.good >= thresholds.success_threshold,
        held=in_maintenance,
    )
