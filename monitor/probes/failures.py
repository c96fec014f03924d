"""The one place where transport errors, HTTP statuses and close codes become an ErrorKind.

Probes catch :data:`EXPECTED_ERRORS` at their boundary and hand the exception
to :func:`from_exception`; they pass a non-success HTTP status to
:func:`from_status` and an unexpected WebSocket close to :func:`from_close`.
Each returns a :class:`Failure`: the kind, a human sentence and the details
that go into the probe result (httpx's ``map_httpcore_exceptions`` idea).

Classification uses exception *types*, status codes and close codes, never
message text, with one exception the protocol forces on us: a 1008 close is
``auth`` unless its reason says "Too many concurrent sessions" (the legacy
spelling of 3009, docs/protocol-assemblyai.md §2.7).

Messages are built here from structured fields (status, host, OS error
string), never from ``str(exc)`` of a response error: aiohttp renders the
request URL into those, and a streaming URL may carry a temporary token.
Text that comes from the remote side (API ``error`` strings, close reasons)
goes through :func:`remote_text` first: control characters removed, length
capped, kept as data.
"""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from monitor.models import ErrorKind

__all__ = [
    "EXPECTED_ERRORS",
    "RESOLVING",
    "UNREADABLE_JSON",
    "Failure",
    "bad_response",
    "from_close",
    "from_exception",
    "from_status",
    "remote_text",
    "timed_out",
]

# What a probe may see from the network that is the remote side's fault, not ours.
# TimeoutError, ssl.SSLError, socket.gaierror and ConnectionError are all OSError.
# aiohttp.WebSocketError arrives as the payload of an ERROR message (protocol violation,
# message too big), never raised, but it is classified here like the rest.
EXPECTED_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    OSError,
    aiohttp.WebSocketError,
)

# What json.loads raises for a body it cannot read: ValueError (JSONDecodeError,
# UnicodeDecodeError) for text that is not JSON, RecursionError for JSON nested
# deeper than the interpreter's stack ("[" * 10_000 is a 20 KB answer).
UNREADABLE_JSON: tuple[type[Exception], ...] = (ValueError, RecursionError)

REMOTE_TEXT_LIMIT = 200
CLOSE_REASON_LIMIT = 123  # the protocol caps close reasons at 123 bytes


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a probe is down: the kind, a sentence for humans, details for machines."""

    kind: ErrorKind
    message: str
    details: dict[str, Any] = field(default_factory=dict)


def remote_text(text: object, limit: int = REMOTE_TEXT_LIMIT) -> str:
    """Return remote-supplied `text` as one printable line of at most `limit` characters."""
    s = text if isinstance(text, str) else repr(text)
    s = "".join(ch if ch.isprintable() else " " for ch in s)
    s = " ".join(s.split())
    return s if len(s) <= limit else s[: limit - 1] + "…"


# The phase a connection is in while its host name is looked up: a DNS failure names
# no phase then ("did not resolve while resolving the host name" says it twice).
RESOLVING = "resolving the host name"


def _while(during: str) -> str:
    return f" while {during}" if during else ""


def from_status(
    status: int,
    *,
    during: str = "",
    retry_after: str | None = None,
    api_error: object = None,
) -> Failure:
    """Return the failure that an HTTP answer with a non-success `status` means."""
    details: dict[str, Any] = {"http_status": status}
    if api_error is not None:
        details["api_error"] = remote_text(api_error)
    if status in (401, 403):
        return Failure(
            ErrorKind.AUTH,
            f"API reachable, credentials rejected (HTTP {status}){_while(during)}",
            details,
        )
    if status == 429:
        if retry_after is not None:
            value = retry_after.strip()
            details["retry_after"] = int(value) if value.isdigit() else remote_text(value, 64)
        wait = f", retry after {details['retry_after']} s" if "retry_after" in details else ""
        return Failure(
            ErrorKind.RATE_LIMITED,
            f"Rate limited by the API (HTTP 429{wait}){_while(during)}",
            details,
        )
    if status >= 500:
        return Failure(
            ErrorKind.SERVER_ERROR, f"Server error (HTTP {status}){_while(during)}", details
        )
    said = f": {details['api_error']}" if "api_error" in details else ""
    return Failure(
        ErrorKind.BAD_RESPONSE, f"Unexpected HTTP {status}{_while(during)}{said}", details
    )


def inaccurate(
    reference: str, text: str, max_wer: float, details: dict[str, Any], what: str = "transcript"
) -> Failure | None:
    """Record `text`'s word error rate against `reference` in `details`; fail over `max_wer`.

    `details` gets "wer" and "text" (truncated); `what` names the text in the message.
    """
    from monitor.accuracy import word_error_rate  # jiwer: only when a probe checks text

    wer = word_error_rate(reference, text)
    details["wer"] = round(wer, 4)
    details["text"] = remote_text(text)
    if wer > max_wer:
        return Failure(
            ErrorKind.INACCURATE,
            f"The {what} differs from the reference: WER {wer:.2f} above the limit of {max_wer:g}",
        )
    return None


def bad_response(problem: str, *, during: str = "", **details: Any) -> Failure:
    """Return a `bad_response` failure: the answer came but was not what the protocol says."""
    return Failure(ErrorKind.BAD_RESPONSE, f"{problem}{_while(during)}", dict(details))


def timed_out(seconds: float, *, during: str = "") -> Failure:
    """Return a `timeout` failure: nothing answered within `seconds`."""
    return Failure(ErrorKind.TIMEOUT, f"No answer within {seconds:g} s{_while(during)}")


def _os_reason(err: BaseException | None) -> str:
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    if isinstance(err, ssl.SSLError) and err.reason:
        return str(err.reason)
    return type(err).__name__ if err is not None else "unknown error"


def from_exception(
    exc: BaseException, *, during: str = "", timeout: float | None = None
) -> Failure:
    """Return the failure that `exc` (one of EXPECTED_ERRORS) means for the probe."""
    where = _while(during)
    # Order matters: aiohttp's classes inherit from several of these at once
    # (ServerTimeoutError is a ServerConnectionError and a TimeoutError;
    # ClientConnectorCertificateError is a ClientSSLError and a ClientConnectorError).
    if isinstance(exc, TimeoutError):
        within = f" within {timeout:g} s" if timeout is not None else " in time"
        return Failure(ErrorKind.TIMEOUT, f"No answer{within}{where}")
    dns_where = "" if during == RESOLVING else where
    if isinstance(exc, aiohttp.ClientConnectorDNSError | socket.gaierror):
        host = exc.host if isinstance(exc, aiohttp.ClientConnectorError) else "the API host"
        return Failure(ErrorKind.DNS, f"The host name {host} did not resolve{dns_where}")
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, socket.gaierror):
        return Failure(ErrorKind.DNS, f"The host name {exc.host} did not resolve{dns_where}")
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        cert_err = exc.certificate_error
        reason = getattr(cert_err, "verify_message", None) or _os_reason(cert_err)
        return Failure(ErrorKind.TLS, f"TLS certificate of {exc.host} rejected ({reason}){where}")
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError | ssl.CertificateError):
        host = f" with {exc.host}" if isinstance(exc, aiohttp.ClientConnectorError) else ""
        inner = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
        return Failure(ErrorKind.TLS, f"TLS handshake{host} failed ({_os_reason(inner)}){where}")
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        if exc.status and exc.status >= 300:
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
            return from_status(
                exc.status, during=during or "opening the WebSocket", retry_after=retry_after
            )
        return Failure(
            ErrorKind.BAD_RESPONSE,
            f"The server did not accept the WebSocket upgrade (HTTP {exc.status}){where}",
            {"http_status": exc.status},
        )
    if isinstance(exc, aiohttp.WebSocketError):
        if exc.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG:
            return Failure(ErrorKind.BAD_RESPONSE, f"A streaming message was too large{where}")
        return Failure(
            ErrorKind.BAD_RESPONSE,
            f"The server broke the WebSocket protocol (code {exc.code}){where}",
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        return Failure(
            ErrorKind.CONNECT,
            f"Cannot connect to {exc.host}:{exc.port} ({_os_reason(exc.os_error)}){where}",
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return Failure(ErrorKind.CONNECT, f"The server closed the connection{where}")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return Failure(ErrorKind.BAD_RESPONSE, f"The response body was cut off or malformed{where}")
    if isinstance(exc, aiohttp.ClientResponseError):
        # Raised by aiohttp's HTTP parser for a response it cannot read (status is the
        # parser's code, not the server's), so it is a protocol violation, not a status.
        return Failure(ErrorKind.BAD_RESPONSE, f"The server sent a malformed HTTP response{where}")
    if isinstance(exc, aiohttp.ClientOSError | OSError):
        inner_os = exc if isinstance(exc, OSError) else None
        return Failure(ErrorKind.CONNECT, f"Connection failed ({_os_reason(inner_os)}){where}")
    if isinstance(exc, aiohttp.ClientConnectionError):
        return Failure(ErrorKind.CONNECT, f"Connection failed ({type(exc).__name__}){where}")
    return Failure(ErrorKind.BAD_RESPONSE, f"The request failed ({type(exc).__name__}){where}")


_TOO_MANY_SESSIONS = "too many concurrent sessions"

_CLOSE_KINDS: dict[int, tuple[ErrorKind, str]] = {
    1008: (ErrorKind.AUTH, "Streaming API reachable, credentials rejected"),
    3005: (ErrorKind.SERVER_ERROR, "The streaming server cancelled the session"),
    3006: (ErrorKind.BAD_RESPONSE, "The streaming server rejected a message as invalid"),
    3007: (ErrorKind.BAD_RESPONSE, "The streaming server rejected the audio pacing or framing"),
    3008: (ErrorKind.STREAM_CLOSED, "The streaming session expired"),
    3009: (ErrorKind.RATE_LIMITED, "Too many concurrent streaming sessions"),
}


def from_close(code: int | None, reason: str | None, *, during: str = "") -> Failure:
    """Return the failure that an unexpected WebSocket close with `code` and `reason` means."""
    reason_text = remote_text(reason or "", CLOSE_REASON_LIMIT)
    details: dict[str, Any] = {"close_code": code, "close_reason": reason_text}
    kind, text = _CLOSE_KINDS.get(
        code or 0, (ErrorKind.STREAM_CLOSED, "The streaming socket closed unexpectedly")
    )
    # docs/protocol-assemblyai.md §2.7: before 2026-02 too-many-sessions was 1008 with this reason.
    if code == 1008 and _TOO_MANY_SESSIONS in reason_text.casefold():
        kind, text = _CLOSE_KINDS[3009]
    shown = f"close {code}" if code is not None else "no close code"
    said = f": {reason_text}" if reason_text else ""
    return Failure(kind, f"{text} ({shown}){_while(during)}{said}", details)
