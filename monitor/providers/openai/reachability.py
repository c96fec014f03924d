"""Reachability: one authenticated ``GET /v1/models`` on a fresh connection, and the model in it.

Timed by phase like every provider's (name resolution, connection set-up, time
to first byte, transfer: monitor/probes/timed_get.py). A 200 whose list
names the configured model is up; a list without it is ``model_missing``
(the key works, the model does not exist or this key may not use it).
``GET /v1/models`` rather than ``/v1/models/{model}``: every flavour serves
the list, not every self-hosted server serves the single model.
"""

from __future__ import annotations

import json

import aiohttp

from monitor.models import ErrorKind, ProbeContext, ProbeResult, ProbeTarget
from monitor.probes.failures import UNREADABLE_JSON, Failure, bad_response, remote_text
from monitor.probes.recorder import RunRecorder
from monitor.probes.timed_get import read_capped, timed_get
from monitor.providers.openai.quirks import Flavour, flavour_of
from monitor.providers.openai.specs import ReachabilitySpec
from monitor.providers.openai.wire import ERROR_BODY_LIMIT, auth_headers, failure_of, url

NAME = "reachability"
UP_WORDING = "API reachable: the model list names the model"


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

    def check(body: bytes) -> Failure | None:
        failure, rec.details["models"] = check_list(body, model)
        return failure

    async def on_status(resp: aiohttp.ClientResponse) -> Failure:
        body = await read_capped(resp, ERROR_BODY_LIMIT)
        return failure_of(
            flavour,
            resp.status,
            body or b"",
            during="listing the models",
            retry_after=resp.headers.get("Retry-After"),
        )

    failure = await timed_get(
        rec,
        ctx,
        url(target, "/models"),
        auth_headers(target, ctx.user_agent),
        deadline_s=spec.timeout,
        max_body_bytes=spec.max_body_bytes,
        what="model list",
        check=check,
        on_status=on_status,
    )
    if failure is not None:
        return rec.down(failure)
    return rec.passed(rec.phases["total"], spec.degraded_after, UP_WORDING)
