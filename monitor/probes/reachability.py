"""Reachability probe: one authenticated ``GET /v2/transcript?limit=1`` on a fresh connection.

Every run opens its own connector with ``force_close`` and no DNS cache, so
it pays, and measures, what a new client pays: name resolution, TCP and TLS
set-up, time to first byte and the body transfer (the phases of
blackbox_exporter's HTTP prober). A 200 with a transcript-list body is up;
see docs/probes.md for how every other answer is classified.
"""

from __future__ import annotations

import asyncio
import functools
import json
import socket
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ClientRequest
from aiohttp.connector import Connection
from aiohttp.resolver import DefaultResolver
from aiohttp.tracing import Trace

from monitor.config import ReachabilitySpec, Target
from monitor.models import Clock, ProbeContext, ProbeResult
from monitor.probes.failures import (
    EXPECTED_ERRORS,
    UNREADABLE_JSON,
    Failure,
    bad_response,
    from_exception,
    from_status,
    timed_out,
)
from monitor.probes.recorder import RunRecorder

NAME = "reachability"
CHUNK_BYTES = 64 * 1024
# The probe's own `asyncio.timeout(spec.timeout)` is its one deadline; aiohttp's default
# (300 s total, 30 s connect) would only add two timers per run, and cut a longer timeout.
_NO_CLIENT_TIMEOUT = aiohttp.ClientTimeout()


@dataclass(slots=True)
class _ConnectionTimes:
    """Monotonic timestamps of one run, noted by the probe's resolver, connector and protocol."""

    clock: Clock
    dns_start: float | None = None
    dns_end: float | None = None
    conn_start: float | None = None
    conn_end: float | None = None
    # Stamped by _WireStampingHandler as the bytes reach the process, before the probe's
    # task is scheduled again: what a wait costs the event loop stays out of the phases.
    connected_at: float | None = None
    first_byte_at: float | None = None
    last_byte_at: float | None = None


class _TimedResolver(AbstractResolver):
    """aiohttp's default resolver, noting when each lookup starts and ends.

    aiohttp asks it only for host names (an IP literal is not resolved), once per run,
    since the probe's connector caches nothing.
    """

    def __init__(self, times: _ConnectionTimes) -> None:
        self._times = times
        self._inner = DefaultResolver()

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


class _WireStampingHandler(ResponseHandler):
    """aiohttp's response protocol, noting when the connection is up and when bytes arrive.

    `connection_made` runs once TCP (and TLS) set-up is done and `data_received` as soon as
    the event loop reads the socket (decrypted bytes, under TLS), so these stamps leave out
    the wake-up of the probe's task and aiohttp's work between the socket and the caller.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, times: _ConnectionTimes) -> None:
        super().__init__(loop)
        self._times = times

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._times.connected_at = self._times.clock.monotonic()
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if data:
            now = self._times.clock.monotonic()
            if self._times.first_byte_at is None:
                self._times.first_byte_at = now
            self._times.last_byte_at = now
        super().data_received(data)


def _stamping_handler(loop: asyncio.AbstractEventLoop, times: _ConnectionTimes) -> ResponseHandler:
    return _WireStampingHandler(loop, times)


class _ProbeConnector(aiohttp.TCPConnector):
    """A single-use connector: a fresh connection, no DNS cache, every stamp into `times`.

    The stamps come from the connector, its resolver and its protocol rather than from an
    aiohttp TraceConfig: a session with trace configs awaits a signal at every step of
    every request, hooked or not (~6 % of a run's instructions).
    """

    def __init__(self, times: _ConnectionTimes, resolver: _TimedResolver) -> None:
        super().__init__(force_close=True, use_dns_cache=False, limit=1, resolver=resolver)
        self._times = times
        # aiohttp builds every connection's protocol with `_factory` (since 1.x, no public
        # hook). Were it renamed, the phases would fall back to the connector's and the
        # task's own stamps, and tests/test_reachability_timing.py would fail.
        self._factory = functools.partial(_stamping_handler, loop=self._loop, times=times)

    async def connect(
        self,
        req: ClientRequest,
        traces: list[Trace],
        timeout: aiohttp.ClientTimeout,  # noqa: ASYNC109 (aiohttp's signature)
    ) -> Connection:
        """Return a new connection to `req`'s host, noting when getting it started and ended."""
        self._times.conn_start = self._times.clock.monotonic()
        connection = await super().connect(req, traces, timeout)
        self._times.conn_end = self._times.clock.monotonic()
        return connection


async def read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """Return the body of `resp`, or None as soon as it grows beyond `limit` bytes."""
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
        buf += chunk
        if len(buf) > limit:
            return None
    return bytes(buf)


def _check_list(body: bytes) -> Failure | None:
    """Return why `body` is not a transcript list page, or None when it is one."""
    try:
        data = json.loads(body)
    except UNREADABLE_JSON:
        return bad_response("The transcript list answer is not JSON")
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("page_details"), dict)
        or not isinstance(data.get("transcripts"), list)
    ):
        return bad_response(
            "The transcript list answer lacks page_details/transcripts (wrong shape)"
        )
    return None


def _arrived(times: _ConnectionTimes) -> float:
    """Return when the bytes read so far reached the process (now, if none was stamped)."""
    return times.last_byte_at if times.last_byte_at is not None else times.clock.monotonic()


def _phases_from(
    rec: RunRecorder, times: _ConnectionTimes, headers_at: float | None, body_at: float | None
) -> None:
    dns = 0.0  # an IP-literal host resolves nothing: aiohttp fires no DNS events
    if times.dns_start is not None and times.dns_end is not None:
        dns = times.dns_end - times.dns_start
    if times.dns_start is not None or times.conn_start is not None:
        rec.phases["dns"] = dns
    connected = times.connected_at if times.connected_at is not None else times.conn_end
    if times.conn_start is not None and connected is not None:
        rec.phases["connect"] = max(0.0, connected - times.conn_start - dns)
    first_byte = times.first_byte_at if times.first_byte_at is not None else headers_at
    if connected is not None and first_byte is not None:
        rec.phases["ttfb"] = first_byte - connected
    if first_byte is not None and body_at is not None:
        rec.phases["transfer"] = body_at - first_byte


def _during(times: _ConnectionTimes, headers_at: float | None) -> str:
    if times.conn_end is None:
        if times.dns_start is not None and times.dns_end is None:
            return "resolving the host name"
        return "connecting"
    if headers_at is None:
        return "waiting for the response headers"
    return "reading the response body"


async def run(target: Target, spec: ReachabilitySpec, ctx: ProbeContext) -> ProbeResult:
    """Return the result of one authenticated transcript-list GET against `target`."""
    rec = RunRecorder(target, NAME, ctx)
    times = _ConnectionTimes(ctx.clock)
    headers_at: float | None = None
    body_at: float | None = None
    failure: Failure | None = None
    # The query in the string, not as `params`: aiohttp then skips merging a query (~4 % of
    # the run's instructions). api_base carries no query of its own (config checks it).
    url = f"{target.api_base}/v2/transcript?limit=1"
    headers = {
        "Authorization": target.api_key.get_secret_value(),
        "User-Agent": ctx.user_agent,
    }
    resolver = _TimedResolver(times)
    try:
        async with asyncio.timeout(spec.timeout):
            async with (
                ctx.session_factory(
                    connector=_ProbeConnector(times, resolver),
                    # One request per session: a cookie could never be sent back.
                    cookie_jar=aiohttp.DummyCookieJar(),
                ) as session,
                session.get(
                    url,
                    headers=headers,
                    allow_redirects=False,
                    timeout=_NO_CLIENT_TIMEOUT,
                ) as resp,
            ):
                headers_at = _arrived(times)
                rec.details["http_status"] = resp.status
                if resp.status != 200:
                    failure = from_status(resp.status, retry_after=resp.headers.get("Retry-After"))
                else:
                    body = await read_capped(resp, spec.max_body_bytes)
                    body_at = _arrived(times)
                    if body is None:
                        failure = bad_response(
                            f"The transcript list body is larger than {spec.max_body_bytes} bytes"
                        )
                    else:
                        rec.details["body_bytes"] = len(body)
                        failure = _check_list(body)
    except TimeoutError:
        failure = timed_out(spec.timeout, during=_during(times, headers_at))
    except EXPECTED_ERRORS as exc:
        failure = from_exception(exc, during=_during(times, headers_at))
    finally:
        # The connector does not own a resolver it was given.
        await resolver.close()
    # `total` is what the API costs a new client, and for a 200 the sum of the phases: from
    # the start of the connection (name resolution included) to the last byte read (or the
    # headers, or now, when it stopped early). The probe's own work around it (its session,
    # building the request: BENCHMARKS.md F7) is not in it, and the ends are when the bytes
    # reached the process (_WireStampingHandler), not when the probe's task ran again.
    end = body_at if body_at is not None else headers_at
    if end is None or (failure is not None and body_at is None):
        end = ctx.clock.monotonic()
    start = times.conn_start if times.conn_start is not None else rec.t0
    total = end - start
    _phases_from(rec, times, headers_at, body_at)
    rec.phases["total"] = total
    if failure is not None:
        return rec.down(failure)
    return rec.passed(total, spec.degraded_after, "API reachable: transcript list answered")
