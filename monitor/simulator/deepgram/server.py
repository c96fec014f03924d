"""The Deepgram simulator application and the ways to run it.

The same module contract as the AssemblyAI simulator's (``create_app``,
``start_simulator``, ``start_simulator_thread``, ``run_simulator``), on the
shared ``/_sim`` control, handle and runners of ``..hosting``, so
``sttwatch simulate --provider deepgram`` and the tests drive it alike.
"""

from __future__ import annotations

import ssl
from pathlib import Path

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


async def start_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    scenario: Scenario | None = None,
    tls: ssl.SSLContext | None = None,
) -> SimulatorHandle:
    """Return a handle to a Deepgram simulator listening on ``host:port`` (0 = a free port)."""
    app = create_app(scenario)
    runner, bound = await hosting.listen(app, host, port, tls)
    return SimulatorHandle(runner, app, host, bound, tls=tls is not None)


class ThreadedSimulator(hosting.ThreadedSimulator[SimulatorHandle]):
    """A Deepgram simulator on its own event loop in a background thread, for sync clients."""

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
    """Serve until SIGINT/SIGTERM; return the exit code (2 = bad scenario or TLS files)."""

    async def serve(scenario: Scenario, context: ssl.SSLContext | None, cert: Path | None) -> None:
        handle = await start_simulator(host, port, scenario, context)
        stop = hosting.stop_on_signals()
        print(
            f"sttwatch Deepgram simulator listening on {handle.base_url} "
            f"(streaming: {handle.ws_base}/v1/listen)"
        )
        hosting.print_certificate(cert)
        print(f"valid API key(s): {', '.join(scenario.api_keys)}", flush=True)
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
