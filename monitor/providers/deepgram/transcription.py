"""Transcription probe: one synchronous ``POST /v1/listen`` of the probe clip.

Phases: ``transcribe`` (from sending the request to the whole answer: upload,
processing and download in one; the key latency), ``verify`` (the shape, the
audio length and the word error rate), ``request_log`` (only with
``mip_opt_out`` and ``verify_opt_out``: the request read back from the
project's request log, to see the opt-out was recorded).

There is no deletion phase: Deepgram keeps no transcript that could be read
back or deleted, so the probe leaves nothing behind. With ``mip_opt_out`` the
audio is kept only while it is processed; the request log holds metadata
only. A request log that cannot be read (the key lacks the scope, the entry is
not there yet) is noted in ``details.mip_opt_out``, not a failure: only a log
entry that shows the request *without* the opt-out is one.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlencode

import aiohttp

from monitor.models import ErrorKind, ProbeContext, ProbeResult, ProbeTarget
from monitor.probeclip import load_clip
from monitor.probes.failures import (
    EXPECTED_ERRORS,
    UNREADABLE_JSON,
    Failure,
    bad_response,
    from_exception,
    inaccurate,
    remote_text,
    timed_out,
)
from monitor.probes.recorder import RunRecorder
from monitor.providers.deepgram.specs import TranscriptionSpec
from monitor.providers.deepgram.wire import auth_headers, status_failure

NAME = "transcription"
MAX_BODY_BYTES = 4 * 1024 * 1024
# The answer's audio length may differ from the clip's by this much (rounding, resampling).
DURATION_TOLERANCE_S = 0.25
LOG_POLL_S = 0.5


def listen_query(spec: TranscriptionSpec) -> str:
    """Return the query of the probe's ``POST /v1/listen`` (booleans in lower case)."""
    params = [
        ("model", spec.model),
        ("language", spec.language),
        ("smart_format", "true"),
        ("punctuate", "true"),
        ("tag", "sttwatch"),
    ]
    if spec.mip_opt_out:
        params.append(("mip_opt_out", "true"))
    return urlencode(params)


async def _read_json(resp: aiohttp.ClientResponse, what: str) -> Any | Failure:
    raw = await resp.content.read(MAX_BODY_BYTES + 1)
    if len(raw) > MAX_BODY_BYTES:
        return bad_response(f"The {what} is larger than {MAX_BODY_BYTES} bytes")
    try:
        return json.loads(raw)
    except UNREADABLE_JSON:
        return bad_response(f"The {what} is not JSON")


def _alternative(body: Any) -> dict[str, Any] | None:
    """Return ``results.channels[0].alternatives[0]`` of a listen answer, if it is there."""
    try:
        alt = body["results"]["channels"][0]["alternatives"][0]
    except (KeyError, IndexError, TypeError):
        return None
    return alt if isinstance(alt, dict) else None


class _Run:
    """One run of the probe; its methods are the phases."""

    def __init__(
        self, target: ProbeTarget, spec: TranscriptionSpec, ctx: ProbeContext, rec: RunRecorder
    ) -> None:
        self.target, self.spec, self.ctx, self.rec = target, spec, ctx, rec
        self.headers = auth_headers(target, ctx.user_agent)
        self.turnaround: float | None = None
        self.request_id: str | None = None

    async def main(self, session: aiohttp.ClientSession) -> Failure | None:
        """Transcribe, verify, and read the opt-out back; return the failure or None."""
        spec, rec, clip = self.spec, self.rec, load_clip()
        url = f"{self.target.api_base}/v1/listen?{listen_query(spec)}"
        if spec.audio_url is not None:
            reference, expected_s = spec.reference_text or "", None
            request: dict[str, Any] = {"json": {"url": spec.audio_url}}
        else:
            reference, expected_s = clip.reference_text, clip.duration_s
            request = {"data": clip.wav, "headers": {**self.headers, "Content-Type": "audio/wav"}}
        request.setdefault("headers", self.headers)
        during = "transcribing the probe clip"
        with rec.phase("transcribe"):
            started = rec.now()
            async with session.post(url, allow_redirects=False, **request) as resp:
                rec.details["http_status"] = resp.status
                if resp.status != 200:
                    body = await resp.content.read(16 * 1024)
                    return status_failure(resp.status, resp.headers, body, during=during)
                got = await _read_json(resp, "transcription answer")
                self.turnaround = rec.now() - started
        if isinstance(got, Failure):
            return got
        with rec.phase("verify"):
            failure = self._verify(got, reference, expected_s)
        if failure is None and spec.mip_opt_out and spec.verify_opt_out:
            with rec.phase("request_log"):
                failure = await self._opt_out_logged(session)
        return failure

    def _verify(self, body: Any, reference: str, expected_s: float | None) -> Failure | None:
        rec = self.rec
        alt = _alternative(body)
        metadata = body.get("metadata") if isinstance(body, dict) else None
        if alt is None or not isinstance(metadata, dict):
            return bad_response("The answer lacks metadata or results.channels[0].alternatives[0]")
        request_id = metadata.get("request_id")
        if isinstance(request_id, str) and request_id:
            self.request_id = remote_text(request_id, 64)
            rec.details["request_id"] = self.request_id
        models = metadata.get("model_info")
        if isinstance(models, dict):
            names = [m.get("name") for m in models.values() if isinstance(m, dict)]
            if names and isinstance(names[0], str):
                rec.details["model"] = remote_text(names[0], 64)
        duration = metadata.get("duration")
        if isinstance(duration, int | float) and not isinstance(duration, bool):
            rec.details["duration_s"] = round(float(duration), 3)
            if expected_s is not None and abs(duration - expected_s) > DURATION_TOLERANCE_S:
                return bad_response(
                    f"The answer says the audio lasts {duration:g} s; the clip lasts "
                    f"{expected_s:.2f} s"
                )
        text = alt.get("transcript")
        if not isinstance(text, str):
            return bad_response("The answer's alternative has no transcript")
        rec.details["text"] = remote_text(text)
        if not text.strip():
            rec.details["wer"] = 1.0
            return Failure(ErrorKind.INACCURATE, "The transcript of the probe clip is empty")
        # "text" is already recorded (above), so it keeps its place before "wer".
        return inaccurate(reference, text, self.spec.max_wer, rec.details)

    async def _get(self, session: aiohttp.ClientSession, path: str) -> tuple[int, Any]:
        async with session.get(
            f"{self.target.api_base}{path}", headers=self.headers, allow_redirects=False
        ) as resp:
            raw = await resp.content.read(MAX_BODY_BYTES)
        try:
            return resp.status, json.loads(raw)
        except UNREADABLE_JSON:
            return resp.status, None

    async def _opt_out_logged(self, session: aiohttp.ClientSession) -> Failure | None:
        """Read the request from the request log; fail only if it shows no opt-out."""
        rec = self.rec
        rec.details["mip_opt_out"] = "requested"
        if self.request_id is None:
            return None
        # Its own short deadline: a slow or missing log is a note, never the run's timeout.
        wait = min(
            self.spec.request_log_wait, max(0.0, rec.t0 + self.spec.timeout - rec.now() - 0.5)
        )
        try:
            async with asyncio.timeout(wait):
                entry = await self._find_logged(session)
        except TimeoutError:
            entry = f"not in the request log within {wait:g} s"
        except EXPECTED_ERRORS as exc:
            entry = f"request log unreadable ({from_exception(exc).kind})"
        if isinstance(entry, str):
            rec.details["mip_opt_out"] = f"requested; {entry}"
            return None
        logged = entry.get("path")
        if isinstance(logged, str) and "mip_opt_out=true" in logged:
            rec.details["mip_opt_out"] = "confirmed"
            return None
        rec.details["mip_opt_out"] = "missing from the request log"
        return bad_response("The request log shows the transcription without mip_opt_out=true")

    async def _find_logged(self, session: aiohttp.ClientSession) -> dict[str, Any] | str:
        """Return the request's log entry, or why it cannot be had (polls while it is 404)."""
        status, body = await self._get(session, "/v1/projects")
        projects = body.get("projects") if isinstance(body, dict) else None
        first = projects[0] if isinstance(projects, list) and projects else None
        project = first.get("project_id") if isinstance(first, dict) else None
        if status != 200 or not isinstance(project, str):
            return f"project list unreadable (HTTP {status})"
        path = f"/v1/projects/{project}/requests/{self.request_id}"
        while True:
            status, body = await self._get(session, path)
            entry = body.get("request") if isinstance(body, dict) else None
            if status == 200 and isinstance(entry, dict):
                return entry
            if status != 404:
                return f"request log unreadable (HTTP {status})"
            # The log is written after the answer: poll it until the deadline.
            await self.ctx.clock.sleep(LOG_POLL_S)


def _during(rec: RunRecorder) -> str:
    return {
        "transcribe": "transcribing the probe clip",
        "request_log": "reading the request log",
    }.get(rec.current or "", "")


async def run(target: ProbeTarget, spec: TranscriptionSpec, ctx: ProbeContext) -> ProbeResult:
    """Return the result of one transcribe-and-verify round trip against `target`."""
    rec = RunRecorder(target, NAME, ctx)
    probe = _Run(target, spec, ctx, rec)
    failure: Failure | None
    try:
        async with asyncio.timeout(spec.timeout), ctx.session_factory() as session:
            failure = await probe.main(session)
    except TimeoutError:
        failure = timed_out(spec.timeout, during=_during(rec))
    except EXPECTED_ERRORS as exc:
        failure = from_exception(exc, during=_during(rec))
    if probe.turnaround is not None:
        rec.details["turnaround_s"] = round(probe.turnaround, 6)
    if failure is not None:
        return rec.down(failure)
    assert probe.turnaround is not None
    return rec.passed(
        probe.turnaround, spec.degraded_after, "Transcribed and verified the probe clip"
    )
