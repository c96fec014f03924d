"""AssemblyAI's transcript REST API as the transcription probe and the janitor use it.

Calls with their failure classification, transcript look-up, deletion and its
confirmation (a deleted transcript reads "Deleted by user.",
docs/protocol-assemblyai.md §1.2),
the search of the transcript list by upload URL, and the deletion ledger's
submission markers.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, TypeGuard

import aiohttp

from monitor.models import Clock, ProbeTarget
from monitor.probes.failures import (
    EXPECTED_ERRORS,
    UNREADABLE_JSON,
    Failure,
    bad_response,
    from_exception,
    from_status,
)

log = logging.getLogger(__name__)

DELETED_TEXT = "Deleted by user."
DELETED_URL = "http://deleted_by_user"
TERMINAL = frozenset({"completed", "error"})
RUNNING = frozenset({"queued", "processing"})
# Statuses with which the API says "no such transcript": 400 or 404
# (docs/protocol-assemblyai.md §1.2).
GONE_STATUSES = frozenset({400, 404})
MAX_BODY_BYTES = 4 * 1024 * 1024
BACKOFF = 1.5
CLEANUP_MAX_S = 5.0
MAX_UPLOAD_URL = 2048
SETTLE_POLL_S = 0.25

SUBMISSION_PREFIX = "submitted:"
"""Ledger ids starting with this are submission markers, not transcript ids."""


def submission_marker(upload_url: str) -> str:
    """Return the ledger id that stands for "a job made from `upload_url` may exist"."""
    return SUBMISSION_PREFIX + upload_url


def marked_upload(ledger_id: str) -> str | None:
    """Return the upload URL a submission marker stands for, or None for a transcript id."""
    return ledger_id[len(SUBMISSION_PREFIX) :] if ledger_id.startswith(SUBMISSION_PREFIX) else None


# Transcript ids are UUIDs. An id is used in request URLs, stored in the deletion
# ledger and shown in results and alerts, so one that is anything but letters,
# digits, "-" and "_" (markup, "../", "?", bidi controls) is refused, never used.
_TRANSCRIPT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


def plausible_id(value: object) -> TypeGuard[str]:
    """Return True when `value` can be a transcript id (1–128 letters, digits, "-", "_")."""
    return isinstance(value, str) and _TRANSCRIPT_ID.fullmatch(value) is not None


def auth_headers(target: ProbeTarget, ctx_user_agent: str) -> dict[str, str]:
    return {"Authorization": target.api_key.get_secret_value(), "User-Agent": ctx_user_agent}


async def _read_json(resp: aiohttp.ClientResponse, during: str) -> dict[str, Any] | Failure:
    """Return the JSON object body of `resp`, or the bad_response failure it is."""
    body = bytearray()
    async for chunk in resp.content.iter_chunked(64 * 1024):
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return bad_response(f"The answer is larger than {MAX_BODY_BYTES} bytes", during=during)
    try:
        data = json.loads(body)
    except UNREADABLE_JSON:
        return bad_response("The answer is not JSON", during=during)
    if not isinstance(data, dict):
        return bad_response("The answer is not a JSON object", during=during)
    return data


async def _api_error(resp: aiohttp.ClientResponse) -> object:
    """Return the ``error`` string of an error body, or None (5xx bodies may be anything)."""
    try:
        raw = await resp.content.read(16 * 1024)
        data = json.loads(raw)
    except (aiohttp.ClientError, ValueError, RecursionError):  # UNREADABLE_JSON too
        return None
    return data.get("error") if isinstance(data, dict) else None


async def call_api(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    during: str,
    details: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any] | Failure:
    """Return the JSON object a 200 answer carries, or the failure any other answer is."""
    async with session.request(method, url, allow_redirects=False, **kwargs) as resp:
        if details is not None:
            details["http_status"] = resp.status
        if resp.status != 200:
            api_error = await _api_error(resp) if resp.status < 500 else None
            return from_status(
                resp.status,
                during=during,
                retry_after=resp.headers.get("Retry-After"),
                api_error=api_error,
            )
        return await _read_json(resp, during)


# ---------------------------------------------------------------------------
# Looking up and deleting a transcript (shared with the janitor)


@dataclass(frozen=True, slots=True)
class Lookup:
    """What a GET of one transcript showed."""

    status: str | None = None
    gone: bool = False
    scrubbed: bool = False
    failure: Failure | None = None


def _is_scrubbed(body: dict[str, Any]) -> bool:
    return body.get("text") == DELETED_TEXT and body.get("audio_url") == DELETED_URL


async def lookup_transcript(
    session: aiohttp.ClientSession, target: ProbeTarget, transcript_id: str, user_agent: str
) -> Lookup:
    """Return what ``GET /v2/transcript/{id}`` shows: status, gone, scrubbed, or a failure."""
    url = f"{target.api_base}/v2/transcript/{transcript_id}"
    try:
        async with session.get(
            url, headers=auth_headers(target, user_agent), allow_redirects=False
        ) as resp:
            if resp.status in GONE_STATUSES:
                return Lookup(gone=True)
            if resp.status != 200:
                return Lookup(failure=from_status(resp.status, during="reading the transcript"))
            data = await _read_json(resp, "reading the transcript")
    except EXPECTED_ERRORS as exc:
        return Lookup(failure=from_exception(exc, during="reading the transcript"))
    if isinstance(data, Failure):
        return Lookup(failure=data)
    status = data.get("status")
    return Lookup(status=status if isinstance(status, str) else None, scrubbed=_is_scrubbed(data))


@dataclass(frozen=True, slots=True)
class DeletionOutcome:
    """How an attempt to delete one transcript ended."""

    deleted: bool
    error: str | None = None
    running: str | None = None  # the job's status when it was left alone, still running
    http_status: int | None = None
    delete_s: float | None = None
    confirm_s: float | None = None


async def delete_and_confirm(
    session: aiohttp.ClientSession,
    target: ProbeTarget,
    transcript_id: str,
    clock: Clock,
    user_agent: str,
) -> DeletionOutcome:
    """Return whether DELETE, then a read-back GET, show the transcript scrubbed or gone."""
    url = f"{target.api_base}/v2/transcript/{transcript_id}"
    delete_status: int | None = None
    delete_error: str | None = None
    t0 = clock.monotonic()
    try:
        async with session.delete(
            url, headers=auth_headers(target, user_agent), allow_redirects=False
        ) as resp:
            delete_status = resp.status
            if resp.status != 200:
                # Kept even for 400/404 (maybe "already gone"): the read-back decides,
                # and if the transcript is still there this says why.
                api_error = await _api_error(resp) if resp.status < 500 else None
                delete_error = from_status(
                    resp.status, during="deleting the transcript", api_error=api_error
                ).message
    except EXPECTED_ERRORS as exc:
        delete_error = from_exception(exc, during="deleting the transcript").message
    t1 = clock.monotonic()
    # The read-back decides: a DELETE that answered 500 may still have worked,
    # and one that answered 200 may not have (docs/protocol-assemblyai.md §1.6 scrubbed object).
    seen = await lookup_transcript(session, target, transcript_id, user_agent)
    t2 = clock.monotonic()

    def outcome(deleted: bool, error: str | None = None) -> DeletionOutcome:
        return DeletionOutcome(
            deleted=deleted,
            error=error,
            http_status=delete_status,
            delete_s=t1 - t0,
            confirm_s=t2 - t1,
        )

    if seen.gone or seen.scrubbed:
        return outcome(True)
    if delete_error is not None:
        return outcome(False, delete_error)
    if seen.failure is not None:
        return outcome(False, f"Deletion not confirmed: {seen.failure.message}")
    running = f" (status {seen.status})" if seen.status in RUNNING else ""
    return outcome(
        False,
        "Deletion not confirmed: a read-back still shows the transcript's text or audio URL"
        + running,
    )


async def remove_transcript(
    session: aiohttp.ClientSession,
    target: ProbeTarget,
    transcript_id: str,
    clock: Clock,
    user_agent: str,
    *,
    known_terminal: bool = False,
    wait_s: float = 0.0,
    delete_running: bool = False,
) -> DeletionOutcome:
    """Return the outcome of deleting `transcript_id` once its job is terminal.

    A running job is polled for up to `wait_s` seconds and otherwise left
    alone (``running`` says its status) unless `delete_running` is set.
    """
    if not known_terminal:
        deadline = clock.monotonic() + wait_s
        while True:
            seen = await lookup_transcript(session, target, transcript_id, user_agent)
            if seen.gone or seen.scrubbed:
                return DeletionOutcome(deleted=True)
            if seen.failure is not None:
                return DeletionOutcome(deleted=False, error=seen.failure.message)
            if seen.status not in RUNNING or delete_running:
                break
            left = deadline - clock.monotonic()
            if left <= 0:
                return DeletionOutcome(deleted=False, running=seen.status)
            await clock.sleep(min(SETTLE_POLL_S, left))
    return await delete_and_confirm(session, target, transcript_id, clock, user_agent)


@dataclass(frozen=True, slots=True)
class Search:
    """What a look through the transcript list for one audio URL found."""

    searched: bool  # the list could be read (a miss then means: no such job)
    transcript_id: str | None = None


async def find_by_audio_url(
    session: aiohttp.ClientSession,
    target: ProbeTarget,
    audio_url: str,
    user_agent: str,
    *,
    pages: int = 1,
    page_size: int = 20,
) -> Search:
    """Return the id of the newest job made from `audio_url`, searching `pages` list pages."""
    before: str | None = None
    for _ in range(pages):
        params = {"limit": str(page_size)}
        if before is not None:
            params["before_id"] = before
        try:
            async with session.get(
                f"{target.api_base}/v2/transcript",
                params=params,
                headers=auth_headers(target, user_agent),
                allow_redirects=False,
            ) as resp:
                if resp.status != 200:
                    return Search(searched=False)
                data = await _read_json(resp, "listing transcripts")
        except EXPECTED_ERRORS:
            return Search(searched=False)
        items = data.get("transcripts") if isinstance(data, dict) else None
        if not isinstance(items, list):
            return Search(searched=False)
        for item in items:
            if (
                isinstance(item, dict)
                and item.get("audio_url") == audio_url
                and plausible_id(item.get("id"))
            ):
                return Search(searched=True, transcript_id=item["id"])
        last = items[-1] if items else None
        if len(items) < page_size or not isinstance(last, dict):
            break
        last_id = last.get("id")
        if not plausible_id(last_id):
            break
        before = last_id
    return Search(searched=True)
