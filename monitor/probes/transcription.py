"""Transcription probe: upload, submit, wait, verify, delete, and confirm the deletion.

Phases: ``upload`` (skipped when the target hosts its own clip), ``submit``,
``queued``, ``processing``, ``verify``, ``delete``, ``confirm``. The key
latency is the turnaround, from submitting the job to seeing it terminal.

No transcript is left behind. Before the job is submitted, a *submission
marker* (:func:`submission_marker`, the unique upload URL) goes into the
deletion ledger, so a job whose submit answer is lost — or whose process is
killed while the submit is in flight — can still be found in the transcript
list by its upload URL, by this run's cleanup or later by the janitor. The id
is written to the ledger the moment the API returns it, before the first poll.
Deletion then runs whatever happens to the run (failure, timeout,
cancellation) in a task of its own, shielded from cancellation and bounded by
:func:`cleanup_budget`. A job that is still queued/processing is not deleted
(the provider deletes finished jobs; the simulator refuses the rest): after a
cancellation or an early failure the cleanup waits for it to finish within the
budget; after a ``job_timeout`` it is left in the ledger for the janitor. The
same :func:`remove_transcript` is what the janitor calls.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, TypeGuard

import aiohttp

from monitor.accuracy import word_error_rate
from monitor.models import Clock, ErrorKind, ProbeContext, ProbeResult, ProbeTarget
from monitor.probeclip import load_clip
from monitor.probes.failures import (
    EXPECTED_ERRORS,
    UNREADABLE_JSON,
    Failure,
    bad_response,
    from_exception,
    from_status,
    remote_text,
    timed_out,
)
from monitor.probes.recorder import RunRecorder
from monitor.providers.assemblyai.specs import TranscriptionSpec

NAME = "transcription"
log = logging.getLogger(__name__)

DELETED_TEXT = "Deleted by user."
DELETED_URL = "http://deleted_by_user"
TERMINAL = frozenset({"completed", "error"})
RUNNING = frozenset({"queued", "processing"})
# Statuses with which the API says "no such transcript" (PROTOCOL.md §1.2: 400 or 404).
GONE_STATUSES = frozenset({400, 404})
MAX_BODY_BYTES = 4 * 1024 * 1024
BACKOFF = 1.5
CLEANUP_MAX_S = 5.0
MAX_UPLOAD_URL = 2048
SETTLE_POLL_S = 0.25

# Keep cleanup tasks referenced until they finish: the event loop holds only
# weak references, and a cleanup may outlive a probe cancelled twice.
_cleanups: set[asyncio.Task[Any]] = set()


def cleanup_budget(spec: TranscriptionSpec) -> float:
    """Return how long deletion may take after the run's own timeout (≤ 5 s)."""
    return min(CLEANUP_MAX_S, spec.timeout)


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


def _headers(target: ProbeTarget, ctx_user_agent: str) -> dict[str, str]:
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


async def _call(
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
            url, headers=_headers(target, user_agent), allow_redirects=False
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
            url, headers=_headers(target, user_agent), allow_redirects=False
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
    # and one that answered 200 may not have (PROTOCOL.md §1.6 scrubbed object).
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
                headers=_headers(target, user_agent),
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


# ---------------------------------------------------------------------------
# The probe


@dataclass(slots=True)
class _Job:
    """What the run knows about its transcription job."""

    id: str | None = None
    status: str | None = None
    job_timed_out: bool = False

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


class _Run:
    """One run of the probe; its methods are the phases."""

    def __init__(
        self, target: ProbeTarget, spec: TranscriptionSpec, ctx: ProbeContext, rec: RunRecorder
    ) -> None:
        self.target = target
        self.spec = spec
        self.ctx = ctx
        self.rec = rec
        self.job = _Job()
        self.headers = _headers(target, ctx.user_agent)
        self.base = target.api_base
        self.turnaround: float | None = None
        self.upload_url: str | None = None
        self.submit_sent = False
        self.marker_recorded = False

    @property
    def may_have_orphan(self) -> bool:
        """Return True when a job may exist whose id the run never learnt."""
        return self.job.id is None and self.submit_sent and self.upload_url is not None

    async def main(self, session: aiohttp.ClientSession) -> Failure | None:
        """Run upload → verify; return the failure, or None when every check passed."""
        spec, rec, clip = self.spec, self.rec, load_clip()
        if spec.audio_url is not None:
            audio_url = spec.audio_url
            reference = spec.reference_text or ""
        else:
            reference = clip.reference_text
            with rec.phase("upload"):
                got = await _call(
                    session,
                    "POST",
                    f"{self.base}/v2/upload",
                    during="uploading the probe clip",
                    details=rec.details,
                    data=clip.wav,
                    headers={**self.headers, "Content-Type": "application/octet-stream"},
                )
            if isinstance(got, Failure):
                return got
            upload_url = got.get("upload_url")
            if not isinstance(upload_url, str) or not upload_url:
                return bad_response("The upload answer has no upload_url")
            if len(upload_url) > MAX_UPLOAD_URL:
                # It goes into the deletion ledger (submission marker): bounded.
                return bad_response("The upload answer's upload_url is implausibly long")
            audio_url = self.upload_url = upload_url

        if self.upload_url is not None:
            await self._record(submission_marker(self.upload_url), marker=True)
        submit_at = rec.now()
        self.submit_sent = True
        with rec.phase("submit"):
            got = await _call(
                session,
                "POST",
                f"{self.base}/v2/transcript",
                during="submitting the job",
                details=rec.details,
                json={
                    "audio_url": audio_url,
                    "speech_models": list(spec.speech_models),
                    "language_code": spec.language_code,
                    "punctuate": True,
                    "format_text": True,
                },
                headers=self.headers,
            )
        if isinstance(got, Failure):
            return got
        transcript_id = got.get("id")
        if not isinstance(transcript_id, str) or not transcript_id:
            return bad_response("The submit answer has no transcript id")
        if not plausible_id(transcript_id):
            # Not echoed: it is the server's text, and no part of it is needed.
            return bad_response(
                "The submit answer's transcript id is not an id (letters, digits, - and _)"
            )
        self.job.id = transcript_id
        self.job.status = got.get("status") if isinstance(got.get("status"), str) else None
        rec.details["transcript_id"] = transcript_id
        await self._record(transcript_id)
        await self._clear_marker()

        result = await self._poll(session, got)
        if isinstance(result, Failure):
            return result
        self.turnaround = rec.now() - submit_at
        rec.details["turnaround_s"] = round(self.turnaround, 6)
        return self._verify(result, reference)

    async def _record(self, transcript_id: str, *, marker: bool = False) -> None:
        try:
            await self.ctx.ledger.record(self.target.name, transcript_id)
            if marker:
                self.marker_recorded = True
        # The ledger is another subsystem (SQLite): its failure must not stop the deletion.
        except Exception as exc:
            log.error(
                "transcription probe: could not record transcript %s of %s in the deletion "
                "ledger (%s); deleting it anyway",
                transcript_id,
                self.target.name,
                type(exc).__name__,
            )
            self.rec.details["ledger_error"] = type(exc).__name__

    async def _clear_marker(self) -> None:
        """Drop the submission marker: the job's id is in the ledger, or no job exists."""
        if not self.marker_recorded or self.upload_url is None:
            return
        try:
            await self.ctx.ledger.mark_deleted(self.target.name, submission_marker(self.upload_url))
            self.marker_recorded = False
        except Exception as exc:  # the janitor resolves a marker left behind
            log.error(
                "transcription probe: could not clear the submission marker of %s (%s)",
                self.target.name,
                type(exc).__name__,
            )

    async def _poll(
        self, session: aiohttp.ClientSession, first: dict[str, Any]
    ) -> dict[str, Any] | Failure:
        """Return the terminal transcript, or why it could not be had in time."""
        spec, rec = self.spec, self.rec
        deadline = rec.t0 + spec.timeout
        # Stop polling this early so a stuck job is reported as job_timeout by us,
        # not as a timeout of a GET that happened to be in flight at the deadline.
        guard = min(0.5, spec.timeout / 10)
        url = f"{self.base}/v2/transcript/{self.job.id}"
        interval = spec.poll_interval
        queued_from = rec.now()
        processing_from: float | None = None
        body = first
        while True:
            status = body.get("status")
            if not isinstance(status, str) or status not in TERMINAL | RUNNING:
                return bad_response(f"The job has an unknown status {remote_text(status, 40)!r}")
            self.job.status = status
            now = rec.now()
            if status != "queued" and "queued" not in rec.phases:
                rec.phases["queued"] = now - queued_from
                rec.details["queue_s"] = round(rec.phases["queued"], 6)
                processing_from = now
            if status in TERMINAL:
                if processing_from is not None:
                    rec.phases["processing"] = now - processing_from
                    rec.details["processing_s"] = round(rec.phases["processing"], 6)
                return body
            left = deadline - guard - now
            if left <= 0:
                self.job.job_timed_out = True
                rec.details["last_status"] = status
                if status == "queued":
                    rec.phases["queued"] = now - queued_from
                elif processing_from is not None:
                    rec.phases["processing"] = now - processing_from
                return Failure(
                    ErrorKind.JOB_TIMEOUT,
                    f"The job was still {status} after {spec.timeout:g} s",
                )
            rec.current = status
            await self.ctx.clock.sleep(min(interval, left))
            interval = min(interval * BACKOFF, spec.poll_max_interval)
            got = await _call(
                session,
                "GET",
                url,
                during="polling the job",
                details=rec.details,
                headers=self.headers,
            )
            if isinstance(got, Failure):
                return got
            body = got

    def _verify(self, body: dict[str, Any], reference: str) -> Failure | None:
        rec = self.rec
        used = body.get("speech_model_used")
        if isinstance(used, str):
            rec.details["speech_model_used"] = remote_text(used, 64)
        if body.get("status") == "error":
            error = remote_text(body.get("error") or "no error message")
            rec.details["api_error"] = error
            return Failure(ErrorKind.TRANSCRIPTION_FAILED, f"The transcription job failed: {error}")
        with rec.phase("verify"):
            text = body.get("text")
            if not isinstance(text, str):
                return bad_response("The completed job has no text")
            wer = word_error_rate(reference, text)
        rec.details["wer"] = round(wer, 4)
        rec.details["text"] = remote_text(text)
        if wer > self.spec.max_wer:
            return Failure(
                ErrorKind.INACCURATE,
                f"The transcript differs from the reference: WER {wer:.2f} "
                f"above the limit of {self.spec.max_wer:g}",
            )
        return None

    async def cleanup(self, cancelled: bool) -> DeletionOutcome | None:
        """Delete the job's transcript (own session, own deadline) and update the ledger."""
        job, rec, ctx = self.job, self.rec, self.ctx
        budget = cleanup_budget(self.spec)
        try:
            async with (
                asyncio.timeout(budget),
                ctx.session_factory(timeout=aiohttp.ClientTimeout(total=budget)) as session,
            ):
                if job.id is None:
                    # The submit answer was lost: the upload URL is unique to this run,
                    # so it identifies the job safely. If the list cannot be read, the
                    # marker stays in the ledger and the janitor searches later.
                    assert self.upload_url is not None
                    found = await find_by_audio_url(
                        session, self.target, self.upload_url, ctx.user_agent
                    )
                    if found.transcript_id is None:
                        if found.searched:
                            await self._clear_marker()
                        return None
                    job.id = found.transcript_id
                    rec.details["transcript_id"] = job.id
                    rec.details["recovered_orphan"] = True
                    await self._record(job.id)
                    await self._clear_marker()
                outcome = await remove_transcript(
                    session,
                    self.target,
                    job.id,
                    ctx.clock,
                    ctx.user_agent,
                    known_terminal=job.terminal,
                    # After a job_timeout the job is stuck: waiting longer is pointless.
                    wait_s=0.0 if job.job_timed_out and not cancelled else budget,
                )
        except TimeoutError:
            outcome = DeletionOutcome(
                deleted=False, error=f"Deletion did not finish within {budget:g} s"
            )
        except EXPECTED_ERRORS as exc:
            outcome = DeletionOutcome(
                deleted=False, error=from_exception(exc, during="deleting the transcript").message
            )
        if job.id is None:
            return None  # no orphan was found (or the search itself failed)
        if outcome.delete_s is not None:
            rec.phases["delete"] = outcome.delete_s
        if outcome.confirm_s is not None:
            rec.phases["confirm"] = outcome.confirm_s
        await self._settle_ledger(outcome)
        return outcome

    async def _settle_ledger(self, outcome: DeletionOutcome) -> None:
        assert self.job.id is not None
        try:
            if outcome.deleted:
                await self.ctx.ledger.mark_deleted(self.target.name, self.job.id)
            elif outcome.error is not None:
                await self.ctx.ledger.mark_attempt(self.target.name, self.job.id, outcome.error)
        # A broken ledger must not turn into a probe crash; the run's result still counts.
        except Exception as exc:
            log.error(
                "transcription probe: could not update the deletion ledger for %s (%s)",
                self.job.id,
                type(exc).__name__,
            )


def _during(rec: RunRecorder) -> str:
    return {
        "upload": "uploading the probe clip",
        "submit": "submitting the job",
        "queued": "polling the job",
        "processing": "polling the job",
        "verify": "verifying the transcript",
    }.get(rec.current or "", "")


async def run(target: ProbeTarget, spec: TranscriptionSpec, ctx: ProbeContext) -> ProbeResult:
    """Return the result of one transcribe-verify-delete round trip against `target`."""
    rec = RunRecorder(target, NAME, ctx)
    probe = _Run(target, spec, ctx, rec)
    failure: Failure | None = None
    outcome: DeletionOutcome | None = None
    cancelled = False
    try:
        try:
            async with (
                asyncio.timeout(spec.timeout),
                ctx.session_factory() as session,
            ):
                failure = await probe.main(session)
        except TimeoutError:
            failure = timed_out(spec.timeout, during=_during(rec))
        except EXPECTED_ERRORS as exc:
            failure = from_exception(exc, during=_during(rec))
        except asyncio.CancelledError:
            cancelled = True
            raise
    finally:
        if probe.job.id is not None or probe.may_have_orphan:
            task = asyncio.create_task(probe.cleanup(cancelled))
            _cleanups.add(task)
            task.add_done_callback(_cleanups.discard)
            # Shielded: a cancelled probe still deletes what it created, then re-raises.
            outcome = await asyncio.shield(task)
    if outcome is not None and not outcome.deleted:
        rec.details["deletion"] = outcome.error or f"left for the janitor ({outcome.running})"
        if failure is None:
            return rec.down(
                Failure(
                    ErrorKind.DELETION_FAILED,
                    outcome.error or "The transcript could not be deleted",
                    {"http_status": outcome.http_status} if outcome.http_status else {},
                )
            )
    if failure is not None:
        return rec.down(failure)
    assert probe.turnaround is not None
    return rec.passed(
        probe.turnaround, spec.degraded_after, "Transcribed, verified and deleted the probe clip"
    )
