"""A loopback HTTP server on the far side of the simulator's own outgoing requests.

It plays two parts: the webhook receiver (records every POST with its headers
and body, answers with the statuses a test scripts) and the host of the
``audio_url`` files the simulator downloads (serves the bytes a test puts at a
path). Real sockets on port 0, as the house rules want.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.polling import eventually


@dataclass
class Delivery:
    """One POST the peer received."""

    path: str
    headers: dict[str, str]
    body: Any
    # What the peer saw of the transcript at arrival, if a test asked it to look.
    seen_status: str | None = None


@dataclass
class Hosted:
    """A file the peer serves."""

    body: bytes
    content_type: str = "application/octet-stream"
    status: int = 200
    # Seconds to hold the answer back (a slow host).
    hold_s: float = 0.0
    # Sent in chunks with no Content-Length (the size is only known by reading).
    chunked: bool = False


@dataclass
class OutboundPeer:
    """The server and what it has seen."""

    deliveries: list[Delivery] = field(default_factory=list)
    # Statuses to answer POSTs with, in turn; the last one repeats.
    answers: list[int] = field(default_factory=lambda: [200])
    # Seconds each POST answer is held back (a receiver slower than the timeout).
    hold_s: float = 0.0
    files: dict[str, Hosted] = field(default_factory=dict)
    fetches: list[str] = field(default_factory=list)
    # Called on each POST before answering (e.g. to GET the transcript it names).
    on_post: Callable[[Delivery], Awaitable[None]] | None = None
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        """Return the peer's http://127.0.0.1:PORT."""
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/hook") -> str:
        """Return the absolute URL of ``path`` on the peer."""
        return self.base_url + path

    async def _post(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode(errors="replace")
        delivery = Delivery(request.path, dict(request.headers), body)
        self.deliveries.append(delivery)
        if self.on_post is not None:
            await self.on_post(delivery)
        index = min(len(self.deliveries), len(self.answers)) - 1
        if self.hold_s:
            await asyncio.sleep(self.hold_s)
        return web.Response(status=self.answers[index], text="ok")

    async def _get(self, request: web.Request) -> web.StreamResponse:
        self.fetches.append(request.path)
        hosted = self.files.get(request.path)
        if hosted is None:
            return web.Response(status=404, text="no such file")
        if hosted.hold_s:
            await asyncio.sleep(hosted.hold_s)
        if hosted.chunked:
            response = web.StreamResponse(status=hosted.status)
            response.content_type = hosted.content_type
            response.enable_chunked_encoding()
            await response.prepare(request)
            for start in range(0, len(hosted.body), 4096):
                await response.write(hosted.body[start : start + 4096])
            await response.write_eof()
            return response
        return web.Response(
            status=hosted.status, body=hosted.body, content_type=hosted.content_type
        )

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._post)
        app.router.add_get("/{tail:.*}", self._get)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_deliveries(self, count: int, limit_s: float = 3) -> list[Delivery]:
        """Return the deliveries once there are at least ``count``."""
        await eventually(
            lambda: len(self.deliveries) >= count, f"{count} webhook deliveries", limit_s
        )
        return list(self.deliveries)
