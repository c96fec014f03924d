"""sttwatch's own webhook receiver on a loopback port, as `run` mounts it, for tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web

from monitor.server import bound_port
from monitor.webhook_receiver import add_receiver
from monitor.webhook_runs import LiveRuns


@dataclass(frozen=True, slots=True)
class ReceiverHandle:
    """A running receiver: its registry of live runs and the base URL it answers on."""

    runs: LiveRuns
    base_url: str


@asynccontextmanager
async def running_receiver() -> AsyncIterator[ReceiverHandle]:
    """Yield a receiver served on 127.0.0.1 (a free port), stopped afterwards."""
    runs = LiveRuns(None)
    app = web.Application()
    add_receiver(app, runs)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        runs.base_url = f"http://127.0.0.1:{bound_port(runner)}"
        yield ReceiverHandle(runs, runs.base_url)
    finally:
        await runner.cleanup()
