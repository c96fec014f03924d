"""The AssemblyAI simulator application and the ways to run it.

The ``/_sim`` control, the handle, the background-thread runner and the CLI's
scenario and TLS handling are the shared ones of ``hosting.py``.
"""

from __future__ import annotations

from aiohttp import web

from . import hosting, rest, streaming
from .scenario import DEFAULT_API_KEY, MAX_UPLOAD_BYTES, Scenario, parse_faults
from .state import SimState

STATE_KEY = rest.STATE_KEY


def create_app(scenario: Scenario | None = None) -> web.Application:
    """Return the simulator as an aiohttp application (REST v2, streaming v3, /_sim)."""
    state = SimState(scenario if scenario is not None else Scenario())
    # Uploads are whole audio files; aiohttp's 1 MiB default would reject them.
    app = web.Application(
        middlewares=[rest.body_too_large, rest.http_faults],
        client_max_size=state.scenario.max_upload_bytes,
    )
    app[STATE_KEY] = state
    rest.add_routes(app)
    streaming.add_routes(app)
    hosting.add_control(app, STATE_KEY, parse_faults)
    return app


class SimulatorHandle(hosting.SimulatorHandle[SimState]):
    """A running AssemblyAI simulator: its URLs, state and fault controls, and how to stop it."""

    def __init__(
        self, runner: web.AppRunner, app: web.Application, host: str, port: int, tls: bool = False
    ) -> None:
        super().__init__(runner, app, host, port, tls, key=STATE_KEY, parse_faults=parse_faults)


def _banner(handle: SimulatorHandle, scenario: Scenario) -> tuple[str, str]:
    return (
        f"sttwatch simulator listening on {handle.base_url} (streaming: {handle.ws_base}/v3/ws)",
        f"valid API key(s): {', '.join(scenario.api_keys)}",
    )


HOSTING = hosting.Hosting(create_app, SimulatorHandle, Scenario.from_yaml_file, Scenario, _banner)
start_simulator = HOSTING.start
start_simulator_thread = HOSTING.thread
run_simulator = HOSTING.run
ThreadedSimulator = hosting.ThreadedSimulator[SimulatorHandle]


__all__ = [
    "DEFAULT_API_KEY",
    "MAX_UPLOAD_BYTES",
    "SimulatorHandle",
    "ThreadedSimulator",
    "create_app",
    "run_simulator",
    "start_simulator",
    "start_simulator_thread",
]
