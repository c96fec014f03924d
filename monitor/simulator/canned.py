"""The answers an HTTP fault prescribes, the same for every simulated provider.

A captive portal's page, a proxy's mangled body, a hang that never answers,
and a fault's own body sent verbatim. Each simulator decides when they
apply; what they look like on the wire is here once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

__all__ = [
    "CAPTIVE_PORTAL_HTML",
    "NOT_JSON_BODY",
    "WRONG_SHAPE_BODY",
    "captive_portal",
    "hang",
    "mangled",
    "verbatim",
]

CAPTIVE_PORTAL_HTML = (
    "<!DOCTYPE html><html><head><title>Sign in to continue</title></head>"
    "<body><h1>Network login required</h1><p>Please sign in to access the internet.</p>"
    "</body></html>"
)
NOT_JSON_BODY = "upstream connect error or disconnect/reset before headers. reset reason: overflow"
WRONG_SHAPE_BODY = {"result": "ok", "data": [], "message": "request accepted"}


def captive_portal() -> web.Response:
    """Return the 200 ``text/html`` sign-in page a captive portal answers with."""
    return web.Response(text=CAPTIVE_PORTAL_HTML, content_type="text/html")


def verbatim(
    status: int, body: str | dict[str, Any] | list[Any], headers: dict[str, str]
) -> web.Response:
    """Return `body` as given: JSON for an object or list, else text (HTML if it looks so)."""
    if isinstance(body, dict | list):
        return web.json_response(body, status=status, headers=headers)
    if body == "":
        return web.Response(status=status, headers=headers)
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = (
            "text/html" if body.lstrip().startswith("<") else "text/plain; charset=utf-8"
        )
    return web.Response(status=status, text=body, headers=headers)


async def hang(request: web.Request, closing: asyncio.Event) -> web.StreamResponse:
    """Never answer: wait until the client goes away or the simulator stops (`closing`)."""
    while not closing.is_set():
        transport = request.transport
        if transport is None or transport.is_closing():
            break
        await asyncio.sleep(0.05)
    raise web.HTTPServiceUnavailable()


def mangled(response: web.StreamResponse, body_kind: str) -> web.Response:
    """Return a 200 whose body a broken proxy mangled (the request itself was served)."""
    if body_kind == "not_json":
        return web.Response(text=NOT_JSON_BODY, content_type="application/json")
    if body_kind == "wrong_shape":
        return web.json_response(WRONG_SHAPE_BODY)
    raw = response.body if isinstance(response, web.Response) else b""
    text = raw.decode() if isinstance(raw, bytes) else ""
    return web.Response(text=text[: max(1, len(text) // 2)], content_type="application/json")
