"""The simulator's error answers and the headers every answer carries, per flavour."""

from __future__ import annotations

import json
import time
import uuid
from collections import deque
from typing import Any

from aiohttp import web

from ..http_faults import NOT_JSON_BODY, WRONG_SHAPE_BODY
from .flavours import Flavour
from .scenario import Fault, RateLimit

# The documented (or, marked so in docs/protocol-openai.md, plausible) wording per status.
_DEFAULTS: dict[int, tuple[str, str, str | None]] = {
    400: ("Invalid request", "invalid_request_error", None),
    401: ("Incorrect API key provided.", "invalid_request_error", "invalid_api_key"),
    403: ("Country, region, or territory not supported", "request_forbidden", None),
    404: ("Not found", "invalid_request_error", None),
    413: ("Maximum content size limit exceeded", "server_error", None),
    429: (
        "Rate limit reached for requests. Please try again in 1s.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: ("The server had an error while processing your request. Sorry about that!",
          "server_error", None),
    503: ("The engine is currently overloaded, please try again later", "server_error", None),
}  # fmt: skip


def error_body(
    flavour: Flavour,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    """Return an error body in the flavour's envelope."""
    if flavour.error_style == "detail":
        return {"detail": message}
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_response(
    flavour: Flavour,
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Return a JSON error answer in the flavour's envelope."""
    body = error_body(flavour, message, type_=type_, param=param, code=code)
    return web.json_response(body, status=status, headers=headers)


def fault_response(flavour: Flavour, fault: Fault) -> web.Response:
    """Return the answer a ``status`` fault prescribes (its body, or the status's usual one)."""
    status = fault.status if fault.status is not None else 503
    headers = dict(fault.headers or {})
    if status == 429:
        headers.setdefault("retry-after", "1")
    body = fault.body
    if body is None:
        message, type_, code = _DEFAULTS.get(
            status,
            (
                web.Response(status=status).reason or "Error",
                "server_error" if status >= 500 else "invalid_request_error",
                None,
            ),
        )
        return error_response(flavour, status, message, type_=type_, code=code, headers=headers)
    if isinstance(body, dict | list):
        return web.json_response(body, status=status, headers=headers)
    if body == "":
        return web.Response(status=status, headers=headers)
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = (
            "text/html" if body.lstrip().startswith("<") else "text/plain; charset=utf-8"
        )
    return web.Response(status=status, text=body, headers=headers)


def mangled(response: web.StreamResponse, body_kind: str) -> web.Response:
    """Return a 200 whose body a broken proxy mangled (the request itself was served).

    Not http_faults.malformed: that one runs the handler itself, and a stream that
    was already sent must mangle its own events instead (routes._stream).
    """
    if body_kind == "not_json":
        return web.Response(text=NOT_JSON_BODY, content_type="application/json")
    if body_kind == "wrong_shape":
        return web.json_response(WRONG_SHAPE_BODY)
    raw = response.body if isinstance(response, web.Response) else b""
    text = raw.decode() if isinstance(raw, bytes) else ""
    return web.Response(text=text[: max(1, len(text) // 2)], content_type="application/json")


def go_duration(seconds: float) -> str:
    """Return `seconds` as the rate-limit reset headers write it (``20ms``, ``1.2s``, ``6m0s``)."""
    if seconds < 1:
        return f"{max(1, round(seconds * 1000))}ms"
    if seconds < 60:
        return f"{seconds:.3g}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s"


class RateLimiter:
    """A sliding window of request times per API key; says what the headers show."""

    # The budget shown when the scenario sets none (OpenAI's tier-1 RPM for whisper-1,
    # Groq's requests per day).
    UNLIMITED = 500
    UNLIMITED_DAILY = 2000

    def __init__(self, limit: RateLimit, daily: bool) -> None:
        self.limit = limit
        self.daily = daily
        self._seen: dict[str, deque[float]] = {}

    def _budget(self) -> int:
        if self.limit.requests is not None:
            return self.limit.requests
        return self.UNLIMITED_DAILY if self.daily else self.UNLIMITED

    def take(self, key: str, now: float | None = None) -> tuple[bool, dict[str, str]]:
        """Count one request of `key`; return (allowed, the x-ratelimit-* headers)."""
        now = time.monotonic() if now is None else now
        window = self.limit.window_s
        seen = self._seen.setdefault(key, deque())
        while seen and seen[0] <= now - window:
            seen.popleft()
        budget = self._budget()
        allowed = self.limit.requests is None or len(seen) < budget
        if allowed:
            seen.append(now)
        reset = (seen[0] + window - now) if seen else 0.0
        headers = {
            "x-ratelimit-limit-requests": str(budget),
            "x-ratelimit-remaining-requests": str(max(0, budget - len(seen))),
            "x-ratelimit-reset-requests": go_duration(max(0.001, reset)),
        }
        if not allowed:
            headers["retry-after"] = str(max(1, round(reset + 0.5)))
        return allowed, headers

    def reset(self) -> None:
        """Forget every request seen."""
        self._seen.clear()


def request_id(flavour: Flavour) -> str | None:
    """Return a new request id in the flavour's style, or None when it sends none."""
    if not flavour.request_id_prefix:
        return None
    return f"{flavour.request_id_prefix}{uuid.uuid4().hex}"


def json_text(body: Any) -> str:
    """Return `body` as compact JSON (what the real servers send)."""
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False)
