"""Reachability probe: one authenticated ``GET /v2/transcript?limit=1`` on a fresh connection.

The connection, its phases (``dns``, ``connect``, ``ttfb``, ``transfer``,
``total``) and the classification of transport errors are
:func:`monitor.probes.timed_get.timed_get`'s, shared with every provider. A 200
with a transcript-list body is up; see docs/probes.md for how every other
answer is classified.
"""

from __future__ import annotations

import json

from monitor.models import ProbeContext, ProbeResult, ProbeTarget
from monitor.probes.failures import UNREADABLE_JSON, Failure, bad_response
from monitor.probes.recorder import RunRecorder
from monitor.probes.timed_get import timed_get
from monitor.providers.assemblyai.specs import ReachabilitySpec

NAME = "reachability"


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
    # The query in the string, not as `params`: aiohttp then skips merging a query (~4 % of
    # the run's instructions). api_base carries no query of its own (config checks it).
    failure = await timed_get(
        rec,
        ctx,
        f"{target.api_base}/v2/transcript?limit=1",
        {"Authorization": target.api_key.get_secret_value(), "User-Agent": ctx.user_agent},
        deadline_s=spec.timeout,
        max_body_bytes=spec.max_body_bytes,
        what="transcript list",
        check=_check_list,
    )
    if failure is not None:
        return rec.down(failure)
    return rec.passed(
        rec.phases["total"], spec.degraded_after, "API reachable: transcript list answered"
    )
