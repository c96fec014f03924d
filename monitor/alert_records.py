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

__all__ = ["AlertState", "Delivery", "Level", "NewAlert", "StoredAlert"]


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
