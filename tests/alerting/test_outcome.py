"""The outcome machine (monitor/outcome.py), and incidents and alerts that follow from it.

Status letters: U up, G degraded (slow but good), D down; one result a minute.
A judgement is written as the letters of the flags `step` raised: d down,
g good, s degraded (slow), u up, h held (in maintenance); "" for none.
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from monitor.alert_records import AlertState, Level
from monitor.alerting.rules import AlertKind, AlertRules
from monitor.alerting.rules import step as alert_step
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.outcome import Outcome, Streak, Thresholds, step
from monitor.store import Store
from monitor.store.records import to_ms
from monitor.store.schema import m001_initial, m002_alerts, m003_compact_rollups

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
STATUS = {"U": Status.UP, "G": Status.DEGRADED, "D": Status.DOWN}


def flags(judged: Outcome) -> str:
    """Return the judgement as letters (see the module docstring)."""
    raised = {
        "d": judged.down,
        "g": judged.good,
        "s": judged.degraded,
        "u": judged.up,
        "h": judged.held,
    }
    return "".join(letter for letter, on in raised.items() if on)


def judge(
    letters: str, th: Thresholds, in_window: frozenset[int] = frozenset()
) -> tuple[list[str], Streak]:
    """Step a fresh streak through `letters`; return the judgement per step and the last streak."""
    streak = Streak()
    got = []
    for i, letter in enumerate(letters.split()):
        judged = step(streak, STATUS[letter], T0 + i * MINUTE, th, i in in_window)
        streak = judged.streak
        got.append(flags(judged))
    return got, streak


TH = Thresholds(failure_threshold=2, success_threshold=2, degraded_threshold=3)


@pytest.mark.parametrize(
    ("letters", "th", "in_window", "expected"),
    [
        ("D D D", TH, (), ["", "d", "d"]),
        ("D", Thresholds(1, 1, 0), (), ["d"]),
        ("U D D D", Thresholds(3, 2, 3), (), ["", "", "", "d"]),
        ("U U U", TH, (), ["", "gu", "gu"]),
        # A streak is a run of the same status: flapping confirms nothing.
        ("D U D U D U", TH, (), [""] * 6),
        ("D G D G", TH, (), [""] * 4),
        # Degraded ends an outage (good) but is no recovery from a latency problem (up).
        ("D D G G", TH, (), ["", "d", "", "g"]),
        ("D D G U", TH, (), ["", "d", "", "g"]),
        ("D D G U U", TH, (), ["", "d", "", "g", "gu"]),
        ("G G G G", TH, (), ["", "g", "gs", "gs"]),
        ("G G G G", Thresholds(2, 2, 0), (), ["", "g", "g", "g"]),
        ("G G U", Thresholds(2, 3, 2), (), ["", "s", "g"]),
        # Maintenance holds the judgement, it does not stop the counting.
        ("D D D", TH, (0, 1), ["h", "dh", "d"]),
        ("D D U U", TH, (2, 3), ["", "d", "h", "guh"]),
    ],
    ids=[
        "down-at-failure",
        "threshold-one",
        "down-after-up",
        "up-run",
        "flapping-up",
        "flapping-degraded",
        "degraded-ends-outage",
        "mixed-good-run",
        "up-after-degraded",
        "degraded-run",
        "degraded-off",
        "degraded-then-up",
        "held-then-free",
        "recovery-held",
    ],
)
def test_judgement_per_step(
    letters: str, th: Thresholds, in_window: tuple[int, ...], expected: list[str]
) -> None:
    got, _ = judge(letters, th, frozenset(in_window))
    assert got == expected


@pytest.mark.parametrize(
    ("letters", "expected"),
    [
        ("", Streak()),
        ("D D", Streak(Status.DOWN, 2, T0, 0, None)),
        ("D D U", Streak(Status.UP, 1, T0 + 2 * MINUTE, 1, T0 + 2 * MINUTE)),
        (
            "U G D D U G",
            Streak(Status.DEGRADED, 1, T0 + 5 * MINUTE, 2, T0 + 4 * MINUTE),
        ),
        ("U G U U", Streak(Status.UP, 2, T0 + 2 * MINUTE, 4, T0)),
    ],
    ids=["fresh", "down-run", "first-good", "good-run-spans-statuses", "up-run-inside-good-run"],
)
def test_streak_remembers_both_runs(letters: str, expected: Streak) -> None:
    _, streak = judge(letters, TH)
    assert streak == expected
    assert streak.down == (streak.length if streak.status is Status.DOWN else 0)


def test_thresholds_come_from_the_config_by_name() -> None:
    from monitor.config import AlertsConfig

    alerts = AlertsConfig(failure_threshold=4, success_threshold=5, degraded_threshold=0)
    assert Thresholds.from_config(alerts) == Thresholds(4, 5, 0)
    rules = AlertRules.from_config(alerts.model_copy(update={"reminder_every": 30.0}))
    assert (rules.failure_threshold, rules.success_threshold, rules.reminder_every) == (4, 5, 30.0)


# ---------------------------------------------------------------------------
# Incidents and alerts never disagree


def result(letter: str, i: int) -> ProbeResult:
    status = STATUS[letter]
    down = status is Status.DOWN
    return ProbeResult(
        target="aai-us",
        probe="streaming",
        started_at=T0 + i * MINUTE,
        duration_s=3.0 if status is not Status.UP else 0.5,
        status=status,
        error_kind=ErrorKind.STREAM_CLOSED if down else None,
        message="socket closed: 3005 Internal error" if down else "",
    )


async def replay(letters: list[str], rules: AlertRules, db: str) -> None:
    """Feed the store and the alert rules the same results; check they agree after each."""
    async with await Store.open(
        db,
        failure_threshold=rules.failure_threshold,
        success_threshold=rules.success_threshold,
        degraded_threshold=rules.degraded_threshold,
    ) as store:
        state = AlertState("aai-us", "streaming")
        for i, letter in enumerate(letters):
            r = result(letter, i)
            await store.add_result(r)
            state, events = alert_step(state, r, r.started_at, rules)
            [component] = await store.component_states()
            incidents = await store.incidents(open_only=True)
            incident_open = component.open_incident_id is not None
            assert incident_open == bool(incidents)
            # Every outage and every slow period is an open alert: the alert resolves only
            # on up runs, which are good runs too, so it can outlast the incident, never
            # the reverse. A down member is a DOWN alert; a DEGRADED alert is a slow member.
            if incident_open:
                assert state.open_level is not None, (letters[: i + 1], state)
                [member] = incidents[0].components
                if member.state == "down":
                    assert state.open_level is Level.DOWN, (letters[: i + 1], state)
            if state.open_level is Level.DEGRADED:
                assert incident_open, (letters[: i + 1], state)
                assert incidents[0].components[0].state == "degraded"
                assert incidents[0].impact == "minor"
            if "G" not in letters and rules.degraded_threshold == 0:
                # Without slow runs the two are the same outage, to the millisecond.
                assert incident_open == (state.open_level is Level.DOWN)
                if incident_open:
                    assert state.open_since is not None
                    assert incidents[0].opened_at == state.open_since
                for e in events:
                    if e.kind is AlertKind.RESOLVED:
                        [closed] = await store.incidents(limit=1)
                        assert closed.closed_at == e.since


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    letters=st.lists(st.sampled_from("UGD"), min_size=1, max_size=24),
    failure=st.integers(1, 3),
    success=st.integers(1, 3),
    degraded=st.integers(0, 3),
    slow=st.booleans(),
)
def test_incidents_and_alerts_never_disagree(
    letters: list[str], failure: int, success: int, degraded: int, slow: bool
) -> None:
    if not slow:
        letters = [x for x in letters if x != "G"] or ["D"]
        degraded = 0
    rules = AlertRules(failure, success, degraded)
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(replay(letters, rules, str(Path(tmp) / "sttwatch.db")))


# ---------------------------------------------------------------------------
# Both copies of the streak are kept whole (migration m004_whole_streaks)


async def test_alert_state_keeps_the_whole_streak(tmp_path: Path) -> None:
    _, streak = judge("D U G U", TH)
    assert streak.good != streak.length  # both runs matter here
    state = AlertState("aai-us", "streaming", streak=streak, updated_at=T0)
    async with await Store.open(str(tmp_path / "a.db")) as store:
        await store.save_alert_state(state, [])
    async with await Store.open(str(tmp_path / "a.db")) as store:
        [loaded] = await store.alert_states()
    assert loaded.streak == streak


async def test_streaks_written_before_m004_are_filled_from_what_they_imply(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "old.db")
    old = Migrations("sttwatch")  # the store's migration set, stopped before m004
    old(name="m001_initial")(m001_initial)
    old(name="m002_alerts")(m002_alerts)
    old(name="m003_compact_rollups")(m003_compact_rollups)
    since = to_ms(T0)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        old.apply(Database(conn))
        # Two degraded runs after an outage: the incident state knew the good run only.
        conn.execute(
            "INSERT INTO components (target, probe, last_status, last_started_at,"
            " consecutive_down, consecutive_good, streak_started_at)"
            " VALUES ('aai-us', 'streaming', 1, ?, 0, 2, ?)",
            (since + 60_000, since),
        )
        # Two ups in a row: the alert state knew the run of the last status only.
        conn.execute(
            "INSERT INTO alert_state (target, probe, streak_status, streak_len, streak_since)"
            " VALUES ('aai-us', 'streaming', 0, 2, ?)",
            (since,),
        )
    finally:
        conn.close()
    async with await Store.open(path, failure_threshold=2, success_threshold=2) as store:
        [state] = await store.alert_states()
        assert state.streak == Streak(Status.UP, 2, T0, 2, T0)
        assert status_run(path) == (2, since)
        # The incident side carries on from its good run: one down is no outage yet.
        await store.add_result(result("D", 2))
        [component] = await store.component_states()
        assert (component.consecutive_down, component.consecutive_good) == (1, 0)
        assert await store.incidents() == []
        assert status_run(path) == (1, to_ms(T0 + 2 * MINUTE))


def status_run(path: str) -> tuple[int, int]:
    """Return the component's stored run of its last status (length, start in ms)."""
    conn = sqlite3.connect(path)
    try:
        length, since = conn.execute("SELECT status_run, status_since FROM components").fetchone()
    finally:
        conn.close()
    return length, since
