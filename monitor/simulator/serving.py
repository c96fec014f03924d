"""What every simulated provider's server module shares: its handle, its thread, its CLI run.

Each simulator (AssemblyAI's in this package, the others in their
subpackages) keeps its own application and state; this module runs any of
them the same way: a :class:`Handle` to a listening server (its URLs, the
``/_sim`` controls from Python), a :class:`SimulatorThread` for synchronous
clients such as the official SDKs, and :func:`run_until_signal`, the body of
every ``run_simulator`` (``sttwatch simulate --provider NAME``).
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

from .tls import TLSError, make_self_signed, server_context

__all__ = ["Handle", "SimulatorThread", "listen", "run_until_signal"]

_T = TypeVar("_T")
H = TypeVar("H", bound="Handle[Any]")


class _Book(Protocol):
    def install(self, faults: Any) -> None: ...
    def clear(self) -> None: ...


class Controlled(Protocol):
    """What a handle drives of a simulator's state: its report, reset and fault book."""

    @property
    def faults(self) -> _Book: ...
    def report(self) -> dict[str, Any]: ...
    def reset(self) -> None: ...


S = TypeVar("S", bound=Controlled)


class Handle(Generic[S]):
    """A running simulator: its URLs, state and fault controls, and how to stop it."""

    def __init__(
        self,
        runner: web.AppRunner,
        app: web.Application,
        key: web.AppKey[S],
        parse_faults: Callable[[Any], list[Any]],
        host: str,
        port: int,
        tls: bool = False,
    ) -> None:
        self._runner = runner
        self.app = app
        self._key = key
        self._parse_faults = parse_faults
        self.host = host
        self.port = port
        self.tls = tls
        self._loop = asyncio.get_running_loop()

    @property
    def state_obj(self) -> S:
        """Return the live simulator state (same process only)."""
        return self.app[self._key]

    @property
    def base_url(self) -> str:
        """Return the HTTP base URL, e.g. ``http://127.0.0.1:PORT`` (``https`` with TLS)."""
        return f"{'https' if self.tls else 'http'}://{self._netloc}"

    @property
    def ws_base(self) -> str:
        """Return the WebSocket base URL, e.g. ``ws://127.0.0.1:PORT`` (``wss`` with TLS)."""
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
    """Serve `app` on ``host:port`` (0 = any free port); return its runner and the bound port."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=tls)
    await site.start()
    return runner, int(runner.addresses[0][1])


class SimulatorThread(Generic[H]):
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


async def _serve(
    start: Callable[[ssl.SSLContext | None], Awaitable[H]],
    announce: Callable[[H], list[str]],
    tls: ssl.SSLContext | None,
    cert: Path | None,
) -> None:
    handle = await start(tls)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    lines = announce(handle)
    print(lines[0])
    if cert is not None:
        print(
            f"TLS certificate: {cert} (trust it with NODE_EXTRA_CA_CERTS={cert} "
            f"or SSL_CERT_FILE={cert})"
        )
    for line in lines[1:]:
        print(line, flush=True)
    try:
        await stop.wait()
    finally:
        await handle.close()


def run_until_signal(
    load: Callable[[], _T],
    start: Callable[[_T, ssl.SSLContext | None], Awaitable[H]],
    announce: Callable[[H], list[str]],
    *,
    where: str,
    host: str,
    port: int,
    tls: bool = False,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> int:
    """Load the scenario, serve until SIGINT/SIGTERM; return the exit code (2 = bad input).

    `load` reads the scenario (from `where`, named in its error); `start` serves it;
    `announce` gives the lines printed once listening (the first one before the TLS
    certificate's). ``tls`` makes a self-signed certificate for this run (removed on
    exit); ``tls_cert`` with ``tls_key`` serves that pair instead.
    """
    try:
        scenario = load()
    except (OSError, ValueError, yaml.YAMLError) as exc:
        # pydantic's ValidationError is a ValueError: it names the bad path.
        print(f"sttwatch simulate: invalid scenario {where}: {exc}", file=sys.stderr)
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

    async def begin(tls_context: ssl.SSLContext | None) -> H:
        return await start(scenario, tls_context)

    try:
        asyncio.run(_serve(begin, announce, context, cert))
    except OSError as exc:
        print(f"sttwatch simulate: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    finally:
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0
