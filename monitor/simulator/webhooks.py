"""Webhook delivery: when a job ends, POST ``{"transcript_id", "status"}`` to its ``webhook_url``.

The policy is AssemblyAI's documented one, with the scenario's numbers
(``webhooks:``): a 2xx within ``timeout_ms`` is a delivery; anything else is
retried every ``retry_interval_ms`` up to ``attempts`` attempts in all,
except a 4xx, which ends them. ``webhook_status_code`` on the transcript is
the status of the last answer received. Faults (endpoint ``webhook``) are
drawn once per job, when the job is created.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

import aiohttp

from .scenario import WEBHOOK_ACTIONS, Fault, WebhookOptions
from .transcripts import Job

if TYPE_CHECKING:
    from .state import SimState

# How often a delivery waiting for its job looks at the job's status.
_POLL_S = 0.02
WRONG_AUTH_PREFIX = "wrong-"
# A `malformed` `wrong_shape` notification: valid JSON, but not a TranscriptReadyNotification.
WRONG_SHAPE_NOTIFICATION = {"event": "transcript.ready", "data": {}}


def notification(job: Job, status: str) -> dict[str, Any]:
    """Return the ``TranscriptReadyNotification`` body for ``job``."""
    return {"transcript_id": job.id, "status": status}


def payload(job: Job, status: str, faults: list[Fault]) -> bytes:
    """Return the notification's bytes as the faults spoil them (``wrong_id``, ``malformed``)."""
    body = notification(job, status)
    if any(fault.action == "wrong_id" for fault in faults):
        body["transcript_id"] = str(uuid.uuid4())
    spoiled = next((f.body_kind for f in faults if f.action == "malformed"), None)
    if spoiled == "not_json":
        return b"<html>not json</html>"
    if spoiled == "wrong_shape":
        return json.dumps(WRONG_SHAPE_NOTIFICATION).encode()
    data = json.dumps(body).encode()
    return data[: len(data) // 2] if spoiled == "truncated" else data


def auth_headers(params: dict[str, Any], wrong: bool, absent: bool = False) -> dict[str, str]:
    """Return the custom auth header the job asked for (spoiled if `wrong`, none if `absent`)."""
    name = params.get("webhook_auth_header_name")
    value = params.get("webhook_auth_header_value")
    if not name or value is None or absent:
        return {}
    return {name: WRONG_AUTH_PREFIX + value if wrong else value}


async def _until_finished(job: Job, state: SimState) -> str | None:
    """Return the job's terminal status once it has one (None if it never will)."""
    while True:
        status = job.status(state.clock())
        if status in {"completed", "error"}:
            return status
        if job.deleted:
            return None  # deleted while running: frozen, never finishes
        await asyncio.sleep(_POLL_S)


async def post(
    session: aiohttp.ClientSession,
    job: Job,
    body: bytes,
    headers: dict[str, str],
    options: WebhookOptions,
    counts: Counter[str],
) -> None:
    """POST `body` (JSON bytes) to the job's webhook with the documented retries; record answers."""
    url = job.params["webhook_url"]
    headers = {"Content-Type": "application/json", **headers}
    timeout = aiohttp.ClientTimeout(total=options.timeout_ms / 1000)
    for attempt in range(1, options.attempts + 1):
        counts["attempts"] += 1
        try:
            async with session.post(url, data=body, headers=headers, timeout=timeout) as response:
                await response.read()
                code = response.status
        except (TimeoutError, aiohttp.ClientError, ValueError):
            code = None  # unreachable or too slow: no status to record
        if code is not None:
            job.webhook_status_code = code
            if 200 <= code < 300:
                counts["delivered"] += 1
                return
            if 400 <= code < 500:
                break  # documented: a 4xx is final
        if attempt < options.attempts:
            await asyncio.sleep(options.retry_interval_ms / 1000)
    counts["failed"] += 1


async def deliver(job: Job, faults: list[Fault], state: SimState) -> None:
    """Wait for ``job`` to end, then notify its webhook as the faults say."""
    actions = {fault.action for fault in faults}
    if "early" in actions:
        # Told before a GET can show it; a download still running decides the outcome first.
        if job.download is not None:
            await asyncio.wait([job.download])
        status: str | None = job.outcome
    else:
        status = await _until_finished(job, state)
        if status is None:
            return
    # Once the receiver has been told, the outcome may not change any more.
    job.terminal_seen = True
    for fault in faults:
        if fault.action == "delay":
            await asyncio.sleep((fault.delay_ms or 0) / 1000)
    assert status is not None
    body = payload(job, status, faults)
    headers = auth_headers(job.params, wrong="wrong_auth" in actions, absent="no_auth" in actions)
    session = state.outbound.session()
    options = state.scenario.webhooks
    await post(session, job, body, headers, options, state.webhook_counts)
    if "duplicate" in actions:
        await post(session, job, body, headers, options, state.webhook_counts)


def schedule(job: Job, state: SimState) -> None:
    """Draw the webhook faults for a new job and start its delivery in the background."""
    if not job.params.get("webhook_url"):
        return
    shared = {"delay", "malformed"}
    faults = state.faults.pick(
        "webhook", WEBHOOK_ACTIONS | shared, stackable=(WEBHOOK_ACTIONS - {"drop"}) | shared
    )
    state.webhook_counts["scheduled"] += 1
    if any(fault.action == "drop" for fault in faults):
        state.webhook_counts["dropped"] += 1
        return
    state.outbound.spawn(deliver(job, faults, state))
