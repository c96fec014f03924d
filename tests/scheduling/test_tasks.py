"""cancel_and_wait ends a background task and never hides the caller's own cancellation."""

from __future__ import annotations

import asyncio

import pytest

from monitor.tasks import cancel_and_wait


async def test_cancelling_a_task_returns_once_it_has_finished() -> None:
    finished = asyncio.Event()

    async def worker() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            finished.set()

    task = asyncio.create_task(worker())
    await asyncio.sleep(0)
    await cancel_and_wait(task)
    assert task.cancelled() and finished.is_set()


async def test_a_task_that_already_ended_is_fine() -> None:
    task = asyncio.create_task(asyncio.sleep(0))
    await task
    await cancel_and_wait(task)
    assert task.done() and not task.cancelled()


async def test_the_callers_own_cancellation_propagates() -> None:
    async def slow_to_stop() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await asyncio.sleep(0.05)  # cleanup that takes a moment
            raise

    task = asyncio.create_task(slow_to_stop())
    await asyncio.sleep(0)
    caller = asyncio.create_task(cancel_and_wait(task))
    await asyncio.sleep(0.01)  # the caller is now waiting for the task
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    assert caller.cancelled()
    assert task.done()


async def test_an_error_of_the_task_is_not_hidden() -> None:
    async def broken() -> None:
        raise RuntimeError("bug")

    task = asyncio.create_task(broken())
    await asyncio.sleep(0)
    with pytest.raises(RuntimeError, match="bug"):
        await cancel_and_wait(task)
