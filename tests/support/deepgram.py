"""Helpers of the Deepgram tests: targets and probe contexts aimed at its simulator, a WS client.

The simulator itself starts through the ``make_dg`` fixture of
tests/providers/deepgram/conftest.py (closed when the test ends).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from pydantic import SecretStr

from monitor.config import Target
from monitor.simulator.deepgram import SimulatorHandle

KEY = "sim-key"
# Interims twice as often as upstream, so a 2.3 s clip shows a few; everything else as upstream.
FAST = {"streaming": {"interim_interval_ms": 500}, "prerecorded": {"processing_ms": 20}}


def dg_target(handle: SimulatorHandle, name: str = "dg", key: str = KEY) -> Target:
    """Return a Deepgram target aimed at `handle`."""
    return Target(
        name=name,
        provider="deepgram",
        api_base=handle.base_url,
        streaming_base=handle.ws_base,
        api_key=SecretStr(key),
    )


def token(key: str = KEY) -> dict[str, str]:
    """Return Deepgram's auth header for `key`."""
    return {"Authorization": f"Token {key}"}


@dataclass
class LiveClient:
    """A raw WebSocket client of the live API that keeps every message and the close."""

    ws: aiohttp.ClientWebSocketResponse
    messages: list[dict[str, Any]] = field(default_factory=list)
    close_code: int | None = None
    close_reason: str | None = None

    async def next(self, limit_s: float = 3) -> dict[str, Any] | None:
        """Return the next message, or None once the socket closed."""
        msg = await self.ws.receive(timeout=limit_s)
        if msg.type == aiohttp.WSMsgType.TEXT:
            data: dict[str, Any] = json.loads(msg.data)
            self.messages.append(data)
            return data
        assert msg.type in {
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
        }, msg.type
        self.close_code = self.ws.close_code
        self.close_reason = msg.extra if msg.type == aiohttp.WSMsgType.CLOSE else None
        return None

    async def drain(self, limit_s: float = 3) -> list[dict[str, Any]]:
        """Return every message until the server closes the socket."""
        out = []
        while (message := await self.next(limit_s)) is not None:
            out.append(message)
        return out

    async def send(self, message: dict[str, Any]) -> None:
        """Send one control message as the SDK does (``json.dumps``)."""
        await self.ws.send_str(json.dumps(message))

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        """Return the messages of one ``type`` received so far."""
        return [m for m in self.messages if m.get("type") == kind]


LIVE_QUERY = "model=nova-3&encoding=linear16&sample_rate=16000&channels=1&interim_results=true"


async def open_live(
    http: aiohttp.ClientSession,
    handle: SimulatorHandle,
    query: str = LIVE_QUERY,
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> LiveClient:
    """Return a connected client of ``/v1/listen`` (``Token sim-key`` unless told)."""
    ws = await http.ws_connect(
        f"{handle.ws_base}/v1/listen?{query}",
        headers=token() if headers is None else headers,
        autoclose=False,
        **kwargs,
    )
    return LiveClient(ws)


def pcm_frames(pcm: bytes, frame_ms: int = 100, rate: int = 16000) -> list[bytes]:
    """Return `pcm` (s16le mono) in frames of `frame_ms`."""
    size = rate * 2 * frame_ms // 1000
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]
