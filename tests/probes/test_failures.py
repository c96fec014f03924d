"""The one failure map: HTTP statuses, close codes and exceptions to ErrorKind and a sentence."""

from __future__ import annotations

import socket
import ssl

import aiohttp
import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from monitor.models import ErrorKind
from monitor.probes.failures import (
    from_close,
    from_exception,
    from_status,
    remote_text,
)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, ErrorKind.AUTH),
        (403, ErrorKind.AUTH),
        (429, ErrorKind.RATE_LIMITED),
        (500, ErrorKind.SERVER_ERROR),
        (502, ErrorKind.SERVER_ERROR),
        (503, ErrorKind.SERVER_ERROR),
        (504, ErrorKind.SERVER_ERROR),
        (400, ErrorKind.BAD_RESPONSE),
        (404, ErrorKind.BAD_RESPONSE),
        (302, ErrorKind.BAD_RESPONSE),
        (418, ErrorKind.BAD_RESPONSE),
    ],
    ids=lambda v: str(v) if isinstance(v, int) else None,
)
def test_status_kinds(status: int, kind: ErrorKind) -> None:
    failure = from_status(status)
    assert failure.kind is kind
    assert failure.details["http_status"] == status
    assert str(status) in failure.message


def test_auth_message_tells_a_bad_key_from_an_outage() -> None:
    assert from_status(401).message == "API reachable, credentials rejected (HTTP 401)"
    assert from_status(403, during="uploading the probe clip").message == (
        "API reachable, credentials rejected (HTTP 403) while uploading the probe clip"
    )


@pytest.mark.parametrize(
    ("header", "recorded"),
    [("30", 30), (" 5 ", 5), ("Wed, 21 Oct 2026 07:28:00 GMT", "Wed, 21 Oct 2026 07:28:00 GMT")],
    ids=["seconds", "padded", "http-date"],
)
def test_retry_after_is_recorded(header: str, recorded: object) -> None:
    failure = from_status(429, retry_after=header)
    assert failure.details["retry_after"] == recorded


def test_api_error_of_a_4xx_is_kept_as_data() -> None:
    failure = from_status(400, during="submitting the job", api_error="bad\nmodel " + "z" * 400)
    assert failure.kind is ErrorKind.BAD_RESPONSE
    assert failure.details["api_error"].startswith("bad model")
    assert len(failure.details["api_error"]) <= 200
    assert "\n" not in failure.message


@pytest.mark.parametrize(
    ("code", "reason", "kind"),
    [
        (1008, "Unauthorized Connection: Missing Authorization header", ErrorKind.AUTH),
        (1008, "Unauthorized Connection: Too many concurrent sessions", ErrorKind.RATE_LIMITED),
        (1008, "UNAUTHORIZED CONNECTION: TOO MANY CONCURRENT SESSIONS", ErrorKind.RATE_LIMITED),
        (3005, "Session Cancelled: An error occurred", ErrorKind.SERVER_ERROR),
        (3006, "Invalid Message Type: Foo", ErrorKind.BAD_RESPONSE),
        (
            3007,
            "Input duration violation: 20 ms. Expected between 50 and 1000 ms",
            ErrorKind.BAD_RESPONSE,
        ),
        (3008, "Session Expired: Maximum session duration exceeded", ErrorKind.STREAM_CLOSED),
        (3009, "Unauthorized Connection: Too many concurrent sessions", ErrorKind.RATE_LIMITED),
        (1000, "", ErrorKind.STREAM_CLOSED),
        (1011, "internal error", ErrorKind.STREAM_CLOSED),
        (4001, "legacy v2 code", ErrorKind.STREAM_CLOSED),
        (None, None, ErrorKind.STREAM_CLOSED),
    ],
    ids=[
        "1008-unauthorized",
        "1008-too-many-sessions",
        "1008-too-many-upper-case",
        "3005",
        "3006",
        "3007",
        "3008",
        "3009",
        "1000-early",
        "1011",
        "4001",
        "no-code",
    ],
)
def test_close_kinds(code: int | None, reason: str | None, kind: ErrorKind) -> None:
    failure = from_close(code, reason)
    assert failure.kind is kind
    assert failure.details["close_code"] == code
    assert failure.details["close_reason"] == (reason or "")


def test_close_reason_is_truncated_and_printable() -> None:
    failure = from_close(3005, "x\x00\r\n" + "y" * 500)
    assert len(failure.details["close_reason"]) <= 123
    assert failure.details["close_reason"].isprintable()
    assert failure.message.isprintable()


def _request_info(url: str) -> aiohttp.RequestInfo:
    return aiohttp.RequestInfo(URL(url), "GET", CIMultiDictProxy(CIMultiDict()), URL(url))


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TimeoutError(), ErrorKind.TIMEOUT),
        (aiohttp.ServerTimeoutError("read"), ErrorKind.TIMEOUT),
        (aiohttp.ConnectionTimeoutError("connect"), ErrorKind.TIMEOUT),
        (socket.gaierror(-2, "Name or service not known"), ErrorKind.DNS),
        (ssl.SSLError(1, "handshake failure"), ErrorKind.TLS),
        (ConnectionRefusedError(111, "Connection refused"), ErrorKind.CONNECT),
        (ConnectionResetError(104, "Connection reset by peer"), ErrorKind.CONNECT),
        (aiohttp.ServerDisconnectedError(), ErrorKind.CONNECT),
        (aiohttp.ClientPayloadError("truncated"), ErrorKind.BAD_RESPONSE),
        (aiohttp.WebSocketError(1009, "too big"), ErrorKind.BAD_RESPONSE),
        (aiohttp.WebSocketError(1002, "protocol"), ErrorKind.BAD_RESPONSE),
        (
            aiohttp.ClientResponseError(_request_info("http://h/"), (), status=400),
            ErrorKind.BAD_RESPONSE,
        ),
    ],
    ids=[
        "timeout",
        "server-timeout",
        "connect-timeout",
        "gaierror",
        "ssl-error",
        "refused",
        "reset",
        "server-disconnected",
        "payload",
        "ws-too-big",
        "ws-protocol",
        "unparseable-response",
    ],
)
def test_exception_kinds(exc: BaseException, kind: ErrorKind) -> None:
    assert from_exception(exc).kind is kind


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, ErrorKind.AUTH), (429, ErrorKind.RATE_LIMITED), (503, ErrorKind.SERVER_ERROR)],
    ids=["401", "429", "503"],
)
def test_refused_websocket_upgrade_maps_like_rest_and_hides_the_url(
    status: int, kind: ErrorKind
) -> None:
    secret = "tok-5f2c9d"
    info = _request_info(f"wss://streaming.example/v3/ws?token={secret}")
    exc = aiohttp.WSServerHandshakeError(info, (), status=status, message="refused")
    failure = from_exception(exc)
    assert failure.kind is kind
    assert failure.details["http_status"] == status
    assert secret not in failure.message
    assert secret in str(exc)  # aiohttp itself would have leaked it


def test_remote_text_flattens_and_caps() -> None:
    assert remote_text("a\tb\n\nc") == "a b c"
    assert remote_text("x" * 300, 10) == "x" * 9 + "…"
    assert remote_text({"not": "text"}) == "{'not': 'text'}"
