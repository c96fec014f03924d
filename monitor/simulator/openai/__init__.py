"""A local OpenAI-compatible transcription API (OpenAI, Groq or a self-hosted server).

The scenario's ``flavour`` picks which server it behaves like; faults use the
AssemblyAI simulator's vocabulary. A separate world, like the rest of
``monitor.simulator``: nothing here imports the rest of ``monitor``.
See docs/simulator.md ("The OpenAI-compatible simulator").
"""

from __future__ import annotations

from .flavours import FLAVOURS, Flavour, ModelCard
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
    "FLAVOURS",
    "Fault",
    "Flavour",
    "ModelCard",
    "Scenario",
    "SimulatorHandle",
    "ThreadedSimulator",
    "create_app",
    "run_simulator",
    "start_simulator",
    "start_simulator_thread",
]
