"""The simulator's own outgoing HTTP: audio downloads and webhook deliveries.

Both run as background tasks so no API handler ever waits for them; the
simulator cancels and awaits whatever is still pending when it shuts down
(or is reset), so nothing outlives it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import aiohttp

USER_AGENT = "sttwatch-simulator"
_log = logging.getLogger(__name__)


class Outbound:
    """One client session and the set of background tasks that use it."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def session(self) -> aiohttp.ClientSession:
        """Return the shared client session (made on first use, inside the running loop)."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        return self._session

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``work`` in the background, tracked until it ends; return its task."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # A bug in a delivery must show, not vanish with its task.
            _log.error("simulator background task failed", exc_info=task.exception())

    @property
    def pending(self) -> int:
        """Return how many background tasks are still running."""
        return len(self._tasks)

    def cancel(self) -> None:
        """Cancel every pending task (a reset); ``close()`` awaits them."""
        for task in list(self._tasks):
            task.cancel()

    async def close(self) -> None:
        """Cancel and await every pending task, then close the session."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
