"""Ending background tasks without swallowing a cancellation that is not theirs."""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and return once it has finished.

    The task's own ``CancelledError`` ends here; if the caller is itself being
    cancelled while it waits, that cancellation propagates (a bare
    ``suppress(CancelledError)`` would swallow it and let the caller go on).
    """
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
