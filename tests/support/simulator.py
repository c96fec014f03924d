"""Fixtures and helpers shared by the simulator tests (simulators start through conftest.py).

Every JSON answer the ``Api`` helper receives is validated against the copied
OpenAPI spec unless a test says the body is meant to be broken; every server
message a ``StreamProbe`` receives is validated against the AsyncAPI schemas.
"""

from __future__ import annotations

import asyncio
import json
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

from monitor.simulator import DEFAULT_API_KEY, SimulatorHandle
from tests.support.polling import eventually

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "tests" / "specs" / "assemblyai"
CLIP_WAV = ROOT / "monitor" / "data" / "probe-clip.wav"
CLIP_TEXT = (ROOT / "monitor" / "data" / "probe-clip.txt").read_text().strip()
FAST_JOBS = {"queued_ms": 40, "processing_ms": 40}
SPEC_HOST = "https://api.assemblyai.com"
TOKEN_HOST = "https://streaming.assemblyai.com"


# -- audio ---------------------------------------------------------------------


def clip_bytes() -> bytes:
    """Return the bundled clip's file bytes."""
    return CLIP_WAV.read_bytes()


def clip_pcm() -> bytes:
    """Return the bundled clip's raw PCM (16 kHz mono s16le)."""
    with wave.open(str(CLIP_WAV)) as wav:
        return bytes(wav.readframes(wav.getnframes()))


def frames(pcm: bytes, frame_ms: int = 50, rate: int = 16000) -> list[bytes]:
    """Return ``pcm`` cut into frames of ``frame_ms``, the last padded with silence."""
    size = rate * 2 * frame_ms // 1000
    out = [pcm[i : i + size] for i in range(0, len(pcm), size)]
    if out and len(out[-1]) < size:
        out[-1] = out[-1] + b"\0" * (size - len(out[-1]))
    return out


def silence(ms: int, rate: int = 16000) -> bytes:
    """Return ``ms`` of digital silence."""
    return b"\0" * (rate * 2 * ms // 1000)


# -- spec validation -----------------------------------------------------------


@cache
def openapi() -> OpenAPI:
    """Return the REST v2 spec (its own meta-validation fails upstream, so skip it)."""
    return OpenAPI.from_file_path(
        str(SPECS / "openapi.json"), config=Config(spec_validator_cls=None)
    )


@cache
def token_openapi() -> OpenAPI:
    """Return the streaming token spec."""
    return OpenAPI.from_file_path(
        str(SPECS / "streaming-token.yml"), config=Config(spec_validator_cls=None)
    )


USM_SPEC = "usm-streaming.yml"
U3_PRO_SPEC = "usm-streaming-u3-pro.yml"


@cache
def usm_components(spec: str = USM_SPEC) -> dict[str, Any]:
    """Return an AsyncAPI document's components (Universal-Streaming unless told)."""
    doc = yaml.safe_load((SPECS / spec).read_text())
    return dict(doc["components"])


MESSAGE_SCHEMAS = {
    "Begin": "SessionBeginsPayload",
    "Turn": "TurnPayload",
    "Termination": "TerminationPayload",
    "SpeechStarted": "SpeechStartedPayload",
}
# Sent before an error close by newer servers; in neither spec (PROTOCOL: later docs).
UNSPECIFIED_TYPES = frozenset({"Error"})


def assert_stream_message(message: dict[str, Any], *, u3_pro: bool = False) -> None:
    """Fail unless ``message`` validates against its payload schema in the model's AsyncAPI."""
    components = usm_components(U3_PRO_SPEC if u3_pro else USM_SPEC)
    name = MESSAGE_SCHEMAS.get(message["type"])
    assert name in components["schemas"], f"{message['type']} is not in the spec: {message}"
    schema = {"$ref": f"#/components/schemas/{name}", "components": components}
    jsonschema.validate(
        message,
        schema,
        cls=jsonschema.Draft202012Validator,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def assert_openapi(
    method: str,
    path: str,
    status: int,
    body: bytes,
    content_type: str | None,
    query: dict[str, str] | None = None,
) -> None:
    """Fail unless the response validates against the REST or token spec."""
    spec, host = (
        (token_openapi(), TOKEN_HOST) if path.startswith("/v3/") else (openapi(), SPEC_HOST)
    )
    request = MockRequest(host, method.lower(), path, args=query or {})
    mime = content_type.split(";")[0] if content_type else None
    response = MockResponse(body, status_code=status, content_type=mime or "application/json")
    spec.validate_response(request, response)


# -- clients -------------------------------------------------------------------


@dataclass
class Reply:
    """A simulator HTTP answer."""

    status: int
    headers: Any
    raw: bytes

    @property
    def json(self) -> Any:
        """Return the body parsed as JSON."""
        return json.loads(self.raw)


@dataclass
class Api:
    """A tiny REST client bound to one simulator and key; validates what it gets."""

    http: aiohttp.ClientSession
    base_url: str
    key: str | None = DEFAULT_API_KEY
    seen: list[tuple[str, str, int]] = field(default_factory=list)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        data: bytes | None = None,
        query: dict[str, str] | None = None,
        key: str | bool | None = True,
        validate: bool = True,
        limit_s: float = 10,
    ) -> Reply:
        """Return the reply to one request (``key=False`` sends no Authorization)."""
        headers = {}
        use_key = self.key if key is True else key
        if use_key:
            headers["Authorization"] = use_key
        async with self.http.request(
            method,
            self.base_url + path,
            json=json_body,
            data=data,
            params=query,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=limit_s),
        ) as response:
            raw = await response.read()
            reply = Reply(response.status, response.headers, raw)
        if validate:
            assert_openapi(
                method, path, reply.status, raw, response.headers.get("Content-Type"), query
            )
        self.seen.append((method, path, reply.status))
        return reply

    async def upload(self, data: bytes | None = None) -> str:
        """Return the upload_url of ``data`` (default: the bundled clip)."""
        reply = await self.call("POST", "/v2/upload", data=clip_bytes() if data is None else data)
        assert reply.status == 200, reply.raw
        return str(reply.json["upload_url"])

    async def create(self, audio_url: str, **options: Any) -> dict[str, Any]:
        """Return the created (queued) transcript."""
        body = {"audio_url": audio_url, "speech_models": ["universal-2"], **options}
        reply = await self.call("POST", "/v2/transcript", json_body=body)
        assert reply.status == 200, reply.raw
        return dict(reply.json)

    async def get(self, transcript_id: str) -> Reply:
        """Return the reply to GET /v2/transcript/{id}."""
        return await self.call("GET", f"/v2/transcript/{transcript_id}")

    async def wait_terminal(self, transcript_id: str, limit_s: float = 5) -> dict[str, Any]:
        """Return the transcript once it is completed or errored."""
        deadline = asyncio.get_running_loop().time() + limit_s
        while True:
            reply = await self.get(transcript_id)
            assert reply.status == 200, reply.raw
            if reply.json["status"] in {"completed", "error"}:
                return dict(reply.json)
            assert asyncio.get_running_loop().time() < deadline, reply.json["status"]
            await asyncio.sleep(0.02)

    async def transcribe(self, data: bytes | None = None, **options: Any) -> dict[str, Any]:
        """Return the terminal transcript of ``data`` uploaded and transcribed."""
        created = await self.create(await self.upload(data), **options)
        return await self.wait_terminal(created["id"])


@dataclass
class StreamProbe:
    """A raw WebSocket client that records (and validates) server messages."""

    ws: aiohttp.ClientWebSocketResponse
    u3_pro: bool = False
    messages: list[dict[str, Any]] = field(default_factory=list)
    closed_code: int | None = None
    closed_reason: str | None = None

    async def next(self, limit_s: float = 3) -> dict[str, Any] | None:
        """Return the next server message, or None once the socket closed."""
        msg = await self.ws.receive(timeout=limit_s)
        if msg.type == aiohttp.WSMsgType.TEXT:
            data = json.loads(msg.data)
            if data.get("type") not in UNSPECIFIED_TYPES:
                assert_stream_message(data, u3_pro=self.u3_pro)
            self.messages.append(data)
            return dict(data)
        if msg.type in {
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
        }:
            self.closed_code = self.ws.close_code
            self.closed_reason = msg.extra if msg.type == aiohttp.WSMsgType.CLOSE else None
            return None
        raise AssertionError(f"unexpected frame {msg.type}")

    async def drain(self, limit_s: float = 3) -> list[dict[str, Any]]:
        """Return every message until the server closes the socket."""
        out = []
        while (message := await self.next(limit_s)) is not None:
            out.append(message)
        return out

    async def send_paced(self, chunks: list[bytes], frame_s: float = 0.05) -> None:
        """Send ``chunks`` at real-time pace (one per ``frame_s``)."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for index, chunk in enumerate(chunks):
            await self.ws.send_bytes(chunk)
            # Sleep to the frame's slot, not a fixed time, so pace never drifts ahead.
            await asyncio.sleep(max(0.0, start + (index + 1) * frame_s - loop.time()))

    def turns(self) -> list[dict[str, Any]]:
        """Return the Turn messages received so far."""
        return [m for m in self.messages if m.get("type") == "Turn"]


async def open_stream(
    http: aiohttp.ClientSession,
    sim: SimulatorHandle,
    query: str = "sample_rate=16000&encoding=pcm_s16le",
    key: str | None = DEFAULT_API_KEY,
) -> StreamProbe:
    """Return a connected ``StreamProbe`` (auth by header unless ``key`` is None)."""
    headers = {"Authorization": key} if key else {}
    ws = await http.ws_connect(f"{sim.ws_base}/v3/ws?{query}", headers=headers, autoclose=False)
    return StreamProbe(ws, u3_pro="speech_model=u3-rt-pro" in query)


async def wait_for(predicate: Callable[[], bool], limit_s: float = 2) -> None:
    """Wait until ``predicate()`` holds (the server settles state just after a close)."""
    await eventually(predicate, "the simulator to settle", limit_s, every=0.01)
