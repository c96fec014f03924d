"""One GET on a fresh connection, timed by phase: what every provider's reachability probe does.

Every run opens its own connector with ``force_close`` and no DNS cache
(:mod:`monitor.probes.aiohttp_timing`), so it pays, and measures, what a new
client pays: name resolution, TCP and TLS set-up, time to first byte and the
body transfer (the phases of blackbox_exporter's HTTP prober). The caller
says what the URL and headers are, what a non-200 means and whether a 200's
body is the right one; the phases and the ``total`` are the same for all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import aiohttp

from monitor.models import ProbeContext
from monitor.probes.aiohttp_timing import ConnectionTimes, TimedResolver, TimingConnector
from monitor.probes.failures import (
    EXPECTED_ERRORS,
    RESOLVING,
    Failure,
    bad_response,
    from_exception,
    from_status,
    timed_out,
)
from monitor.probes.recorder import RunRecorder

__all__ = ["CHUNK_BYTES", "default_status_failure", "read_capped", "timed_get"]

CHUNK_BYTES = 64 * 1024
# The probe's own `asyncio.timeout(timeout)` is its one deadline; aiohttp's default
# (300 s total, 30 s connect) would only add two timers per run, and cut a longer timeout.
_NO_CLIENT_TIMEOUT = aiohttp.ClientTimeout()

StatusFailure = Callable[[aiohttp.ClientResponse], Awaitable[Failure]]
BodyCheck = Callable[[bytes], "Failure | None"]


async def read_capped(resp: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """Return the body of `resp`, or None as soon as it grows beyond `limit` bytes."""
    buf = bytearray()
    async for chunk in resp.content.iter_chunked(CHUNK_BYTES):
        buf += chunk
        if len(buf) > limit:
            return None
    return bytes(buf)


async def default_status_failure(resp: aiohttp.ClientResponse) -> Failure:
    """Return what a non-200 means by its status alone (and ``Retry-After`` on a 429)."""
    return from_status(resp.status, retry_after=resp.headers.get("Retry-After"))


def _phases_from(
    rec: RunRecorder, times: ConnectionTimes, headers_at: float | None, body_at: float | None
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


def _during(times: ConnectionTimes, headers_at: float | None) -> str:
    if times.conn_end is None:
        if times.dns_start is not None and times.dns_end is None:
            return RESOLVING
        return "connecting"
    if headers_at is None:
        return "waiting for the response headers"
    return "reading the response body"


async def timed_get(
    rec: RunRecorder,
    ctx: ProbeContext,
    url: str,
    headers: Mapping[str, str],
    *,
    deadline_s: float,
    max_body_bytes: int,
    what: str,
    check: BodyCheck,
    on_status: StatusFailure = default_status_failure,
) -> Failure | None:
    """GET `url`, record the phases and ``total`` in `rec`; return the failure, or None.

    `deadline_s` bounds the whole request; `what` names the answer in messages
    ("transcript list"); `check` judges a 200's body; `on_status` turns any
    other status into a failure.
    """
    times = ConnectionTimes(ctx.clock)
    headers_at: float | None = None
    body_at: float | None = None
    failure: Failure | None = None
    resolver = TimedResolver(times)
    try:
        async with asyncio.timeout(deadline_s):
            async with (
                ctx.session_factory(
                    connector=TimingConnector(times, resolver),
                    # One request per session: a cookie could never be sent back.
                    cookie_jar=aiohttp.DummyCookieJar(),
                ) as session,
                session.get(
                    url,
                    headers=dict(headers),
                    allow_redirects=False,
                    timeout=_NO_CLIENT_TIMEOUT,
                ) as resp,
            ):
                headers_at = times.arrived()
                rec.details["http_status"] = resp.status
                if resp.status != 200:
                    failure = await on_status(resp)
                else:
                    body = await read_capped(resp, max_body_bytes)
                    body_at = times.arrived()
                    if body is None:
                        failure = bad_response(
                            f"The {what} body is larger than {max_body_bytes} bytes"
                        )
                    else:
                        rec.details["body_bytes"] = len(body)
                        failure = check(body)
    except TimeoutError:
        failure = timed_out(deadline_s, during=_during(times, headers_at))
    except EXPECTED_ERRORS as exc:
        failure = from_exception(exc, during=_during(times, headers_at))
    finally:
        # The connector does not own a resolver it was given.
        await resolver.close()
    # `total` is what the API costs a new client, and for a 200 the sum of the phases: from
    # the start of the connection (name resolution included) to the last byte read (or the
    # headers, or now, when it stopped early). The probe's own work around it (its session,
    # building the request: BENCHMARKS.md F7) is not in it, and the ends are when the bytes
    # reached the process (aiohttp_timing), not when the probe's task ran again.
    end = body_at if body_at is not None else headers_at
    if end is None or (failure is not None and body_at is None):
        end = ctx.clock.monotonic()
    start = times.conn_start if times.conn_start is not None else rec.t0
    _phases_from(rec, times, headers_at, body_at)
    rec.phases["total"] = end - start
    return failure
