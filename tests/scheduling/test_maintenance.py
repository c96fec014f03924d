"""Maintenance windows: one-off and recurring, time zones, scoping, upcoming list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor import maintenance
from monitor.config import Config, parse_config


def config(*windows: dict[str, Any]) -> Config:
    return parse_config(
        {
            "targets": [
                {"name": "aai-us", "api_key": "k-us-123456"},
                {"name": "aai-eu", "api_key": "k-eu-123456"},
            ],
            "maintenance": list(windows),
        },
        env={},
    )


def utc(s: str) -> datetime:
    return datetime.fromisoformat(s).replace(tzinfo=UTC)


ONE_OFF = {"title": "DB upgrade", "start": "2026-03-02T10:00:00Z", "end": "2026-03-02T11:00:00Z"}
DAILY_BERLIN = {"every": "day", "at": "02:00", "duration": "30m", "timezone": "Europe/Berlin"}
SUNDAYS = {"every": "sunday", "at": "23:30", "duration": "2h", "targets": ["aai-eu"]}


@pytest.mark.parametrize(
    ("window", "target", "probe", "at", "inside"),
    [
        (ONE_OFF, "aai-us", "streaming", "2026-03-02T09:59:59", False),
        (ONE_OFF, "aai-us", "streaming", "2026-03-02T10:00:00", True),
        (ONE_OFF, "aai-eu", "transcription", "2026-03-02T10:59:59", True),
        (ONE_OFF, "aai-us", "streaming", "2026-03-02T11:00:00", False),  # end is exclusive
        ({**ONE_OFF, "end": None, "duration": "15m"}, "aai-us", None, "2026-03-02T10:14", True),
        ({**ONE_OFF, "end": None, "duration": "15m"}, "aai-us", None, "2026-03-02T10:15", False),
        # A naive start is local time of the window's zone (New York is UTC-5 in March 2).
        (
            {"start": "2026-03-02T05:00:00", "duration": "1h", "timezone": "America/New_York"},
            "aai-us",
            None,
            "2026-03-02T10:30",
            True,
        ),
        # 02:00 Berlin is 01:00 UTC in winter and 00:00 UTC in summer.
        (DAILY_BERLIN, "aai-us", "reachability", "2026-01-15T01:10", True),
        (DAILY_BERLIN, "aai-us", "reachability", "2026-01-15T00:10", False),
        (DAILY_BERLIN, "aai-us", "reachability", "2026-07-15T00:10", True),
        (DAILY_BERLIN, "aai-us", "reachability", "2026-07-15T01:10", False),
        # Sunday 23:30 for 2 h runs into Monday 01:30 (2026-03-01 is a Sunday).
        (SUNDAYS, "aai-eu", "streaming", "2026-03-02T01:00", True),
        (SUNDAYS, "aai-eu", "streaming", "2026-03-02T01:30", False),
        (SUNDAYS, "aai-eu", "streaming", "2026-03-01T23:29", False),
        (SUNDAYS, "aai-us", "streaming", "2026-03-02T01:00", False),  # other target
        (SUNDAYS, "aai-eu", "streaming", "2026-03-03T01:00", False),  # a Tuesday
        ({**ONE_OFF, "probes": ["streaming"]}, "aai-us", "streaming", "2026-03-02T10:30", True),
        (
            {**ONE_OFF, "probes": ["streaming"]},
            "aai-us",
            "transcription",
            "2026-03-02T10:30",
            False,
        ),
        ({**ONE_OFF, "probes": ["streaming"]}, "aai-us", None, "2026-03-02T10:30", True),
    ],
    ids=[
        "one-off-before",
        "one-off-start-inclusive",
        "one-off-all-targets",
        "one-off-end-exclusive",
        "duration-inside",
        "duration-end",
        "naive-start-in-window-zone",
        "daily-berlin-winter-inside",
        "daily-berlin-winter-before",
        "daily-berlin-summer-dst-inside",
        "daily-berlin-summer-dst-after",
        "weekly-across-midnight",
        "weekly-end",
        "weekly-before",
        "weekly-other-target",
        "weekly-wrong-day",
        "probe-scoped-inside",
        "probe-scoped-other-probe",
        "probe-scoped-any-probe",
    ],
)
def test_active(
    window: dict[str, Any], target: str, probe: str | None, at: str, inside: bool
) -> None:
    cfg = config({k: v for k, v in window.items() if v is not None})
    occ = maintenance.active(cfg, target, probe, utc(at))
    assert (occ is not None) is inside
    if occ is not None:
        assert occ.starts_at <= utc(at) < occ.ends_at


def test_active_returns_the_window_that_ends_last() -> None:
    cfg = config(
        {"title": "short", "start": "2026-03-02T10:00:00Z", "duration": "30m"},
        {"title": "long", "start": "2026-03-02T09:00:00Z", "duration": "3h"},
    )
    occ = maintenance.active(cfg, "aai-us", "streaming", utc("2026-03-02T10:10"))
    assert occ is not None and occ.title == "long"
    assert occ.ends_at == utc("2026-03-02T12:00")


def test_upcoming_lists_running_and_next_occurrences() -> None:
    cfg = config(ONE_OFF, SUNDAYS, {"start": "2026-01-01T00:00:00Z", "duration": "1h"})
    now = utc("2026-03-02T10:30")
    got = maintenance.upcoming(cfg, now, horizon=timedelta(days=14))
    assert [(o.title, o.starts_at.isoformat()) for o in got] == [
        ("DB upgrade", "2026-03-02T10:00:00+00:00"),  # in progress
        ("Scheduled maintenance", "2026-03-08T23:30:00+00:00"),
        ("Scheduled maintenance", "2026-03-15T23:30:00+00:00"),
    ]
    assert got[0].contains(now) and not got[1].contains(now)


def test_no_windows_means_never_in_maintenance() -> None:
    assert maintenance.active(config(), "aai-us", "streaming", utc("2026-03-02T10:00")) is None
    assert maintenance.upcoming(config(), utc("2026-03-02T10:00")) == []
