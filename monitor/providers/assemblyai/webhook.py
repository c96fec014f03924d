"""Webhook probe: submit the probe clip with a webhook to sttwatch's receiver and time the call.

Phases: ``upload``, ``submit``, ``completed`` (submit → the job seen terminal),
``delivery`` (the job terminal → the call received; the key latency),
``delete``, ``confirm``. The job is the transcription probe's
(:class:`~monitor.providers.assemblyai.transcription.JobRun`: the same upload,
submit, deletion ledger, deletion and read-back), submitted with
``webhook_url`` = the run's URL on the receiver and the run's secret in
``webhook_auth_header_name``/``_value``.

While the call is awaited the job is polled as well, to time its end. The
first call that carries the secret and announces this job (``transcript_id``,
a terminal ``status``) is the delivery; if no poll has seen the job finish by
then, the transcript is read at once and must be terminal (else the call was
early). Calls that do not pass only decide the verdict when no good call comes
by the deadline: unauthenticated if some came without the secret, malformed if
some with the secret announced something else, else missing. After the
delivery, further calls for the same job within ``duplicate_window`` are
duplicates; the window runs while the transcript is deleted, and the run
waits what is left of it before it reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp

from monitor.models import ErrorKind, ProbeContext, ProbeResult, ProbeTarget
from monitor.probes.failures import Failure, bad_response, remote_text
from monitor.probes.recorder import RunRecorder
from monitor.providers.assemblyai.specs import WebhookSpec
from monitor.providers.assemblyai.transcription import JobRun, run_job
from monitor.providers.assemblyai.transcripts import RUNNING, TERMINAL, call_api
from monitor.webhook_runs import RunInbox, WebhookCall

NAME = "webhook"


class _Run(JobRun):
    """One run of the webhook probe: the job, the call, and what the call said."""

    WAITING = "waiting for the job and its webhook"
    DOING: Mapping[str, str] = {**JobRun.DOING, "queued": WAITING, "processing": WAITING}
    spec: WebhookSpec

    def __init__(
        self,
        target: ProbeTarget,
        spec: WebhookSpec,
        ctx: ProbeContext,
        rec: RunRecorder,
        inbox: RunInbox,
    ) -> None:
        super().__init__(
            target,
            spec,
            ctx,
            rec,
            submit_extra={
                "webhook_url": inbox.url,
                "webhook_auth_header_name": inbox.header_name,
                "webhook_auth_header_value": inbox.secret,
            },
        )
        self.spec = spec
        self.inbox = inbox
        self.completed_at: float | None = None
        self.delivered: WebhookCall | None = None
        self.delivery: float | None = None
        self.wrong_payload: str | None = None  # why an authenticated call was not this job's

    async def main(self, session: aiohttp.ClientSession) -> Failure | None:
        """Submit, then wait for the call (polling the job meanwhile); return the failure."""
        got = await self.submit_clip(session)
        if isinstance(got, Failure):
            return got
        poll = asyncio.create_task(self._poll(session, got))
        try:
            return await self._await_call(session, poll)
        finally:
            if not poll.done():
                poll.cancel()
            await asyncio.wait([poll])
            # The poll's own split of the job's time is not this kind's: `completed` is.
            for phase, detail in (("queued", "queue_s"), ("processing", "processing_s")):
                self.rec.phases.pop(phase, None)
                self.rec.details.pop(detail, None)

    async def _poll(
        self, session: aiohttp.ClientSession, first: dict[str, Any]
    ) -> dict[str, Any] | Failure:
        got = await self.poll(session, first)
        if not isinstance(got, Failure) and self.completed_at is None:
            self._completed(self.rec.now())
        return got

    def _completed(self, at: float) -> None:
        assert self.submit_at is not None
        self.completed_at = at
        self.rec.phases["completed"] = at - self.submit_at
        self.rec.details["completed_s"] = round(self.rec.phases["completed"], 6)

    def _payload_problem(self, body: dict[str, Any]) -> str | None:
        """Return why an authenticated call's body does not announce this job, or None."""
        if body.get("transcript_id") != self.job.id:
            return "a transcript_id that is not this run's"
        status = body.get("status")
        # Any JSON type may come: a list or an object is unhashable, so test the type first.
        if not isinstance(status, str) or status not in TERMINAL:
            return f"the status {remote_text(status, 40)!r} (completed or error expected)"
        return None

    async def _await_call(
        self, session: aiohttp.ClientSession, poll: asyncio.Task[dict[str, Any] | Failure]
    ) -> Failure | None:
        rec, spec, inbox = self.rec, self.spec, self.inbox
        # Stop waiting with the poll's own guard, before the run's timeout cuts a request.
        deadline = rec.t0 + spec.timeout - min(0.5, spec.timeout / 10)
        seen = 0
        while True:
            for call in inbox.calls[seen:]:
                problem = self._payload_problem(call.body)
                if problem is None:
                    return await self._delivered(session, call, poll)
                self.wrong_payload = problem
            seen = len(inbox.calls)
            if poll.done():
                job = poll.result()
                if isinstance(job, Failure):
                    return job
            left = deadline - rec.now()
            if left <= 0:
                break
            waiting = asyncio.create_task(inbox.wait(seen))
            try:
                await asyncio.wait(
                    [waiting] if poll.done() else [waiting, poll],
                    timeout=left,
                    return_when=asyncio.FIRST_COMPLETED,
                )
            finally:
                waiting.cancel()
                await asyncio.wait([waiting])
        if not poll.done():
            job = await poll  # at the deadline it reports the job as job_timeout
            if isinstance(job, Failure):
                return job
        return self._no_delivery()

    def _no_delivery(self) -> Failure:
        inbox, rec = self.inbox, self.rec
        waited = rec.now() - (self.completed_at or rec.t0)
        if inbox.unauthenticated:
            rec.details["unauthenticated_calls"] = inbox.unauthenticated
            return Failure(
                ErrorKind.WEBHOOK_UNAUTHENTICATED,
                f"The webhook came without the run's secret header "
                f"({inbox.unauthenticated} call(s), refused)",
            )
        if self.wrong_payload is not None or inbox.malformed:
            rec.details["malformed_calls"] = inbox.malformed + len(inbox.calls)
            what = self.wrong_payload or "a body that is not a JSON object"
            return Failure(ErrorKind.WEBHOOK_MALFORMED, f"The webhook carried {what}")
        return Failure(
            ErrorKind.WEBHOOK_MISSING,
            f"No webhook arrived within {waited:.1f} s of the job's end",
        )

    async def _delivered(
        self,
        session: aiohttp.ClientSession,
        call: WebhookCall,
        poll: asyncio.Task[dict[str, Any] | Failure],
    ) -> Failure | None:
        rec = self.rec
        self.delivered = call
        announced = call.body["status"]
        polled = poll.result() if poll.done() else None
        if isinstance(polled, dict):
            job = polled
        else:
            # The call came before a poll saw the job end: it must read terminal now.
            got = await call_api(
                session,
                "GET",
                f"{self.base}/v2/transcript/{self.job.id}",
                during="reading the transcript the webhook announced",
                details=rec.details,
                headers=self.headers,
            )
            if isinstance(got, Failure):
                return got
            status = got.get("status")
            if not isinstance(status, str) or status not in TERMINAL | RUNNING:
                return bad_response(f"The job has an unknown status {remote_text(status, 40)!r}")
            if status not in TERMINAL:
                rec.details["status_at_delivery"] = remote_text(status, 40)
                return Failure(
                    ErrorKind.WEBHOOK_EARLY,
                    f"The webhook announced {announced!r} while the transcript still read "
                    f"{remote_text(status, 40)!r}",
                )
            self.job.status = status
            job = got
            # Terminal by the time it was read: the call is the first sign of its end.
            self._completed(call.arrived)
        assert self.completed_at is not None
        # The job ended between the last poll that saw it running and the first sign of its
        # end, so the delay is at least `delivery` and at most `delivery_max_s`.
        self.delivery = max(0.0, call.arrived - self.completed_at)
        rec.phases["delivery"] = self.delivery
        rec.details["delivery_s"] = round(self.delivery, 6)
        if self.running_seen_at is not None:
            rec.details["delivery_max_s"] = round(call.arrived - self.running_seen_at, 6)
        if job.get("status") != announced:
            return Failure(
                ErrorKind.WEBHOOK_MALFORMED,
                f"The webhook announced {announced!r} but the transcript reads "
                f"{remote_text(job.get('status'), 40)!r}",
            )
        if announced == "error":
            error = remote_text(job.get("error") or "no error message")
            rec.details["api_error"] = error
            return Failure(ErrorKind.TRANSCRIPTION_FAILED, f"The transcription job failed: {error}")
        return None

    def duplicates(self) -> int:
        """Return how many calls announced this job again after the delivery."""
        again = [c for c in self.inbox.calls if self._payload_problem(c.body) is None]
        return max(0, len(again) - 1) + self.inbox.dropped


async def run(target: ProbeTarget, spec: WebhookSpec, ctx: ProbeContext) -> ProbeResult:
    """Return the result of one job submitted with a webhook: was it called, on time, once?"""
    runs = ctx.webhooks
    if runs is None:
        # `sttwatch once` skips this kind and the config needs webhook_base_url: a bug.
        raise RuntimeError("the webhook probe ran without sttwatch's webhook receiver")
    rec = RunRecorder(target, NAME, ctx)
    with runs.open(ctx.clock.monotonic) as inbox:
        probe = _Run(target, spec, ctx, rec, inbox)
        failure = await run_job(probe, probe.main)
        if probe.delivered is not None:
            # Whatever the deletion left of the window, waited here: a duplicate is this run's.
            left = probe.delivered.arrived + spec.duplicate_window - rec.now()
            if left > 0:
                await ctx.clock.sleep(left)
        duplicates = probe.duplicates()
    rec.details["webhook_calls"] = inbox.received
    if failure is not None:
        return rec.down(failure)
    if duplicates:
        rec.details["duplicates"] = duplicates
        return rec.down(
            Failure(
                ErrorKind.WEBHOOK_DUPLICATE,
                f"The webhook came {duplicates + 1} times within {spec.duplicate_window:g} s",
            )
        )
    assert probe.delivery is not None
    return rec.passed(
        probe.delivery,
        spec.degraded_after,
        "Webhook received with the run's secret for the finished job, transcript deleted; delivery",
    )
