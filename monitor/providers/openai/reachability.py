"""Reachability: one authenticated ``GET /v1/models`` on a fresh connection, and the model in it.

Timed by phase like AssemblyAI's (name resolution, connection set-up, time to
first byte, transfer; monitor/probes/aiohttp_timing.py). A 200 whose list
names the configured model is up; a list without it is ``model_missing``
(the key works, the model does not exist or this key may not use it).
``GET /v1/models`` rather than ``/v1/models/{model}``: every flavour serves
the list, not every self-hosted server serves the single model.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp

from monitor.models import ErrorKind, ProbeContext, ProbeResult, ProbeTarget
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
    remote_text,
    timed_out,
)
from monitor.probes.recorder import RunRecorder
from monitor.providers.openai.quirks import Flavour, flavour_of
from monitor.providers.openai.specs import ReachabilitySpec
from monitor.providers.openai.wire import ERROR_BODY_LIMIT, auth_headers, failure_of, url

NAME = "reachability"
UP_WORDING = "API reachable: the model list names the model"
_NO_CLIENT_TIMEOUT = aiohttp.ClientTimeout()  # the probe's own asyncio.timeout is the deadline


def check_list(body: bytes, model: str) -> tuple[Failure | None, int]:
    """Return (why `body` is not a model list naming `model`, or None; how many models it lists)."""
    try:
        data = json.loads(body)
    except UNREADABLE_JSON:
        return bad_response("The model list answer is not JSON"), 0
    listed = data.get("data") if isinstance(data, dict) else None
    if not isinstance(listed, list) or data.get("object") != "list":
        return bad_response("The model list answer is not a list object with data (wrong shape)"), 0
    ids = [m.get("id") for m in listed if isinstance(m, dict)]
    if model in ids:
        return None, len(listed)
    sample = ", ".join(remote_text(i, 60) for i in ids[:5] if isinstance(i, str))
    more = f" (it lists {len(ids)}: {sample}{', ...' if len(ids) > 5 else ''})" if ids else ""
    return (
        Failure(
            ErrorKind.MODEL_MISSING,
            f"API reachable, but the model {model!r} is not in its model list{more}",
            {"model": model},
        ),
        len(listed),
    )


async def run(target: ProbeTarget, spec: ReachabilitySpec, ctx: ProbeContext) -> ProbeResult:
    """Return the result of one authenticated model-list GET against `target`."""
    flavour: Flavour = flavour_of(target, spec.flavour)
    model = spec.model or flavour.default_model
    rec = RunRecorder(target, NAME, ctx)
    rec.details["flavour"] = flavour.name
    rec.details["model"] = model
    times = ConnectionTimes(ctx.clock)
    headers_at: float | None = None
    body_at: float | None = None
    failure: Failure | None = None
    resolver = TimedResolver(times)
    try:
        async with asyncio.timeout(spec.timeout):
            async with (
                ctx.session_factory(
                    connector=TimingConnector(times, resolver),
                    cookie_jar=aiohttp.DummyCookieJar(),
                ) as session,
                session.get(
                    url(target, "/models"),
                    headers=auth_headers(target, ctx.user_agent),
                    allow_redirects=False,
                    timeout=_NO_CLIENT_TIMEOUT,
                ) as resp,
            ):
                headers_at = times.arrived()
                rec.details["http_status"] = resp.status
                limit = spec.max_body_bytes if resp.status == 200 else ERROR_BODY_LIMIT
                body = await read_capped(resp, limit)
                body_at = times.arrived()
                if resp.status != 200:
                    failure = failure_of(
                        flavour,
                        resp.status,
                        body or b"",
                        during="listing the models",
                        retry_after=resp.headers.get("Retry-After"),
                    )
                elif body is None:
                    failure = bad_response(
                        f"The model list body is larger than {spec.max_body_bytes} bytes"
                    )
                else:
                    rec.details["body_bytes"] = len(body)
                    failure, count = check_list(body, model)
                    rec.details["models"] = count
    except TimeoutError:
        failure = timed_out(spec.timeout, during=stage(times, headers_at))
    except EXPECTED_ERRORS as exc:
        failure = from_exception(exc, during=stage(times, headers_at))
    finally:
        await resolver.close()
    # As AssemblyAI's: from the start of the connection to the last byte read.
    end = body_at if body_at is not None else headers_at
    if end is None or (failure is not None and body_at is None):
        end = ctx.clock.monotonic()
    start = times.conn_start if times.conn_start is not None else rec.t0
    total = end - start
    record_phases(rec.phases, times, headers_at, body_at)
    rec.phases["total"] = total
    if failure is not None:
        return rec.down(failure)
    return rec.passed(total, spec.degraded_after, UP_WORDING)
