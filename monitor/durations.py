"""How sttwatch writes a number of seconds for a person: one spelling everywhere.

Probe messages, the status page, the Atom feed and alerts all use these two:

- :func:`seconds_text` for a measured latency (sub-second precision):
  ``850 ms`` below one second, else ``1.33 s``;
- :func:`duration_text` for a span of time (whole seconds, in words):
  ``42 s``, ``7 min``, ``2 min 5 s``, ``1 h 5 min``, ``2 d 3 h``.

A probe's message is rebuilt from its phases when a stored row is read back
(``monitor.store.records``), so `seconds_text` is also part of the storage
format: its output for a value must never change. Config values are spelled
by ``monitor.config.format_duration`` instead ("60s", "2m"): that one must
read back as the same number, these are for reading.
"""

from __future__ import annotations

__all__ = ["duration_text", "seconds_text"]


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
