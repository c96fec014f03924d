"""Deepgram's three probes against its simulator (and a few scripted servers): what users see."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from pydantic import SecretStr

from monitor.config import Target
from monitor.models import ErrorKind, ProbeContext, Status, SystemClock
from monitor.probes.registry import implementation
from monitor.providers.deepgram.specs import ReachabilitySpec, StreamingSpec, TranscriptionSpec
from monitor.simulator.deepgram import SimulatorHandle, start_simulator
from monitor.simulator.tls import make_self_signed, server_context
from tests.support.deepgram import dg_target
from tests.support.probes import MemoryLedger
from tests.support.simulate_process import simulate
from tests.support.simulator import CLIP_TEXT, clip_bytes

SPECS: dict[str, Any] = {
    "reachability": ReachabilitySpec(timeout=2, degraded_after=1),
    "transcription": TranscriptionSpec(timeout=5, degraded_after=2, request_log_wait=1),
    "streaming": StreamingSpec(timeout=8, degraded_after=2, finalize_wait=1),
}


def ctx() -> ProbeContext:
    """Return a probe context with real sessions and the real clock."""
    return ProbeContext(
        session_factory=aiohttp.ClientSession, clock=SystemClock(), ledger=MemoryLedger()
    )


@pytest.mark.parametrize("kind", list(SPECS))
async def test_probe_is_up_and_leaves_nothing(kind: str, dg: SimulatorHandle) -> None:
    result = await implementation("deepgram", kind)(dg_target(dg), SPECS[kind], ctx())
    assert result.status is Status.UP, result.message
    assert result.error_kind is None
    state = dg.state()
    assert state["streaming"]["dropped"] == 0 and state["streaming"]["active"] == 0
    if kind != "reachability":
        assert result.details["wer"] == 0.0
        assert result.details["text"].lower().startswith("the quick brown fox")


async def test_transcription_reads_the_opt_out_back(dg: SimulatorHandle) -> None:
    result = await implementation("deepgram", "transcription")(
        dg_target(dg), SPECS["transcription"], ctx()
    )
    assert result.details["mip_opt_out"] == "confirmed"
    assert set(result.phases) == {"transcribe", "verify", "request_log"}
    assert "delete" not in result.phases  # Deepgram keeps no transcript to delete
    assert result.details["model"] == "general-nova-3"
    assert dg.state()["listen"] == {"requests": 1, "mip_opt_out": 1}


@pytest.mark.parametrize(
    ("update", "phases", "opted_out"),
    [
        ({"mip_opt_out": False}, {"transcribe", "verify"}, 0),
        ({"verify_opt_out": False}, {"transcribe", "verify"}, 1),
    ],
    ids=["opted-in", "not-verified"],
)
async def test_transcription_opt_out_settings(
    dg: SimulatorHandle, update: dict[str, Any], phases: set[str], opted_out: int
) -> None:
    spec = SPECS["transcription"].model_copy(update=update)
    result = await implementation("deepgram", "transcription")(dg_target(dg), spec, ctx())
    assert result.status is Status.UP
    assert set(result.phases) == phases
    assert "mip_opt_out" not in result.details
    assert dg.state()["listen"]["mip_opt_out"] == opted_out


async def test_transcription_of_an_audio_url(dg: SimulatorHandle, aiohttp_server: Any) -> None:
    async def clip(_: web.Request) -> web.Response:
        return web.Response(body=clip_bytes(), content_type="audio/wav")

    app = web.Application()
    app.router.add_get("/mine.wav", clip)
    server = await aiohttp_server(app)
    spec = SPECS["transcription"].model_copy(
        update={"audio_url": str(server.make_url("/mine.wav")), "reference_text": CLIP_TEXT}
    )
    result = await implementation("deepgram", "transcription")(dg_target(dg), spec, ctx())
    assert result.status is Status.UP, result.message
    assert result.details["wer"] == 0.0


async def test_a_log_without_the_opt_out_is_a_failure(aiohttp_server: Any) -> None:
    """A service that answers but logs the request without mip_opt_out=true."""

    async def listen(_: web.Request) -> web.Response:
        return web.json_response(
            {
                "metadata": {"request_id": "r-1", "duration": 2.28, "model_info": {}},
                "results": {"channels": [{"alternatives": [{"transcript": CLIP_TEXT}]}]},
            }
        )

    async def projects(_: web.Request) -> web.Response:
        return web.json_response({"projects": [{"project_id": "p-1"}]})

    async def logged(_: web.Request) -> web.Response:
        return web.json_response({"request": {"path": "/v1/listen?model=nova-3", "code": 200}})

    app = web.Application()
    app.router.add_post("/v1/listen", listen)
    app.router.add_get("/v1/projects", projects)
    app.router.add_get("/v1/projects/p-1/requests/r-1", logged)
    server = await aiohttp_server(app)
    target = Target(
        name="dg",
        provider="deepgram",
        api_base=str(server.make_url("")).rstrip("/"),
        streaming_base="ws://127.0.0.1:1",
        api_key=SecretStr("k"),
    )
    result = await implementation("deepgram", "transcription")(
        target, SPECS["transcription"], ctx()
    )
    assert (result.status, result.error_kind) == (Status.DOWN, ErrorKind.BAD_RESPONSE)
    assert result.details["mip_opt_out"] == "missing from the request log"


@pytest.mark.parametrize("kind", list(SPECS))
async def test_wrong_key_is_auth(kind: str, dg: SimulatorHandle) -> None:
    target = dg_target(dg, key="not-the-key")
    result = await implementation("deepgram", kind)(target, SPECS[kind], ctx())
    assert (result.status, result.error_kind) == (Status.DOWN, ErrorKind.AUTH), result.message
    assert result.details.get("api_error") == "Invalid credentials."
    assert "not-the-key" not in str(result.to_json())


async def test_reachability_of_another_path(dg: SimulatorHandle) -> None:
    spec = SPECS["reachability"].model_copy(update={"path": "/v1/nowhere"})
    result = await implementation("deepgram", "reachability")(dg_target(dg), spec, ctx())
    assert (result.status, result.error_kind) == (Status.DOWN, ErrorKind.BAD_RESPONSE)
    assert result.details["http_status"] == 404


@pytest.mark.parametrize("kind", list(SPECS))
async def test_refused_port_is_connect(kind: str, refused_port: int) -> None:
    target = Target(
        name="dg",
        provider="deepgram",
        api_base=f"http://127.0.0.1:{refused_port}",
        streaming_base=f"ws://127.0.0.1:{refused_port}",
        api_key=SecretStr("sim-key"),
    )
    result = await implementation("deepgram", kind)(target, SPECS[kind], ctx())
    assert (result.status, result.error_kind) == (Status.DOWN, ErrorKind.CONNECT)


@pytest.mark.parametrize("kind", list(SPECS))
async def test_untrusted_certificate_is_tls(kind: str, tmp_path: Path) -> None:
    cert, key = make_self_signed(tmp_path)
    handle = await start_simulator(tls=server_context(cert, key))
    try:
        result = await implementation("deepgram", kind)(dg_target(handle), SPECS[kind], ctx())
    finally:
        await handle.close()
    assert (result.status, result.error_kind) == (Status.DOWN, ErrorKind.TLS), result.message


async def test_trusted_certificate_is_up(tmp_path: Path) -> None:
    cert, key = make_self_signed(tmp_path)
    handle = await start_simulator(tls=server_context(cert, key))
    trusting = ssl.create_default_context(cafile=str(cert))

    def session(**kwargs: Any) -> aiohttp.ClientSession:
        kwargs.setdefault("connector", aiohttp.TCPConnector(ssl=trusting))
        return aiohttp.ClientSession(**kwargs)

    context = ProbeContext(session_factory=session, clock=SystemClock(), ledger=MemoryLedger())
    try:
        result = await implementation("deepgram", "streaming")(
            dg_target(handle), SPECS["streaming"], context
        )
    finally:
        await handle.close()
    assert result.status is Status.UP, result.message


def test_simulate_command_serves_deepgram() -> None:
    import urllib.request

    with simulate("--provider", "deepgram") as running:
        assert running.ws_base.startswith("ws://")
        request = urllib.request.Request(
            f"{running.base_url}/v1/projects", headers={"Authorization": "Token sim-key"}
        )
        with urllib.request.urlopen(request, timeout=5) as resp:
            assert resp.status == 200
        assert any("Deepgram" in line for line in running.lines)
