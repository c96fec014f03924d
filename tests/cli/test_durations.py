"""The one spelling of seconds: latencies (probe messages, page, alerts) and spans of time."""

from __future__ import annotations

import pytest

from monitor.durations import duration_text, seconds_text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "—"),
        (0.0, "0 ms"),
        (0.0004, "0 ms"),
        (0.35, "350 ms"),
        (0.9994, "999 ms"),
        (1.0, "1.00 s"),
        (1.2449, "1.24 s"),
        (4.2, "4.20 s"),  # alerts wrote "4.2 s"
        (42.0, "42.00 s"),  # alerts wrote "42 s"
        (99.99, "99.99 s"),
        # The page wrote "2 min 3 s" for a latency past 100 s, the probes "123.45 s";
        # stored messages are rebuilt with this, so the probes' spelling is the one.
        (123.45, "123.45 s"),
    ],
    ids=lambda v: repr(v),
)
def test_seconds_text(value: float | None, text: str) -> None:
    assert seconds_text(value) == text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.4, "0 s"),
        (42.4, "42 s"),
        (59.6, "1 min"),
        (125.0, "2 min 5 s"),  # alerts wrote "2m 5s"
        (192.0, "3 min 12 s"),
        (600.0, "10 min"),
        (725.0, "12 min"),  # seconds are dropped past ten minutes
        (3600.0, "1 h"),
        (3900.0, "1 h 5 min"),  # alerts wrote "1h 5m"
        (86400.0, "1 d"),
        (183600.0, "2 d 3 h"),  # alerts wrote "2d 3h"
    ],
    ids=lambda v: repr(v),
)
def test_duration_text(value: float, text: str) -> None:
    assert duration_text(value) == text
