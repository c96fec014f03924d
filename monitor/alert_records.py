"""The records the alerter and the store exchange: alert state, outbox rows and deliveries.

Both `monitor.alerting` and `monitor.store` import this module and neither
imports the other: alerting reaches the store through the `AlertStore`
protocol (alerting/outbox.py), whose methods take and return these records.
They are plain data — a rendered message travels as its fields, so the store
needs nothing from alerting to keep it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from monitor.models import ErrorKind
from monitor.outcome import Streak

__all__ = [
    "AlertGroup",
    "AlertState",
    "Delivery",
    "GroupMember",
    "Level",
    "NewAlert",
    "StoredAlert",
]


class Level(StrEnum):
    """How bad an open alert is."""

    DEGRADED = "degraded"
    DOWN = "down"
    BACKLOG = "backlog"


@dataclass(frozen=True, slots=True)
class AlertState:
    """What the alerter remembers about one component (target × probe) between results."""

    target: str
    probe: str
    streak: Streak = field(default_factory=Streak)
    open_level: Level | None = None
    open_since: datetime | None = None
    last_notified_at: datetime | None = None
    open_error_kind: ErrorKind | None = None
    open_message: str = ""
    # Phases of the last up result: the baseline a degraded alert compares with
    # to name the phase that grew.
    baseline_phases: dict[str, float] = field(default_factory=dict)
    # Deletion backlog only: the transcript ids that were overdue when it opened.
    backlog_ids: tuple[str, ...] = ()
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert to commit to the outbox together with its component's state."""

    target: str
    probe: str
    kind: str
    level: str
    title: str
    body: str
    body_format: str
    notify_type: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StoredAlert(NewAlert):
    """An alert row of the outbox: the alert as committed, with its id and when."""

    id: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Delivery:
    """One (alert, destination) row of the outbox, with its alert."""

    id: int
    alert: StoredAlert
    destination: str
    destination_label: str
    attempts: int
    next_attempt_at: datetime
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class GroupMember:
    """One component of a target's alert group: what it opened with and what was announced."""

    probe: str
    level: Level  # its open alert now (down or degraded)
    since: datetime  # when its incident began
    error_kind: ErrorKind | None = None
    message: str = ""  # the failure's message, as the probe reported it (redacted, bounded)
    latency_s: float | None = None  # the key latency of the result that opened it
    checked_at: datetime | None = None  # when that result started
    took_s: float | None = None  # how long that run took
    streak_len: int = 0
    # The level the last message sent about it announced; None: not announced yet.
    announced: Level | None = None
    # Set once it recovered (the first good result of the streak that resolved it).
    resolved_at: datetime | None = None
    duration_s: float | None = None
    # Its own message as a one-component alert, sent as is when it is alone in the group.
    solo_title: str = ""
    solo_body: str = ""
    resolved_title: str = ""
    resolved_body: str = ""

    @property
    def open(self) -> bool:
        """Return True while its alert is open (not recovered)."""
        return self.resolved_at is None

    @property
    def held(self) -> bool:
        """Return True when its current level has not been announced yet."""
        return self.open and self.announced is not self.level


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """The open alert of one target: its components' alerts, sent as one message per batch."""

    target: str
    opened_at: datetime
    members: tuple[GroupMember, ...] = ()
    # When the held members go out (their group_wait ends); None: nothing held.
    flush_at: datetime | None = None
    announced_at: datetime | None = None  # when its first message was decided
    last_notified_at: datetime | None = None
    updated_at: datetime | None = None

    def member(self, probe: str) -> GroupMember | None:
        """Return the member for `probe`, if it is one."""
        return next((m for m in self.members if m.probe == probe), None)
