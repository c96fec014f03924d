"""Waiting, in tests, for something another task or process does: one bounded poll loop."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable


async def eventually(
    check: Callable[[], bool | Awaitable[bool]],
    what: str = "the condition",
    within: float = 15.0,
    every: float = 0.05,
) -> None:
    """Return once `check()` (awaited when it returns an awaitable) is true.

    Fails the test with "timed out after `within`s waiting for `what`" otherwise.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        done = check()
        if inspect.isawaitable(done):
            done = await done
        if done:
            return
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(every)
