"""The grouping rules (monitor/alerting/grouping.py): what of a target's alerts is sent, and when.

Pure functions, so each case is a script of changes at given seconds and the
notices it must give: a component's alert joining its target's group, the held
batch's wait running out, a component recovering, a reminder falling due.
After every change the batch is flushed if due, as the alerter does.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from monitor.alert_records import AlertGroup, GroupMember, Level
from monitor.alerting import grouping
from monitor.alerting.grouping import GroupNotice
from monitor.alerting.messages import render_group
from monitor.models import ErrorKind
from tests.support.alerts import T0, make_config

PROBES = ("reachability", "transcription", "streaming")
WAIT = 30.0
EVERY = 3600.0

# (seconds, op, probe[, level]): "down"/"slow" join, "up" recovers, "remind", "tick" (flush only)
Script = list[tuple[Any, ...]]
# (seconds, kind, follow_up, news)
Sent = list[tuple[float, str, bool, tuple[str, ...]]]


def member(probe: str, level: Level, at: float) -> GroupMember:
    down = level is Level.DOWN
    return GroupMember(
        probe=probe,
        level=level,
        since=T0 + timedelta(seconds=at),
        error_kind=ErrorKind.TIMEOUT if down else None,
        message="no answer within 10 s" if down else "",
        latency_s=10.0,
        checked_at=T0 + timedelta(seconds=at),
        took_s=10.0,
        streak_len=2,
        solo_title=f"solo {probe}",
        solo_body="solo body",
    )


def play(
    script: Script, *, send_resolved: bool = True, probes: tuple[str, ...] = PROBES
) -> tuple[AlertGroup | None, list[GroupNotice]]:
    group: AlertGroup | None = None
    notices: list[GroupNotice] = []
    for step in script:
        at, op, *rest = step
        now = T0 + timedelta(seconds=at)
        got: list[GroupNotice] | None = []
        if op in ("down", "slow"):
            level = Level.DOWN if op == "down" else Level.DEGRADED
            group = grouping.join(group, "aai-us", member(rest[0], level, at), now, WAIT, probes)
        elif op == "up":
            group, got = grouping.leave(group, rest[0], now, now, send_resolved=send_resolved)
        elif op == "remind":
            group, got = grouping.remind(group, member(rest[0], Level.DOWN, at), now, EVERY)
        assert got is not None, f"{rest[0]} is not in the group"
        notices += got
        if group is not None:
            group, due = grouping.flush(group, now)
            notices += due
    return group, notices


def sent(notices: list[GroupNotice]) -> Sent:
    return [
        ((n.at - T0).total_seconds(), str(n.kind), n.follow_up, tuple(sorted(n.news)))
        for n in notices
    ]


ALL = tuple(sorted(PROBES))

CASES: list[tuple[str, Script, Sent]] = [
    (
        "all-three-at-once-go-out-when-the-third-joins",
        [(0, "down", "reachability"), (1, "down", "transcription"), (2, "down", "streaming")],
        [(2, "down", False, ALL)],
    ),
    (
        "one-alone-is-held-for-the-wait",
        [(0, "down", "reachability"), (29, "tick"), (30, "tick"), (31, "tick")],
        [(30, "down", False, ("reachability",))],
    ),
    (
        "those-alerting-within-the-wait-join-the-batch",
        [(0, "down", "reachability"), (20, "slow", "streaming"), (30, "tick")],
        [(30, "down", False, ("reachability", "streaming"))],
    ),
    (
        "a-later-one-is-a-follow-up-after-its-own-wait",
        [(0, "down", "reachability"), (30, "tick"), (40, "down", "streaming"), (70, "tick")],
        [(30, "down", False, ("reachability",)), (70, "down", True, ("streaming",))],
    ),
    (
        "partial-recovery-is-silent-the-last-sends-one-resolved",
        [
            (0, "down", "reachability"),
            (0, "down", "transcription"),
            (0, "down", "streaming"),
            (100, "up", "reachability"),
            (200, "up", "streaming"),
            (300, "up", "transcription"),
        ],
        [(0, "down", False, ALL), (300, "resolved", False, ALL)],
    ),
    (
        "recovered-before-it-went-out-is-never-sent",
        [(0, "down", "reachability"), (10, "up", "reachability"), (30, "tick")],
        [],
    ),
    (
        "one-recovered-while-held-leaves-the-batch",
        [(0, "down", "reachability"), (5, "down", "streaming"), (10, "up", "streaming")],
        [],
    ),
    (
        "escalation-from-slow-to-down-is-a-follow-up",
        [(0, "slow", "streaming"), (30, "tick"), (60, "down", "streaming"), (90, "tick")],
        [(30, "degraded", False, ("streaming",)), (90, "down", True, ("streaming",))],
    ),
    (
        "one-reminder-per-group-per-interval",
        [
            (0, "down", "reachability"),
            (0, "down", "transcription"),
            (0, "down", "streaming"),
            (3600, "remind", "reachability"),
            (3601, "remind", "transcription"),
            (3602, "remind", "streaming"),
            (7200, "remind", "transcription"),
        ],
        [
            (0, "down", False, ALL),
            (3600, "reminder", False, ALL),
            (7200, "reminder", False, ALL),
        ],
    ),
    (
        "no-reminder-while-the-first-message-is-held",
        [(0, "down", "reachability"), (10, "remind", "reachability"), (30, "tick")],
        [(30, "down", False, ("reachability",))],
    ),
    (
        # Every probe is open again: nothing else can join, so no wait.
        "a-member-failing-again-after-recovering-is-a-follow-up",
        [
            (0, "down", "reachability"),
            (0, "down", "transcription"),
            (0, "down", "streaming"),
            (100, "up", "reachability"),
            (200, "down", "reachability"),
            (230, "tick"),
        ],
        [(0, "down", False, ALL), (200, "down", True, ("reachability",))],
    ),
]


@pytest.mark.parametrize(("script", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_grouping(script: Script, expected: Sent) -> None:
    _, notices = play(script)
    assert sent(notices) == expected


def test_the_group_closes_with_its_resolved() -> None:
    group, _ = play([(0, "down", "reachability"), (30, "tick"), (100, "up", "reachability")])
    assert group is None


def test_without_send_resolved_the_group_closes_silently() -> None:
    group, notices = play(
        [(0, "down", "reachability"), (30, "tick"), (100, "up", "reachability")],
        send_resolved=False,
    )
    assert group is None
    assert sent(notices) == [(30, "down", False, ("reachability",))]


def test_a_target_with_one_probe_sends_at_once() -> None:
    _, notices = play([(0, "down", "streaming")], probes=("streaming",))
    assert sent(notices) == [(0, "down", False, ("streaming",))]


def test_a_component_not_in_the_group_keeps_its_own_alerts() -> None:
    """An alert opened before grouping was on resolves and reminds on its own."""
    now = T0 + timedelta(seconds=100)
    assert grouping.leave(None, "streaming", now, now, send_resolved=True) == (None, None)
    group = grouping.join(None, "aai-us", member("reachability", Level.DOWN, 0), T0, WAIT, PROBES)
    assert grouping.remind(group, member("streaming", Level.DOWN, 100), now, EVERY)[1] is None


def test_a_group_of_one_sends_its_own_message_as_before() -> None:
    _, notices = play([(0, "down", "streaming"), (30, "tick")])
    assert notices[0].solo == ("solo streaming", "solo body")
    _, notices = play([(0, "down", "streaming"), (0, "down", "reachability"), (30, "tick")])
    assert notices[0].solo is None


def test_the_grouped_message_lists_each_probe_with_its_error() -> None:
    _, notices = play(
        [(0, "down", "streaming"), (1, "slow", "transcription"), (2, "down", "reachability")]
    )
    message = render_group(notices[0], make_config())
    assert message.title == (
        "[DOWN] AssemblyAI (US): 2 checks down, 1 check slow — "
        "REST API (timeout), Transcription (slow, 10.00 s), Streaming (timeout)"
    )
    assert "- **REST API** — down since 2026-03-02 09:14:04 UTC" in message.body
    assert "timeout: no answer within 10 s" in message.body
    assert "- **Transcription** — slow since" in message.body
    assert message.tags == (
        "critical",
        "down",
        "target-aai-us",
        "probe-reachability",
        "probe-transcription",
        "probe-streaming",
    )
    assert message.notify_type == "failure"
