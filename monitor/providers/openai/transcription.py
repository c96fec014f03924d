"""Transcription: one multipart ``POST /v1/audio/transcriptions`` of the probe clip, verified.

Phases: ``upload`` (until the last byte of the form is sent), ``processing``
(from there to the answer's headers), ``download`` (the body) and ``verify``.
The key latency, the turnaround, is the three together. The answer is the
whole transcript: the API stores nothing, so there is nothing to delete and
no deletion phase. The response format is ``verbose_json`` where the
flavour's model has it (its duration is checked against the clip), else
``json``; the text's word error rate against the clip's reference decides.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import aiohttp

from monitor.models import ProbeContext, ProbeResult, ProbeTarget
from monitor.probeclip import load_clip
from monitor.probes.failures import (
    EXPECTED_ERRORS,
    UNREADABLE_JSON,
    Failure,
    bad_response,
    from_exception,
    inaccurate,
    timed_out,
)
from monitor.probes.recorder import RunRecorder
from monitor.probes.timed_get import read_capped
from monitor.providers.openai.quirks import flavour_of
from monitor.providers.openai.specs import TranscriptionSpec
from monitor.providers.openai.wire import (
    ERROR_BODY_LIMIT,
    audio_form,
    auth_headers,
    failure_of,
    note_headers,
    url,
)

NAME = "transcription"
UP_WORDING = "Transcribed and verified the probe clip"
MAX_BODY = 1_048_576  # a transcript of a few seconds is a few KB
DURATION_TOLERANCE_S = 0.5


@dataclass(slots=True)
class UploadClock:
    """When the request's last body chunk left, noted by an aiohttp trace."""

    sent_at: float | None = None


def upload_trace(clock: UploadClock, now: Any) -> aiohttp.TraceConfig:
    """Return a trace config that notes, in `clock`, when each request chunk is sent."""
    trace = aiohttp.TraceConfig()

    async def chunk_sent(*_: Any) -> None:
        clock.sent_at = now()

    trace.on_request_chunk_sent.append(chunk_sent)
    return trace


def verify_text(text: Any, max_wer: float, details: dict[str, Any]) -> Failure | None:
    """Return why `text` is not the clip's transcript (WER over `max_wer`), or None."""
    if not isinstance(text, str) or not text.strip():
        return bad_response("The answer has no transcript text")
    return inaccurate(load_clip().reference_text, text, max_wer, details)


def _check(body: bytes, content_type: str, response_format: str) -> tuple[Any, Failure | None]:
    """Return (the transcript text, or why the body is not a transcription answer)."""
    if "json" not in content_type:
        return None, bad_response(
            f"The transcription answer is not JSON ({content_type or 'no type'})"
        )
    try:
        data = json.loads(body)
    except UNREADABLE_JSON:
        return None, bad_response("The transcription answer is not JSON")
    if not isinstance(data, dict) or "text" not in data:
        return None, bad_response("The transcription answer has no text (wrong shape)")
    if response_format == "verbose_json":
        duration = data.get("duration")
        try:
            # vLLM writes it as a string; a bool is no duration.
            if isinstance(duration, bool) or not isinstance(duration, int | float | str):
                raise TypeError(duration)
            seconds = float(duration)
        except (TypeError, ValueError):
            return None, bad_response("The verbose_json answer has no duration")
        if abs(seconds - load_clip().duration_s) > DURATION_TOLERANCE_S:
            return None, bad_response(
                f"The verbose_json answer's duration ({seconds:g} s) is not the clip's "
                f"({load_clip().duration_s:.2f} s)"
            )
    return data["text"], None


async def run(target: ProbeTarget, spec: TranscriptionSpec, ctx: ProbeContext) -> ProbeResult:
    """Return the result of one transcription of the probe clip against `target`."""
    flavour = flavour_of(target, spec.flavour)
    model = spec.model or flavour.default_model
    response_format = flavour.response_format(model)
    rec = RunRecorder(target, NAME, ctx)
    rec.details.update(flavour=flavour.name, model=model, response_format=response_format)
    sent = UploadClock()
    failure: Failure | None = None
    start = rec.now()
    headers_at: float | None = None
    try:
        async with (
            asyncio.timeout(spec.timeout),
            ctx.session_factory(trace_configs=[upload_trace(sent, rec.now)]) as session,
        ):
            rec.current = "upload"
            async with session.post(
                url(target, "/audio/transcriptions"),
                data=audio_form(model, response_format, spec.language),
                headers=auth_headers(target, ctx.user_agent),
                allow_redirects=False,
            ) as resp:
                headers_at = rec.now()
                uploaded = sent.sent_at if sent.sent_at is not None else headers_at
                rec.phases["upload"] = uploaded - start
                rec.phases["processing"] = headers_at - uploaded
                rec.details["http_status"] = resp.status
                note_headers(flavour, resp.headers, rec.details)
                rec.current = "download"
                body = await read_capped(resp, MAX_BODY if resp.status == 200 else ERROR_BODY_LIMIT)
                rec.phases["download"] = rec.now() - headers_at
                if resp.status != 200:
                    failure = failure_of(
                        flavour,
                        resp.status,
                        body or b"",
                        during="transcribing the probe clip",
                        retry_after=resp.headers.get("Retry-After"),
                        model=model,
                    )
                elif body is None:
                    failure = bad_response(
                        f"The transcription answer is larger than {MAX_BODY} bytes"
                    )
                else:
                    with rec.phase("verify"):
                        text, failure = _check(body, resp.content_type, response_format)
                        if failure is None:
                            failure = verify_text(text, spec.max_wer, rec.details)
    except TimeoutError:
        failure = timed_out(spec.timeout, during=_during(rec.current, sent, headers_at))
    except EXPECTED_ERRORS as exc:
        failure = from_exception(exc, during=_during(rec.current, sent, headers_at))
    if "upload" not in rec.phases:
        # It stopped before the answer: what was reached is still timed.
        now = rec.now()
        uploaded = sent.sent_at if sent.sent_at is not None else now
        rec.phases["upload"] = uploaded - start
        if sent.sent_at is not None:
            rec.phases["processing"] = now - uploaded
    turnaround = sum(rec.phases.get(p, 0.0) for p in ("upload", "processing", "download"))
    rec.details["turnaround_s"] = round(turnaround, 6)
    if failure is not None:
        return rec.down(failure)
    return rec.passed(turnaround, spec.degraded_after, UP_WORDING)


def _during(current: str | None, sent: UploadClock, headers_at: float | None) -> str:
    if current == "download" or headers_at is not None:
        return "reading the transcription answer"
    if sent.sent_at is not None:
        return "waiting for the transcription"
    return "uploading the probe clip"
