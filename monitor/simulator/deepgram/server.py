"""The Deepgram simulator application, its ``/_sim`` control, and the ways to run it.

The same module contract as the AssemblyAI simulator's (``create_app``,
``start_simulator``, ``start_simulator_thread``, ``run_simulator``), so
``sttwatch simulate --provider deepgram`` and the tests drive it alike.
"""

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
from . import rest, streaming
from .rest import STATE_KEY
from .scenario import Scenario, parse_faults
from .state import DeepgramState

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
        details = exc.errors(include_url=False, include_context=False)
        return web.json_response({"error": "invalid faults", "details": details}, status=400)
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    request.app[STATE_KEY].faults.install(faults)
    return web.json_response({"faults": [f.model_dump(exclude_defaults=True) for f in faults]})


async def _clear_faults(request: web.Request) -> web.StreamResponse:
    request.app[STATE_KEY].faults.clear()
    return web.json_response({"faults": []})


async def _on_shutdown(app: web.Application) -> None:
    state = app[STATE_KEY]
    state.closing.set()
    for ws in list(state.sockets):
        await ws.close(code=1001, message=b"Going away: simulator shutting down")


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
    app.router.add_get("/_sim/state", _state)
    app.router.add_post("/_sim/reset", _reset)
    app.router.add_post("/_sim/faults", _set_faults)
    app.router.add_delete("/_sim/faults", _clear_faults)
    rest.add_fallback(app)
    app.on_shutdown.append(_on_shutdown)
    return app


class SimulatorHandle:
    """A running Deepgram simulator: its URLs, state and fault controls, and how to stop it."""

    def __init__(self, runner: web.AppRunner, app: web.Application, port: int, tls: bool) -> None:
        self._runner, self.app, self.port, self.tls = runner, app, port, tls
        self.host = "127.0.0.1"
        self._loop = asyncio.get_running_loop()

    @property
    def base_url(self) -> str:
        """Return the REST base URL (``http://127.0.0.1:PORT``; ``https`` with TLS)."""
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def ws_base(self) -> str:
        """Return the WebSocket base URL (``ws://…``; the live API is ``{ws_base}/v1/listen``)."""
        return f"{'wss' if self.tls else 'ws'}://{self.host}:{self.port}"

    @property
    def state_obj(self) -> DeepgramState:
        """Return the live state (same process only)."""
        return self.app[STATE_KEY]

    def _on_loop(self, fn: Callable[[], _T]) -> _T:
        # Sync SDK tests call from another thread: run on the simulator's loop.
        try:
            same = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            same = False
        if same:
            return fn()

        async def call() -> _T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=10)

    def state(self) -> dict[str, Any]:
        """Return the same document as ``GET /_sim/state``."""
        return self._on_loop(self.state_obj.report)

    def set_faults(self, faults: list[dict[str, Any]]) -> None:
        """Replace the fault list (same validation as ``POST /_sim/faults``)."""
        parsed = parse_faults(faults)
        self._on_loop(lambda: self.state_obj.faults.install(parsed))

    def clear_faults(self) -> None:
        """Remove every fault."""
        self._on_loop(self.state_obj.faults.clear)

    def reset(self) -> None:
        """Forget all data and counters, as ``POST /_sim/reset`` does."""
        self._on_loop(self.state_obj.reset)

    async def close(self) -> None:
        """Stop serving and release the port."""
        await self._runner.cleanup()


async def start_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    scenario: Scenario | None = None,
    tls: ssl.SSLContext | None = None,
) -> SimulatorHandle:
    """Return a handle to a Deepgram simulator listening on ``host:port`` (0 = a free port)."""
    app = create_app(scenario)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=tls).start()
    handle = SimulatorHandle(runner, app, int(runner.addresses[0][1]), tls is not None)
    handle.host = f"[{host}]" if ":" in host else host
    return handle


class ThreadedSimulator:
    """A Deepgram simulator on its own event loop in a background thread, for sync clients."""

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


async def _serve(host: str, port: int, scenario: Scenario, tls: ssl.SSLContext | None) -> None:
    handle = await start_simulator(host, port, scenario, tls)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(
        f"sttwatch Deepgram simulator listening on {handle.base_url} "
        f"(streaming: {handle.ws_base}/v1/listen)"
    )
    print(f"valid API key(s): {', '.join(scenario.api_keys)}", flush=True)
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
    """Serve until SIGINT/SIGTERM; return the exit code (2 = bad scenario or TLS files)."""
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
    try:
        if tls_cert is not None and tls_key is not None:
            context = server_context(Path(tls_cert), Path(tls_key))
        elif tls:
            workdir = Path(tempfile.mkdtemp(prefix="sttwatch-simulate-tls-"))
            cert, key = make_self_signed(workdir)
            context = server_context(cert, key)
            print(f"TLS certificate: {cert} (trust it with SSL_CERT_FILE={cert})")
    except TLSError as exc:
        print(f"sttwatch simulate: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_serve(host, port, scenario, context))
    except OSError as exc:
        print(f"sttwatch simulate: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0
