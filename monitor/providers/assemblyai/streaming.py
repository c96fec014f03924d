"""Streaming probe: one v3 WebSocket session with the probe clip sent at real-time pace.

Phases: ``token`` (only with ``auth: token``), ``connect`` (the upgrade),
``begin`` (until the ``Begin`` message), ``first_transcript`` (from sending
the first audio frame to the arrival of the first ``Turn`` with text — the
latency users feel, and the key latency for ``degraded``), ``final`` (from
the last audio frame to the last end-of-turn ``Turn``), ``terminate`` (from
sending ``Terminate`` to ``Termination`` and the close).

Audio goes out in ``frame_ms`` frames scheduled on absolute deadlines from
the first frame, so pacing never drifts; the last frame is padded with
silence to 50 ms (shorter frames are a protocol violation, close 3007). A
receiver task reads the socket concurrently and timestamps each message on
arrival. After the audio the probe sends ``ForceEndpoint`` so the open turn
ends without waiting for silence, then ``Terminate``.

The session is billed by its length, so it is always terminated and the
socket closed, on success, failure, timeout or cancellation: the close runs
shielded, within :data:`CLOSE_GRACE_S` after the run's own timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from monitor.models import ErrorKind, ProbeContext, ProbeResult, ProbeTarget
from monitor.probeclip import ProbeClip, load_clip
from monitor.probes.failures import (
    EXPECTED_ERRORS,
    Failure,
    bad_response,
    from_close,
    from_status,
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
from monitor.providers.assemblyai.specs import StreamingSpec

NAME = "streaming"
MAX_MSG_BYTES = 256 * 1024
MIN_FRAME_MS = 50
# Silence kept before the first word: the rest of the clip's leading silence is not sent.
LEAD_MS = 50
# How long the probe waits, after ForceEndpoint, for the open turn to end.
FINAL_WAIT_S = 1.5
# Time allowed after the run's timeout to terminate the session and close the socket.
CLOSE_GRACE_S = 1.5
TOKEN_EXPIRES_S = 60
TOKEN_MAX_SESSION_S = 60  # the smallest cap the API accepts; a probe session lasts seconds
ENCODING = "pcm_s16le"
PHASES = ("token", "connect", "begin", "first_transcript", "final", "terminate")


def streamed_pcm(clip: ProbeClip) -> bytes:
    """Return the clip's PCM with its leading silence cut to :data:`LEAD_MS`.

    ``first_transcript`` runs from the first frame; silence before the first word
    would add a constant that is the clip's, not the API's, to the latency users feel.
    """
    lead = len(clip.pcm) - len(clip.pcm.lstrip(b"\0"))  # exact zeros: the clip is undithered
    frame = clip.channels * clip.sample_width
    cut = max(0, lead - int(LEAD_MS * clip.bytes_per_ms))
    return clip.pcm[cut - cut % frame :]


def frames(clip: ProbeClip, frame_ms: int) -> list[bytes]:
    """Return the streamed PCM cut into `frame_ms` frames, the last padded to ≥ 50 ms."""
    pcm = streamed_pcm(clip)
    size = int(frame_ms * clip.bytes_per_ms)
    minimum = int(MIN_FRAME_MS * clip.bytes_per_ms)
    out = [pcm[i : i + size] for i in range(0, len(pcm), size)]
    if out and len(out[-1]) < minimum:
        out[-1] = out[-1] + bytes(minimum - len(out[-1]))  # zero samples are silence
    return out


def _http_base(streaming_base: str) -> str:
    parts = urlsplit(streaming_base)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, parts.path, "", ""))


@dataclass(slots=True)
class _Session(SocketSeen):
    """What the receiver saw, with monotonic arrival times."""

    begun: asyncio.Event = field(default_factory=asyncio.Event)
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    session_id: str | None = None
    first_text_at: float | None = None
    last_eot_at: float | None = None
    termination_at: float | None = None
    turns: dict[int, str] = field(default_factory=dict)
    ended_turns: set[int] = field(default_factory=set)
    last_turn_ended: bool | None = None

    def final_text(self) -> str:
        """Return the session's transcript: every turn's latest text, in turn order."""
        return " ".join(t for _, t in sorted(self.turns.items()) if t)

    def on_message(self, data: Any, at: float) -> Failure | None:
        """Update the session with one decoded server message; return a protocol failure."""
        if not isinstance(data, dict):
            return bad_response("A streaming message is not a JSON object")
        kind = data.get("type")
        if kind == "Begin":
            sid = data.get("id")
            self.session_id = remote_text(sid, 64) if isinstance(sid, str) else None
            self.begun.set()
        elif kind == "Turn":
            order, text = data.get("turn_order"), data.get("transcript")
            if not isinstance(order, int) or not isinstance(text, str):
                return bad_response("A Turn message lacks turn_order or transcript")
            if order not in self.ended_turns or data.get("turn_is_formatted"):
                self.turns[order] = text
            # Text before any audio went out is not a transcript of it (a hostile or
            # confused server): counting it would make the latency negative.
            if (
                self.first_text_at is None
                and self.first_frame_at is not None
                and (text.strip() or _has_words(data.get("words")))
            ):
                self.first_text_at = at
            ended = data.get("end_of_turn") is True
            self.last_turn_ended = ended
            if ended:
                self.ended_turns.add(order)
                self.last_eot_at = at
                self.settled.set()
            else:
                self.settled.clear()
        elif kind == "Termination":
            self.termination_at = at
        elif kind == "Error" or (kind is None and "error" in data):
            self.error_message = remote_text(data.get("error", ""))
        # Unknown types (Warning, SpeechStarted, ...) are ignored, as the SDK does.
        return None


def _has_words(words: Any) -> bool:
    """Return True if a Turn's ``words`` hold any text, final or not.

    ``transcript`` carries finalized words only; the first partial word is what a
    user sees first, so it is what ``first_transcript`` times.
    """
    return isinstance(words, list) and any(
        isinstance(w, dict) and isinstance(w.get("text"), str) and w["text"].strip() for w in words
    )


class _Run(ClipStream[_Session]):
    """One streaming session; `converse` is its happy path, `close` its cleanup."""

    cut = staticmethod(frames)
    close_failure = staticmethod(from_close)

    def __init__(
        self, target: ProbeTarget, spec: StreamingSpec, ctx: ProbeContext, rec: RunRecorder
    ) -> None:
        self.target, self.spec, self.ctx, self.rec = target, spec, ctx, rec
        self.clip = load_clip()
        self.frame_ms = spec.frame_ms
        self.s = _Session(ctx.clock)
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.receiver: asyncio.Task[None] | None = None
        self.terminate_sent_at: float | None = None
        self.stage = "connecting"

    async def _token(self, http: aiohttp.ClientSession) -> str | Failure:
        url = f"{_http_base(self.target.streaming_base)}/v3/token"
        params = {
            "expires_in_seconds": str(TOKEN_EXPIRES_S),
            "max_session_duration_seconds": str(TOKEN_MAX_SESSION_S),
        }
        headers = {
            "Authorization": self.target.api_key.get_secret_value(),
            "User-Agent": self.ctx.user_agent,
        }
        during = "requesting a streaming token"
        async with http.get(url, params=params, headers=headers, allow_redirects=False) as resp:
            self.rec.details["http_status"] = resp.status
            if resp.status != 200:
                return from_status(
                    resp.status, during=during, retry_after=resp.headers.get("Retry-After")
                )
            raw = await resp.content.read(64 * 1024)
        try:
            token = json.loads(raw).get("token")
        except (ValueError, RecursionError, AttributeError):  # UNREADABLE_JSON too
            return bad_response("The token answer is not a JSON object", during=during)
        if not isinstance(token, str) or not token:
            return bad_response("The token answer has no token", during=during)
        return token

    async def converse(self, http: aiohttp.ClientSession) -> Failure | None:
        """Run the session from upgrade to close; return the failure, or None."""
        rec, spec, s = self.rec, self.spec, self.s
        params = {
            "sample_rate": str(self.clip.sample_rate),
            "encoding": ENCODING,
            "speech_model": spec.speech_model,
        }
        headers = {"User-Agent": self.ctx.user_agent}
        if spec.auth == "token":
            self.stage = "requesting a streaming token"
            with rec.phase("token"):
                token = await self._token(http)
            if isinstance(token, Failure):
                return token
            params["token"] = token
        else:
            headers["Authorization"] = self.target.api_key.get_secret_value()

        self.stage = "opening the WebSocket"
        with rec.phase("connect"):
            self.ws = await http.ws_connect(
                f"{self.target.streaming_base}/v3/ws",
                params=params,
                headers=headers,
                max_msg_size=MAX_MSG_BYTES,
                timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_GRACE_S),
            )
        self.receiver = asyncio.create_task(read_socket(self.ws, s, s.on_message, during=NAME))

        self.stage = "waiting for Begin"
        with rec.phase("begin"):
            begun = await wait_either(s.begun, s.closed)
        if not begun:
            return self._closed_early("waiting for Begin")

        self.stage = "streaming audio"
        await self._send_audio(self.ws)
        if s.closed.is_set():
            return self._closed_early("streaming audio")

        self.stage = "waiting for the end of the turn"
        with contextlib.suppress(*EXPECTED_ERRORS):
            await self.ws.send_str(json.dumps({"type": "ForceEndpoint"}))
        if s.last_turn_ended is False:
            await wait_either(s.settled, s.closed, FINAL_WAIT_S)

        self.stage = "waiting for Termination"
        with rec.phase("terminate"):
            self.terminate_sent_at = rec.now()
            with contextlib.suppress(*EXPECTED_ERRORS):
                await self.ws.send_str(json.dumps({"type": "Terminate"}))
            await s.closed.wait()
        if s.failure is not None:
            return s.failure
        if s.termination_at is None or s.close_code != aiohttp.WSCloseCode.OK:
            if s.close_code == aiohttp.WSCloseCode.OK:
                return Failure(
                    ErrorKind.STREAM_CLOSED,
                    "The streaming socket closed before Termination (close 1000)",
                    {"close_code": s.close_code},
                )
            return self._closed_early("waiting for Termination")
        return self._verify()

    def _verify(self) -> Failure | None:
        s, rec, spec = self.s, self.rec, self.spec
        text = s.final_text()
        if not text.strip():
            return Failure(
                ErrorKind.STREAM_NO_TRANSCRIPT,
                "The session opened but no Turn with text arrived",
            )
        failure = inaccurate(
            self.clip.reference_text, text, spec.max_wer, rec.details, "streamed transcript"
        )
        if failure is not None:
            return failure
        return None

    def timing_phases(self) -> None:
        """Copy the message-arrival timings into phases and details."""
        s, rec = self.s, self.rec
        if s.first_frame_at is not None and s.first_text_at is not None:
            rec.phases["first_transcript"] = s.first_text_at - s.first_frame_at
            rec.details["first_transcript_s"] = round(rec.phases["first_transcript"], 6)
        if s.last_frame_at is not None and s.last_eot_at is not None:
            rec.phases["final"] = max(0.0, s.last_eot_at - s.last_frame_at)
        if s.session_id:
            rec.details["session_id"] = s.session_id
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
            # The server broke the protocol (then kept the socket open until our deadline):
            # that, not the wait it caused, is why the session failed.
            return s.failure
        if s.begun.is_set() and s.first_text_at is None:
            return Failure(
                ErrorKind.STREAM_NO_TRANSCRIPT,
                f"The session opened but no Turn with text arrived within {spec.timeout:g} s",
            )
        return timed_out(spec.timeout, during=self.stage)

    async def close(self) -> None:
        """Terminate the session and close the socket, within CLOSE_GRACE_S.

        Terminate goes out even when no Begin arrived: the server accepted the
        upgrade, so a billed session may exist whose Begin was lost or late.
        Only a session that began is waited on for its Termination and close.
        """
        ws, s = self.ws, self.s
        goodbye = None
        if self.terminate_sent_at is None and is_open(ws, s):
            self.terminate_sent_at = self.rec.now()
            goodbye = json.dumps({"type": "Terminate"})
        await end_stream(
            ws, s, self.receiver, goodbye=goodbye, wait=s.begun.is_set(), grace_s=CLOSE_GRACE_S
        )


async def run(target: ProbeTarget, spec: StreamingSpec, ctx: ProbeContext) -> ProbeResult:
    """Return the result of one streaming session with the probe clip against `target`."""
    rec = RunRecorder(target, NAME, ctx)
    probe = _Run(target, spec, ctx, rec)
    failure = await run_stream(probe, ctx.session_factory, spec.timeout)
    probe.timing_phases()
    if failure is not None:
        return rec.down(failure)
    return rec.passed(
        rec.phases["first_transcript"],
        spec.degraded_after,
        "Streamed the probe clip, verified the text and terminated the session; first transcript",
    )
