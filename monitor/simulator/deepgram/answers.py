"""Deepgram's answers that are not transcripts: error bodies, a status fault's, auth.

Errors use the legacy envelope ``{"err_code", "err_msg", "request_id"}`` with the
documented strings; a 503 says ``error_code`` instead (as the docs' example
does), and 5xx from the edge are empty. Every answer carries ``dg-request-id``.
Deepgram documents no rate-limit headers, so a 429 has none unless a fault adds them.
The other HTTP fault actions are the shared ones of ``..http_faults``.
"""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from .scenario import Fault

REQUEST_ID_HEADER = "dg-request-id"
ERROR_HEADER = "dg-error"
INVALID_AUTH = "Invalid credentials."
# Per status: (err_code, err_msg) as Deepgram documents them (docs/protocol-deepgram.md §4).
DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("Bad Request", "Bad Request: failed to process audio: corrupt or unsupported data"),
    401: ("INVALID_AUTH", INVALID_AUTH),
    402: (
        "ASR_PAYMENT_REQUIRED",
        "Project does not have enough credits for an ASR request and does not have an "
        "overage agreement.",
    ),
    403: ("INSUFFICIENT_PERMISSIONS", "Project does not have access to the requested model."),
    404: ("NOT_FOUND", "Not found."),
    413: ("PAYLOAD_TOO_LARGE", "Payload too large."),
    422: ("ASR_UNPROCESSABLE_ENTITY", "Unable to read the entire client request."),
    429: ("TOO_MANY_REQUESTS", "Too many requests. Please try again later"),
    500: ("INTERNAL_SERVER_ERROR", "Internal server error."),
    503: ("Service Unavailable", "Please try again later"),
}


def new_request_id() -> str:
    """Return a fresh request id (a UUID, as Deepgram's)."""
    return str(uuid.uuid4())


def error_body(status: int, err_code: str, err_msg: str, request_id: str) -> dict[str, Any]:
    """Return the legacy error envelope (a 503 names its code ``error_code``, as documented)."""
    code_key = "error_code" if status == 503 else "err_code"
    return {code_key: err_code, "err_msg": err_msg, "request_id": request_id}


def error_response(
    status: int, err_code: str, err_msg: str, request_id: str | None = None
) -> web.Response:
    """Return a JSON error answer with ``dg-request-id`` (and ``dg-error`` on upgrades)."""
    rid = request_id or new_request_id()
    return web.json_response(
        error_body(status, err_code, err_msg, rid),
        status=status,
        headers={REQUEST_ID_HEADER: rid, ERROR_HEADER: err_msg},
    )


def fault_response(fault: Fault) -> web.Response:
    """Return the answer a ``status`` or ``refuse`` fault prescribes."""
    status = fault.status if fault.status is not None else 503
    rid = new_request_id()
    headers = {REQUEST_ID_HEADER: rid, **(fault.headers or {})}
    body = fault.body
    if body is None:
        known = DEFAULT_ERRORS.get(status)
        if known is not None:
            headers.setdefault(ERROR_HEADER, known[1])
            body = error_body(status, known[0], known[1], rid)
        elif 400 <= status < 500:
            reason = web.Response(status=status).reason
            body = error_body(status, reason.upper().replace(" ", "_"), reason, rid)
        else:
            body = ""  # a load balancer's 502/504: nothing to parse
    if isinstance(body, dict | list):
        return web.json_response(body, status=status, headers=headers)
    if body == "":
        return web.Response(status=status, headers=headers)
    if not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = (
            "text/html" if body.lstrip().startswith("<") else "text/plain; charset=utf-8"
        )
    return web.Response(status=status, text=body, headers=headers)


def parse_authorization(value: str | None) -> tuple[str, str] | None:
    """Return (scheme, credential) of an ``Authorization: Token|Bearer <x>`` header (any case)."""
    if value is None:
        return None
    scheme, _, credential = value.strip().partition(" ")
    scheme = scheme.lower()
    if scheme not in ("token", "bearer") or not credential.strip():
        return None
    return scheme, credential.strip()
