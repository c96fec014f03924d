"""What every streaming probe shares: reading the socket, waiting on it, and the shielded close.

A streaming probe keeps what it saw in a :class:`SocketSeen` (its own subclass
adds the protocol's messages), reads the socket with :func:`read_socket` in a
task of its own (each message timestamped on arrival), waits with
:func:`wait_either`, and runs with :func:`run_stream`: the conversation within
the probe's timeout, then the close, shielded, whatever happened — a stream
is billed while it is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import aiohttp

from monitor.models import Clock
from monitor.probeclip import ProbeClip
from monitor.probes.failures import (
    EXPECTED_ERRORS,
    UNREADABLE_JSON,
    Failure,
    bad_response,
    from_exception,
)
from monitor.probes.recorder import RunRecorder
from monitor.tasks import cancel_and_wait

__all__ = [
    "ClipStream",
    "SocketSeen",
    "StreamRun",
    "end_stream",
    "is_open",
    "read_socket",
    "run_stream",
    "send_audio",
    "send_paced",
    "wait_either",
]

# Keep cleanup tasks referenced until they finish: the event loop holds only
# weak references, and a cleanup may outlive a probe cancelled twice.
_cleanups: set[asyncio.Task[Any]] = set()


@dataclass(slots=True)
class SocketSeen:
    """When audio went out, how the socket ended, and the first protocol failure seen on it."""

    clock: Clock
    first_frame_at: float | None = None
    last_frame_at: float | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    close_code: int | None = None
    close_reason: str | None = None
    closed_at: float | None = None
    failure: Failure | None = None
    # What the server said of an error (an error message or frame), quoted safely.
    error_message: str | None = None


async def read_socket(
    ws: aiohttp.ClientWebSocketResponse,
    seen: SocketSeen,
    on_message: Callable[[Any, float], Failure | None],
    *,
    during: str,
    binary_is_error: bool = True,
) -> None:
    """Read `ws` until it closes: each JSON message to `on_message`, the close into `seen`.

    `during` names the stage in the message of a socket error ("streaming").
    """
    try:
        while True:
            msg = await ws.receive()
            at = seen.clock.monotonic()
            if msg.type == aiohttp.WSMsgType.TEXT:
                try:
                    data = json.loads(msg.data)
                except UNREADABLE_JSON:
                    seen.failure = seen.failure or bad_response("A streaming message is not JSON")
                    continue
                seen.failure = seen.failure or on_message(data, at)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                if binary_is_error:
                    seen.failure = seen.failure or bad_response("The server sent a binary message")
            elif msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING):
                seen.close_code = ws.close_code if ws.close_code is not None else msg.data
                seen.close_reason = msg.extra if isinstance(msg.extra, str) else None
                seen.closed_at = at
                break
            elif msg.type == aiohttp.WSMsgType.ERROR:
                exc = msg.data
                if isinstance(exc, BaseException) and isinstance(exc, EXPECTED_ERRORS):
                    seen.failure = seen.failure or from_exception(exc, during=during)
                else:
                    seen.failure = seen.failure or bad_response("The streaming socket failed")
                seen.close_code = ws.close_code
                seen.closed_at = at
                break
            else:  # CLOSED: the transport went away without a close frame
                seen.close_code = ws.close_code
                seen.closed_at = at
                break
    finally:
        seen.closed.set()


async def wait_either(
    event: asyncio.Event, closed: asyncio.Event, limit: float | None = None
) -> bool:
    """Return True once `event` is set; False if the socket closed (or `limit` passed) first."""
    if event.is_set():
        return True
    waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(closed.wait())]
    try:
        await asyncio.wait(waiters, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
    return event.is_set()


async def send_paced(
    ws: aiohttp.ClientWebSocketResponse, chunks: list[bytes], frame_s: float, seen: SocketSeen
) -> bool:
    """Send `chunks` one per `frame_s` on `seen`'s clock; return True once all went out.

    Deadlines are absolute from the first frame: a late wake-up is caught up, not
    carried forward, so the stream never drifts behind real time. It stops (False)
    as soon as the socket closes; the receiver reports why.
    """
    clock = seen.clock
    start = clock.monotonic()
    for i, chunk in enumerate(chunks):
        delay = start + i * frame_s - clock.monotonic()
        if delay > 0:
            await clock.sleep(delay)
        if seen.closed.is_set() or ws.closed:
            return False
        sent_at = clock.monotonic()
        if seen.first_frame_at is None:
            # Before the send: text the receiver handles while this frame is being
            # written still counts from it.
            seen.first_frame_at = sent_at
        try:
            await ws.send_bytes(chunk)
        except EXPECTED_ERRORS:
            return False
        seen.last_frame_at = sent_at
    return True


async def send_audio(
    ws: aiohttp.ClientWebSocketResponse,
    chunks: list[bytes],
    frame_ms: int,
    seen: SocketSeen,
    bytes_per_ms: float,
    details: dict[str, Any],
) -> None:
    """Send a clip's `chunks` paced (``send_paced``); once all went out, say how much in `details`.

    ``audio_s`` (seconds of audio, from the clip's `bytes_per_ms`) and ``frames``.
    """
    if not await send_paced(ws, chunks, frame_ms / 1000, seen):
        return
    sent_ms = sum(map(len, chunks)) / bytes_per_ms
    details["audio_s"] = round(sent_ms / 1000, 3)
    details["frames"] = len(chunks)


def is_open(ws: aiohttp.ClientWebSocketResponse | None, seen: SocketSeen) -> bool:
    """Return True while the socket is open from both sides' point of view."""
    return ws is not None and not ws.closed and not seen.closed.is_set()


async def end_stream(
    ws: aiohttp.ClientWebSocketResponse | None,
    seen: SocketSeen,
    receiver: asyncio.Task[None] | None,
    *,
    goodbye: str | None,
    wait: bool,
    grace_s: float,
) -> None:
    """Say `goodbye` (the protocol's last message, if not yet sent) and close, within `grace_s`.

    With `wait`, the server's own close is awaited for half the grace first (a
    session that never began has nothing to finish). The receiver task is
    cancelled and awaited last, whatever happened.
    """
    try:
        if is_open(ws, seen):
            assert ws is not None
            async with asyncio.timeout(grace_s):
                if goodbye is not None:
                    with contextlib.suppress(*EXPECTED_ERRORS):
                        await ws.send_str(goodbye)
                    if wait:
                        await wait_either(seen.closed, asyncio.Event(), grace_s / 2)
                await ws.close()
    except TimeoutError:
        pass  # closing the HTTP session after this aborts the transport
    finally:
        if receiver is not None:
            await cancel_and_wait(receiver)


class StreamRun(Protocol):
    """One run of a streaming probe, as :func:`run_stream` drives it."""

    @property
    def stage(self) -> str:
        """What the run is doing now (for the message of a failure)."""
        ...

    async def converse(self, http: aiohttp.ClientSession) -> Failure | None:
        """Run the session from upgrade to close; return the failure, or None."""
        ...

    def timeout_failure(self) -> Failure:
        """Return why the run did not finish within its timeout."""
        ...

    async def close(self) -> None:
        """End the session and close the socket, within a bounded grace."""
        ...


async def run_stream(
    run: StreamRun, session_factory: Callable[[], aiohttp.ClientSession], deadline_s: float
) -> Failure | None:
    """Converse within `deadline_s`, then close (shielded, even when cancelled); the failure."""
    failure: Failure | None = None
    async with session_factory() as http:
        try:
            async with asyncio.timeout(deadline_s):
                failure = await run.converse(http)
        except TimeoutError:
            failure = run.timeout_failure()
        except EXPECTED_ERRORS as exc:
            failure = from_exception(exc, during=run.stage)
        finally:
            task = asyncio.create_task(run.close())
            _cleanups.add(task)
            task.add_done_callback(_cleanups.discard)
            # Shielded: a cancelled probe still ends the billed session, then re-raises.
            await asyncio.shield(task)
    return failure


SeenT = TypeVar("SeenT", bound=SocketSeen)
CloseFailure = Callable[..., Failure]
Cut = Callable[[ProbeClip, int], list[bytes]]


class ClipStream(Generic[SeenT]):
    """What a streaming run that sends the probe clip shares: the paced send, the early close.

    A provider's run sets `clip`, `frame_ms`, `s` and `rec` in its constructor
    and names, as class attributes, how its protocol cuts the clip into frames
    (``cut(clip, frame_ms)``) and turns a close code into a failure
    (``close_failure(code, reason, during=...)``).
    """

    clip: ProbeClip
    frame_ms: int
    s: SeenT
    rec: RunRecorder
    cut: Cut
    close_failure: CloseFailure

    async def _send_audio(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        chunks = type(self).cut(self.clip, self.frame_ms)
        await send_audio(
            ws, chunks, self.frame_ms, self.s, self.clip.bytes_per_ms, self.rec.details
        )

    def _closed_early(self, during: str) -> Failure:
        s = self.s
        if s.failure is not None:
            return s.failure
        failure = type(self).close_failure(s.close_code, s.close_reason, during=during)
        if s.error_message:
            failure.details["error"] = s.error_message
        return failure
