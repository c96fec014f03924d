"""How the site writes figures: percentages, latencies, durations, timestamps."""

from __future__ import annotations

import math
from datetime import UTC, datetime


def pct(value: float | None) -> str:
    """Return an uptime ratio as a percentage with two decimals ("99.95%"), or "—"."""
    if value is None:
        return "—"
    # Floor, not round: 99.996% must not read as a perfect 100.00%.
    floored = math.floor(value * 10000) / 100
    return f"{floored:.2f}%"


def seconds_text(value: float | None) -> str:
    """Return a latency as a person reads it ("350 ms", "1.24 s", "2 min 5 s"), or "—"."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 100:
        return f"{value:.2f} s"
    return duration_text(value)


def duration_text(value: float) -> str:
    """Return a duration in words ("42 s", "5 min", "1 h 5 min", "2 d 3 h")."""
    total = round(value)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs and minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def when_text(value: datetime | None) -> str:
    """Return a timestamp as "2026-11-21 08:05 UTC", or "never"."""
    if value is None:
        return "never"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def wer_text(wer: float | None) -> str:
    """Return a word error rate as a percentage with one decimal ("4.2%"), or "—"."""
    return "—" if wer is None else f"{wer:.1%}"
