"""The simulator application, its control endpoints and ways to run it."""

from __future__ import annotations

import ssl
from pathlib import Path

from aiohttp import web
from pydantic import ValidationError

from . import rest, streaming
from .scenario import DEFAULT_API_KEY, MAX_UPLOAD_BYTES, Scenario, parse_faults
from .serving import Handle, SimulatorThread, listen, run_until_signal
from .state import SimState

STATE_KEY = rest.STATE_KEY


async def _state(request: web.Request) -> web.StreamResponse:
    return web.json_response(request.app[STATE_KEY].report())


async def _reset(request: web.Request) -> web.StreamResponse:
    request.app[STATE_KEY].reset()
    return web.json_response(request.app[STATE_KEY].report())


async def _set_faults(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE_KEY]
    try:
        faults = parse_faults(await request.json())
    except ValidationError as exc:
        return web.json_response(
            {
                "error": "invalid faults",
                "details": exc.errors(include_url=False, include_context=False),
            },
            status=400,
        )
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    state.faults.install(faults)
    return web.json_response({"faults": [f.model_dump(exclude_defaults=True) for f in faults]})


async def _clear_faults(request: web.Request) -> web.StreamResponse:
    request.app[STATE_KEY].faults.clear()
    return web.json_response({"faults": []})


async def _on_shutdown(app: web.Application) -> None:
    state = app[STATE_KEY]
    state.closing.set()
    # Without this, sessions the client keeps open hold shutdown for its timeout.
    for ws in list(state.sockets):
        await ws.close(code=1001, message=b"Going away: simulator shutting down")


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
    app.router.add_get("/_sim/state", _state)
    app.router.add_post("/_sim/reset", _reset)
    app.router.add_post("/_sim/faults", _set_faults)
    app.router.add_delete("/_sim/faults", _clear_faults)
    app.on_shutdown.append(_on_shutdown)
    return app


class SimulatorHandle(Handle[SimState]):
    """A running AssemblyAI simulator: its URLs (REST, streaming), state and fault controls."""

    def __init__(
        self,
        runner: web.AppRunner,
        app: web.Application,
        host: str,
        port: int,
        tls: bool = False,
    ) -> None:
        super().__init__(runner, app, STATE_KEY, parse_faults, host, port, tls)


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
    runner, bound_port = await listen(app, host, port, tls)
    return SimulatorHandle(runner, app, host, bound_port, tls=tls is not None)


class ThreadedSimulator(SimulatorThread[SimulatorHandle]):
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


def _announce(handle: SimulatorHandle) -> list[str]:
    keys = ", ".join(handle.state_obj.api_keys)
    return [
        f"sttwatch simulator listening on {handle.base_url} (streaming: {handle.ws_base}/v3/ws)",
        f"valid API key(s): {keys}",
    ]


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
    return run_until_signal(
        lambda: Scenario.from_yaml_file(Path(scenario_path)) if scenario_path else Scenario(),
        lambda scenario, context: start_simulator(host, port, scenario, context),
        _announce,
        where=str(scenario_path),
        host=host,
        port=port,
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
