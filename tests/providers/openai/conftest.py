"""Fixtures of the OpenAI-compatible provider's tests: its simulator and targets aimed at it.

``openai_sim(flavour, **scenario)`` starts a real OpenAI-compatible simulator
on a loopback port (closed when the test ends). ``openai_target(handle)`` of
tests/support/openai_provider.py aims a target of provider ``openai`` at it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from monitor.simulator.openai import Scenario, SimulatorHandle, start_simulator
from tests.support.openai_provider import OpenAISim


@pytest.fixture
async def openai_sim() -> AsyncIterator[OpenAISim]:
    """Yield a function starting an OpenAI-compatible simulator: flavour, scenario keywords."""
    handles: list[SimulatorHandle] = []

    async def start(flavour: str = "openai", **scenario: Any) -> SimulatorHandle:
        handle = await start_simulator(
            scenario=Scenario.model_validate({"flavour": flavour, **scenario})
        )
        handles.append(handle)
        return handle

    try:
        yield start
    finally:
        for handle in reversed(handles):
            await handle.close()
