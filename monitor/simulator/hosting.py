"""What every simulated provider's server shares: the ``/_sim`` control, the handle, threads, CLI.

Each simulator (AssemblyAI's in this package, others in sub-packages) has its
own state and fault model; what it hands here is the aiohttp app key of its
state and its ``parse_faults``. The state must offer ``report()``,
``reset()``, ``faults`` (a :class:`~.faults.FaultBook`), ``closing`` and
``sockets``. So ``/_sim/state``, ``/_sim/faults`` and ``/_sim/reset``, the
``SimulatorHandle`` tests drive, the background-thread runner and
``run_simulator``'s scenario/TLS handling are written once.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import ssl
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import yaml
from aiohttp import web
from pydantic import BaseModel, ValidationError

from .faults import FaultBook
from .tls import TLSError, make_self_signed, server_context

_T = TypeVar("_T")


class Controlled(Protocol):
    """What the control endpoints and the handle need of a simulator's state."""

    faults: FaultBook[Any]
    closing: asyncio.Event
    sockets: set[web.WebSocketResponse]

    def report(self) -> dict[str, Any]: ...

    def reset(self) -> None: ...


S = TypeVar("S", bound=Controlled)
ParseFaults = Callable[[Any], list[Any]]


def add_control(app: web.Application, key: web.AppKey[S], parse_faults: ParseFaults) -> None:
    """Add ``/_sim/state``, ``/_sim/reset``, ``/_sim/faults`` and the shutdown close to `app`."""

    async def state(request: web.Request) -> web.StreamResponse:
        return web.json_response(request.app[key].report())

    async def reset(request: web.Request) -> web.StreamResponse:
        request.app[key].reset()
        return web.json_response(request.app[key].report())

    async def set_faults(request: web.Request) -> web.StreamResponse:
        try:
            faults = parse_faults(await request.json())
        except ValidationError as exc:
            details = exc.errors(include_url=False, include_context=False)
            return web.json_response({"error": "invalid faults", "details": details}, status=400)
        except ValueError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        request.app[key].faults.install(faults)
        dumped = [f.model_dump(exclude_defaults=True) for f in faults]
        return web.json_response({"faults": dumped})

    async def clear_faults(request: web.Request) -> web.StreamResponse:
        request.app[key].faults.clear()
        return web.json_response({"faults": []})

    async def on_shutdown(app: web.Application) -> None:
        current = app[key]
        current.closing.set()
        # Without this, sessions the client keeps open hold shutdown for its timeout.
        for ws in list(current.sockets):
            await ws.close(code=1001, message=b"Going away: simulator shutting down")

    app.router.add_get("/_sim/state", state)
    app.router.add_post("/_sim/reset", reset)
    app.router.add_post("/_sim/faults", set_faults)
    app.router.add_delete("/_sim/faults", clear_faults)
    app.on_shutdown.append(on_shutdown)


class SimulatorHandle(Generic[S]):
    """A running simulator: its URLs, state and fault controls, and how to stop it."""

    def __init__(
        self,
        runner: web.AppRunner,
        app: web.Application,
        host: str,
        port: int,
        tls: bool = False,
        *,
        key: web.AppKey[S],
        parse_faults: ParseFaults,
    ) -> None:
        self._runner = runner
        self.app = app
        self.host = host
        self.port = port
        self.tls = tls
        self._key = key
        self._parse_faults = parse_faults
        self._loop = asyncio.get_running_loop()

    @property
    def state_obj(self) -> S:
        """Return the live state (same process only)."""
        return self.app[self._key]

    @property
    def base_url(self) -> str:
        """Return the REST base URL, e.g. ``http://127.0.0.1:PORT`` (``https`` with TLS)."""
        return f"{'https' if self.tls else 'http'}://{self._netloc}"

    @property
    def ws_base(self) -> str:
        """Return the streaming base URL, e.g. ``ws://127.0.0.1:PORT`` (``wss`` with TLS)."""
        return f"{'wss' if self.tls else 'ws'}://{self._netloc}"

    @property
    def _netloc(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

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
        parsed = self._parse_faults(faults)
        self._call(lambda: self.state_obj.faults.install(parsed))

    def clear_faults(self) -> None:
        """Remove every fault."""
        self._call(self.state_obj.faults.clear)

    def reset(self) -> None:
        """Forget all data and counters, as ``POST /_sim/reset`` does."""
        self._call(self.state_obj.reset)

    async def close(self) -> None:
        """Stop serving and release the port."""
        await self._runner.cleanup()


async def listen(
    app: web.Application, host: str, port: int, tls: ssl.SSLContext | None
) -> tuple[web.AppRunner, int]:
    """Serve `app` on ``host:port`` (0 = any free port); return its runner and bound port."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=tls)
    await site.start()
    return runner, int(runner.addresses[0][1])


class Closable(Protocol):
    """A running simulator's handle, as far as its thread runner needs it."""

    async def close(self) -> None: ...


H = TypeVar("H", bound=Closable)


class ThreadedSimulator(Generic[H]):
    """A simulator on its own event loop in a background thread, for sync clients."""

    def __init__(self, start: Callable[[], Coroutine[Any, Any, H]]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self.handle: H = self._run(start())

    def _run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        future: Future[_T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout=30)

    def stop(self) -> None:
        """Stop the simulator and its thread."""
        self._run(self.handle.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


M = TypeVar("M", bound=BaseModel)
Serve = Callable[[M, ssl.SSLContext | None, Path | None], Coroutine[Any, Any, None]]


def stop_on_signals() -> asyncio.Event:
    """Return an event set by SIGINT/SIGTERM (installed before anything is printed)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve_until(stop: asyncio.Event, close: Callable[[], Awaitable[None]]) -> None:
    """Wait for `stop`, then run `close` (also when cancelled)."""
    try:
        await stop.wait()
    finally:
        await close()


def run_from_cli(
    scenario_path: str | None,
    load: Callable[[Path], M],
    default: Callable[[], M],
    serve: Serve[M],
    *,
    where: str,
    tls: bool = False,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> int:
    """Load the scenario and TLS files, then run `serve` until a signal; return the exit code.

    2 = a bad scenario or TLS files, 1 = cannot listen on `where`. ``tls`` makes a
    self-signed certificate for this run (removed on exit); ``tls_cert`` with
    ``tls_key`` serves that pair instead.
    """
    try:
        scenario = load(Path(scenario_path)) if scenario_path else default()
    except (OSError, ValueError, yaml.YAMLError) as exc:
        # pydantic's ValidationError is a ValueError: it names the bad path.
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
        asyncio.run(serve(scenario, context, cert))
    except OSError as exc:
        print(f"sttwatch simulate: cannot listen on {where}: {exc}", file=sys.stderr)
        return 1
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


def print_certificate(cert: Path | None) -> None:
    """Print where the TLS certificate is and how to trust it (nothing without TLS)."""
    if cert is not None:
        print(
            f"TLS certificate: {cert} (trust it with NODE_EXTRA_CA_CERTS={cert} "
            f"or SSL_CERT_FILE={cert})"
        )


Banner = Callable[[H, M], tuple[str, str]]


class Hosting(Generic[H, M]):
    """One simulator's ways to run: on this loop, in a background thread, from the CLI.

    A simulator module hands its app factory, handle class, scenario loader and
    banner (the listening line and the keys line `sttwatch simulate` prints),
    and exports the bound methods as its ``start_simulator``,
    ``start_simulator_thread`` and ``run_simulator``.
    """

    def __init__(
        self,
        create_app: Callable[[M | None], web.Application],
        handle: Callable[[web.AppRunner, web.Application, str, int, bool], H],
        load: Callable[[Path], M],
        default: Callable[[], M],
        banner: Banner[H, M],
    ) -> None:
        self._create_app = create_app
        self._handle = handle
        self._load = load
        self._default = default
        self._banner = banner

    async def start(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        scenario: M | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> H:
        """Return a handle to a simulator now listening on ``host:port`` (0 = any free port).

        With ``tls`` (a server context, see ``tls.server_context``) it serves HTTPS
        and WSS on that one port instead of HTTP and WS.
        """
        app = self._create_app(scenario)
        runner, bound = await listen(app, host, port, tls)
        return self._handle(runner, app, host, bound, tls is not None)

    def thread(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        scenario: M | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> ThreadedSimulator[H]:
        """Return a simulator running in a background thread (``.handle``, ``.stop()``)."""
        return ThreadedSimulator(lambda: self.start(host, port, scenario, tls))

    def run(
        self,
        host: str,
        port: int,
        scenario_path: str | None,
        *,
        tls: bool = False,
        tls_cert: str | None = None,
        tls_key: str | None = None,
    ) -> int:
        """Serve until SIGINT/SIGTERM; return the exit code (2 = bad scenario or TLS files).

        ``tls`` makes a self-signed certificate for this run (removed on exit);
        ``tls_cert`` with ``tls_key`` serves that pair instead.
        """

        async def serve(scenario: M, context: ssl.SSLContext | None, cert: Path | None) -> None:
            handle = await self.start(host, port, scenario, context)
            stop = stop_on_signals()
            listening, keys = self._banner(handle, scenario)
            print(listening)
            print_certificate(cert)
            print(keys, flush=True)
            await serve_until(stop, handle.close)

        return run_from_cli(
            scenario_path,
            self._load,
            self._default,
            serve,
            where=f"{host}:{port}",
            tls=tls,
            tls_cert=tls_cert,
            tls_key=tls_key,
        )
