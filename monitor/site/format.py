"""How the site writes figures: percentages, latencies, durations, timestamps."""

from __future__ import annotations

import math
from datetime import UTC, datetime

# Latencies and durations are spelled by the one formatter every output shares.
from monitor.durations import duration_text, seconds_text

__all__ = ["duration_text", "pct", "seconds_text", "wer_text", "when_text"]


def pct(value: float | None) -> str:
    """Return an uptime ratio as a percentage with two decimals ("99.95%"), or "—"."""
    if value is None:
        return "—"
    # Floor, not round: 99.996% must not read as a perfect 100.00%.
    floored = math.floor(value * 10000) / 100
    return f"{floored:.2f}%"


def when_text(value: datetime | None) -> str:
    """Return a timestamp as "2026-11-21 08:05 UTC", or "never"."""
    if value is None:
        return "never"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago_text(value: datetime, now: datetime) -> str:
    """Return how long before `now` `value` was: "12 s ago", "5 min ago", "2 days ago"."""
    seconds = max(0, int((now - value).total_seconds()))
    if seconds < 90:
        return f"{seconds} s ago"
    if seconds < 90 * 60:
        return f"{round(seconds / 60)} min ago"
    if seconds < 36 * 3600:
        return f"{round(seconds / 3600)} h ago"
    days = round(seconds / 86400)
    return f"{days} day{'s' if days != 1 else ''} ago"


def wer_text(wer: float | None) -> str:
    """Return a word error rate as a percentage with one decimal ("4.2%"), or "—"."""
    return "—" if wer is None else f"{wer:.1%}"
