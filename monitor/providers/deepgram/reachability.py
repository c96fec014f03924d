"""Reachability probe: one authenticated ``GET /v1/projects`` on a fresh connection.

It proves name resolution, TLS, Deepgram's edge and the key, and costs
nothing (it is not an inference call). The connection and its phases are
:func:`monitor.probes.timed_get.timed_get`'s; a 200 with a ``projects`` list
is up. Error answers keep the API's sentence (``api_error``) and its
``dg-request-id``.
"""

from __future__ import annotations

import json

from monitor.models import ProbeContext, ProbeResult, ProbeTarget
from monitor.probes.failures import UNREADABLE_JSON, Failure, bad_response
from monitor.probes.recorder import RunRecorder
from monitor.probes.timed_get import timed_get
from monitor.providers.deepgram.specs import ReachabilitySpec
from monitor.providers.deepgram.wire import auth_headers, response_failure

NAME = "reachability"
PROJECTS_PATH = "/v1/projects"


def _check_projects(body: bytes) -> Failure | None:
    """Return why `body` is not a project list, or None when it is one."""
    try:
        data = json.loads(body)
    except UNREADABLE_JSON:
        return bad_response("The project list answer is not JSON")
    if not isinstance(data, dict) or not isinstance(data.get("projects"), list):
        return bad_response("The project list answer has no projects list (wrong shape)")
    return None


def _check_json(body: bytes) -> Failure | None:
    """Return why `body` (of a configured path) is not JSON, or None."""
    try:
        json.loads(body)
    except UNREADABLE_JSON:
        return bad_response("The answer is not JSON")
    return None


async def run(target: ProbeTarget, spec: ReachabilitySpec, ctx: ProbeContext) -> ProbeResult:
    """Return the result of one authenticated project-list GET against `target`."""
    rec = RunRecorder(target, NAME, ctx)
    projects = spec.path == PROJECTS_PATH
    failure = await timed_get(
        rec,
        ctx,
        f"{target.api_base}{spec.path}",
        auth_headers(target, ctx.user_agent),
        deadline_s=spec.timeout,
        max_body_bytes=spec.max_body_bytes,
        what="project list" if projects else spec.path,
        check=_check_projects if projects else _check_json,
        on_status=response_failure,
    )
    if failure is not None:
        return rec.down(failure)
    what = "project list" if projects else spec.path
    return rec.passed(rec.phases["total"], spec.degraded_after, f"API reachable: {what} answered")
