"""The official ``deepgram-sdk`` (7.x), unchanged, against the Deepgram simulator.

Pointed at it through the SDK's documented ``DeepgramClientEnvironment``
(REST ``base`` and WebSocket ``production`` given separately), with
``max_retries=0`` so an error answer is seen once. Pre-recorded (file, URL,
callback), the Manage API's project list, token grants, error types, and live
streaming with the sync and the async client. The clip is streamed faster
than real time: the simulator does not enforce pacing, and the SDK does not care.
"""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from deepgram import AsyncDeepgramClient, DeepgramClient
from deepgram.core.api_error import ApiError
from deepgram.core.events import EventType
from deepgram.environment import DeepgramClientEnvironment
from deepgram.errors import BadRequestError
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from monitor.simulator.deepgram import (
    PROJECT_ID,
    Scenario,
    ThreadedSimulator,
    start_simulator_thread,
)
from tests.support.deepgram import FAST, pcm_frames
from tests.support.simulator import CLIP_TEXT, clip_bytes, clip_pcm

LIVE = {
    "model": "nova-3",
    "encoding": "linear16",
    "sample_rate": 16000,
    "channels": 1,
    "interim_results": True,
    "punctuate": True,
    "endpointing": 300,
}


@pytest.fixture
def sim() -> Iterator[ThreadedSimulator]:
    """Yield a Deepgram simulator in a background thread (the sync SDK blocks its caller)."""
    running = start_simulator_thread(scenario=Scenario.model_validate(FAST))
    try:
        yield running
    finally:
        running.stop()


def environment(sim: ThreadedSimulator) -> DeepgramClientEnvironment:
    """Return the SDK environment aimed at the simulator: REST base and WebSocket base."""
    h = sim.handle
    return DeepgramClientEnvironment(
        base=h.base_url, production=h.ws_base, agent=h.ws_base, agent_rest=h.base_url
    )


def client(sim: ThreadedSimulator, **options: Any) -> DeepgramClient:
    """Return the sync SDK client with the simulator's key (unless told) and no retries."""
    options.setdefault("api_key", "sim-key")
    return DeepgramClient(environment=environment(sim), timeout=10, max_retries=0, **options)


@pytest.fixture
def clip_url() -> Iterator[str]:
    """Yield the URL of the probe clip on a local HTTP server (for transcribe_url)."""
    wav = clip_bytes()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "audio/wav")
            self.send_header("Content-Length", str(len(wav)))
            self.end_headers()
            self.wfile.write(wav)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/clip.wav"
    finally:
        server.shutdown()
        thread.join(timeout=5)


# -- pre-recorded --------------------------------------------------------------


def test_transcribe_file(sim: ThreadedSimulator) -> None:
    resp = client(sim).listen.v1.media.transcribe_file(
        request=clip_bytes(),
        model="nova-3",
        language="en",
        smart_format=True,
        punctuate=True,
        mip_opt_out=True,
    )
    assert type(resp).__name__ == "ListenV1Response"
    alt = resp.results.channels[0].alternatives[0]
    assert alt.transcript == CLIP_TEXT
    assert 0 < alt.confidence <= 1
    assert [w.word for w in alt.words][-1] == "dog"
    assert abs(resp.metadata.duration - 2.28) < 0.01
    assert resp.metadata.request_id
    assert sim.handle.state()["listen"] == {"requests": 1, "mip_opt_out": 1}


def test_transcribe_url(sim: ThreadedSimulator, clip_url: str) -> None:
    resp = client(sim).listen.v1.media.transcribe_url(
        url=clip_url, model="nova-3", smart_format=True
    )
    assert type(resp).__name__ == "ListenV1Response"
    assert resp.results.channels[0].alternatives[0].transcript == CLIP_TEXT


def test_transcribe_url_with_callback_is_accepted(sim: ThreadedSimulator, clip_url: str) -> None:
    resp = client(sim).listen.v1.media.transcribe_url(
        url=clip_url, model="nova-3", callback=clip_url.replace("/clip.wav", "/cb")
    )
    assert type(resp).__name__ == "ListenV1AcceptedResponse"
    assert resp.request_id


def test_projects_list(sim: ThreadedSimulator) -> None:
    projects = client(sim).manage.v1.projects.list().projects
    assert projects is not None and [p.project_id for p in projects] == [PROJECT_ID]


def test_access_token_from_a_grant(sim: ThreadedSimulator) -> None:
    grant = client(sim).auth.v1.tokens.grant(ttl_seconds=60)
    assert grant.access_token and grant.expires_in == 60
    with_token = DeepgramClient(
        access_token=grant.access_token, environment=environment(sim), max_retries=0
    )
    resp = with_token.listen.v1.media.transcribe_file(request=clip_bytes(), model="nova-3")
    assert resp.results.channels[0].alternatives[0].transcript


@pytest.mark.parametrize(
    ("fault", "options", "status", "error"),
    [
        (None, {"api_key": "wrong"}, 401, ApiError),
        (None, {"query": {"mip_opt_out": "True"}}, 400, BadRequestError),
        ({"endpoint": "listen", "action": "status", "status": 429}, {}, 429, ApiError),
        ({"endpoint": "listen", "action": "status", "status": 503}, {}, 503, ApiError),
        ({"endpoint": "listen", "action": "html"}, {}, 200, ApiError),
    ],
    ids=["401", "400-capitalised", "429", "503", "html-200"],
)
def test_errors_are_the_sdk_types(
    sim: ThreadedSimulator,
    fault: dict[str, Any] | None,
    options: dict[str, Any],
    status: int,
    error: type[Exception],
) -> None:
    if fault is not None:
        sim.handle.set_faults([fault])
    query = options.pop("query", None)
    request_options: Any = {"additional_query_parameters": query} if query else None
    with pytest.raises(error) as raised:
        client(sim, **options).listen.v1.media.transcribe_file(
            request=clip_bytes(), model="nova-3", request_options=request_options
        )
    assert isinstance(raised.value, ApiError) and raised.value.status_code == status
    if status in (400, 401, 429):
        assert isinstance(raised.value.body, dict) and raised.value.body["err_msg"]


# -- live ------------------------------------------------------------------------


def stream_sync(conn: Any, pcm: bytes) -> None:
    """Send `pcm` in 100 ms frames, then Finalize and CloseStream, as an application would."""
    for frame in pcm_frames(pcm):
        conn.send_media(frame)
        time.sleep(0.005)
    conn.send_keep_alive()
    conn.send_finalize()
    conn.send_close_stream()


def test_live_sync(sim: ThreadedSimulator) -> None:
    seen: list[Any] = []
    errors: list[Any] = []
    closed = threading.Event()
    with client(sim).listen.v1.connect(**LIVE) as conn:
        conn.on(EventType.MESSAGE, seen.append)
        conn.on(EventType.ERROR, errors.append)
        conn.on(EventType.CLOSE, lambda _: closed.set())
        reader = threading.Thread(target=conn.start_listening, daemon=True)
        reader.start()
        stream_sync(conn, clip_pcm())
        reader.join(timeout=10)
    assert closed.is_set() and errors == []
    results = [m for m in seen if getattr(m, "type", None) == "Results"]
    assert any(not r.is_final for r in results), "interim results"
    finals = [r.channel.alternatives[0].transcript for r in results if r.is_final]
    assert " ".join(t for t in finals if t) == CLIP_TEXT
    assert [r.from_finalize for r in results if r.is_final][-1] is True
    metadata = [m for m in seen if getattr(m, "type", None) == "Metadata"]
    assert len(metadata) == 1 and abs(metadata[0].duration - 2.281) < 0.01
    assert None not in seen, "every frame parses as a known SDK type"
    assert sim.handle.state()["streaming"]["dropped"] == 0


def test_live_async(sim: ThreadedSimulator) -> None:
    async def main() -> list[Any]:
        seen: list[Any] = []
        dg = AsyncDeepgramClient(api_key="sim-key", environment=environment(sim), max_retries=0)
        async with dg.listen.v1.connect(**LIVE) as conn:
            conn.on(EventType.MESSAGE, seen.append)
            task = asyncio.create_task(conn.start_listening())
            for frame in pcm_frames(clip_pcm()):
                await conn.send_media(frame)
            await conn.send_finalize()
            await conn.send_close_stream()
            await asyncio.wait_for(task, 10)
        return seen

    seen = asyncio.run(main())
    finals = [
        m.channel.alternatives[0].transcript
        for m in seen
        if getattr(m, "type", None) == "Results" and m.is_final
    ]
    assert " ".join(t for t in finals if t) == CLIP_TEXT
    assert [getattr(m, "type", None) for m in seen][-1] == "Metadata"


def test_live_server_close_is_an_sdk_error_event(sim: ThreadedSimulator) -> None:
    sim.handle.set_faults(
        [{"endpoint": "ws", "action": "close", "code": 1011, "reason": "NET-0000"}]
    )
    errors: list[Any] = []
    with client(sim).listen.v1.connect(**LIVE) as conn:
        conn.on(EventType.ERROR, errors.append)
        conn.start_listening()
    assert len(errors) == 1
    assert isinstance(errors[0], ConnectionClosedError)
    assert errors[0].rcvd is not None and errors[0].rcvd.code == 1011
    assert errors[0].rcvd.reason == "NET-0000"


def test_live_refused_handshake(sim: ThreadedSimulator) -> None:
    # The sync client lets websockets' own InvalidStatus escape (websockets >= 14).
    refusal = (ApiError, InvalidStatus)
    with (
        pytest.raises(refusal) as refused,
        client(sim, api_key="wrong").listen.v1.connect(**LIVE),
    ):
        pass
    error = refused.value
    status = error.status_code if isinstance(error, ApiError) else error.response.status_code
    assert status == 401

    async def main() -> None:
        dg = AsyncDeepgramClient(api_key="wrong", environment=environment(sim), max_retries=0)
        async with dg.listen.v1.connect(**LIVE):
            pass

    with pytest.raises(ApiError) as async_refused:
        asyncio.run(main())
    assert async_refused.value.status_code == 401
