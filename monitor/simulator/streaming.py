"""Streaming v3: temporary tokens and the ``/v3/ws`` session with its faults.

A session hears audio as it arrives (``hearing.py``): a word appears once
audio past its start has been received and is heard whole once audio past
its end has. Which ``Turn`` (and, for u3-rt-pro, ``SpeechStarted``) messages
that calls for is ``turns.py``'s business; this module validates the
connection query (``stream_query.py``), authenticates, paces, times out and
closes the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import uuid
from typing import Any, TypeGuard

from aiohttp import WSMsgType, web

from .hearing import Hearing
from .rest import AUTH_ERROR, STATE_KEY, authorized_key, error_response, fault_response
from .scenario import WS_ACTIONS, Fault
from .state import SimState, Token
from .stream_query import QueryError, StreamQuery, parse_query
from .turns import TurnDetector, TurnSettings

UNAUTHORIZED = "Unauthorized Connection: Missing Authorization header"
SESSION_EXPIRED = "Session Expired: Maximum session duration exceeded"
DEFAULT_MAX_SESSION_S = 10_800
MIN_FRAME_MS = 50
MAX_FRAME_MS = 1000
MAX_REASON_BYTES = 123
CLIENT_TYPES = frozenset({"Terminate", "ForceEndpoint", "UpdateConfiguration", "KeepAlive"})


def _int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return -1


async def token(request: web.Request) -> web.StreamResponse:
    """Mint a temporary token good for one session."""
    state = request.app[STATE_KEY]
    key = authorized_key(request, state)
    if key is None:
        return error_response(401, AUTH_ERROR)
    expires_in = _int_param(request, "expires_in_seconds")
    if expires_in is None:
        return error_response(400, '"expires_in_seconds" is required')
    if not 1 <= expires_in <= 600:
        return error_response(400, '"expires_in_seconds" must be an integer between 1 and 600')
    max_session = _int_param(request, "max_session_duration_seconds")
    if max_session is None:
        max_session = DEFAULT_MAX_SESSION_S
    elif not 60 <= max_session <= DEFAULT_MAX_SESSION_S:
        return error_response(
            400, '"max_session_duration_seconds" must be an integer between 60 and 10800'
        )
    value = secrets.token_urlsafe(32)
    state.tokens[value] = Token(value, key, state.clock() + expires_in, max_session)
    return web.json_response({"token": value, "expires_in_seconds": expires_in})


def _authenticate(request: web.Request, state: SimState) -> float | None:
    """Return the session's maximum duration in seconds, or None if auth fails."""
    # The header takes the API key or a temporary token (the Python SDK sends
    # a token there); ``?token=`` takes only a temporary token, as upstream.
    header = request.headers.get("Authorization")
    if header is not None and header in state.api_keys:
        return float(DEFAULT_MAX_SESSION_S)
    for credential in (header, request.query.get("token")):
        if credential is None:
            continue
        found = state.tokens.get(credential)
        if found is not None and not found.used and state.clock() < found.expires_at:
            found.used = True
            return float(found.max_session_duration_s)
    return None


class StreamSession:
    """One WebSocket session: reads client frames, emits Begin/Turn/Termination."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        state: SimState,
        query: StreamQuery,
        faults: list[Fault],
        max_session_s: float,
    ) -> None:
        self.ws = ws
        self.state = state
        self.query = query
        self.options = state.scenario.streaming
        self.actions = {fault.action: fault for fault in faults}
        self.max_session_s = self.options.max_session_duration_s or max_session_s
        self.started = state.clock()
        self.loop = asyncio.get_running_loop()
        self.send_lock = asyncio.Lock()
        # Audio bookkeeping.
        self.hearing = Hearing(state.clips, query.sample_rate, query.encoding)
        self.first_audio_at: float | None = None
        self.last_client_at = self.loop.time()
        # Turn bookkeeping.
        defaults = query.turn_defaults
        min_silence = query.min_turn_silence
        if min_silence is None:
            min_silence = (
                self.options.min_turn_silence_ms
                if self.options.min_turn_silence_ms is not None
                else defaults.min_turn_silence
            )
        self.turns = TurnDetector(
            TurnSettings(
                u3_pro=query.u3_pro,
                format_turns=query.format_turns,
                threshold=query.end_of_turn_confidence_threshold,
                min_turn_silence=min_silence,
                max_turn_silence=(
                    query.max_turn_silence
                    if query.max_turn_silence is not None
                    else max(defaults.max_turn_silence, min_silence)
                ),
                language_detection=query.language_detection,
                speaker_labels=query.speaker_labels,
            ),
            self.options.turn_interval_ms / 1000,
        )
        self.first_turn_delay_ms = (
            self.actions["first_turn_delay"].delay_ms
            if "first_turn_delay" in self.actions
            else self.options.first_turn_delay_ms
        )
        self.first_turn_sent = False
        self.first_turn_task: asyncio.Task[None] | None = None
        # How the session ended.
        self.client_terminated = False
        self.server_closed = False
        self.tasks: list[asyncio.Task[None]] = []
        self.closing_task: asyncio.Task[Any] | None = None
        self.finished = False

    # -- sending -------------------------------------------------------------

    async def send(self, message: dict[str, Any]) -> None:
        """Send one JSON message unless the socket is already closing."""
        async with self.send_lock:
            if not self.ws.closed:
                with contextlib.suppress(ConnectionError):
                    await self.ws.send_json(message)

    async def close(self, code: int, reason: str, error_frame: bool | None = None) -> None:
        """Close the socket from the server side (optionally after an Error frame)."""
        if self.server_closed or self.ws.closed:
            return
        self.server_closed = True
        # Count the session before the close frame leaves, so a client that
        # sees the close and then reads /_sim/state finds it settled.
        self.finish()
        self.closing_task = asyncio.current_task()
        async with self.send_lock:
            await close_socket(self.ws, code, reason, self.options.error_frames, error_frame)

    def finish(self) -> None:
        """Record, once, how the session ended in the simulator's counters."""
        if self.finished:
            return
        self.finished = True
        self.state.streams_active -= 1
        # A shutdown of the simulator closes the socket from the server side too.
        if self.client_terminated or self.server_closed or self.state.closing.is_set():
            self.state.streams_terminated += 1
        else:
            self.state.streams_unterminated += 1

    # -- the word stream -----------------------------------------------------

    @property
    def received_ms(self) -> float:
        """Return how much audio (ms) the session has received."""
        return self.hearing.received_ms

    # -- turns ---------------------------------------------------------------

    async def emit(self, *, force: bool = False, flush: bool = False) -> None:
        """Send the Turn (and SpeechStarted) messages the audio received so far calls for."""
        if "no_turn" in self.actions:
            return
        if self.first_turn_delay_ms is not None and not self.first_turn_sent and not force:
            return
        messages = self.turns.update(
            self.hearing.words(),
            self.received_ms,
            self.state.clock(),
            formatted_text=self.hearing.formatted_hint(),
            flush=flush,
            force=force,
        )
        for message in messages:
            if message["type"] == "Turn":
                self.first_turn_sent = True
            await self.send(message)

    async def _first_turn_after_delay(self, delay_ms: int) -> None:
        # Scheduled from the arrival of the first audio frame (loop clock),
        # so the delay a benchmark measures is the one configured.
        assert self.first_audio_at is not None
        target = self.first_audio_at + delay_ms / 1000
        await asyncio.sleep(max(0.0, target - self.loop.time()))
        await self.emit(force=True)

    # -- client messages -----------------------------------------------------

    async def on_audio(self, data: bytes) -> bool:
        """Handle one binary frame; return False once the session is closed."""
        frame_ms = len(data) / self.hearing.bytes_per_ms
        if not MIN_FRAME_MS <= frame_ms <= MAX_FRAME_MS:
            await self.close(
                3007,
                f"Input duration violation: {int(frame_ms)} ms. "
                f"Expected between {MIN_FRAME_MS} and {MAX_FRAME_MS} ms",
            )
            return False
        now = self.loop.time()
        if self.first_audio_at is None:
            self.first_audio_at = now
            if self.first_turn_delay_ms is not None and "no_turn" not in self.actions:
                self.first_turn_task = asyncio.create_task(
                    self._first_turn_after_delay(self.first_turn_delay_ms)
                )
        self.hearing.feed(data)
        if self.options.strict_pacing:
            elapsed_ms = (now - self.first_audio_at) * 1000
            if self.received_ms - elapsed_ms > self.options.pacing_tolerance_ms:
                await self.close(
                    3007,
                    f"Audio Transmission Rate Exceeded: Received {self.received_ms / 1000:.1f} "
                    f"sec. audio in {elapsed_ms / 1000:.1f} sec",
                )
                return False
        await self.emit()
        return True

    async def on_text(self, text: str) -> bool:
        """Handle one JSON control message; return False once the session is over."""
        try:
            message = json.loads(text)
        except ValueError:
            await self.close(3006, f"Invalid JSON: {text}")
            return False
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            await self.close(3006, f"Invalid Message: {text}")
            return False
        kind = message["type"]
        if kind not in CLIENT_TYPES:
            await self.close(3006, f"Invalid Message Type: {kind}")
            return False
        if kind == "Terminate":
            self.client_terminated = True
            if "hang_terminate" in self.actions:
                return True
            await self.terminate()
            return False
        if kind == "ForceEndpoint":
            await self.emit(flush=True)
        elif kind == "UpdateConfiguration":
            self._update_configuration(message)
        return True

    def _update_configuration(self, message: dict[str, Any]) -> None:
        """Apply the turn-detection fields of an ``UpdateConfiguration`` (null: unchanged)."""
        settings = self.turns.settings
        threshold = message.get("end_of_turn_confidence_threshold")
        if _is_number(threshold) and 0 <= threshold <= 1:
            settings.threshold = float(threshold)
        for name in ("min_turn_silence", "max_turn_silence"):
            value = message.get(name)
            if _is_number(value) and value >= 0:
                setattr(settings, name, int(value))

    async def terminate(self) -> None:
        """Flush the open turn, send Termination and close 1000."""
        if self.first_turn_task is not None:
            # The delayed first Turn must still precede Termination.
            await self.first_turn_task
        await self.emit(flush=True)
        await self.send(
            {
                "type": "Termination",
                "audio_duration_seconds": round(self.received_ms / 1000),
                "session_duration_seconds": round(self.state.clock() - self.started),
            }
        )
        await self.close(1000, "")

    # -- lifecycle -----------------------------------------------------------

    async def _expire(self) -> None:
        await asyncio.sleep(self.max_session_s)
        await self.close(3008, SESSION_EXPIRED)

    async def _watch_inactivity(self, timeout_s: float) -> None:
        # Any client frame (audio, KeepAlive, ...) restarts the wait; an idle
        # session is terminated as if the client had sent Terminate.
        while True:
            idle_for = self.loop.time() - self.last_client_at
            if idle_for >= timeout_s:
                break
            await asyncio.sleep(timeout_s - idle_for)
        await self.terminate()

    async def _close_fault(self, fault: Fault) -> None:
        await asyncio.sleep((fault.after_ms or 0) / 1000)
        await self.close(fault.code or 3005, fault.reason or "", fault.error_frame or None)

    async def run(self) -> None:
        """Serve the session until either side closes it."""
        begun = "no_begin" not in self.actions
        if begun:
            await self.send(
                {
                    "type": "Begin",
                    "id": str(uuid.uuid4()),
                    "expires_at": int(time.time() + self.max_session_s),
                }
            )
            self.tasks.append(asyncio.create_task(self._expire()))
            if "close" in self.actions:
                self.tasks.append(asyncio.create_task(self._close_fault(self.actions["close"])))
            if self.query.inactivity_timeout is not None:
                timeout_s = self.options.inactivity_timeout_s or self.query.inactivity_timeout
                self.tasks.append(asyncio.create_task(self._watch_inactivity(timeout_s)))
        try:
            async for msg in self.ws:
                self.last_client_at = self.loop.time()
                if not begun or (self.client_terminated and "hang_terminate" in self.actions):
                    # Nothing is listening on the far side, but a client that sent
                    # Terminate did its part: it is not the one leaving a session open.
                    if msg.type == WSMsgType.TEXT and _is_terminate(msg.data):
                        self.client_terminated = True
                    continue
                if msg.type == WSMsgType.BINARY:
                    if not await self.on_audio(msg.data):
                        break
                elif msg.type == WSMsgType.TEXT:
                    if not await self.on_text(msg.data):
                        break
                else:
                    break
        finally:
            tasks = [*self.tasks, self.first_turn_task]
            for task in [t for t in tasks if t is not None and not t.done()]:
                if task is self.closing_task:
                    # It is finishing the close handshake the loop just saw.
                    await task
                    continue
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    # The helper's cancellation ends here; the handler's own does not.
                    current = asyncio.current_task()
                    if current is not None and current.cancelling():
                        raise


def _is_number(value: object) -> TypeGuard[float]:
    """Return True for a JSON number (not a boolean)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


async def close_socket(
    ws: web.WebSocketResponse,
    code: int,
    reason: str,
    error_frames: bool,
    error_frame: bool | None = None,
) -> None:
    """Close ``ws`` with ``code``, after an ``Error`` frame if asked (reason capped as upstream)."""
    with_frame = error_frames if error_frame is None else error_frame
    if with_frame and code != 1000 and not ws.closed:
        with contextlib.suppress(ConnectionError):
            await ws.send_json({"type": "Error", "error_code": code, "error": reason})
    raw = reason.encode()
    if len(raw) > MAX_REASON_BYTES:
        # Newer servers do this; the full text is in the Error frame.
        raw = (
            b"See Error message for details"
            if with_frame
            else raw[:MAX_REASON_BYTES].decode(errors="ignore").encode()
        )
    with contextlib.suppress(ConnectionError):
        await ws.close(code=code, message=raw)


def _is_terminate(text: str) -> bool:
    """Return True when `text` is a client ``Terminate`` message."""
    try:
        message = json.loads(text)
    except ValueError:
        return False
    return isinstance(message, dict) and message.get("type") == "Terminate"


async def websocket(request: web.Request) -> web.StreamResponse:
    """Serve ``GET /v3/ws``: auth, faults, then one streaming session."""
    state = request.app[STATE_KEY]
    stackable = WS_ACTIONS - {"refuse", "no_begin"}
    faults = state.faults.pick("ws", WS_ACTIONS, stackable=frozenset(stackable))
    refuse = next((f for f in faults if f.action == "refuse"), None)
    if refuse is not None:
        return fault_response(refuse)
    max_session_s = _authenticate(request, state)
    if max_session_s is None and state.scenario.streaming.auth_failure == "refuse":
        return error_response(401, UNAUTHORIZED)
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)
    state.sockets.add(ws)
    try:
        return await _serve(ws, request, state, faults, max_session_s)
    finally:
        state.sockets.discard(ws)


async def _serve(
    ws: web.WebSocketResponse,
    request: web.Request,
    state: SimState,
    faults: list[Fault],
    max_session_s: float | None,
) -> web.WebSocketResponse:
    if max_session_s is None:
        await ws.close(code=1008, message=UNAUTHORIZED.encode())
        return ws
    try:
        query = parse_query(request.query)
    except QueryError as exc:
        # Accepted, then closed before Begin: the SDKs' InputValidationError.
        await close_socket(ws, 3006, str(exc), state.scenario.streaming.error_frames)
        return ws
    session = StreamSession(ws, state, query, faults, max_session_s)
    state.streams_opened += 1
    state.streams_active += 1
    try:
        await session.run()
    finally:
        session.finish()
        if not ws.closed:
            with contextlib.suppress(ConnectionError):
                await ws.close()
    return ws


def add_routes(app: web.Application) -> None:
    """Register the streaming v3 routes on ``app``."""
    # The docs' prose says POST, the spec and SDK use GET: serve both.
    resource = app.router.add_resource("/v3/token", name="token")
    resource.add_route("GET", token)
    resource.add_route("POST", token)
    app.router.add_get("/v3/ws", websocket, name="ws")
