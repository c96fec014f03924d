"""Streaming probe: one live ``/v1/listen`` session with the probe clip at real-time pace.

Phases: ``connect`` (the upgrade), ``first_transcript`` (from the first audio
frame to the first Results with text, interim or final — the latency users
feel, and the key latency), ``first_final`` (from the first audio frame to
the first ``is_final`` Results with text), ``finalize`` (from ``Finalize`` to
the ``from_finalize`` Results it flushes), ``close`` (from ``CloseStream`` to
the ``Metadata`` and the close 1000).

The clip goes out in ``frame_ms`` frames on absolute deadlines from the first
one, with its leading silence cut to 50 ms so the latency is the API's, not
the clip's. Then ``Finalize`` (the probe waits up to ``finalize_wait`` for its
final), then ``CloseStream``. A stream is billed while open, so it is always
closed: ``CloseStream`` and the socket close run shielded, on success,
failure, timeout or cancellation, within :data:`CLOSE_GRACE_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from monitor.models import ErrorKind, ProbeContext, ProbeResult, ProbeTarget
from monitor.probeclip import ProbeClip, load_clip
from monitor.probes.failures import (
    EXPECTED_ERRORS,
    Failure,
    bad_response,
    inaccurate,
    remote_text,
    timed_out,
)
from monitor.probes.recorder import RunRecorder
from monitor.probes.stream_session import (
    ClipStream,
    SocketSeen,
    end_stream,
    is_open,
    read_socket,
    run_stream,
    wait_either,
)
from monitor.providers.deepgram.specs import StreamingSpec
from monitor.providers.deepgram.wire import (
    ERROR_HEADER,
    auth_headers,
    close_failure,
    status_failure,
)

NAME = "streaming"
MAX_MSG_BYTES = 1024 * 1024
LEAD_MS = 50
CLOSE_GRACE_S = 1.5
PHASES = ("connect", "first_transcript", "first_final", "finalize", "close")


def live_query(spec: StreamingSpec, clip: ProbeClip) -> str:
    """Return the query of the probe's WebSocket (raw linear16 PCM, interim results on)."""
    params = [
        ("model", spec.model),
        ("language", spec.language),
        ("encoding", "linear16"),
        ("sample_rate", str(clip.sample_rate)),
        ("channels", str(clip.channels)),
        ("interim_results", "true"),
        ("punctuate", "true"),
        ("endpointing", str(spec.endpointing_ms)),
        ("tag", "sttwatch"),
    ]
    if spec.mip_opt_out:
        params.append(("mip_opt_out", "true"))
    return urlencode(params)


def frames(clip: ProbeClip, frame_ms: int) -> list[bytes]:
    """Return the clip's PCM from :data:`LEAD_MS` before its first sound, in `frame_ms` frames."""
    lead = len(clip.pcm) - len(clip.pcm.lstrip(b"\0"))  # exact zeros: the clip is undithered
    width = clip.channels * clip.sample_width
    cut = max(0, lead - int(LEAD_MS * clip.bytes_per_ms))
    pcm = clip.pcm[cut - cut % width :]
    size = int(frame_ms * clip.bytes_per_ms)
    size -= size % width
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def _has_text(data: dict[str, Any]) -> str | None:
    """Return the transcript of a Results message (None if it has none)."""
    try:
        text = data["channel"]["alternatives"][0]["transcript"]
    except (KeyError, IndexError, TypeError):
        return None
    return text if isinstance(text, str) else None


@dataclass(slots=True)
class _Session(SocketSeen):
    """What the receiver saw, with monotonic arrival times."""

    finalized: asyncio.Event = field(default_factory=asyncio.Event)
    first_text_at: float | None = None
    first_final_at: float | None = None
    finalized_at: float | None = None
    metadata_at: float | None = None
    finals: list[str] = field(default_factory=list)
    results: int = 0
    request_id: str | None = None

    def on_message(self, data: Any, at: float) -> Failure | None:
        """Update the session with one decoded server message; return a protocol failure."""
        if not isinstance(data, dict):
            return bad_response("A streaming message is not a JSON object")
        kind = data.get("type")
        if kind == "Results":
            text = _has_text(data)
            if text is None or not isinstance(data.get("is_final"), bool):
                return bad_response("A Results message lacks its transcript or is_final")
            self.results += 1
            # Text before any audio went out is not a transcript of it.
            heard = bool(text.strip()) and self.first_frame_at is not None
            if heard and self.first_text_at is None:
                self.first_text_at = at
            if data["is_final"]:
                self.finals.append(text)
                if heard and self.first_final_at is None:
                    self.first_final_at = at
                if data.get("from_finalize") is True and self.finalized_at is None:
                    self.finalized_at = at
                    self.finalized.set()
        elif kind == "Metadata":
            rid = data.get("request_id")
            if isinstance(rid, str):
                self.request_id = remote_text(rid, 64)
            self.metadata_at = at
        elif kind == "Error":
            said = data.get("description") or data.get("message") or ""
            self.error_message = remote_text(said)
        # UtteranceEnd, SpeechStarted and unknown types are not the probe's concern.
        return None

    def final_text(self) -> str:
        """Return the session's transcript: the finals, in order."""
        return " ".join(t for t in self.finals if t.strip())


class _Run(ClipStream[_Session]):
    """One live session; `converse` is its happy path, `close` its cleanup."""

    cut = staticmethod(frames)
    close_failure = staticmethod(close_failure)

    def __init__(
        self, target: ProbeTarget, spec: StreamingSpec, ctx: ProbeContext, rec: RunRecorder
    ) -> None:
        self.target, self.spec, self.ctx, self.rec = target, spec, ctx, rec
        self.clip = load_clip()
        self.frame_ms = spec.frame_ms
        self.s = _Session(ctx.clock)
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.receiver: asyncio.Task[None] | None = None
        self.finalize_sent_at: float | None = None
        self.close_sent_at: float | None = None
        self.stage = "opening the WebSocket"

    async def converse(self, http: aiohttp.ClientSession) -> Failure | None:
        """Run the session from upgrade to close; return the failure, or None."""
        rec, spec, s = self.rec, self.spec, self.s
        url = f"{self.target.streaming_base}/v1/listen?{live_query(spec, self.clip)}"
        with rec.phase("connect"):
            try:
                self.ws = await http.ws_connect(
                    url,
                    headers=auth_headers(self.target, self.ctx.user_agent),
                    max_msg_size=MAX_MSG_BYTES,
                    timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_GRACE_S),
                )
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status < 300:
                    raise  # not a refusal: from_exception names the protocol violation
                return self._refused(exc)
        # The SDK passes binary frames through; none of Deepgram's is binary: skipped.
        self.receiver = asyncio.create_task(
            read_socket(self.ws, s, s.on_message, during=NAME, binary_is_error=False)
        )

        self.stage = "streaming audio"
        await self._send_audio(self.ws)
        if s.closed.is_set():
            return self._closed_early("streaming audio")

        self.stage = "waiting for the finalized Results"
        self.finalize_sent_at = rec.now()
        with contextlib.suppress(*EXPECTED_ERRORS):
            await self.ws.send_str(json.dumps({"type": "Finalize"}))
        await wait_either(s.finalized, s.closed, spec.finalize_wait)
        if s.closed.is_set():
            return self._closed_early(self.stage)

        self.stage = "waiting for Metadata and the close"
        self.close_sent_at = rec.now()
        with contextlib.suppress(*EXPECTED_ERRORS):
            await self.ws.send_str(json.dumps({"type": "CloseStream"}))
        await s.closed.wait()
        if s.failure is not None:
            return s.failure
        if s.close_code != aiohttp.WSCloseCode.OK:
            return self._closed_early(self.stage)
        if s.metadata_at is None:
            return Failure(
                ErrorKind.STREAM_CLOSED,
                "The stream closed (1000) without the Metadata that ends a session",
                {"close_code": s.close_code},
            )
        return self._verify()

    def _refused(self, exc: aiohttp.WSServerHandshakeError) -> Failure:
        headers: Mapping[str, str] = exc.headers or {}
        failure = status_failure(exc.status, headers, b"", during="opening the WebSocket")
        said = headers.get(ERROR_HEADER)
        if said:
            failure.details["api_error"] = remote_text(said)
        return failure

    def _verify(self) -> Failure | None:
        s, rec, spec = self.s, self.rec, self.spec
        text = s.final_text()
        if not text.strip():
            return Failure(
                ErrorKind.STREAM_NO_TRANSCRIPT,
                f"The session ended without a final Results with text ({s.results} Results)",
            )
        failure = inaccurate(
            self.clip.reference_text, text, spec.max_wer, rec.details, "streamed transcript"
        )
        if failure is not None:
            return failure
        if s.first_text_at is None:
            return Failure(ErrorKind.STREAM_NO_TRANSCRIPT, "No Results with text arrived")
        return None

    def timing_phases(self) -> None:
        """Copy the message-arrival timings into phases and details."""
        s, rec = self.s, self.rec
        first = s.first_frame_at
        if first is not None and s.first_text_at is not None:
            rec.phases["first_transcript"] = s.first_text_at - first
            rec.details["first_transcript_s"] = round(rec.phases["first_transcript"], 6)
        if first is not None and s.first_final_at is not None:
            rec.phases["first_final"] = s.first_final_at - first
        if self.finalize_sent_at is not None and s.finalized_at is not None:
            rec.phases["finalize"] = max(0.0, s.finalized_at - self.finalize_sent_at)
        if self.close_sent_at is not None and s.closed_at is not None:
            rec.phases["close"] = max(0.0, s.closed_at - self.close_sent_at)
        if s.request_id:
            rec.details["request_id"] = s.request_id
        if s.close_code is not None:
            rec.details["close_code"] = s.close_code
            rec.details["close_reason"] = remote_text(s.close_reason or "", 123)
        if s.error_message:
            rec.details["error"] = s.error_message
        rec.phases = {p: rec.phases[p] for p in PHASES if p in rec.phases}

    def timeout_failure(self) -> Failure:
        """Return why the session did not end within the probe's timeout."""
        s, spec = self.s, self.spec
        if s.failure is not None:
            return s.failure
        if self.ws is not None and s.first_text_at is None and s.first_frame_at is not None:
            return Failure(
                ErrorKind.STREAM_NO_TRANSCRIPT,
                f"The stream opened but no Results with text arrived within {spec.timeout:g} s",
            )
        return timed_out(spec.timeout, during=self.stage)

    async def close(self) -> None:
        """Send CloseStream (if not yet) and close the socket, within CLOSE_GRACE_S."""
        ws, s = self.ws, self.s
        goodbye = None
        if self.close_sent_at is None and is_open(ws, s):
            self.close_sent_at = self.rec.now()
            goodbye = json.dumps({"type": "CloseStream"})
        await end_stream(ws, s, self.receiver, goodbye=goodbye, wait=True, grace_s=CLOSE_GRACE_S)


async def run(target: ProbeTarget, spec: StreamingSpec, ctx: ProbeContext) -> ProbeResult:
    """Return the result of one live session with the probe clip against `target`."""
    rec = RunRecorder(target, NAME, ctx)
    probe = _Run(target, spec, ctx, rec)
    failure = await run_stream(probe, ctx.session_factory, spec.timeout)
    probe.timing_phases()
    if failure is not None:
        return rec.down(failure)
    return rec.passed(
        rec.phases["first_transcript"],
        spec.degraded_after,
        "Streamed the probe clip, verified the finals and closed the stream; first transcript",
    )
