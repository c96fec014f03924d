"""Live ``/v1/listen``: the WebSocket session, its Results, control messages and faults.

The session hears audio as it arrives (``..hearing``). Words accumulate in a
*window* that starts where the last final ended. A window is made final when
the speaker pauses for ``endpointing`` ms (``speech_final: true``), when it
reaches ``max_window_ms`` of audio, on ``Finalize`` (``from_finalize: true``)
and on ``CloseStream``; between finals, with ``interim_results=true``, an
interim Results goes out every ``interim_interval_ms`` of audio. ``CloseStream``
(or an empty binary frame) flushes the window, sends ``Metadata`` and closes
1000; ten seconds without any frame close 1011 NET-0001.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import struct
from typing import Any

from aiohttp import WSMsgType, web

from ..clips import WordTiming
from ..hearing import Hearing
from . import results
from .answers import ERROR_HEADER, REQUEST_ID_HEADER, error_response, fault_response, new_request_id
from .answers import parse_authorization as parse_header
from .params import HEARD_ENCODINGS, LiveQuery, QueryError, parse_live
from .rest import STATE_KEY, is_container
from .scenario import WS_ACTIONS, Fault
from .state import DeepgramState

NET0000 = (
    "Deepgram did not provide a response message within the timeout window. "
    "See https://dpgr.am/net0000"
)
NET0001 = (
    "Deepgram did not receive audio data or a text message within the timeout window. "
    "See https://dpgr.am/net0001"
)
DATA0000 = "DATA-0000: the payload could not be decoded as audio"
CLIENT_TYPES = frozenset({"KeepAlive", "Finalize", "CloseStream", "Configure"})
MAX_REASON_BYTES = 123


def _wav_pcm(data: bytes) -> tuple[int, int, int] | None:
    """Return (sample rate, bits per sample, offset of the samples) of a WAV header in ``data``."""
    if not (data.startswith(b"RIFF") and data[8:12] == b"WAVE"):
        return None
    pos, rate, bits = 12, 0, 0
    while pos + 8 <= len(data):
        name, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if name == b"fmt " and pos + 24 <= len(data):
            rate = struct.unpack("<I", data[pos + 12 : pos + 16])[0]
            bits = struct.unpack("<H", data[pos + 22 : pos + 24])[0]
        if name == b"data":
            return rate, bits, pos + 8
        pos += 8 + size + size % 2
    return None


class LiveSession:
    """One streaming session: reads client frames, sends Results and Metadata."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        state: DeepgramState,
        query: LiveQuery,
        faults: list[Fault],
        request_id: str,
    ) -> None:
        self.ws, self.state, self.query, self.request_id = ws, state, query, request_id
        self.options = state.scenario.streaming
        self.actions = {fault.action: fault for fault in faults}
        self.loop = asyncio.get_running_loop()
        self.send_lock = asyncio.Lock()
        self.created = results.created_now()
        self.hearing: Hearing | None = None
        self.deaf = False  # audio we cannot decode (opus, ...): counted, never heard
        self.bytes_per_ms = 32.0
        self.received = 0
        self.sha = hashlib.sha256()
        self.window_start_ms = 0.0
        self.last_interim_ms = 0.0
        self.done = 0  # words already sent in finals
        self.segments_seen = 0
        self.last_final_word_end: float | None = None
        self.utterance_end_sent_for: float | None = None
        self.audio_seen = False
        self.last_frame_at = self.loop.time()
        delay = self.actions.get("first_result_delay")
        self.hold_ms = delay.delay_ms if delay is not None else self.options.first_result_delay_ms
        self.release: asyncio.Task[None] | None = None
        self.deferred: list[str] = []
        self.wrong = (
            (self.actions["wrong_text"].text or "").split() if "wrong_text" in self.actions else []
        )
        self.closed_by_client = False
        self.server_closed = False
        self.tasks: list[asyncio.Task[None]] = []
        self.finished = False

    # -- sending -------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message unless the socket is already closing."""
        async with self.send_lock:
            if not self.ws.closed:
                with contextlib.suppress(ConnectionError):
                    await self.ws.send_json(message)

    async def close(self, code: int, reason: str, error_frame: bool = False) -> None:
        """Close from the server side (after an Error frame if asked); reason capped at 123 B."""
        if self.server_closed or self.ws.closed:
            return
        self.server_closed = True
        # Counted before the close frame leaves: a client that sees it finds the state settled.
        self.finish()
        if error_frame:
            await self.send(
                {"type": "Error", "variant": "CloseError", "description": reason, "code": str(code)}
            )
        raw = reason.encode()[:MAX_REASON_BYTES].decode(errors="ignore").encode()
        async with self.send_lock:
            with contextlib.suppress(ConnectionError):
                await self.ws.close(code=code, message=raw)

    def finish(self) -> None:
        """Record, once, how the session ended: closed (by either side) or dropped by the client."""
        if self.finished:
            return
        self.finished = True
        streams = self.state.streams
        streams["active"] -= 1
        ended_well = self.closed_by_client or self.server_closed or self.state.closing.is_set()
        streams["closed" if ended_well else "dropped"] += 1

    @property
    def received_ms(self) -> float:
        """Return how much audio (ms) has arrived."""
        return self.received / self.bytes_per_ms

    # -- what is heard -------------------------------------------------------

    def _words(self) -> list[WordTiming]:
        words = self.hearing.words() if self.hearing is not None else []
        if self.wrong:
            words = [
                WordTiming(self.wrong[i % len(self.wrong)], w.start, w.end, w.confidence)
                for i, w in enumerate(words)
            ]
        return words

    def _frame(self, words: list[WordTiming], end_ms: float, **flags: bool) -> dict[str, Any]:
        return results.results_frame(
            request_id=self.request_id,
            model=self.query.model,
            start_ms=self.window_start_ms,
            end_ms=end_ms,
            words=words,
            formatted=self.query.formatted,
            channels=self.query.channels,
            **flags,
        )

    async def _final(self, words: list[WordTiming], end_ms: float, **flags: bool) -> None:
        await self.send(self._frame(words, end_ms, is_final=True, **flags))
        self.done += len(words)
        if words:
            self.last_final_word_end = words[-1].end
        self.window_start_ms = self.last_interim_ms = end_ms

    async def emit(self) -> None:
        """Send the Results (and UtteranceEnd / SpeechStarted) the audio so far calls for."""
        # Held by a first_result_delay until its timer releases it (hold_ms is then None).
        if "no_results" in self.actions or self.hold_ms is not None:
            return
        received, words = self.received_ms, self._words()
        await self._vad_events()
        pending = words[self.done :]
        complete = [w for w in pending if w.end <= received]
        endpointing = self.query.endpointing_ms
        if (
            endpointing is not None
            and complete
            and len(complete) == len(pending)
            and received - complete[-1].end >= endpointing
        ):
            await self._final(complete, received, speech_final=True)
        elif received - self.window_start_ms >= self.options.max_window_ms:
            cut = next((w.start for w in pending if w.end > received), received)
            await self._final([w for w in complete if w.start < cut], cut)
        elif (
            self.query.interim_results
            and received - self.last_interim_ms >= self.options.interim_interval_ms
        ):
            heard = [w for w in pending if w.start < received]
            await self.send(self._frame(heard, received, is_final=False))
            self.last_interim_ms = received
        await self._utterance_end(received)

    async def _vad_events(self) -> None:
        if "vad_events" not in self.query.flags or self.hearing is None:
            return
        for segment in self.hearing.segments[self.segments_seen :]:
            start_s = segment.start_byte / self.bytes_per_ms / 1000
            await self.send(
                {"type": "SpeechStarted", "channel": [0, 1], "timestamp": round(start_s, 3)}
            )
        self.segments_seen = len(self.hearing.segments)

    async def _utterance_end(self, received: float) -> None:
        gap, last = self.query.utterance_end_ms, self.last_final_word_end
        if gap is None or last is None or self.utterance_end_sent_for == last:
            return
        if received - last >= gap:
            self.utterance_end_sent_for = last
            await self.send(
                {"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": last / 1000}
            )

    async def flush(self, *, from_finalize: bool) -> None:
        """Make everything heard since the last final final (Finalize, CloseStream)."""
        if "no_results" in self.actions or self.received_ms <= self.window_start_ms:
            return
        pending = self._words()[self.done :]
        await self._final(pending, self.received_ms, from_finalize=from_finalize)

    async def _release_after(self, delay_ms: int) -> None:
        await asyncio.sleep(delay_ms / 1000)
        self.hold_ms = None
        await self.emit()
        # What the client asked for while the first result was held, in order.
        for kind in self.deferred:
            if kind == "Finalize":
                await self.flush(from_finalize=True)
            elif not await self.close_stream():
                return

    def _defer(self, kind: str) -> bool:
        """Keep a Finalize/CloseStream for after a held first result (the loop keeps reading)."""
        if self.release is None or self.release.done():
            return False
        self.deferred.append(kind)
        # The client did its part: a drop now is not one that leaves a stream billing.
        self.closed_by_client = self.closed_by_client or kind == "CloseStream"
        return True

    # -- client frames -------------------------------------------------------

    def _start_hearing(self, data: bytes) -> bytes | None:
        """Set up hearing from the first audio frame; return its samples (None: undecodable)."""
        encoding, rate = self.query.encoding, self.query.sample_rate or 16000
        wav = _wav_pcm(data)
        if encoding is None:
            if wav is None:
                if not is_container(data):
                    return None
                self.deaf = True
                return data
            rate, bits, offset = wav
            if bits != 16:
                self.deaf = True
                return data
            encoding, data = "linear16", data[offset:]
        elif encoding == "linear16" and wav is not None:
            data = data[wav[2] :]  # a WAV header sent as linear16 is skipped, not heard as noise
        heard_as = HEARD_ENCODINGS.get(encoding)
        width = 1 if encoding in ("mulaw", "alaw") else 4 if encoding == "linear32" else 2
        self.bytes_per_ms = rate * width * self.query.channels / 1000
        if heard_as is None or self.query.channels != 1:
            self.deaf = True
        else:
            self.hearing = Hearing(self.state.clips, rate, heard_as)
        return data

    async def on_audio(self, data: bytes) -> bool:
        """Handle one binary frame; return False once the session is over."""
        if not data:
            # The old, deprecated close signal.
            return True if self._defer("CloseStream") else await self.close_stream()
        self.sha.update(data)
        if not self.audio_seen:
            self.audio_seen = True
            samples = self._start_hearing(data)
            if samples is None:
                reason = DATA0000 if self.options.close_reason_style == "sentence" else "DATA-0000"
                await self.close(self.options.data_error_code, reason)
                return False
            data = samples
            if self.hold_ms is not None and "no_results" not in self.actions:
                self.release = asyncio.create_task(self._release_after(self.hold_ms))
        self.received += len(data)
        if self.hearing is not None:
            self.hearing.feed(data)
        await self.emit()
        return True

    async def on_text(self, text: str) -> bool:
        """Handle one control message; return False once the session is over."""
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind not in CLIENT_TYPES:
            # The SDK's Error frame; the socket stays open (upstream: unverified).
            await self.send(
                {
                    "type": "Error",
                    "variant": "SchemaError",
                    "description": "Could not parse the client message",
                    "message": text[:200],
                }
            )
            return True
        if kind == "KeepAlive":
            return True
        if kind in ("Finalize", "CloseStream") and self._defer(kind):
            return True
        if kind == "Finalize":
            await self.flush(from_finalize=True)
            return True
        if kind == "Configure":
            keyterms = message.get("keyterms") if isinstance(message, dict) else None
            reply: dict[str, Any] = {"type": "ConfigureSuccess", "request_id": self.request_id}
            if isinstance(keyterms, list):
                reply["keyterms"] = [str(k) for k in keyterms]
            await self.send(reply)
            return True
        return await self.close_stream()

    async def close_stream(self) -> bool:
        """Flush, send Metadata and close 1000 (unless a fault says otherwise)."""
        self.closed_by_client = True
        if "hang_close" in self.actions:
            return True
        await self.flush(from_finalize=False)
        if "no_metadata" not in self.actions:
            await self.send(
                results.metadata_frame(
                    request_id=self.request_id,
                    sha256=self.sha.hexdigest(),
                    created=self.created,
                    duration_ms=self.received_ms,
                    channels=self.query.channels,
                    model=self.query.model,
                )
            )
        await self.close(1000, "")
        return False

    # -- lifecycle -----------------------------------------------------------

    async def _watch_idle(self) -> None:
        timeout = self.options.idle_timeout_s
        while True:
            idle = self.loop.time() - self.last_frame_at
            if idle >= timeout:
                break
            await asyncio.sleep(timeout - idle)
        reason = NET0001 if self.options.close_reason_style == "sentence" else "NET-0001"
        await self.close(1011, reason)

    async def _close_fault(self, fault: Fault) -> None:
        await asyncio.sleep((fault.after_ms or 0) / 1000)
        await self.close(fault.code or 1011, fault.reason or "", fault.error_frame)

    async def run(self) -> None:
        """Serve the session until either side closes it."""
        self.tasks.append(asyncio.create_task(self._watch_idle()))
        if "close" in self.actions:
            self.tasks.append(asyncio.create_task(self._close_fault(self.actions["close"])))
        try:
            async for msg in self.ws:
                if msg.type == WSMsgType.BINARY:
                    self.last_frame_at = self.loop.time()
                    if not await self.on_audio(msg.data):
                        break
                elif msg.type == WSMsgType.TEXT:
                    if self.audio_seen or self.options.keepalive_before_audio:
                        self.last_frame_at = self.loop.time()
                    if self.closed_by_client and "hang_close" in self.actions:
                        continue
                    if not await self.on_text(msg.data):
                        break
                else:
                    break
        finally:
            for task in [*self.tasks, self.release]:
                if task is not None and not task.done() and task is not asyncio.current_task():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task


def _credential(request: web.Request) -> tuple[str, str, str | None] | None:
    """Return (scheme, credential, subprotocol to echo) from the header or the subprotocols."""
    parsed = parse_header(request.headers.get("Authorization"))
    if parsed is not None:
        return parsed[0], parsed[1], None
    offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
    if len(offered) >= 2 and offered[0].lower() in ("token", "bearer") and offered[1]:
        return offered[0].lower(), offered[1], offered[0]
    return None


async def websocket(request: web.Request) -> web.StreamResponse:
    """Serve ``GET /v1/listen`` as a WebSocket: faults, auth, query, then one session."""
    state = request.app[STATE_KEY]
    stackable = frozenset(WS_ACTIONS - {"refuse"})
    faults = state.faults.pick(
        "ws", WS_ACTIONS | {"wrong_text"}, stackable=stackable | {"wrong_text"}
    )
    refuse = next((f for f in faults if f.action == "refuse"), None)
    if refuse is not None:
        return fault_response(refuse)
    request_id = new_request_id()
    found = _credential(request)
    key = state.key_of(found[0], found[1]) if found is not None else None
    if found is None or key is None:
        return error_response(401, "INVALID_AUTH", "Invalid credentials.", request_id)
    try:
        query = parse_live(request.query, state.scenario.strict_booleans)
    except QueryError as exc:
        return error_response(400, "INVALID_QUERY_PARAMETER", str(exc), request_id)
    protocols = (found[2],) if found[2] is not None else ()
    ws = web.WebSocketResponse(protocols=protocols, autoping=True, max_msg_size=16 * 1024 * 1024)
    ws.headers[REQUEST_ID_HEADER] = request_id
    ws.headers["access-control-expose-headers"] = (
        f"dg-model-name,dg-model-uuid,dg-char-count,{REQUEST_ID_HEADER},{ERROR_HEADER}"
    )
    await ws.prepare(request)
    state.sockets.add(ws)
    state.streams["opened"] += 1
    state.streams["active"] += 1
    session = LiveSession(ws, state, query, faults, request_id)
    try:
        await session.run()
    finally:
        session.finish()
        state.sockets.discard(ws)
        if not ws.closed:
            with contextlib.suppress(ConnectionError):
                await ws.close()
    return ws


def add_routes(app: web.Application) -> None:
    """Register the live ``/v1/listen`` WebSocket (GET; POST is the pre-recorded route)."""
    app.router.add_get("/v1/listen", websocket, name="ws")
