"""send_audio: a clip's frames go out paced, and the run says how much audio it sent."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from monitor.probes.stream_session import SocketSeen, send_audio
from tests.support.clocks import BurstClock


async def _server(received: list[bytes], close_after: int | None) -> web.AppRunner:
    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            received.append(msg.data)
            if close_after is not None and len(received) >= close_after:
                await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


@pytest.mark.parametrize(
    ("close_after", "details"),
    [(None, {"audio_s": 0.15, "frames": 3}), (1, {})],
    ids=["all-sent", "closed-early-says-nothing"],
)
async def test_send_audio_records_what_went_out(
    close_after: int | None, details: dict[str, object]
) -> None:
    received: list[bytes] = []
    runner = await _server(received, close_after)
    port = runner.addresses[0][1]
    chunks = [b"\0" * 1600] * 3  # 50 ms each at 16 kHz 16-bit mono: 32 bytes a millisecond
    seen = SocketSeen(clock=BurstClock())
    found: dict[str, object] = {}
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws,
        ):
            if close_after is not None:
                await ws.send_bytes(b"x")
                await ws.receive()  # the server's close
                seen.closed.set()
            await send_audio(ws, chunks, 50, seen, 32.0, found)
            await asyncio.sleep(0)
    finally:
        await runner.cleanup()
    assert found == details
    if close_after is None:
        assert seen.first_frame_at is not None and seen.last_frame_at is not None
