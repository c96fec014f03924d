"""Real notification receivers on loopback for the alerting tests: SMTP, a JSON webhook, Slack.

tests/conftest.py registers the fixtures for every test module.
Every server listens on 127.0.0.1 with a port chosen by the OS.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.polling import eventually

API_KEY = "sk-live-0123456789abcdef0123456789abcdef"
SMTP_FROM = "sttwatch@example.com"
SMTP_TO = "oncall@example.com"


async def wait_until(predicate: Any, within: float = 10.0, what: str = "condition") -> None:
    """Poll `predicate()` every 20 ms until it is true; fail the test after `within` s."""
    await eventually(predicate, what, within, every=0.02)


# ---------------------------------------------------------------------------
# SMTP


@dataclass
class SmtpSink:
    """An aiosmtpd server on the test's loop that can go down and come back on its port."""

    port: int = 0
    messages: list[EmailMessage] = field(default_factory=list)
    server: asyncio.Server | None = None

    # When set to an unset Event, each message waits for it before "250 OK": a mail
    # server that hangs. A client that goes away meanwhile delivered nothing.
    gate: asyncio.Event | None = None
    waiting: int = 0
    abandoned: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.gate is not None:
            self.waiting += 1
            try:
                await self.gate.wait()
            except asyncio.CancelledError:  # aiosmtpd cancels us when the client disconnects
                self.abandoned += 1
                raise
            finally:
                self.waiting -= 1
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append(msg)
        return "250 OK"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: SMTP(self, hostname="sink.test"), "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None

    def url(self, *, tags: str | None = None) -> str:
        url = f"mailto://127.0.0.1:{self.port}?from={quote(SMTP_FROM)}&to={quote(SMTP_TO)}"
        return f"{tags}={url}" if tags else url

    @staticmethod
    def text(msg: EmailMessage) -> str:
        part = msg.get_body(preferencelist=("plain",))
        assert part is not None
        return str(part.get_content())

    @staticmethod
    def html(msg: EmailMessage) -> str:
        part = msg.get_body(preferencelist=("html",))
        return str(part.get_content()) if part is not None else ""


# ---------------------------------------------------------------------------
# JSON webhook (Apprise json://) and a Slack stub


@dataclass
class Webhook:
    """An aiohttp server recording every POST; can answer 500 to the first `fail_first`."""

    port: int = 0
    posts: list[tuple[str, Any]] = field(default_factory=list)
    fail_first: int = 0
    reply: str = "{}"
    runner: web.AppRunner | None = None
    seen: int = 0
    # When set to an unset Event, every request waits for it: a service that hangs.
    gate: asyncio.Event | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.seen += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.seen <= self.fail_first:
            return web.Response(status=500, text="temporarily broken")
        body = await request.text()
        try:
            payload: Any = await request.json()
        except ValueError:
            payload = body
        self.posts.append((request.path, payload))
        return web.Response(text=self.reply, content_type="text/plain")

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self.runner = web.AppRunner(app, handle_signals=False)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self.runner.addresses[0][1])

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    def url(self, path: str = "hook", *, tags: str | None = None) -> str:
        url = f"json://127.0.0.1:{self.port}/{path}"
        return f"{tags}={url}" if tags else url

    def titles(self, path: str | None = None) -> list[str]:
        return [p["title"] for pth, p in self.posts if path is None or pth == f"/{path}"]


SLACK_TOKENS = "T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7"
