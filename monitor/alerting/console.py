"""A local alert receiver that prints what it gets: the demo's notification service.

`ConsoleSink` is a tiny aiohttp server on loopback that accepts Apprise's
``json://`` posts and hands each alert to a callback as a few readable lines.
``sttwatch demo`` puts its URL in ``alerts.urls``, so the demo's alerts travel
the real path — state machine, outbox, Apprise, HTTP — and land in the
terminal.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

__all__ = ["ConsoleSink"]

_ICONS = {"failure": "🔴", "warning": "🟠", "success": "🟢", "info": "🔵"}


class ConsoleSink:
    """Receives Apprise JSON notifications on 127.0.0.1 and `say`s them."""

    def __init__(self, say: Callable[[str], None], *, host: str = "127.0.0.1") -> None:
        self._say = say
        self._host = host
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.received: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        """Return the Apprise URL that delivers to this sink."""
        return f"json://{self._host}:{self.port}/alerts"

    async def start(self) -> None:
        """Listen on a free loopback port."""
        app = web.Application(client_max_size=256 * 1024)
        app.router.add_post("/alerts", self._receive)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, 0)
        await site.start()
        ports = [a[1] for a in self._runner.addresses if isinstance(a, tuple) and len(a) >= 2]
        if not ports:
            raise RuntimeError("the console alert sink is not listening")
        self.port = int(ports[0])

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ConsoleSink:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _receive(self, request: web.Request) -> web.Response:
        try:
            payload = await request.json()
        except ValueError:
            return web.Response(status=400, text="expected Apprise JSON")
        if not isinstance(payload, dict):
            return web.Response(status=400, text="expected a JSON object")
        self.received.append(payload)
        self._say(self.render(payload))
        return web.json_response({"ok": True})

    @staticmethod
    def render(payload: dict[str, Any]) -> str:
        """Return an alert payload as terminal lines: icon, time, title, then the body."""
        icon = _ICONS.get(str(payload.get("type", "")), "🔔")
        now = datetime.now(UTC).strftime("%H:%M:%S")
        title = str(payload.get("title", ""))
        body = str(payload.get("message", "")).replace("**", "").replace("\\", "")
        lines = [f"{icon} [{now}] ALERT {title}"]
        lines += [f"      {line}" for line in body.strip().splitlines() if line.strip()]
        return "\n".join(lines)
