"""The types of the fixtures that start simulators, for the tests' annotations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from monitor.simulator import Scenario, SimulatorHandle

# ``start_sim`` (tests/conftest.py): starts a simulator with a scenario (dict, Scenario or None).
SimStarter = Callable[["dict[str, Any] | Scenario | None"], Awaitable[SimulatorHandle]]

# ``make_sim``: scenario overrides as keywords (tests/conftest.py) or a scenario
# (tests/simulator/conftest.py); simulators with fast jobs.
SimFactory = Callable[..., Awaitable[SimulatorHandle]]
