"""The HTTP fault actions every simulated provider shares: delay, hang, status, malformed, html.

Each simulator's middleware picks the faults that fire for a request (its own
endpoint names, its own fault model) and hands them to :func:`apply`; only
what a ``status`` fault answers (each provider's documented error bodies) is
its own, given as ``answer``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, Protocol, TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

CAPTIVE_PORTAL_HTML = (
    "<!DOCTYPE html><html><head><title>Sign in to continue</title></head>"
    "<body><h1>Network login required</h1><p>Please sign in to access the internet.</p>"
    "</body></html>"
)
NOT_JSON_BODY = "upstream connect error or disconnect/reset before headers. reset reason: overflow"
WRONG_SHAPE_BODY = {"result": "ok", "data": [], "message": "request accepted"}
# Combines with later faults (the wait, then the next one); any other ends the list.
STACKABLE = frozenset({"delay"})


class HttpFault(Protocol):
    """What :func:`apply` reads of a fault."""

    @property
    def action(self) -> str: ...
    @property
    def delay_ms(self) -> int | None: ...
    @property
    def body_kind(self) -> Any: ...


F = TypeVar("F", bound=HttpFault)


async def hang(request: web.Request, closing: asyncio.Event) -> web.StreamResponse:
    """Never answer: wait until the client goes away or the simulator stops."""
    while not closing.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            break
        await asyncio.sleep(0.05)
    raise web.HTTPServiceUnavailable()


async def malformed(
    request: web.Request, handler: Handler, body_kind: str, keep: Iterable[str] = ()
) -> web.StreamResponse:
    """Return a 200 whose body a broken proxy mangled (the handler still runs).

    The headers named in `keep` are copied from the real answer (a request id).
    """
    response = await handler(request)
    headers = {name: response.headers[name] for name in keep if name in response.headers}
    if body_kind == "not_json":
        return web.Response(text=NOT_JSON_BODY, content_type="application/json", headers=headers)
    if body_kind == "wrong_shape":
        return web.json_response(WRONG_SHAPE_BODY, headers=headers)
    raw = response.body if isinstance(response, web.Response) else b""
    text = raw.decode() if isinstance(raw, bytes) else ""
    return web.Response(
        text=text[: max(1, len(text) // 2)], content_type="application/json", headers=headers
    )


async def apply(
    request: web.Request,
    handler: Handler,
    faults: Iterable[F],
    closing: asyncio.Event,
    answer: Callable[[F], web.StreamResponse],
    keep: Iterable[str] = (),
) -> web.StreamResponse:
    """Answer `request` as the fired `faults` say (in order), else as `handler` does."""
    for fault in faults:
        if fault.action == "delay":
            await asyncio.sleep((fault.delay_ms or 0) / 1000)
        elif fault.action == "hang":
            return await hang(request, closing)
        elif fault.action == "status":
            return answer(fault)
        elif fault.action == "html":
            return web.Response(text=CAPTIVE_PORTAL_HTML, content_type="text/html")
        elif fault.action == "malformed":
            return await malformed(request, handler, fault.body_kind or "not_json", keep)
    return await handler(request)
