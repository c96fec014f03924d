"""The OpenAI-compatible simulator application and the ways to run it.

The same module contract as the AssemblyAI simulator's, through the shared
hosting module (the ``/_sim`` control, the handle, the thread, the CLI run).
"""

from __future__ import annotations

import ssl
from pathlib import Path

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


async def start_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    scenario: Scenario | None = None,
    tls: ssl.SSLContext | None = None,
) -> SimulatorHandle:
    """Return a handle to a simulator now listening on ``host:port`` (0 = any free port)."""
    app = create_app(scenario)
    runner, bound_port = await hosting.listen(app, host, port, tls)
    return SimulatorHandle(runner, app, host, bound_port, tls=tls is not None)


class ThreadedSimulator(hosting.ThreadedSimulator[SimulatorHandle]):
    """A simulator on its own event loop in a background thread, for sync clients (the SDK)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        scenario: Scenario | None = None,
        tls: ssl.SSLContext | None = None,
    ):
        super().__init__(lambda: start_simulator(host, port, scenario, tls))


def start_simulator_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    scenario: Scenario | None = None,
    tls: ssl.SSLContext | None = None,
) -> ThreadedSimulator:
    """Return a simulator running in a background thread (``.handle``, ``.stop()``)."""
    return ThreadedSimulator(host, port, scenario, tls)


def run_simulator(
    host: str,
    port: int,
    scenario_path: str | None,
    *,
    tls: bool = False,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM; return the process exit code (2 = bad scenario or TLS files)."""

    async def serve(scenario: Scenario, context: ssl.SSLContext | None, cert: Path | None) -> None:
        handle = await start_simulator(host, port, scenario, context)
        stop = hosting.stop_on_signals()
        state = handle.state_obj
        print(
            f"sttwatch OpenAI-compatible simulator ({state.flavour.name}) listening on "
            f"{handle.base_url} (SDK base_url: {handle.api_url})"
        )
        hosting.print_certificate(cert)
        auth = "required" if state.require_auth else "not required"
        print(f"valid API key(s): {', '.join(scenario.api_keys)} ({auth})", flush=True)
        await hosting.serve_until(stop, handle.close)

    return hosting.run_from_cli(
        scenario_path,
        Scenario.from_yaml_file,
        Scenario,
        serve,
        where=f"{host}:{port}",
        tls=tls,
        tls_cert=tls_cert,
        tls_key=tls_key,
    )
