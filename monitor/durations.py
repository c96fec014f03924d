"""Durations: how the configuration spells them, and how sttwatch writes them for a person.

Settings are read with :func:`parse_duration` ("500ms", "60s", "2m", "1h",
"30d" or a number of seconds) and written back by :func:`format_duration` in
the shortest spelling that reads back as the same number ("60s", "2m").

Probe messages, the status page, the Atom feed and alerts use these two:

- :func:`seconds_text` for a measured latency (sub-second precision):
  ``850 ms`` below one second, else ``1.33 s``;
- :func:`duration_text` for a span of time (whole seconds, in words):
  ``42 s``, ``7 min``, ``2 min 5 s``, ``1 h 5 min``, ``2 d 3 h``.

A probe's message is rebuilt from its phases when a stored row is read back
(``monitor.store.codec``), so `seconds_text` is also part of the storage
format: its output for a value must never change.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["duration_text", "format_duration", "parse_duration", "seconds_text"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: Any) -> float:
    """Return `value` ("500ms", "60s", "2m", "1h", "30d" or a number) in seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
    else:
        raise ValueError(
            f"not a duration: {value!r} (use 500ms, 60s, 2m, 1h, 30d or a number of seconds)"
        )
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative: {value!r}")
    return seconds


def format_duration(seconds: float) -> str:
    """Return the shortest exact spelling of `seconds` ("60s", "2m", "500ms")."""
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0), ("s", 1.0)):
        if seconds >= size and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    if seconds == 0:
        return "0s"
    if (seconds * 1000).is_integer():
        return f"{int(seconds * 1000)}ms"
    return f"{seconds}s"


def seconds_text(value: float | None) -> str:
    """Return a latency as a person reads it ("350 ms", "1.24 s"), or "—" for None."""
    if value is None:
        return "—"
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def duration_text(value: float) -> str:
    """Return a span of time in words ("42 s", "5 min", "1 h 5 min", "2 d 3 h")."""
    total = round(value)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        # Seconds matter in the first minutes of an incident, not after.
        return f"{minutes} min {secs} s" if secs and minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"
