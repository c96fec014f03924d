"""sttwatch's webhook receiver: ``POST /webhooks/<run token>`` on the web server of ``run``.

It takes only calls that carry a live run's secret, and hands their JSON body
to that run (:mod:`monitor.webhook_runs`). Everything else is refused, counted
by reason (``sttwatch_webhook_refused_total{reason}``) and forgotten: no body
of a refused call is kept, logged or stored.

The checks, cheapest first, so that a stranger's call costs a header parse and
a counter:

1. a declared body over :data:`MAX_BODY_BYTES` (a webhook body is tens of
   bytes): 413 ``too_large``, nothing read;
2. the token: no live run → 404 ``unknown_run`` (``ended_run`` for a run that
   has just ended: a late retry or duplicate);
3. the secret header, compared in constant time: 401 ``no_secret`` /
   ``wrong_secret`` (the run notes that such a call came, see the probe);
4. the run's token bucket (4 at once, 1 a second): 429 ``rate_limited``. It
   comes after authentication so that a flood from someone without the secret
   cannot use up what the API's own calls are allowed;
5. the body, read up to the limit: over it 413 ``too_large``; not a JSON object
   400 ``malformed``;
6. 200: the call is the run's.

Refusals close the connection, so an unread body is not drained.
"""

from __future__ import annotations

import asyncio
import json

from aiohttp import web

from monitor.webhook_runs import RECEIVER_PATH, LiveRuns

__all__ = ["MAX_BODY_BYTES", "ROUTE", "RUNS", "Receiver", "add_receiver"]

ROUTE = RECEIVER_PATH + "/{token}"
RUNS = web.AppKey("webhook_runs", LiveRuns)
"""Where the application keeps the registry its receiver serves."""
MAX_BODY_BYTES = 16 * 1024
"""The largest body taken; AssemblyAI's is ``{"transcript_id": ..., "status": ...}``."""
BODY_TIMEOUT_S = 5.0


class Receiver:
    """The request handler over one registry of live runs."""

    def __init__(self, runs: LiveRuns) -> None:
        self.runs = runs

    def _refuse(self, reason: str, status: int) -> web.Response:
        self.runs.refuse(reason)
        response = web.json_response({"error": reason}, status=status)
        response.force_close()
        return response

    async def handle(self, request: web.Request) -> web.Response:
        """Return the answer to one call (see the module doc for the order of the checks)."""
        declared = request.content_length
        if declared is not None and declared > MAX_BODY_BYTES:
            return self._refuse("too_large", 413)
        token = request.match_info.get("token", "")
        inbox = self.runs.get(token)
        if inbox is None:
            return self._refuse("ended_run" if self.runs.ended(token) else "unknown_run", 404)
        presented = request.headers.get(inbox.header_name)
        if not inbox.authentic(presented):
            inbox.note_refused()
            return self._refuse("no_secret" if presented is None else "wrong_secret", 401)
        if not inbox.bucket.take(inbox.monotonic()):
            return self._refuse("rate_limited", 429)
        try:
            raw = await _read_bounded(request)
        except TimeoutError:  # dripped: no whole body within the time a tiny one needs
            inbox.note_refused(malformed=True)
            return self._refuse("malformed", 400)
        if raw is None:
            return self._refuse("too_large", 413)
        try:
            body = json.loads(raw)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, nested too deep
            body = None
        if not isinstance(body, dict):
            inbox.note_refused(malformed=True)
            return self._refuse("malformed", 400)
        inbox.accept(body)
        return web.json_response({"ok": True})


async def _read_bounded(request: web.Request) -> bytes | None:
    """Return the body, or None once it exceeds MAX_BODY_BYTES (the rest is never read)."""
    raw = bytearray()
    # A body dripped byte by byte holds nothing but this call: bounded in time too.
    async with asyncio.timeout(BODY_TIMEOUT_S):
        while len(raw) <= MAX_BODY_BYTES:
            chunk = await request.content.read(MAX_BODY_BYTES + 1 - len(raw))
            if not chunk:
                return bytes(raw)
            raw += chunk
    return None


def add_receiver(app: web.Application, runs: LiveRuns) -> None:
    """Mount the receiver of `runs` on `app` (and keep `runs` under RUNS)."""
    app[RUNS] = runs
    app.router.add_post(ROUTE, Receiver(runs).handle)
