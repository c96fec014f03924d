"""Connection-level timing of one aiohttp request: the one module that leans on aiohttp internals.

The reachability probe reports when name resolution, TCP and TLS set-up, the
first and the last byte of the answer happened, stamped as the bytes reach the
process, not when the probe's task is scheduled again: a busy event loop must
not show up as a slow API. aiohttp's public TraceConfig signals
(``on_connection_create_end``, ``on_request_end``, ``on_response_chunk_received``)
all fire from the requesting task, after it wakes, so they carry the loop's
delay; and a session with trace configs awaits a signal at every step of every
request, hooked or not (~6 % of a run's instructions). Hence this module:

- :class:`TimedResolver` wraps aiohttp's public ``DefaultResolver`` (public API);
- :class:`TimingConnector` subclasses the public ``TCPConnector``, overrides its
  ``connect`` (aiohttp's own signature, typed with internal names) and replaces
  its private ``_factory``, the protocol factory every connection is built
  with (no public hook since 1.x), by one that builds a subclass of the
  internal ``aiohttp.client_proto.ResponseHandler`` stamping
  ``connection_made`` and ``data_received``.

What it relies on is pinned in pyproject.toml to the aiohttp releases it was
proven on, and tests/probes/test_aiohttp_timing_contract.py fails with what to check
when aiohttp is upgraded past them or changes one of these internals.
"""

from __future__ import annotations

import asyncio
import functools
import socket
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_proto import ResponseHandler
from aiohttp.connector import Connection
from aiohttp.tracing import Trace

from monitor.models import Clock

__all__ = ["ConnectionTimes", "TimedResolver", "TimingConnector", "WireStampingHandler"]


@dataclass(slots=True)
class ConnectionTimes:
    """Monotonic timestamps of one request, noted by its resolver, connector and protocol."""

    clock: Clock
    dns_start: float | None = None
    dns_end: float | None = None
    conn_start: float | None = None
    conn_end: float | None = None
    # Stamped by WireStampingHandler as the bytes reach the process, before the
    # requesting task is scheduled again: what a wait costs the event loop stays out.
    connected_at: float | None = None
    first_byte_at: float | None = None
    last_byte_at: float | None = None

    def arrived(self) -> float:
        """Return when the bytes read so far reached the process (now, if none was stamped)."""
        return self.last_byte_at if self.last_byte_at is not None else self.clock.monotonic()


class TimedResolver(AbstractResolver):
    """aiohttp's default resolver, noting when each lookup starts and ends.

    aiohttp asks it only for host names (an IP literal is not resolved), once per
    request, since a TimingConnector caches nothing.
    """

    def __init__(self, times: ConnectionTimes) -> None:
        self._times = times
        self._inner = aiohttp.DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        """Return the addresses of `host`, as the default resolver does."""
        self._times.dns_start = self._times.clock.monotonic()
        addresses = await self._inner.resolve(host, port, family)
        self._times.dns_end = self._times.clock.monotonic()
        return addresses

    async def close(self) -> None:
        """Release the default resolver."""
        await self._inner.close()


class WireStampingHandler(ResponseHandler):
    """aiohttp's response protocol, noting when the connection is up and when bytes arrive.

    `connection_made` runs once TCP (and TLS) set-up is done and `data_received` as
    soon as the event loop reads the socket (decrypted bytes, under TLS), so these
    stamps leave out the wake-up of the requesting task and aiohttp's work between
    the socket and the caller.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, times: ConnectionTimes) -> None:
        super().__init__(loop)
        self._times = times

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Note when the connection came up, then let aiohttp set it up."""
        self._times.connected_at = self._times.clock.monotonic()
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        """Note when these bytes arrived, then let aiohttp parse them."""
        if data:
            now = self._times.clock.monotonic()
            if self._times.first_byte_at is None:
                self._times.first_byte_at = now
            self._times.last_byte_at = now
        super().data_received(data)


def _stamping_handler(*, times: ConnectionTimes) -> ResponseHandler:
    # Called by the event loop's create_connection, so inside the running loop (the
    # connector's own loop attribute is private too).
    return WireStampingHandler(asyncio.get_running_loop(), times)


class TimingConnector(aiohttp.TCPConnector):
    """A single-use connector: a fresh connection, no DNS cache, every stamp into `times`."""

    def __init__(self, times: ConnectionTimes, resolver: TimedResolver) -> None:
        super().__init__(force_close=True, use_dns_cache=False, limit=1, resolver=resolver)
        self._times = times
        # aiohttp builds every connection's protocol with this private attribute.
        # Were it renamed, the phases would fall back to the connector's own stamps;
        # the contract test catches that before a release does.
        self._factory = functools.partial(_stamping_handler, times=times)

    async def connect(
        self,
        req: aiohttp.ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's signature)
    ) -> Connection:
        """Return a new connection to `req`'s host, noting when getting it started and ended."""
        self._times.conn_start = self._times.clock.monotonic()
        connection = await super().connect(req, traces, timeout)
        self._times.conn_end = self._times.clock.monotonic()
        return connection
