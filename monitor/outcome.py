"""The outcome machine: one component's streak of results, judged against the thresholds.

Pure: no I/O, no clock. Each consumer keeps a component's `Streak`, passes it
with every result to `step` and acts on the returned `Outcome`: incidents
(store/ingest.py) open on `down` and close on `good`; alerts
(alerting/rules.py) open on `down` or `degraded`, resolve on `up`, and do
neither while `held`; the database alert (alerting/database.py) opens on
`down` and resolves on `good`. None of them compares a count with a threshold
itself, so the thresholds mean the same everywhere (docs/storage.md,
docs/alerting.md).

`combine` is the quorum: a component probed from several locations is down
only when at least `quorum` of them see it down (degraded likewise); fewer is a
partial state ("down from eu-west") that opens nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Literal, NamedTuple, Self

from monitor.config import AlertsConfig
from monitor.models import Status

__all__ = ["Outcome", "Quorum", "Streak", "Thresholds", "Verdict", "combine", "required", "step"]

_DEFAULTS = AlertsConfig()


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Results in a row that confirm an outage, a recovery, or a latency problem."""

    # The defaults are the config's (docs/design.md rule 3: defaults live in one place),
    # and the field names are its keys, so `from_config` copies by name.
    failure_threshold: int = _DEFAULTS.failure_threshold
    success_threshold: int = _DEFAULTS.success_threshold
    degraded_threshold: int = _DEFAULTS.degraded_threshold

    @classmethod
    def from_config(cls, alerts: AlertsConfig) -> Self:
        """Return the thresholds (and, on a subclass, its other knobs) configured in `alerts`."""
        return cls(**{f.name: getattr(alerts, f.name) for f in fields(cls)})


# Streak and Outcome are NamedTuples, not frozen dataclasses: one of each is built
# for every stored result, and a tuple is several times cheaper to build.
class Streak(NamedTuple):
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


class Outcome(NamedTuple):
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


def step(
    streak: Streak,
    status: Status,
    at: datetime,
    thresholds: Thresholds,
    in_maintenance: bool = False,
) -> Outcome:
    """Return `streak` advanced by a result of `status` that started `at`, and what it means."""
    # Straight-line on purpose: this runs for every stored result (bulk ingest).
    if status is streak.status:
        length, since = streak.length + 1, streak.since
    else:
        length, since = 1, at
    if status is Status.DOWN:
        down = length >= thresholds.failure_threshold
        return Outcome(
            Streak(status, length, since, 0, None), down, False, False, False, in_maintenance
        )
    good = streak.good + 1
    new = Streak(status, length, since, good, streak.good_since if streak.good else at)
    recovered = good >= thresholds.success_threshold
    if status is Status.UP:
        up = length >= thresholds.success_threshold
        return Outcome(new, False, False, up, recovered, in_maintenance)
    slow = 0 < thresholds.degraded_threshold <= length
    return Outcome(new, False, slow, False, recovered, in_maintenance)


Quorum = int | Literal["majority"]
"""The config's `quorum:`: a number of locations, or a majority of those reporting."""


class Verdict(NamedTuple):
    """A component's status across its locations, and the locations that see it worse."""

    status: Status
    # Locations whose status is worse than `status` (too few for the quorum), sorted:
    # "down from eu-west". Empty when every location agrees with `status` or better.
    partial: tuple[str, ...] = ()
    # The worst status among `partial` (None when it is empty).
    partial_status: Status | None = None


def required(quorum: Quorum, locations: int) -> int:
    """Return how many of `locations` reporting locations must agree for the quorum."""
    if quorum == "majority":
        return locations // 2 + 1
    return quorum


def combine(states: Mapping[str, Status], quorum: Quorum) -> Verdict:
    """Return the component's verdict from each location's status (`states`) and `quorum`.

    Down when at least `required(quorum, len(states))` locations see it down;
    else degraded when that many see it degraded or down; else up. A fixed
    quorum larger than the locations reporting can never be met: with quorum 2
    and one location, that location's outage stays partial (as the Prometheus
    rules' `count ... >= 2` does). No location at all is up with nothing partial.
    """
    need = required(quorum, len(states))
    down = sorted(loc for loc, s in states.items() if s is Status.DOWN)
    if len(down) >= need and down:
        return Verdict(Status.DOWN)
    bad = sorted(loc for loc, s in states.items() if s is not Status.UP)
    if len(bad) >= need and bad:
        return Verdict(Status.DEGRADED, tuple(down), Status.DOWN if down else None)
    if not bad:
        return Verdict(Status.UP)
    return Verdict(Status.UP, tuple(bad), Status.DOWN if down else Status.DEGRADED)
