"""The OpenAI-compatible simulator application, its control endpoints and ways to run it."""

from __future__ import annotations

import asyncio
import shutil
import signal
import ssl
import sys
import tempfile
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import yaml
from aiohttp import web
from pydantic import ValidationError

from ..tls import TLSError, make_self_signed, server_context
from . import routes
from .scenario import Scenario, parse_faults
from .state import SimState

STATE_KEY = routes.STATE_KEY
_T = TypeVar("_T")


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


class SimulatorHandle:
    """A running simulator: its URLs, state and fault controls, and how to stop it."""

    def __init__(
        self, runner: web.AppRunner, app: web.Application, host: str, port: int, tls: bool = False
    ) -> None:
        self._runner = runner
        self.app = app
        self.host = host
        self.port = port
        self.tls = tls
        self._loop = asyncio.get_running_loop()

    @property
    def state_obj(self) -> SimState:
        """Return the live ``SimState`` (same process only)."""
        return self.app[STATE_KEY]

    @property
    def _netloc(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Return the server's root, e.g. ``http://127.0.0.1:PORT`` (``https`` with TLS)."""
        return f"{'https' if self.tls else 'http'}://{self._netloc}"

    @property
    def ws_base(self) -> str:
        """Return the root as a WebSocket URL (the API has no WebSocket; kept for the contract)."""
        return f"{'wss' if self.tls else 'ws'}://{self._netloc}"

    @property
    def api_url(self) -> str:
        """Return the base URL an OpenAI SDK takes: the root plus the flavour's prefix."""
        return self.base_url + self.state_obj.flavour.prefix

    def _call(self, fn: Callable[[], _T]) -> _T:
        # From another thread (sync SDK tests), run on the simulator's loop.
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            return fn()

        async def call() -> _T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=10)

    def state(self) -> dict[str, Any]:
        """Return the same document as ``GET /_sim/state``."""
        return self._call(self.state_obj.report)

    def set_faults(self, faults: list[dict[str, Any]]) -> None:
        """Replace the fault list (same validation as ``POST /_sim/faults``)."""
        parsed = parse_faults(faults)
        self._call(lambda: self.state_obj.faults.install(parsed))

    def clear_faults(self) -> None:
        """Remove every fault."""
        self._call(self.state_obj.faults.clear)

    def reset(self) -> None:
        """Forget all counters, as ``POST /_sim/reset`` does."""
        self._call(self.state_obj.reset)

    async def close(self) -> None:
        """Stop serving and release the port."""
        await self._runner.cleanup()


async def start_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    scenario: Scenario | None = None,
    tls: ssl.SSLContext | None = None,
) -> SimulatorHandle:
    """Return a handle to a simulator now listening on ``host:port`` (0 = any free port)."""
    app = create_app(scenario)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=tls)
    await site.start()
    bound_port = int(runner.addresses[0][1])
    return SimulatorHandle(runner, app, host, bound_port, tls=tls is not None)


class ThreadedSimulator:
    """A simulator on its own event loop in a background thread, for sync clients (the SDK)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        scenario: Scenario | None = None,
        tls: ssl.SSLContext | None = None,
    ):
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.handle = self._run(start_simulator(host, port, scenario, tls))

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        future: Future[_T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=30)

    def stop(self) -> None:
        """Stop the simulator and its thread."""
        self._run(self.handle.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


def start_simulator_thread(
    host: str = "127.0.0.1",
    port: int = 0,
    scenario: Scenario | None = None,
    tls: ssl.SSLContext | None = None,
) -> ThreadedSimulator:
    """Return a simulator running in a background thread (``.handle``, ``.stop()``)."""
    return ThreadedSimulator(host, port, scenario, tls)


async def _serve_until_signal(
    host: str, port: int, scenario: Scenario, tls: ssl.SSLContext | None, cert: Path | None
) -> None:
    handle = await start_simulator(host, port, scenario, tls)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"sttwatch OpenAI-compatible simulator ({scenario.flavour}) listening on "
        f"{handle.base_url} (SDK base_url: {handle.api_url})"
    )
    if cert is not None:
        print(f"TLS certificate: {cert} (trust it with SSL_CERT_FILE={cert})")
    auth = "required" if handle.state_obj.require_auth else "not required"
    print(f"valid API key(s): {', '.join(scenario.api_keys)} ({auth})", flush=True)
    try:
        await stop.wait()
    finally:
        await handle.close()


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
    try:
        scenario = Scenario.from_yaml_file(Path(scenario_path)) if scenario_path else Scenario()
    except (OSError, ValueError, yaml.YAMLError) as exc:
        print(f"sttwatch simulate: invalid scenario {scenario_path}: {exc}", file=sys.stderr)
        return 2
    if (tls_cert is None) != (tls_key is None):
        print("sttwatch simulate: --tls-cert and --tls-key go together", file=sys.stderr)
        return 2
    workdir: Path | None = None
    context: ssl.SSLContext | None = None
    cert: Path | None = None
    try:
        if tls_cert is not None and tls_key is not None:
            cert = Path(tls_cert)
            context = server_context(cert, Path(tls_key))
        elif tls:
            workdir = Path(tempfile.mkdtemp(prefix="sttwatch-simulate-tls-"))
            cert, key = make_self_signed(workdir)
            context = server_context(cert, key)
    except TLSError as exc:
        print(f"sttwatch simulate: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve_until_signal(host, port, scenario, context, cert))
    except OSError as exc:
        print(f"sttwatch simulate: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0
