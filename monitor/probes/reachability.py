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
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp.client_proto import ResponseHandler

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
    """Monotonic timestamps of one run: from the trace hooks and from the connection's protocol."""

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


def _times(trace_ctx: SimpleNamespace) -> _ConnectionTimes:
    times: _ConnectionTimes = trace_ctx.trace_request_ctx
    return times


async def _on_dns_start(_s: aiohttp.ClientSession, c: SimpleNamespace, _p: Any) -> None:
    times = _times(c)
    times.dns_start = times.clock.monotonic()


async def _on_dns_end(_s: aiohttp.ClientSession, c: SimpleNamespace, _p: Any) -> None:
    times = _times(c)
    times.dns_end = times.clock.monotonic()


async def _on_conn_start(_s: aiohttp.ClientSession, c: SimpleNamespace, _p: Any) -> None:
    times = _times(c)
    times.conn_start = times.clock.monotonic()


async def _on_conn_end(_s: aiohttp.ClientSession, c: SimpleNamespace, _p: Any) -> None:
    times = _times(c)
    times.conn_end = times.clock.monotonic()


def _build_tracer() -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()
    trace.on_dns_resolvehost_start.append(_on_dns_start)
    trace.on_dns_resolvehost_end.append(_on_dns_end)
    trace.on_connection_create_start.append(_on_conn_start)
    trace.on_connection_create_end.append(_on_conn_end)
    trace.freeze()
    return trace


# One frozen TraceConfig for every run: each request carries its own _ConnectionTimes as
# `trace_request_ctx`, so runs share no state (building one per run cost ~12 µs of CPU).
_TRACER = _build_tracer()


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
    """A single-use connector: a fresh connection, no DNS cache, wire stamps into `times`."""

    def __init__(self, times: _ConnectionTimes) -> None:
        super().__init__(force_close=True, use_dns_cache=False, limit=1)
        # aiohttp builds every connection's protocol with `_factory` (since 1.x, no public
        # hook). Were it renamed, the phases would fall back to the trace hooks and the
        # task's own stamps, and tests/test_reachability_timing.py would fail.
        self._factory = functools.partial(_stamping_handler, loop=self._loop, times=times)


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
    try:
        async with asyncio.timeout(spec.timeout):
            async with (
                ctx.session_factory(
                    connector=_ProbeConnector(times),
                    trace_configs=[_TRACER],
                    # One request per session: a cookie could never be sent back.
                    cookie_jar=aiohttp.DummyCookieJar(),
                ) as session,
                session.get(
                    url,
                    headers=headers,
                    allow_redirects=False,
                    timeout=_NO_CLIENT_TIMEOUT,
                    trace_request_ctx=times,
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
