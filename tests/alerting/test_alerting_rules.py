"""The alerting state machine, one step-by-step sequence per rule (like Gatus's TestHandleAlerting).

Each case feeds results one at a time, each a minute after the previous, and
asserts the exact alerts after every step. Status letters: U up, G degraded
(slow but good), D down. An expected entry is the alert kinds sent after that
step ("" = nothing).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from monitor.alerting.rules import (
    DELETION_PROBE,
    AlertEvent,
    AlertKind,
    AlertRules,
    AlertState,
    Level,
    backlog_step,
    step,
)
from monitor.models import ErrorKind, LedgerEntry, ProbeResult, Status

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)

_STATUS = {"U": Status.UP, "G": Status.DEGRADED, "D": Status.DOWN}


def result(letter: str, i: int, probe: str = "streaming") -> ProbeResult:
    status = _STATUS[letter]
    return ProbeResult(
        target="aai-us",
        probe=probe,
        started_at=T0 + i * MINUTE,
        duration_s=0.5 if status is Status.UP else 3.0,
        status=status,
        error_kind=ErrorKind.STREAM_CLOSED if status is Status.DOWN else None,
        message="socket closed: 3005 Internal error" if status is Status.DOWN else "",
        phases={"connect": 0.1, "first_transcript": 0.4 if status is Status.UP else 2.9},
    )


def run(
    letters: str,
    rules: AlertRules,
    *,
    in_window: set[int] | None = None,
    state: AlertState | None = None,
) -> tuple[list[str], list[list[AlertEvent]], AlertState]:
    """Feed `letters` (one result a minute); return the kinds sent per step, events, final state."""
    state = state or AlertState("aai-us", "streaming")
    kinds: list[str] = []
    events: list[list[AlertEvent]] = []
    for i, letter in enumerate(letters.split()):
        r = result(letter, i)
        # `now` is when the result reaches the alerter: a few seconds after it started.
        now = r.started_at + timedelta(seconds=5)
        state, out = step(state, r, now, rules, i in (in_window or set()))
        kinds.append(",".join(e.kind.value for e in out))
        events.append(out)
    return kinds, events, state


DEFAULT = AlertRules(failure_threshold=2, success_threshold=2, degraded_threshold=3)

CASES = [
    # (letters, thresholds, expected kinds per step)
    ("D D D D", DEFAULT, ["", "down", "", ""]),
    ("D D U U", DEFAULT, ["", "down", "", "resolved"]),
    ("D U D U D U D U", DEFAULT, [""] * 8),
    ("D D U D U U", DEFAULT, ["", "down", "", "", "", "resolved"]),
    ("U U U", DEFAULT, ["", "", ""]),
    ("D", replace(DEFAULT, failure_threshold=1), ["down"]),
    (
        "D D D D U U U",
        replace(DEFAULT, failure_threshold=3, success_threshold=3),
        ["", "", "down", "", "", "", "resolved"],
    ),
    ("G G G G", DEFAULT, ["", "", "degraded", ""]),
    ("G G U G G G", DEFAULT, ["", "", "", "", "", "degraded"]),
    ("G G G G G", replace(DEFAULT, degraded_threshold=0), [""] * 5),
    ("G G G U U", DEFAULT, ["", "", "degraded", "", "resolved"]),
    ("G G G D D G", DEFAULT, ["", "", "degraded", "", "down", ""]),
    ("D D G G G G U U", DEFAULT, ["", "down", "", "", "", "", "", "resolved"]),
    ("D D G U G U U", DEFAULT, ["", "down", "", "", "", "", "resolved"]),
    ("D D U U D D", replace(DEFAULT, send_resolved=False), ["", "down", "", "", "", "down"]),
    ("D G D G D G", DEFAULT, [""] * 6),
]
IDS = [
    "down-after-failure-threshold-once",
    "resolved-after-success-threshold",
    "flapping-down-up-alerts-nothing",
    "one-good-run-does-not-resolve",
    "healthy-sends-nothing",
    "failure-threshold-1-alerts-at-once",
    "thresholds-3-3",
    "degraded-after-degraded-threshold-once",
    "degraded-streak-reset-by-up",
    "degraded-threshold-0-is-off",
    "degraded-resolves",
    "escalation-degraded-to-down-alerts",
    "down-to-degraded-does-not-resolve",
    "down-needs-up-streak-not-degraded",
    "send-resolved-false-is-silent-then-realerts",
    "down-degraded-alternating-is-no-streak",
]


@pytest.mark.parametrize(("letters", "rules", "expected"), CASES, ids=IDS)
def test_sequence(letters: str, rules: AlertRules, expected: list[str]) -> None:
    kinds, _, _ = run(letters, rules)
    assert kinds == expected


def test_down_alert_carries_what_failed_and_since_when() -> None:
    _, events, state = run("U D D", DEFAULT)
    (down,) = events[2]
    assert down.kind is AlertKind.DOWN and down.level is Level.DOWN
    assert down.since == T0 + 1 * MINUTE  # the first down result of the streak
    assert down.incident_since == down.since
    assert down.error_kind is ErrorKind.STREAM_CLOSED
    assert "3005" in down.message
    assert down.streak_len == 2
    assert state.open_level is Level.DOWN and state.open_since == T0 + MINUTE


def test_resolved_carries_outage_duration() -> None:
    _, events, state = run("D D D U U", DEFAULT)
    (resolved,) = events[4]
    assert resolved.kind is AlertKind.RESOLVED and resolved.level is Level.DOWN
    # From the first down result (t0) to the first up result (t3).
    assert resolved.duration_s == 180.0
    assert resolved.error_kind is ErrorKind.STREAM_CLOSED
    assert state.open_level is None


def test_escalation_keeps_incident_start_and_names_previous_level() -> None:
    _, events, _ = run("G G G D D U U", DEFAULT)
    (down,) = events[4]
    assert down.previous_level is Level.DEGRADED
    assert down.incident_since == T0  # the incident began when it became slow
    assert down.since == T0 + 3 * MINUTE
    (resolved,) = events[6]
    assert resolved.level is Level.DOWN
    assert resolved.duration_s == 5 * 60.0


def test_degraded_alert_has_baseline_of_last_up_result() -> None:
    _, events, _ = run("U G G G", DEFAULT)
    (degraded,) = events[3]
    assert degraded.baseline_phases == {"connect": 0.1, "first_transcript": 0.4}
    assert degraded.result is not None and degraded.result.phases["first_transcript"] == 2.9


@pytest.mark.parametrize(
    ("reminder_every", "expected"),
    [
        # Down alert at step 1 (t=1m+5s); reminders when ≥ 5 min have passed since the last one.
        (300.0, ["", "down", "", "", "", "", "reminder", "", "", "", "", "reminder"]),
        (0.0, ["", "down"] + [""] * 10),
        (3600.0, ["", "down"] + [""] * 10),
    ],
    ids=["every-5-min", "zero-means-never", "hourly-not-yet"],
)
def test_reminders_while_still_down(reminder_every: float, expected: list[str]) -> None:
    rules = replace(DEFAULT, reminder_every=reminder_every)
    kinds, _, _ = run(" ".join("D" * 12), rules)
    assert kinds == expected


def test_reminder_of_degraded_and_no_reminder_on_good_run() -> None:
    rules = replace(DEFAULT, reminder_every=120.0)
    kinds, events, _ = run("G G G G U G G", rules)
    # degraded at step 2 (t=2m); step 4 is 2 min later but up: no reminder; step 5 is.
    assert kinds == ["", "", "degraded", "", "", "reminder", ""]
    assert events[5][0].level is Level.DEGRADED


def test_maintenance_suppresses_then_judges_the_whole_streak() -> None:
    # Down during the whole window (steps 0-3): nothing; still down after it: alert at once.
    kinds, events, _ = run("D D D D D U U", DEFAULT, in_window={0, 1, 2, 3})
    assert kinds == ["", "", "", "", "down", "", "resolved"]
    assert events[4][0].since == T0  # the streak includes the window


def test_maintenance_blip_after_window_needs_threshold() -> None:
    kinds, _, _ = run("U U D U", DEFAULT, in_window={0, 1})
    assert kinds == ["", "", "", ""]


def test_alert_open_before_window_resolves_after_it_not_during() -> None:
    kinds, _, state = run("D D U U U D", DEFAULT, in_window={2, 3})
    assert kinds == ["", "down", "", "", "resolved", ""]
    assert state.open_level is None


def test_no_reminder_inside_window() -> None:
    rules = replace(DEFAULT, reminder_every=60.0)
    kinds, _, _ = run("D D D D D", rules, in_window={2, 3})
    assert kinds == ["", "down", "", "", "reminder"]


def test_state_is_plain_data_that_resumes_where_it_left() -> None:
    # A restart is a state reloaded from SQLite: feeding the rest of a sequence to
    # the state reached so far gives exactly the alerts of the uninterrupted run.
    whole, _, _ = run("D D D U U D", DEFAULT)
    first, _, mid = run("D D D", DEFAULT)
    rest_state = mid
    rest: list[str] = []
    for i, letter in enumerate(["U", "U", "D"], start=3):
        r = result(letter, i)
        rest_state, out = step(rest_state, r, r.started_at + timedelta(seconds=5), DEFAULT)
        rest.append(",".join(e.kind.value for e in out))
    assert first + rest == whole


# ---------------------------------------------------------------------------
# Deletion backlog


def entry(tid: str, minutes_ago: float, now: datetime, target: str = "aai-us") -> LedgerEntry:
    return LedgerEntry(
        target=target,
        transcript_id=tid,
        created_at=now - timedelta(minutes=minutes_ago),
        attempts=3,
        last_error="HTTP 500 from DELETE",
    )


def test_backlog_alerts_once_and_resolves_when_gone() -> None:
    rules = replace(DEFAULT, deletion_backlog_after=3600.0)
    state = AlertState("aai-us", DELETION_PROBE)
    now = T0
    seen: list[str] = []
    ledger_by_step = [
        [entry("t1", 30, now)],  # pending but young: nothing
        [entry("t1", 61, now)],  # overdue: alert
        [entry("t1", 62, now), entry("t2", 70, now)],  # more overdue: no second alert
        [entry("t2", 75, now)],  # t1 gone, t2 still overdue: still open
        [entry("other", 90, now, target="aai-eu")],  # everything of this target gone: resolved
        [],
    ]
    events_at: list[list[AlertEvent]] = []
    for pending in ledger_by_step:
        state, out = backlog_step(state, pending, now, rules)
        seen.append(",".join(e.kind.value for e in out))
        events_at.append(out)
    assert seen == ["", "deletion-backlog", "", "", "resolved", ""]
    (opened,) = events_at[1]
    assert opened.level is Level.BACKLOG
    assert [e.transcript_id for e in opened.backlog] == ["t1"]
    (resolved,) = events_at[4]
    assert resolved.level is Level.BACKLOG and resolved.kind is AlertKind.RESOLVED


def test_backlog_suppressed_in_maintenance() -> None:
    state = AlertState("aai-us", DELETION_PROBE)
    state, out = backlog_step(state, [entry("t1", 120, T0)], T0, DEFAULT, in_maintenance=True)
    assert out == [] and state.open_level is None
    state, out = backlog_step(state, [entry("t1", 121, T0)], T0, DEFAULT)
    assert [e.kind for e in out] == [AlertKind.DELETION_BACKLOG]
