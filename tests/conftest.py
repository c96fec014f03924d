"""Fixtures every test module can use without importing them.

- ``start_sim``: starts real simulators on loopback (port 0) and closes every
  one it started when the test ends; the per-area ``make_sim``/``sim``
  fixtures (simulator_fixtures.py, probe_fixtures.py) and the test modules'
  own ``sim`` fixtures build their scenario and start it through this one.
- ``http``: one aiohttp client session, closed afterwards.
- ``smtp_sink``, ``webhook``, ``slack_stub``, ``refused_port``: the real
  notification receivers of alert_fixtures.py.
- ``demo``: a running ``sttwatch demo`` whose storyline stands still.
- ``browser``: the headless Chromium of chromium.py, launched through Playwright.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from alert_fixtures import refused_port, slack_stub, smtp_sink, webhook
from chromium import ARGS, CHROMIUM

from monitor.demo import Chapter, DemoHandle, run_demo
from monitor.simulator import Scenario, SimulatorHandle, start_simulator

__all__ = ["refused_port", "slack_stub", "smtp_sink", "webhook"]

SimStarter = Callable[["dict[str, Any] | Scenario | None"], Awaitable[SimulatorHandle]]


@pytest.fixture
async def start_sim() -> AsyncIterator[SimStarter]:
    """Yield a function that starts a simulator with a scenario (a dict, a Scenario or None).

    Every simulator it started is closed when the test ends, the newest first.
    """
    handles: list[SimulatorHandle] = []

    async def start(scenario: dict[str, Any] | Scenario | None = None) -> SimulatorHandle:
        if not isinstance(scenario, Scenario):
            scenario = Scenario.model_validate(scenario or {})
        handle = await start_simulator(host="127.0.0.1", port=0, scenario=scenario)
        handles.append(handle)
        return handle

    try:
        yield start
    finally:
        for handle in reversed(handles):
            await handle.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """Yield an aiohttp client session."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[tuple[DemoHandle, list[str]]]:
    """Yield a running demo and the lines it printed; its storyline stands still."""
    stop = asyncio.Event()
    ready: asyncio.Future[DemoHandle] = asyncio.get_running_loop().create_future()
    lines: list[str] = []
    task = asyncio.create_task(
        run_demo(
            stop,
            say=lines.append,
            storyline=[Chapter("held by the test", 3600.0)],
            workdir=tmp_path,
            on_ready=ready.set_result,
        )
    )
    try:
        handle = await asyncio.wait_for(asyncio.shield(ready), 30)
        yield handle, lines
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Yield a headless Chromium (Playwright's Browser), closed afterwards."""
    playwright_api = pytest.importorskip("playwright.async_api")
    async with playwright_api.async_playwright() as p:
        launched = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield launched
        finally:
            await launched.close()
