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
same ``transcripts.remove_transcript`` is what the janitor calls.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from monitor.models import ErrorKind, ProbeContext, ProbeResult, ProbeTarget
from monitor.probeclip import load_clip
from monitor.probes.failures import (
    EXPECTED_ERRORS,
    Failure,
    bad_response,
    from_exception,
    inaccurate,
    remote_text,
    timed_out,
)
from monitor.probes.recorder import RunRecorder
from monitor.providers.assemblyai.specs import JobSpec, TranscriptionSpec
from monitor.providers.assemblyai.transcripts import (
    BACKOFF,
    CLEANUP_MAX_S,
    MAX_UPLOAD_URL,
    RUNNING,
    TERMINAL,
    DeletionOutcome,
    auth_headers,
    call_api,
    find_by_audio_url,
    plausible_id,
    remove_transcript,
    submission_marker,
)

NAME = "transcription"
log = logging.getLogger(__name__)

# Keep cleanup tasks referenced until they finish: the event loop holds only
# weak references, and a cleanup may outlive a probe cancelled twice.
_cleanups: set[asyncio.Task[Any]] = set()


def cleanup_budget(spec: JobSpec) -> float:
    """Return how long deletion may take after the run's own timeout (≤ 5 s)."""
    return min(CLEANUP_MAX_S, spec.timeout)


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


class JobRun:
    """One run's transcription job: upload, submit, poll, and the deletion that follows.

    The transcription probe and the webhook probe both submit the probe clip
    through this, so both record, delete and confirm in the same way.
    `submit_extra` is merged into the submit request (the webhook's fields).
    """

    # What the run is doing in each phase, for a failure's "while ..." (a kind adds its own).
    DOING: Mapping[str, str] = {
        "upload": "uploading the probe clip",
        "submit": "submitting the job",
        "queued": "polling the job",
        "processing": "polling the job",
    }

    def __init__(
        self,
        target: ProbeTarget,
        spec: JobSpec,
        ctx: ProbeContext,
        rec: RunRecorder,
        *,
        submit_extra: dict[str, Any] | None = None,
    ) -> None:
        self.target = target
        self.spec = spec
        self.ctx = ctx
        self.rec = rec
        self.job = _Job()
        self.headers = auth_headers(target, ctx.user_agent)
        self.base = target.api_base
        self.submit_extra = dict(submit_extra or {})
        self.submit_at: float | None = None
        self.running_seen_at: float | None = None  # when a poll last showed the job running
        self.upload_url: str | None = None
        self.submit_sent = False
        self.marker_recorded = False

    def during(self) -> str:
        """Return what the run was doing in its current phase ("" when nothing named)."""
        return self.DOING.get(self.rec.current or "", "")

    @property
    def may_have_orphan(self) -> bool:
        """Return True when a job may exist whose id the run never learnt."""
        return self.job.id is None and self.submit_sent and self.upload_url is not None

    async def submit_clip(
        self, session: aiohttp.ClientSession, audio_url: str | None = None
    ) -> dict[str, Any] | Failure:
        """Return the submit answer once its id is in the ledger (the clip uploaded first
        unless `audio_url` is given), or the failure on the way."""
        spec, rec = self.spec, self.rec
        if audio_url is None:
            clip = load_clip()
            with rec.phase("upload"):
                got = await call_api(
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
        self.submit_at = rec.now()
        self.submit_sent = True
        with rec.phase("submit"):
            got = await call_api(
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
                    **self.submit_extra,
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
        return got

    async def _record(self, transcript_id: str, *, marker: bool = False) -> None:
        try:
            await self.ctx.ledger.record(self.target.name, transcript_id)
            if marker:
                self.marker_recorded = True
        # The ledger is another subsystem (SQLite): its failure must not stop the deletion.
        except Exception as exc:
            log.error(
                "%s probe: could not record transcript %s of %s in the deletion "
                "ledger (%s); deleting it anyway",
                self.rec.probe,
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
                "%s probe: could not clear the submission marker of %s (%s)",
                self.rec.probe,
                self.target.name,
                type(exc).__name__,
            )

    async def poll(
        self, session: aiohttp.ClientSession, first: dict[str, Any]
    ) -> dict[str, Any] | Failure:
        """Return the terminal transcript, or why it could not be had in time.

        Stops a little before the run's deadline, reporting a job still running as
        ``job_timeout``; `first` is the submit answer.
        """
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
            if status in RUNNING:
                self.running_seen_at = now
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
            got = await call_api(
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
                "%s probe: could not update the deletion ledger for %s (%s)",
                self.rec.probe,
                self.job.id,
                type(exc).__name__,
            )


class _Run(JobRun):
    """One run of the transcription probe: the job, then the text verified."""

    DOING: Mapping[str, str] = {**JobRun.DOING, "verify": "verifying the transcript"}
    spec: TranscriptionSpec

    def __init__(
        self, target: ProbeTarget, spec: TranscriptionSpec, ctx: ProbeContext, rec: RunRecorder
    ) -> None:
        super().__init__(target, spec, ctx, rec)
        self.spec = spec
        self.turnaround: float | None = None

    async def main(self, session: aiohttp.ClientSession) -> Failure | None:
        """Run upload → verify; return the failure, or None when every check passed."""
        spec, rec = self.spec, self.rec
        if spec.audio_url is not None:
            reference = spec.reference_text or ""
        else:
            reference = load_clip().reference_text
        got = await self.submit_clip(session, spec.audio_url)
        if isinstance(got, Failure):
            return got
        result = await self.poll(session, got)
        if isinstance(result, Failure):
            return result
        assert self.submit_at is not None
        self.turnaround = rec.now() - self.submit_at
        rec.details["turnaround_s"] = round(self.turnaround, 6)
        return self._verify(result, reference)

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
            return inaccurate(reference, text, self.spec.max_wer, rec.details)


async def run_job(
    probe: JobRun, main: Callable[[aiohttp.ClientSession], Awaitable[Failure | None]]
) -> Failure | None:
    """Return why the run failed (None when every check passed), once its job is cleaned up.

    `main` runs within the spec's timeout; whatever happens to it (failure,
    timeout, cancellation) the transcript is then deleted and the deletion
    confirmed, in a task of its own shielded from cancellation. A deletion
    that fails is the run's failure when nothing else failed (``details.deletion``
    says what happened either way); a failure's message names the phase it hit.
    """
    rec, spec, ctx = probe.rec, probe.spec, probe.ctx
    failure: Failure | None = None
    outcome: DeletionOutcome | None = None
    cancelled = False
    try:
        try:
            async with (
                asyncio.timeout(spec.timeout),
                ctx.session_factory() as session,
            ):
                failure = await main(session)
        except TimeoutError:
            failure = timed_out(spec.timeout, during=probe.during())
        except EXPECTED_ERRORS as exc:
            failure = from_exception(exc, during=probe.during())
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
            return Failure(
                ErrorKind.DELETION_FAILED,
                outcome.error or "The transcript could not be deleted",
                {"http_status": outcome.http_status} if outcome.http_status else {},
            )
    return failure


async def run(target: ProbeTarget, spec: TranscriptionSpec, ctx: ProbeContext) -> ProbeResult:
    """Return the result of one transcribe-verify-delete round trip against `target`."""
    rec = RunRecorder(target, NAME, ctx)
    probe = _Run(target, spec, ctx, rec)
    failure = await run_job(probe, probe.main)
    if failure is not None:
        return rec.down(failure)
    assert probe.turnaround is not None
    return rec.passed(
        probe.turnaround, spec.degraded_after, "Transcribed, verified and deleted the probe clip"
    )
