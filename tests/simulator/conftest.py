"""Fixtures of the simulator tests: simulators with fast jobs, a validating client, a peer.

``make_sim`` and ``sim`` here take a whole scenario (a dict or a Scenario, jobs
fast unless it says otherwise); they stand in, for this folder, for the
keyword-override ones of tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from monitor.simulator import Scenario, SimulatorHandle
from tests.support.fixture_types import SimFactory, SimStarter
from tests.support.outbound_peer import OutboundPeer
from tests.support.simulator import FAST_JOBS, Api


@pytest.fixture
def make_sim(start_sim: SimStarter) -> SimFactory:
    """Return a factory of simulators (fast jobs unless the scenario says otherwise)."""

    async def factory(scenario: dict[str, Any] | Scenario | None = None) -> SimulatorHandle:
        if not isinstance(scenario, Scenario):
            scenario = Scenario.model_validate({"jobs": FAST_JOBS, **(scenario or {})})
        return await start_sim(scenario)

    return factory


@pytest.fixture
async def sim(make_sim: SimFactory) -> SimulatorHandle:
    """Return a simulator with the default scenario and fast jobs."""
    return await make_sim()


@pytest.fixture
def api(sim: SimulatorHandle, http: aiohttp.ClientSession) -> Api:
    """Return an ``Api`` bound to the default simulator."""
    return Api(http, sim.base_url)


@pytest.fixture
async def peer() -> AsyncIterator[OutboundPeer]:
    """Yield a running peer, stopped after the test."""
    server = OutboundPeer()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
