"""Maintenance windows: is a component inside one now, and which windows are coming.

Pure functions over :class:`monitor.config.MaintenanceWindow`; no I/O. A window
is the half-open interval ``[start, end)``. One-off windows give ``start`` and
``end`` (or ``duration``); a naive ``start``/``end`` is read in the window's
``timezone``. Recurring windows repeat ``every`` day or on one weekday ``at``
HH:MM local time in ``timezone`` for ``duration`` — so a 02:00 Europe/Berlin
window stays at 02:00 local time across daylight-saving changes.

The alerter asks :func:`active` before it notifies; the status page asks it to
show ``under_maintenance`` and :func:`upcoming` for Statuspage's
``scheduled_maintenances``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from monitor.config import Config, MaintenanceWindow

__all__ = ["Occurrence", "active", "applies_to", "occurrences", "upcoming"]

_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One concrete run of a maintenance window, in aware UTC datetimes."""

    window: MaintenanceWindow
    starts_at: datetime
    ends_at: datetime

    @property
    def title(self) -> str:
        """Return the window's title."""
        return self.window.title

    def contains(self, at: datetime) -> bool:
        """Return True when `at` lies inside ``[starts_at, ends_at)``."""
        return self.starts_at <= at < self.ends_at


def applies_to(window: MaintenanceWindow, target: str, probe: str | None = None) -> bool:
    """Return True when `window` covers `target` (and `probe`, when one is named)."""
    if window.targets is not None and target not in window.targets:
        return False
    return probe is None or window.probes is None or probe in window.probes


def _aware(dt: datetime, tz: ZoneInfo) -> datetime:
    return dt.replace(tzinfo=tz) if dt.tzinfo is None else dt


def _one_off(window: MaintenanceWindow) -> Occurrence | None:
    if window.start is None:
        return None
    tz = ZoneInfo(window.timezone)
    start = _aware(window.start, tz).astimezone(UTC)
    if window.end is not None:
        end = _aware(window.end, tz).astimezone(UTC)
    elif window.duration is not None:
        end = start + timedelta(seconds=window.duration)
    else:
        return None
    return Occurrence(window, start, end) if end > start else None


def _recurring_starts(window: MaintenanceWindow, first: date, last: date) -> Iterator[datetime]:
    """Yield the local start datetimes of a recurring window for dates first..last."""
    at = window.at_time
    if at is None or window.every is None:
        return
    tz = ZoneInfo(window.timezone)
    day = first
    while day <= last:
        if window.every == "day" or _WEEKDAYS[day.weekday()] == window.every:
            yield datetime.combine(day, at, tzinfo=tz)
        day += timedelta(days=1)


def occurrences(window: MaintenanceWindow, start: datetime, end: datetime) -> list[Occurrence]:
    """Return the occurrences of `window` that overlap ``[start, end)``, earliest first."""
    if window.every is None:
        one = _one_off(window)
        return [one] if one and one.starts_at < end and one.ends_at > start else []
    if window.duration is None or window.duration <= 0:
        return []
    tz = ZoneInfo(window.timezone)
    length = timedelta(seconds=window.duration)
    # An occurrence that began up to `duration` (+1 day of slack for offsets) before
    # `start` may still be running, so look back that far.
    first = (start - length).astimezone(tz).date() - timedelta(days=1)
    last = end.astimezone(tz).date() + timedelta(days=1)
    out: list[Occurrence] = []
    for local_start in _recurring_starts(window, first, last):
        s = local_start.astimezone(UTC)
        e = s + length
        if s < end and e > start:
            out.append(Occurrence(window, s, e))
    return out


def active(config: Config, target: str, probe: str | None, at: datetime) -> Occurrence | None:
    """Return the maintenance occurrence covering `target`/`probe` at `at`, or None.

    With `probe` None, any window covering the target counts. When several
    windows overlap, the one ending last is returned (the component stays under
    maintenance until then).
    """
    at = at.astimezone(UTC)
    found: Occurrence | None = None
    for window in config.maintenance:
        if not applies_to(window, target, probe):
            continue
        for occ in occurrences(window, at, at + timedelta(microseconds=1)):
            if occ.contains(at) and (found is None or occ.ends_at > found.ends_at):
                found = occ
    return found


def upcoming(
    config: Config, at: datetime, horizon: timedelta = timedelta(days=7)
) -> list[Occurrence]:
    """Return the occurrences in progress at `at` or starting within `horizon`, by start time."""
    at = at.astimezone(UTC)
    out: list[Occurrence] = []
    for window in config.maintenance:
        out.extend(o for o in occurrences(window, at, at + horizon) if o.ends_at > at)
    out.sort(key=lambda o: (o.starts_at, o.ends_at, o.title))
    return out
