"""What alerts follow from a result: pure functions from (state, observation) to (state, alerts).

The streak and its thresholds are the outcome machine's (`monitor.outcome`),
shared with the incidents; this adds the open alert, reminders and the
deletion backlog. No I/O and no clock: the caller passes ``now`` and whether
the component is inside a maintenance window, and persists the returned state
together with the returned alerts in one transaction. The transition table lives in
docs/alerting.md; the semantics follow Gatus's ``watchdog/alerting.go``
(failure/success thresholds, minimum reminder interval, send-on-resolved).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from monitor import outcome
from monitor.alert_records import AlertState, Level
from monitor.config import AlertsConfig
from monitor.models import ErrorKind, LedgerEntry, ProbeResult, Status
from monitor.outcome import Thresholds

__all__ = [
    "DELETION_PROBE",
    "AlertEvent",
    "AlertKind",
    "AlertRules",
    "AlertState",
    "Level",
    "backlog_step",
    "step",
]

DELETION_PROBE = "deletion"
"""The pseudo-probe name under which a target's deletion backlog is tracked."""


_DEFAULTS = AlertsConfig()


class AlertKind(StrEnum):
    """What an alert announces."""

    DOWN = "down"
    DEGRADED = "degraded"
    REMINDER = "reminder"
    RESOLVED = "resolved"
    DELETION_BACKLOG = "deletion-backlog"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class AlertRules(Thresholds):
    """The knobs of :func:`step` and :func:`backlog_step`: the thresholds, plus alerting's own."""

    reminder_every: float = _DEFAULTS.reminder_every
    send_resolved: bool = _DEFAULTS.send_resolved
    deletion_backlog_after: float = _DEFAULTS.deletion_backlog_after


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One notification the state machine decided to send."""

    kind: AlertKind
    target: str
    probe: str
    level: Level
    at: datetime
    # When the incident began (first bad result of the streak that opened it).
    incident_since: datetime
    # When the current streak of this status began (differs on escalation).
    since: datetime
    streak_len: int = 0
    result: ProbeResult | None = None
    previous_level: Level | None = None
    # RESOLVED: seconds from incident start to the first good result.
    duration_s: float | None = None
    error_kind: ErrorKind | None = None
    message: str = ""
    baseline_phases: dict[str, float] = field(default_factory=dict)
    backlog: tuple[LedgerEntry, ...] = ()

    @property
    def component(self) -> str:
        """Return ``target/probe``, the key alerts are grouped by."""
        return f"{self.target}/{self.probe}"


def step(
    state: AlertState,
    result: ProbeResult,
    now: datetime,
    rules: AlertRules,
    in_maintenance: bool = False,
) -> tuple[AlertState, list[AlertEvent]]:
    """Return the component's next state and the alerts `result` triggers (usually none).

    The streak is stepped by the outcome machine (`monitor.outcome`), which
    also judges it; this decides what the judgement sends. Inside a
    maintenance window the streak still advances (so the state keeps
    describing reality) but nothing is sent and no alert opens or closes; the
    first result after the window is judged on the whole streak, so a
    condition that outlasts the window alerts at once (Uptime Kuma does the
    same) and an outage that healed during the window resolves at once.
    """
    judged = outcome.step(state.streak, result.status, result.started_at, rules, in_maintenance)
    new = replace(state, streak=judged.streak, updated_at=now)
    if result.status is Status.UP:
        new = replace(new, baseline_phases=dict(result.phases))
    if judged.held:
        return new, []
    since = judged.streak.since or result.started_at
    status, streak, is_open = result.status, judged.streak.length, new.open_level

    def event(
        kind: AlertKind,
        level: Level,
        incident: datetime,
        *,
        previous: Level | None = None,
        duration_s: float | None = None,
        error_kind: ErrorKind | None = None,
        message: str = "",
    ) -> AlertEvent:
        return AlertEvent(
            kind=kind,
            target=state.target,
            probe=state.probe,
            level=level,
            at=now,
            incident_since=incident,
            since=since,
            streak_len=streak,
            result=result,
            previous_level=previous,
            duration_s=duration_s,
            error_kind=error_kind,
            message=message,
            baseline_phases=dict(state.baseline_phases),
        )

    if judged.down and is_open is not Level.DOWN:
        # Escalation from degraded keeps the incident's start; a fresh one starts now.
        incident = new.open_since if is_open is not None and new.open_since else since
        alert = event(
            AlertKind.DOWN,
            Level.DOWN,
            incident,
            previous=is_open,
            error_kind=result.error_kind,
            message=result.message,
        )
        return replace(
            new,
            open_level=Level.DOWN,
            open_since=incident,
            last_notified_at=now,
            open_error_kind=result.error_kind,
            open_message=result.message,
        ), [alert]

    if judged.degraded and is_open is None:
        alert = event(AlertKind.DEGRADED, Level.DEGRADED, since, message=result.message)
        return replace(
            new,
            open_level=Level.DEGRADED,
            open_since=since,
            last_notified_at=now,
            open_error_kind=None,
            open_message=result.message,
        ), [alert]

    if judged.up and is_open is not None:
        incident = new.open_since or since
        events: list[AlertEvent] = []
        if rules.send_resolved:
            events.append(
                event(
                    AlertKind.RESOLVED,
                    is_open,
                    incident,
                    duration_s=max(0.0, (since - incident).total_seconds()),
                    error_kind=new.open_error_kind,
                    message=new.open_message,
                )
            )
        return replace(
            new,
            open_level=None,
            open_since=None,
            last_notified_at=None,
            open_error_kind=None,
            open_message="",
        ), events

    if (
        is_open is not None
        and status is not Status.UP
        and rules.reminder_every > 0
        and new.last_notified_at is not None
        and now - new.last_notified_at >= timedelta(seconds=rules.reminder_every)
    ):
        alert = event(
            AlertKind.REMINDER,
            is_open,
            new.open_since or since,
            error_kind=result.error_kind or new.open_error_kind,
            message=result.message or new.open_message,
        )
        return replace(new, last_notified_at=now), [alert]

    return new, []


def backlog_step(
    state: AlertState,
    pending: Sequence[LedgerEntry],
    now: datetime,
    rules: AlertRules,
    in_maintenance: bool = False,
) -> tuple[AlertState, list[AlertEvent]]:
    """Return the target's next deletion-backlog state and the alerts it triggers.

    The backlog alert opens once when any ledger entry has stayed undeleted for
    `deletion_backlog_after`, sends no reminders, and resolves when no entry is
    overdue any more (deleted, or swept by the janitor).
    """
    after = timedelta(seconds=rules.deletion_backlog_after)
    overdue = tuple(
        sorted(
            (e for e in pending if e.target == state.target and now - e.created_at >= after),
            key=lambda e: e.created_at,
        )
    )
    new = replace(state, updated_at=now)
    if in_maintenance:
        return new, []
    if overdue and state.open_level is None:
        since = overdue[0].created_at
        event = AlertEvent(
            kind=AlertKind.DELETION_BACKLOG,
            target=state.target,
            probe=state.probe,
            level=Level.BACKLOG,
            at=now,
            incident_since=since,
            since=since,
            error_kind=ErrorKind.DELETION_FAILED,
            message=overdue[-1].last_error or "",
            backlog=overdue,
        )
        return (
            replace(
                new,
                open_level=Level.BACKLOG,
                open_since=since,
                last_notified_at=now,
                open_error_kind=ErrorKind.DELETION_FAILED,
                backlog_ids=tuple(e.transcript_id for e in overdue),
            ),
            [event],
        )
    if not overdue and state.open_level is Level.BACKLOG:
        incident = state.open_since or now
        events: list[AlertEvent] = []
        if rules.send_resolved:
            events.append(
                AlertEvent(
                    kind=AlertKind.RESOLVED,
                    target=state.target,
                    probe=state.probe,
                    level=Level.BACKLOG,
                    at=now,
                    incident_since=incident,
                    since=now,
                    duration_s=max(0.0, (now - incident).total_seconds()),
                    error_kind=ErrorKind.DELETION_FAILED,
                    message=", ".join(state.backlog_ids),
                )
            )
        return (
            replace(
                new,
                open_level=None,
                open_since=None,
                last_notified_at=None,
                open_error_kind=None,
                backlog_ids=(),
            ),
            events,
        )
    return new, []
