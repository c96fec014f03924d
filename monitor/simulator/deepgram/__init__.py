"""A local Deepgram (``/v1/listen`` pre-recorded and live, projects, grants) with faults.

Part of the simulator's separate world: it imports nothing from the rest of
``monitor``, only the simulator's generic parts (known clips, hearing, the
fault book, TLS, downloads). See docs/simulator.md and docs/protocol-deepgram.md.
"""

from __future__ import annotations

from .scenario import DEFAULT_API_KEY, PROJECT_ID, Fault, Scenario, parse_faults
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
    "PROJECT_ID",
    "Fault",
    "Scenario",
    "SimulatorHandle",
    "ThreadedSimulator",
    "create_app",
    "parse_faults",
    "run_simulator",
    "start_simulator",
    "start_simulator_thread",
]
