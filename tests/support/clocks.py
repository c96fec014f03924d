"""The clock doubles of the tests: a settable one and one whose sleeps take no time.

Both speak the protocol of :class:`monitor.models.SystemClock` (``now``,
``monotonic``, ``sleep``). The scheduler tests keep their own ``VirtualClock``
(sleepers woken one by one, in order, as the test advances it): only they need it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from monitor.models import SystemClock


@dataclass
class ManualClock:
    """A clock that moves only when the test says so (``advance``, or a ``sleep``).

    Calling it returns the monotonic reading, so it also serves where a plain
    monotonic function is wanted (the simulator's ``clock``).
    """

    current: datetime = field(default_factory=lambda: datetime(2026, 11, 21, 8, 0, tzinfo=UTC))
    mono: float = 1000.0

    def now(self) -> datetime:
        """Return the wall-clock reading."""
        return self.current

    def monotonic(self) -> float:
        """Return the monotonic reading."""
        return self.mono

    def __call__(self) -> float:
        return self.mono

    async def sleep(self, seconds: float) -> None:
        """Move time forward by `seconds` at once."""
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        """Move both readings forward by `seconds`."""
        self.current += timedelta(seconds=seconds)
        self.mono += seconds


class BurstClock(SystemClock):
    """Real time, except that sleeping only moves the monotonic reading forward.

    Streaming audio paced by this clock goes out in one burst, so a test of a
    failure that does not depend on timing need not wait 2.3 s for the clip
    (the simulator must then not enforce real-time pacing).
    """

    def __init__(self) -> None:
        self.skipped = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    async def sleep(self, seconds: float) -> None:
        self.skipped += max(0.0, seconds)
        await asyncio.sleep(0)
