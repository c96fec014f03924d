"""What Deepgram's probes share on the wire: the auth header, error bodies and close codes.

Errors come in three envelopes (legacy ``err_code``/``err_msg``, modern
``category``/``message``, plain text; a 503 may say ``error_code``), so the
API's own sentence is read from whichever is there and kept as ``api_error``.
Statuses map as everywhere (:func:`monitor.probes.failures.from_status`)
except 402, the account out of credit: like a rejected key, the API is up
and the credentials cannot be used, so it is ``auth``. Close codes are
Deepgram's own (docs/protocol-deepgram.md §6): 1011 is NET-0000 (the server
produced nothing in time) or NET-0001 (it heard nothing for ~10 s), told
apart by the reason, the one place where the protocol leaves no other way.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from monitor.models import ErrorKind, ProbeTarget
from monitor.probes.failures import UNREADABLE_JSON, Failure, from_status, remote_text

__all__ = [
    "ERROR_BODY_BYTES",
    "api_error",
    "auth_headers",
    "close_failure",
    "response_failure",
    "status_failure",
]

ERROR_BODY_BYTES = 16 * 1024
REQUEST_ID_HEADER = "dg-request-id"
ERROR_HEADER = "dg-error"


def auth_headers(target: ProbeTarget, user_agent: str) -> dict[str, str]:
    """Return Deepgram's ``Authorization: Token <key>`` (the descriptor's scheme) and the UA."""
    from monitor.providers.deepgram import PROVIDER

    return {**PROVIDER.auth_headers(target.api_key.get_secret_value()), "User-Agent": user_agent}


def api_error(body: bytes) -> str | None:
    """Return the API's own error sentence from any of its error envelopes (None if none)."""
    try:
        data: Any = json.loads(body)
    except UNREADABLE_JSON:
        text = body.decode("utf-8", errors="replace").strip()
        # An HTML page from a proxy is not the API's sentence.
        return remote_text(text) if text and not text.startswith("<") else None
    if not isinstance(data, dict):
        return None
    for key in ("err_msg", "message", "details"):
        if isinstance(data.get(key), str) and data[key]:
            return remote_text(data[key])
    return None


def status_failure(status: int, headers: Any, body: bytes, *, during: str = "") -> Failure:
    """Return what a non-success Deepgram answer means, with its sentence and request id."""
    said = api_error(body)
    failure = from_status(
        status, during=during, retry_after=headers.get("Retry-After"), api_error=said
    )
    if status == 402:
        where = f" while {during}" if during else ""
        failure = Failure(
            ErrorKind.AUTH,
            f"API reachable, the project cannot pay for requests (HTTP 402){where}",
            failure.details,
        )
    request_id = headers.get(REQUEST_ID_HEADER)
    if isinstance(request_id, str) and request_id:
        failure.details["dg_request_id"] = remote_text(request_id, 64)
    return failure


async def response_failure(resp: aiohttp.ClientResponse, *, during: str = "") -> Failure:
    """Return :func:`status_failure` of `resp`, reading at most a small part of its body."""
    try:
        body = await resp.content.read(ERROR_BODY_BYTES)
    except (aiohttp.ClientError, OSError):
        body = b""
    return status_failure(resp.status, resp.headers, body, during=during)


_NET0000 = ("net-0000", "net0000", "did not provide a response")
_NET0001 = ("net-0001", "net0001", "did not receive audio")
_DATA0000 = ("data-0000", "data0000")


def _says(reason: str, marks: tuple[str, ...]) -> bool:
    folded = reason.casefold()
    return any(mark in folded for mark in marks)


def close_failure(code: int | None, reason: str | None, *, during: str = "") -> Failure:
    """Return the failure an unexpected close of a Deepgram stream means."""
    text = remote_text(reason or "", 123)
    details: dict[str, Any] = {"close_code": code, "close_reason": text}
    if code == 1011 and _says(text, _NET0001):
        kind, what = ErrorKind.STREAM_CLOSED, "Deepgram closed the stream: it received nothing"
    elif code == 1011:
        kind, what = ErrorKind.SERVER_ERROR, "Deepgram produced no response in time"
    elif code in (1002, 1008) and _says(text, _DATA0000):
        kind, what = ErrorKind.BAD_RESPONSE, "Deepgram could not decode the audio"
    elif code in (1002, 1003, 1007, 1008, 1009):
        kind, what = ErrorKind.BAD_RESPONSE, "Deepgram refused what the probe sent"
    elif code is not None and code >= 1012 and code <= 1014:
        kind, what = ErrorKind.SERVER_ERROR, "The streaming server is restarting or overloaded"
    else:
        kind, what = ErrorKind.STREAM_CLOSED, "The streaming socket closed unexpectedly"
    shown = f"close {code}" if code is not None else "no close code"
    where = f" while {during}" if during else ""
    said = f": {text}" if text else ""
    return Failure(kind, f"{what} ({shown}){where}{said}", details)
