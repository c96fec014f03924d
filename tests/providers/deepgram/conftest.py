"""Fixtures of the Deepgram tests: ``make_dg`` starts a Deepgram simulator on loopback.

``make_dg(faults=[...], **scenario)`` takes scenario keys as keywords (merged
over the fast timings of tests.support.deepgram.FAST); every simulator it
started is closed when the test ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from monitor.simulator.deepgram import Scenario, SimulatorHandle, start_simulator
from tests.support.deepgram import FAST

DgFactory = Callable[..., Awaitable[SimulatorHandle]]


def scenario(**overrides: Any) -> Scenario:
    """Return the fast scenario updated with `overrides` (mappings merged one level deep)."""
    data: dict[str, Any] = {k: dict(v) for k, v in FAST.items()}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Scenario.model_validate(data)


@pytest.fixture
async def make_dg() -> AsyncIterator[DgFactory]:
    """Yield a function that starts a Deepgram simulator (scenario keys as keywords)."""
    handles: list[SimulatorHandle] = []

    async def start(**overrides: Any) -> SimulatorHandle:
        handle = await start_simulator(scenario=scenario(**overrides))
        handles.append(handle)
        return handle

    try:
        yield start
    finally:
        for handle in reversed(handles):
            await handle.close()


@pytest.fixture
async def dg(make_dg: DgFactory) -> SimulatorHandle:
    """Return a Deepgram simulator with the fast scenario."""
    return await make_dg()
