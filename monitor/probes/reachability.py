"""Reachability probe: one authenticated ``GET /v2/transcript?limit=1`` on a fresh connection.

Every run opens its own connector with ``force_close`` and no DNS cache, so
it pays, and measures, what a new client pays: name resolution, TCP and TLS
set-up, time to first byte and the body transfer (the phases of
blackbox_exporter's HTTP prober). A 200 with a transcript-list body is up;
see docs/probes.md for how every other answer is classified.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import aiohttp

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


@dataclass(slots=True)
class _ConnectionTimes:
    """Monotonic timestamps collected by the aiohttp trace hooks."""

    request_start: float | None = None
    dns_start: float | None = None
    dns_end: float | None = None
    conn_start: float | None = None
    conn_end: float | None = None


def _tracer(clock: Clock, times: _ConnectionTimes) -> aiohttp.TraceConfig:
    trace = aiohttp.TraceConfig()

    async def request_start(_s: aiohttp.ClientSession, _c: SimpleNamespace, _p: Any) -> None:
        times.request_start = clock.monotonic()

    async def dns_start(_s: aiohttp.ClientSession, _c: SimpleNamespace, _p: Any) -> None:
        times.dns_start = clock.monotonic()

    async def dns_end(_s: aiohttp.ClientSession, _c: SimpleNamespace, _p: Any) -> None:
        times.dns_end = clock.monotonic()

    async def conn_start(_s: aiohttp.ClientSession, _c: SimpleNamespace, _p: Any) -> None:
        times.conn_start = clock.monotonic()

    async def conn_end(_s: aiohttp.ClientSession, _c: SimpleNamespace, _p: Any) -> None:
        times.conn_end = clock.monotonic()

    trace.on_request_start.append(request_start)
    trace.on_dns_resolvehost_start.append(dns_start)
    trace.on_dns_resolvehost_end.append(dns_end)
    trace.on_connection_create_start.append(conn_start)
    trace.on_connection_create_end.append(conn_end)
    return trace


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


def _phases_from(
    rec: RunRecorder, times: _ConnectionTimes, headers_at: float | None, body_at: float | None
) -> None:
    dns = 0.0  # an IP-literal host resolves nothing: aiohttp fires no DNS events
    if times.dns_start is not None and times.dns_end is not None:
        dns = times.dns_end - times.dns_start
    if times.dns_start is not None or times.conn_start is not None:
        rec.phases["dns"] = dns
    if times.conn_start is not None and times.conn_end is not None:
        rec.phases["connect"] = max(0.0, times.conn_end - times.conn_start - dns)
    if times.conn_end is not None and headers_at is not None:
        rec.phases["ttfb"] = headers_at - times.conn_end
    if headers_at is not None and body_at is not None:
        rec.phases["transfer"] = body_at - headers_at


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
    times = _ConnectionTimes()
    headers_at: float | None = None
    body_at: float | None = None
    failure: Failure | None = None
    url = f"{target.api_base}/v2/transcript"
    headers = {
        "Authorization": target.api_key.get_secret_value(),
        "User-Agent": ctx.user_agent,
    }
    try:
        async with asyncio.timeout(spec.timeout):
            connector = aiohttp.TCPConnector(force_close=True, use_dns_cache=False, limit=1)
            async with (
                ctx.session_factory(
                    connector=connector, trace_configs=[_tracer(ctx.clock, times)]
                ) as session,
                session.get(
                    url, params={"limit": "1"}, headers=headers, allow_redirects=False
                ) as resp,
            ):
                headers_at = ctx.clock.monotonic()
                rec.details["http_status"] = resp.status
                if resp.status != 200:
                    failure = from_status(resp.status, retry_after=resp.headers.get("Retry-After"))
                else:
                    body = await read_capped(resp, spec.max_body_bytes)
                    body_at = ctx.clock.monotonic()
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
    # `total` is what the API costs a client, as blackbox_exporter's phases add up to: from
    # the request's start to the last byte read (or the headers, or now, when it stopped
    # early) — not the building and closing of the probe's own session (BENCHMARKS.md F7).
    end = body_at if body_at is not None else headers_at
    if end is None or (failure is not None and body_at is None):
        end = ctx.clock.monotonic()
    start = times.request_start if times.request_start is not None else rec.t0
    total = end - start
    _phases_from(rec, times, headers_at, body_at)
    rec.phases["total"] = total
    if failure is not None:
        return rec.down(failure)
    return rec.passed(total, spec.degraded_after, "API reachable: transcript list answered")
