"""The OpenAI-compatible simulator application and the ways to run it.

The same module contract as the AssemblyAI simulator's, through the shared
hosting module (the ``/_sim`` control, the handle, the thread, the CLI run).
"""

from __future__ import annotations

from aiohttp import web

from .. import hosting
from . import routes
from .scenario import Scenario, parse_faults
from .state import SimState

STATE_KEY = routes.STATE_KEY


def create_app(scenario: Scenario | None = None) -> web.Application:
    """Return the simulator as an aiohttp application (the flavour's API and /_sim)."""
    state = SimState(scenario if scenario is not None else Scenario())
    # One byte over the flavour's limit still reaches the handler, which answers the 413.
    app = web.Application(
        middlewares=[routes.http_faults], client_max_size=state.max_upload_bytes + 1
    )
    app[STATE_KEY] = state
    routes.add_routes(app)
    hosting.add_control(app, STATE_KEY, parse_faults)
    return app


class SimulatorHandle(hosting.SimulatorHandle[SimState]):
    """A running OpenAI-compatible simulator: its URLs, state and fault controls."""

    def __init__(
        self, runner: web.AppRunner, app: web.Application, host: str, port: int, tls: bool = False
    ) -> None:
        super().__init__(runner, app, host, port, tls, key=STATE_KEY, parse_faults=parse_faults)

    @property
    def api_url(self) -> str:
        """Return the base URL an OpenAI SDK takes: the root plus the flavour's prefix."""
        return self.base_url + self.state_obj.flavour.prefix


def _banner(handle: SimulatorHandle, scenario: Scenario) -> tuple[str, str]:
    state = handle.state_obj
    auth = "required" if state.require_auth else "not required"
    return (
        f"sttwatch OpenAI-compatible simulator ({state.flavour.name}) listening on "
        f"{handle.base_url} (SDK base_url: {handle.api_url})",
        f"valid API key(s): {', '.join(scenario.api_keys)} ({auth})",
    )


HOSTING = hosting.Hosting(create_app, SimulatorHandle, Scenario.from_yaml_file, Scenario, _banner)
start_simulator = HOSTING.start
start_simulator_thread = HOSTING.thread
run_simulator = HOSTING.run
ThreadedSimulator = hosting.ThreadedSimulator[SimulatorHandle]
