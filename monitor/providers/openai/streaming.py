"""Streaming: one ``stream=true`` transcription of the probe clip, read as Server-Sent Events.

Only where the flavour documents it (OpenAI's gpt-4o transcription models,
self-hosted servers that stream); a model that does not stream ignores the
flag and answers plain JSON, which is reported, not taken for a stream.
Phases: ``upload``, ``first_transcript`` (from the end of the upload to the
first ``transcript.text.delta``, the key latency) and ``final`` (from the end
of the upload to ``transcript.text.done``). The stream ends when the server closes it (OpenAI
sends no ``[DONE]``; one is accepted). Deltas joined must match the done
event's text within the WER limit, and so must the done text the reference.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp

from monitor.models import ErrorKind, ProbeContext, ProbeResult, ProbeTarget
from monitor.probes.failures import (
    EXPECTED_ERRORS,
    UNREADABLE_JSON,
    Failure,
    bad_response,
    from_exception,
    remote_text,
    timed_out,
)
from monitor.probes.recorder import RunRecorder
from monitor.probes.timed_get import read_capped
from monitor.providers.openai.quirks import Flavour, flavour_of
from monitor.providers.openai.specs import StreamingSpec
from monitor.providers.openai.transcription import UploadClock, upload_trace, verify_text
from monitor.providers.openai.wire import (
    ERROR_BODY_LIMIT,
    audio_form,
    auth_headers,
    failure_of,
    note_headers,
    url,
)

NAME = "streaming"
UP_WORDING = "Streamed the probe clip's transcript and verified it; first text"
MAX_EVENT = 65_536


class _Stream:
    """What the events of one stream said."""

    def __init__(self) -> None:
        self.deltas: list[str] = []
        self.done_text: str | None = None
        self.error: str | None = None
        self.first_at: float | None = None
        self.done_at: float | None = None


def _event(data: str, seen: _Stream, now: float) -> Failure | None:
    """Take one ``data:`` payload; return why the stream is broken, or None."""
    if data.startswith("[DONE]"):
        return None
    try:
        event = json.loads(data)
    except UNREADABLE_JSON:
        return bad_response("A stream event is not JSON")
    if not isinstance(event, dict):
        return bad_response("A stream event is not a JSON object")
    if event.get("error"):
        error = event["error"]
        said = error.get("message") if isinstance(error, dict) else error
        seen.error = remote_text(said or "no message")
        return Failure(
            ErrorKind.SERVER_ERROR,
            f"The stream carried an error: {seen.error}",
            {"api_error": seen.error},
        )
    kind = event.get("type")
    if kind == "transcript.text.delta" and isinstance(event.get("delta"), str):
        if seen.first_at is None:
            seen.first_at = now
        seen.deltas.append(event["delta"])
    elif kind == "transcript.text.done" and isinstance(event.get("text"), str):
        seen.done_text = event["text"]
        seen.done_at = now
    return None


async def _read_events(
    resp: aiohttp.ClientResponse, seen: _Stream, rec: RunRecorder
) -> Failure | None:
    """Read the event stream to its end (or the done event); return what went wrong."""
    data: list[str] = []
    while True:
        line = await resp.content.readline()
        if not line:
            break  # the server closed the stream
        if len(line) > MAX_EVENT:
            return bad_response("A stream event is implausibly long")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if text.startswith("data:"):
            data.append(text[5:].lstrip(" "))
            continue
        if text or not data:
            continue  # event:, id:, comments; blank lines between events
        failure = _event("\n".join(data), seen, rec.now())
        data = []
        if failure is not None:
            return failure
        if seen.done_text is not None:
            return None
    if data:
        return _event("\n".join(data), seen, rec.now())
    return None


def _judge(seen: _Stream, spec: StreamingSpec, details: dict[str, Any]) -> Failure | None:
    details["deltas"] = len(seen.deltas)
    if not seen.deltas:
        return Failure(ErrorKind.STREAM_NO_TRANSCRIPT, "The stream ended without a text delta")
    if seen.done_text is None:
        return Failure(
            ErrorKind.STREAM_CLOSED,
            f"The stream ended after {len(seen.deltas)} deltas without its done event",
        )
    joined = "".join(seen.deltas)
    # Some servers leave done.text empty; the deltas are then the transcript.
    text = seen.done_text or joined
    return verify_text(text, spec.max_wer, details)


async def run(target: ProbeTarget, spec: StreamingSpec, ctx: ProbeContext) -> ProbeResult:
    """Return the result of one streamed transcription of the probe clip against `target`."""
    flavour: Flavour = flavour_of(target, spec.flavour)
    model = spec.model or flavour.streaming_model or flavour.default_model
    rec = RunRecorder(target, NAME, ctx)
    rec.details.update(flavour=flavour.name, model=model)
    if not flavour.streams(model):
        return rec.down(
            bad_response(
                f"{flavour.label} documents no streaming for the model {model!r}: "
                "configure a streaming model or drop this probe"
            )
        )
    sent = UploadClock()
    seen = _Stream()
    failure: Failure | None = None
    start = rec.now()
    try:
        async with (
            asyncio.timeout(spec.timeout),
            ctx.session_factory(trace_configs=[upload_trace(sent, rec.now)]) as session,
            session.post(
                url(target, "/audio/transcriptions"),
                data=audio_form(model, "json", spec.language, stream=True),
                headers=auth_headers(target, ctx.user_agent),
                allow_redirects=False,
            ) as resp,
        ):
            uploaded = sent.sent_at if sent.sent_at is not None else rec.now()
            rec.phases["upload"] = uploaded - start
            rec.details["http_status"] = resp.status
            note_headers(flavour, resp.headers, rec.details)
            if resp.status != 200:
                body = await read_capped(resp, ERROR_BODY_LIMIT)
                failure = failure_of(
                    flavour,
                    resp.status,
                    body or b"",
                    during="starting the stream",
                    retry_after=resp.headers.get("Retry-After"),
                    model=model,
                )
            elif resp.content_type == "application/json":
                # A server (or model) that does not stream answers the whole transcript.
                failure = Failure(
                    ErrorKind.STREAM_NO_TRANSCRIPT,
                    "The server answered JSON, not an event stream: it ignored stream=true",
                )
            elif resp.content_type != "text/event-stream":
                failure = bad_response(
                    f"The stream answer is {resp.content_type or 'untyped'}, not text/event-stream"
                )
            else:
                try:
                    failure = await _read_events(resp, seen, rec)
                except aiohttp.ClientPayloadError:
                    failure = None  # cut off mid-stream: judged by what arrived
                if failure is None:
                    failure = _judge(seen, spec, rec.details)
                if seen.done_at is not None:
                    rec.phases["final"] = seen.done_at - uploaded
    except TimeoutError:
        failure = timed_out(spec.timeout, during="waiting for the stream")
    except EXPECTED_ERRORS as exc:
        failure = from_exception(exc, during="streaming the transcription")
    if seen.first_at is not None:
        uploaded = sent.sent_at if sent.sent_at is not None else start
        rec.phases["first_transcript"] = seen.first_at - uploaded
        rec.details["first_transcript_s"] = round(rec.phases["first_transcript"], 6)
    if failure is not None:
        return rec.down(failure)
    first = rec.phases["first_transcript"]
    return rec.passed(first, spec.degraded_after, UP_WORDING)
