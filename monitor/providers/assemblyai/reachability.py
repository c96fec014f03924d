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

import aiohttp

from monitor.models import ProbeContext, ProbeResult, ProbeTarget
from monitor.probes.aiohttp_timing import (
    ConnectionTimes,
    TimedResolver,
    TimingConnector,
    read_capped,
    record_phases,
    stage,
)
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
from monitor.providers.assemblyai.specs import ReachabilitySpec

NAME = "reachability"
# The probe's own `asyncio.timeout(spec.timeout)` is its one deadline; aiohttp's default
# (300 s total, 30 s connect) would only add two timers per run, and cut a longer timeout.
_NO_CLIENT_TIMEOUT = aiohttp.ClientTimeout()


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


async def run(target: ProbeTarget, spec: ReachabilitySpec, ctx: ProbeContext) -> ProbeResult:
    """Return the result of one authenticated transcript-list GET against `target`."""
    rec = RunRecorder(target, NAME, ctx)
    times = ConnectionTimes(ctx.clock)
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
    resolver = TimedResolver(times)
    try:
        async with asyncio.timeout(spec.timeout):
            async with (
                ctx.session_factory(
                    connector=TimingConnector(times, resolver),
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
                headers_at = times.arrived()
                rec.details["http_status"] = resp.status
                if resp.status != 200:
                    failure = from_status(resp.status, retry_after=resp.headers.get("Retry-After"))
                else:
                    body = await read_capped(resp, spec.max_body_bytes)
                    body_at = times.arrived()
                    if body is None:
                        failure = bad_response(
                            f"The transcript list body is larger than {spec.max_body_bytes} bytes"
                        )
                    else:
                        rec.details["body_bytes"] = len(body)
                        failure = _check_list(body)
    except TimeoutError:
        failure = timed_out(spec.timeout, during=stage(times, headers_at))
    except EXPECTED_ERRORS as exc:
        failure = from_exception(exc, during=stage(times, headers_at))
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
    total = end - start
    record_phases(rec.phases, times, headers_at, body_at)
    rec.phases["total"] = total
    if failure is not None:
        return rec.down(failure)
    return rec.passed(total, spec.degraded_after, "API reachable: transcript list answered")
