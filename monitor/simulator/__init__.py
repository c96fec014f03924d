"""A local AssemblyAI (REST v2 + streaming v3) with fault injection.

A separate world: nothing here imports the rest of ``monitor``, so the
simulator cannot share a bug with the code it tests. See docs/simulator.md.
"""

from __future__ import annotations

from .scenario import DEFAULT_API_KEY, Fault, Scenario
from .server import (
    SimulatorHandle,
    ThreadedSimulator,
    create_app,
    run_simulator,
    start_simulator,
    start_simulator_thread,
)

__all__ = [
    "DEFAULT_API_KEY",
    "Fault",
    "Scenario",
    "SimulatorHandle",
    "ThreadedSimulator",
    "create_app",
    "run_simulator",
    "start_simulator",
    "start_simulator_thread",
]
