"""The OpenAI-compatible simulator application, its control endpoints and ways to run it."""

from __future__ import annotations

import ssl
from pathlib import Path

from aiohttp import web
from pydantic import ValidationError

from ..serving import Handle, SimulatorThread, listen, run_until_signal
from . import routes
from .scenario import Scenario, parse_faults
from .state import SimState

STATE_KEY = routes.STATE_KEY


async def _state(request: web.Request) -> web.StreamResponse:
    return web.json_response(request.app[STATE_KEY].report())


async def _reset(request: web.Request) -> web.StreamResponse:
    request.app[STATE_KEY].reset()
    return web.json_response(request.app[STATE_KEY].report())


async def _set_faults(request: web.Request) -> web.StreamResponse:
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
    request.app[STATE_KEY].faults.install(faults)
    return web.json_response({"faults": [f.model_dump(exclude_defaults=True) for f in faults]})


async def _clear_faults(request: web.Request) -> web.StreamResponse:
    request.app[STATE_KEY].faults.clear()
    return web.json_response({"faults": []})


async def _on_shutdown(app: web.Application) -> None:
    app[STATE_KEY].closing.set()


def create_app(scenario: Scenario | None = None) -> web.Application:
    """Return the simulator as an aiohttp application (the flavour's API and /_sim)."""
    state = SimState(scenario if scenario is not None else Scenario())
    # One byte over the flavour's limit still reaches the handler, which answers the 413.
    app = web.Application(
        middlewares=[routes.http_faults], client_max_size=state.max_upload_bytes + 1
    )
    app[STATE_KEY] = state
    routes.add_routes(app)
    app.router.add_get("/_sim/state", _state)
    app.router.add_post("/_sim/reset", _reset)
    app.router.add_post("/_sim/faults", _set_faults)
    app.router.add_delete("/_sim/faults", _clear_faults)
    app.on_shutdown.append(_on_shutdown)
    return app


class SimulatorHandle(Handle[SimState]):
    """A running OpenAI-compatible simulator: its URLs, state and fault controls."""

    def __init__(
        self, runner: web.AppRunner, app: web.Application, host: str, port: int, tls: bool = False
    ) -> None:
        super().__init__(runner, app, STATE_KEY, parse_faults, host, port, tls)

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
    runner, bound_port = await listen(app, host, port, tls)
    return SimulatorHandle(runner, app, host, bound_port, tls=tls is not None)


class ThreadedSimulator(SimulatorThread[SimulatorHandle]):
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


def _announce(handle: SimulatorHandle) -> list[str]:
    state = handle.state_obj
    auth = "required" if state.require_auth else "not required"
    return [
        f"sttwatch OpenAI-compatible simulator ({state.flavour.name}) listening on "
        f"{handle.base_url} (SDK base_url: {handle.api_url})",
        f"valid API key(s): {', '.join(state.scenario.api_keys)} ({auth})",
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
    """Serve until SIGINT/SIGTERM; return the process exit code (2 = bad scenario or TLS files)."""
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
