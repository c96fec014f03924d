"""The Deepgram simulator application and the ways to run it.

The same module contract as the AssemblyAI simulator's (``create_app``,
``start_simulator``, ``start_simulator_thread``, ``run_simulator``), on the
shared ``/_sim`` control, handle and runners of ``..hosting``, so
``sttwatch simulate --provider deepgram`` and the tests drive it alike.
"""

from __future__ import annotations

from aiohttp import web

from .. import hosting
from . import rest, streaming
from .rest import STATE_KEY
from .scenario import Scenario, parse_faults
from .state import DeepgramState


def create_app(scenario: Scenario | None = None) -> web.Application:
    """Return the Deepgram simulator as an aiohttp application (REST, live WS, /_sim)."""
    state = DeepgramState(scenario if scenario is not None else Scenario())
    app = web.Application(
        middlewares=[rest.body_too_large, rest.http_faults],
        client_max_size=state.scenario.max_body_bytes,
    )
    app[STATE_KEY] = state
    rest.add_routes(app)
    streaming.add_routes(app)
    hosting.add_control(app, STATE_KEY, parse_faults)
    # Last: every other /v1/ path is a JSON 404.
    rest.add_fallback(app)
    return app


class SimulatorHandle(hosting.SimulatorHandle[DeepgramState]):
    """A running Deepgram simulator: its URLs, state and fault controls, and how to stop it."""

    def __init__(
        self, runner: web.AppRunner, app: web.Application, host: str, port: int, tls: bool = False
    ) -> None:
        super().__init__(runner, app, host, port, tls, key=STATE_KEY, parse_faults=parse_faults)


def _banner(handle: SimulatorHandle, scenario: Scenario) -> tuple[str, str]:
    return (
        f"sttwatch Deepgram simulator listening on {handle.base_url} "
        f"(streaming: {handle.ws_base}/v1/listen)",
        f"valid API key(s): {', '.join(scenario.api_keys)}",
    )


HOSTING = hosting.Hosting(create_app, SimulatorHandle, Scenario.from_yaml_file, Scenario, _banner)
start_simulator = HOSTING.start
start_simulator_thread = HOSTING.thread
run_simulator = HOSTING.run
ThreadedSimulator = hosting.ThreadedSimulator[SimulatorHandle]
