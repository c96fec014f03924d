"""Promise 3 of issue 8: a hostile server cannot hang a probe, exhaust memory, or crash it.

Each case is a real socket on loopback (tests/support/hostile.py) doing
something no API should: a 100 MB body, a status line dripped one byte a
second, a gzip bomb of 10 GiB of zeros, invalid UTF-8, JSON nested 10,000
deep, a WebSocket that floods messages or sends a 50 MB frame, a socket that
reads the request and never answers nor closes, TLS with an expired or a
self-signed certificate. Each is run against the probe it concerns —
reachability for the transcript-list GET, transcription for the job reads
(``GET /v2/transcript/{id}``), streaming for the WebSocket — and must end

- within the probe's timeout plus its documented grace (docs/probes.md:
  reachability +0, transcription + ``cleanup_budget``, streaming +
  ``CLOSE_GRACE_S``), with :data:`SLACK` for the event loop;
- with the process's peak RSS growing by at most :data:`MEMORY_BOUND`;
- down, with the right ``error_kind`` (never ``internal``: no exception escapes).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from monitor.config import Target
from monitor.models import ErrorKind, ProbeContext, ProbeResult, Status, SystemClock
from monitor.providers.assemblyai import reachability, streaming, transcription
from monitor.providers.assemblyai.specs import ReachabilitySpec, StreamingSpec, TranscriptionSpec
from monitor.providers.assemblyai.streaming import CLOSE_GRACE_S
from monitor.providers.assemblyai.transcription import cleanup_budget
from tests.support.clocks import BurstClock
from tests.support.hostile import (
    BEGIN,
    CLOSE,
    INVALID_UTF8,
    MB,
    TEXT,
    Behaviour,
    Certs,
    PeakMemory,
    RawServer,
    body_answer,
    drip,
    drip_body,
    fixed,
    frame,
    gzip_bomb,
    huge_body,
    make_certs,
    nested,
    silent,
    text,
    transcription_api,
    websocket,
    ws_flood,
    ws_frames,
    ws_huge_frame,
)

MEMORY_BOUND = 64 * 1024 * 1024
"""Peak RSS growth allowed for one hostile exchange (the largest body any probe keeps is 4 MiB)."""
SLACK = 1.0
"""Event-loop slack on top of timeout + grace."""

REACH = ReachabilitySpec(timeout=1.0, degraded_after=0.5)
TRANS = TranscriptionSpec(timeout=1.5, degraded_after=1.0, poll_interval=0.05)
STREAM = StreamingSpec(timeout=2.0, degraded_after=1.0, frame_ms=100)

LIST_OK = b'{"page_details": {}, "transcripts": []}'


class NoLedger:
    """A deletion ledger that keeps nothing (the hostile API's job is never really created)."""

    async def record(self, target: str, transcript_id: str) -> None:
        return None

    async def mark_deleted(self, target: str, transcript_id: str) -> None:
        return None

    async def mark_attempt(self, target: str, transcript_id: str, error: str) -> None:
        return None

    async def pending(self, target: str | None = None) -> list[Any]:
        return []


@dataclass(frozen=True)
class Case:
    """One hostile server and what the probe must make of it."""

    probe: str  # reachability | transcription | streaming
    behaviour: Behaviour | None  # None: the TLS cases build their own server
    kind: ErrorKind
    says: str = ""  # a fragment the result's message must contain
    tls: str = ""  # "expired" | "self-signed"


def _grace(probe: str) -> tuple[float, float]:
    """Return (timeout, documented grace) of the probe under test."""
    if probe == "reachability":
        return REACH.timeout, 0.0
    if probe == "transcription":
        return TRANS.timeout, cleanup_budget(TRANS)
    return STREAM.timeout, CLOSE_GRACE_S


NEVER_CLOSES = silent
EARLY_TURN = text(
    {"type": "Turn", "turn_order": 0, "transcript": "too early", "end_of_turn": True, "words": []}
)
STATUS_LINE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n" + LIST_OK

CASES: dict[str, Case] = {
    # --- reachability: GET /v2/transcript?limit=1
    "reach-100MB-body": Case(
        "reachability", huge_body(100 * MB), ErrorKind.BAD_RESPONSE, "larger than"
    ),
    "reach-100MB-body-no-length": Case(
        "reachability",
        huge_body(100 * MB, declare_length=False),
        ErrorKind.BAD_RESPONSE,
        "larger than",
    ),
    "reach-drip-status-line": Case(
        "reachability", drip(STATUS_LINE), ErrorKind.TIMEOUT, "waiting for the response headers"
    ),
    "reach-drip-body-1Bps": Case(
        "reachability", drip_body(), ErrorKind.TIMEOUT, "reading the response body"
    ),
    "reach-gzip-bomb-10GiB": Case(
        "reachability", gzip_bomb(), ErrorKind.BAD_RESPONSE, "larger than"
    ),
    "reach-invalid-utf8": Case(
        "reachability",
        body_answer(b'{"page_details": {}, "transcripts": ["' + INVALID_UTF8 + b'"]}'),
        ErrorKind.BAD_RESPONSE,
        "not JSON",
    ),
    "reach-invalid-utf8-headers": Case(
        "reachability",
        fixed(
            b"HTTP/1.1 429 \xff\xfe\r\nRetry-After: \xff<b>\xfe\r\nX-Evil: \xc0\xaf\r\n"
            b"Content-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        ErrorKind.RATE_LIMITED,
        "HTTP 429",
    ),
    "reach-json-10000-deep": Case(
        "reachability", body_answer(nested()), ErrorKind.BAD_RESPONSE, "not JSON"
    ),
    "reach-never-answers": Case(
        "reachability", NEVER_CLOSES, ErrorKind.TIMEOUT, "waiting for the response headers"
    ),
    "reach-tls-expired": Case("reachability", None, ErrorKind.TLS, "certificate", tls="expired"),
    # --- transcription: every GET /v2/transcript/{id} is hostile
    "job-100MB-body": Case(
        "transcription",
        transcription_api(huge_body(100 * MB)),
        ErrorKind.BAD_RESPONSE,
        "larger than",
    ),
    "job-drip-1Bps": Case(
        "transcription",
        transcription_api(drip_body(b'{"status": "processing"')),
        ErrorKind.TIMEOUT,
        "polling the job",
    ),
    "job-gzip-bomb-10GiB": Case(
        "transcription", transcription_api(gzip_bomb()), ErrorKind.BAD_RESPONSE, "larger than"
    ),
    "job-invalid-utf8": Case(
        "transcription",
        transcription_api(body_answer(b'{"status": "completed", "text": "' + INVALID_UTF8 + b'"}')),
        ErrorKind.BAD_RESPONSE,
        "not JSON",
    ),
    "job-lone-surrogate-in-error": Case(
        "transcription",
        transcription_api(body_answer(b'{"status": "error", "error": "\\ud800<b>x\\udfff"}')),
        ErrorKind.TRANSCRIPTION_FAILED,
        "<b>x",
    ),
    "job-lone-surrogate-in-text": Case(
        "transcription",
        transcription_api(
            body_answer(
                b'{"status": "completed", "text": "\\ud800", "speech_model_used": "\\udc80"}'
            )
        ),
        ErrorKind.INACCURATE,
        "WER",
    ),
    "job-json-10000-deep": Case(
        "transcription",
        transcription_api(body_answer(b'{"status": "processing", "words": ' + nested() + b"}")),
        ErrorKind.BAD_RESPONSE,
        "not JSON",
    ),
    "job-error-body-10000-deep": Case(
        "transcription",
        transcription_api(body_answer(b'{"error": ' + nested() + b"}", status=400)),
        ErrorKind.BAD_RESPONSE,
        "HTTP 400",
    ),
    "job-never-answers": Case(
        "transcription", transcription_api(NEVER_CLOSES), ErrorKind.TIMEOUT, "polling the job"
    ),
    "job-tls-expired": Case(
        "transcription", None, ErrorKind.TLS, "certificate has expired", tls="expired"
    ),
    "job-tls-self-signed": Case(
        "transcription", None, ErrorKind.TLS, "self-signed", tls="self-signed"
    ),
    # --- streaming: the v3 WebSocket
    "ws-flood": Case("streaming", websocket(ws_flood), ErrorKind.TIMEOUT, "No answer within 2 s"),
    "ws-turn-before-any-audio": Case(
        "streaming",
        websocket(ws_frames(BEGIN, EARLY_TURN)),
        ErrorKind.STREAM_NO_TRANSCRIPT,
        "no Turn with text",
    ),
    "ws-50MB-frame": Case(
        "streaming", websocket(ws_huge_frame(50 * MB)), ErrorKind.BAD_RESPONSE, "too large"
    ),
    "ws-never-answers-upgrade": Case(
        "streaming", NEVER_CLOSES, ErrorKind.TIMEOUT, "opening the WebSocket"
    ),
    "ws-never-begins-never-closes": Case(
        "streaming", websocket(ws_frames()), ErrorKind.TIMEOUT, "waiting for Begin"
    ),
    "ws-invalid-utf8-text": Case(
        "streaming",
        websocket(ws_frames(BEGIN, frame(TEXT, INVALID_UTF8))),
        ErrorKind.BAD_RESPONSE,
        "",
    ),
    "ws-invalid-utf8-close-reason": Case(
        "streaming",
        websocket(ws_frames(BEGIN, frame(CLOSE, (4000).to_bytes(2, "big") + INVALID_UTF8))),
        ErrorKind.BAD_RESPONSE,
        "",
    ),
    "ws-json-10000-deep": Case(
        "streaming",
        websocket(ws_frames(BEGIN, frame(TEXT, b'{"type": "Turn", "x": ' + nested() + b"}"))),
        ErrorKind.BAD_RESPONSE,
        "",
    ),
    "ws-tls-expired": Case(
        "streaming", None, ErrorKind.TLS, "certificate has expired", tls="expired"
    ),
    "ws-tls-self-signed": Case("streaming", None, ErrorKind.TLS, "self-signed", tls="self-signed"),
}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def _tls_server(case: Case, certs: Certs) -> RawServer:
    if case.tls == "expired":
        ctx = certs.server_context(certs.expired_cert, certs.expired_key)
    else:
        ctx = certs.server_context(certs.self_signed_cert, certs.self_signed_key)
    ok = body_answer(LIST_OK)
    behaviour = transcription_api(ok) if case.probe == "transcription" else ok
    if case.probe == "streaming":
        behaviour = websocket(ws_frames(BEGIN))
    return RawServer(behaviour, ssl_context=ctx)


@pytest.fixture
async def server_for() -> AsyncIterator[Callable[[RawServer], Any]]:
    started: list[RawServer] = []

    async def start(server: RawServer) -> RawServer:
        started.append(server)
        return await server.start()

    yield start
    for server in started:
        await server.close()


def _context(certs: Certs, clock: SystemClock) -> ProbeContext:
    """Return a probe context whose sessions trust the test CA (so expiry is what fails).

    The reachability probe brings its own connector and so the system trust
    store: there the expired leaf fails as untrusted, which is still ``tls``.
    """
    trusted = certs.client_context()

    def session_factory(**kwargs: Any) -> aiohttp.ClientSession:
        kwargs.setdefault("connector", aiohttp.TCPConnector(ssl=trusted))
        return aiohttp.ClientSession(**kwargs)

    return ProbeContext(session_factory=session_factory, clock=clock, ledger=NoLedger())


async def _run(case: Case, server: RawServer, ctx: ProbeContext) -> ProbeResult:
    target = Target(
        name="hostile",
        api_base=server.http,
        streaming_base=server.ws,
        api_key=SecretStr("hostile-key-0123456789"),
    )
    if case.probe == "reachability":
        return await reachability.run(target, REACH, ctx)
    if case.probe == "transcription":
        return await transcription.run(target, TRANS, ctx)
    return await streaming.run(target, STREAM, ctx)


@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
async def test_hostile_server_ends_in_time_with_bounded_memory_and_the_right_kind(
    name: str, certs: Certs, server_for: Callable[[RawServer], Any]
) -> None:
    """A hostile server ends the probe within timeout + grace, in bounded memory, classified."""
    case = CASES[name]
    behaviour = case.behaviour
    server = _tls_server(case, certs) if behaviour is None else RawServer(behaviour)
    await server_for(server)
    clock = BurstClock() if case.probe == "streaming" else SystemClock()
    ctx = _context(certs, clock)
    timeout, grace = _grace(case.probe)

    with PeakMemory() as memory:
        t0 = time.monotonic()
        result = await asyncio.wait_for(_run(case, server, ctx), timeout + grace + 10)
        wall = time.monotonic() - t0

    assert result.status is Status.DOWN, result.message
    assert result.error_kind is case.kind, (result.error_kind, result.message)
    assert case.says in result.message, result.message
    assert wall <= timeout + grace + SLACK, f"took {wall:.2f}s (timeout {timeout} + {grace})"
    assert memory.growth <= MEMORY_BOUND, f"peak RSS grew {memory.growth / 2**20:.1f} MiB"
    # Nothing a server sends makes a latency negative (a Turn before any audio, say).
    assert all(v >= 0 for v in result.phases.values()), result.phases
    assert result.details.get("first_transcript_s", 0) >= 0, result.details
    # What the server said stays data: the result encodes as UTF-8 JSON, as the store
    # and the status page write it (a lone surrogate from bad bytes would not).
    json.dumps(result.to_json(), ensure_ascii=False, allow_nan=False).encode("utf-8")
    print(f"{name}: {wall:.2f} s, peak RSS +{memory.growth / 2**20:.1f} MiB")
    assert "hostile-key-0123456789" not in str(result.to_json())


def test_peak_memory_sees_an_allocation() -> None:
    """The memory bound is measured, not assumed: PeakMemory sees a 100 MB buffer come and go."""
    with PeakMemory() as memory:
        buffer = bytearray(100 * MB)
        buffer[::4096] = b"x" * len(range(0, 100 * MB, 4096))  # touch every page
        del buffer
    assert memory.growth >= 90 * MB
