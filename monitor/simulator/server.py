"""The AssemblyAI simulator application and the ways to run it.

The ``/_sim`` control, the handle, the background-thread runner and the CLI's
scenario and TLS handling are the shared ones of ``hosting.py``.
"""

from __future__ import annotations

import ssl
from pathlib import Path

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


async def start_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    scenario: Scenario | None = None,
    tls: ssl.SSLContext | None = None,
) -> SimulatorHandle:
    """Return a handle to a simulator now listening on ``host:port`` (0 = any free port).

    With ``tls`` (a server context, see ``tls.server_context``) it serves HTTPS
    and WSS on that one port instead of HTTP and WS.
    """
    app = create_app(scenario)
    runner, bound = await hosting.listen(app, host, port, tls)
    return SimulatorHandle(runner, app, host, bound, tls=tls is not None)


class ThreadedSimulator(hosting.ThreadedSimulator[SimulatorHandle]):
    """A simulator on its own event loop in a background thread, for sync clients."""

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
    """Serve until SIGINT/SIGTERM; return the process exit code (2 = bad scenario or TLS files).

    ``tls`` makes a self-signed certificate for this run (removed on exit);
    ``tls_cert`` with ``tls_key`` serves that pair instead.
    """

    async def serve(scenario: Scenario, context: ssl.SSLContext | None, cert: Path | None) -> None:
        handle = await start_simulator(host, port, scenario, context)
        stop = hosting.stop_on_signals()
        print(
            f"sttwatch simulator listening on {handle.base_url} (streaming: {handle.ws_base}/v3/ws)"
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
