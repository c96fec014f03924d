"""The Deepgram simulator's live ``/v1/listen`` against its protocol, with a raw WS client."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp
import pytest

from monitor.simulator.deepgram import SimulatorHandle
from tests.support.deepgram import LIVE_QUERY, open_live, pcm_frames
from tests.support.polling import eventually
from tests.support.simulator import CLIP_TEXT, clip_bytes, clip_pcm


async def test_results_finalize_closestream_metadata(
    dg: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    live = await open_live(http, dg, LIVE_QUERY + "&punctuate=true&endpointing=300")
    for frame in pcm_frames(clip_pcm()):
        await live.ws.send_bytes(frame)
    await live.send({"type": "Finalize"})
    await live.send({"type": "CloseStream"})
    messages = await live.drain()
    results = live.of_type("Results")
    interims = [m for m in results if not m["is_final"]]
    finals = [m for m in results if m["is_final"]]
    assert interims, "interim_results=true gives interim Results"
    assert all({"is_final", "speech_final", "from_finalize"} <= set(m) for m in results)
    assert " ".join(m["channel"]["alternatives"][0]["transcript"] for m in finals) == CLIP_TEXT
    assert finals[-1]["from_finalize"] is True
    # Windows follow each other: each starts where the one before ended.
    assert all(m["channel_index"] == [0, 1] for m in results)
    assert messages[-1]["type"] == "Metadata"
    meta = messages[-1]
    assert meta["request_id"] == results[0]["metadata"]["request_id"]
    assert abs(meta["duration"] - 2.281) < 0.01
    assert live.close_code == 1000
    await eventually(lambda: dg.state()["streaming"]["closed"] == 1, "the close to be counted")
    assert dg.state()["streaming"] == {"opened": 1, "closed": 1, "dropped": 0, "active": 0}


async def test_endpointing_makes_speech_final(
    dg: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    live = await open_live(http, dg, LIVE_QUERY + "&endpointing=100")
    for frame in pcm_frames(clip_pcm() + bytes(16000)):  # the clip, then 0.5 s of silence
        await live.ws.send_bytes(frame)
    await live.send({"type": "CloseStream"})
    await live.drain()
    speech_final = [m for m in live.of_type("Results") if m["speech_final"]]
    assert len(speech_final) == 1
    assert speech_final[0]["is_final"] is True
    words = speech_final[0]["channel"]["alternatives"][0]["words"]
    assert words[-1]["word"] == "dog"


async def test_wav_container_without_encoding(
    dg: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    live = await open_live(http, dg, "model=nova-3")
    wav = clip_bytes()
    for i in range(0, len(wav), 3200):
        await live.ws.send_bytes(wav[i : i + 3200])
    await live.ws.send_bytes(b"")  # the deprecated close signal
    await live.drain()
    finals = [m for m in live.of_type("Results") if m["is_final"]]
    texts = [m["channel"]["alternatives"][0]["transcript"] for m in finals]
    assert " ".join(t for t in texts if t) == "the quick brown fox jumps over the lazy dog"
    assert live.of_type("Metadata") and live.close_code == 1000


async def test_undecodable_audio_is_data_0000(
    dg: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    live = await open_live(http, dg, "model=nova-3")
    await live.ws.send_bytes(b"this is not audio at all" * 10)
    await live.drain()
    assert live.close_code == 1008
    assert live.close_reason is not None and "DATA-0000" in live.close_reason


async def test_idle_stream_is_closed_net_0001(make_dg: Any, http: aiohttp.ClientSession) -> None:
    handle = await make_dg(streaming={"idle_timeout_s": 0.3})
    live = await open_live(http, handle)
    await live.ws.send_bytes(bytes(3200))
    await live.drain()
    assert live.close_code == 1011
    assert live.close_reason is not None and "net0001" in live.close_reason
    assert len(live.close_reason.encode()) <= 123


@pytest.mark.parametrize(
    ("keepalive_counts", "code"), [(True, 1000), (False, 1011)], ids=["counts", "needs-audio"]
)
async def test_keepalive_before_audio(
    make_dg: Any, http: aiohttp.ClientSession, keepalive_counts: bool, code: int
) -> None:
    handle = await make_dg(
        streaming={"idle_timeout_s": 0.4, "keepalive_before_audio": keepalive_counts}
    )
    live = await open_live(http, handle)
    # KeepAlive alone for 0.8 s, twice the idle timeout.
    for _ in range(4):
        with contextlib.suppress(ConnectionError):
            await live.send({"type": "KeepAlive"})
        await asyncio.sleep(0.2)
    with contextlib.suppress(ConnectionError):
        await live.send({"type": "CloseStream"})
    await live.drain()
    assert live.close_code == code


async def test_bad_client_message_gets_an_error_frame(
    dg: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    live = await open_live(http, dg)
    await live.ws.send_str("{not json")
    error = await live.next()
    assert error is not None and error["type"] == "Error" and error["variant"] == "SchemaError"
    await live.send({"type": "CloseStream"})
    await live.drain()
    assert live.close_code == 1000


@pytest.mark.parametrize(
    ("query", "headers", "status"),
    [
        (LIVE_QUERY, {"Authorization": "Token wrong"}, 401),
        (LIVE_QUERY, {}, 401),
        ("model=nova-3&encoding=linear16", None, 400),
        (LIVE_QUERY + "&mip_opt_out=True", None, 400),
        ("model=nova-3&encoding=pcm_s16le&sample_rate=16000", None, 400),
    ],
    ids=["wrong-key", "no-key", "no-sample-rate", "capitalised-bool", "unknown-encoding"],
)
async def test_refused_upgrades(
    dg: SimulatorHandle,
    http: aiohttp.ClientSession,
    query: str,
    headers: dict[str, str] | None,
    status: int,
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_live(http, dg, query, headers=headers)
    assert refused.value.status == status
    assert refused.value.headers is not None
    assert refused.value.headers["dg-error"] and refused.value.headers["dg-request-id"]
    assert dg.state()["streaming"]["opened"] == 0


async def test_subprotocol_auth_is_echoed(dg: SimulatorHandle, http: aiohttp.ClientSession) -> None:
    live = await open_live(http, dg, headers={}, protocols=("token", "sim-key"))
    assert live.ws.protocol == "token"
    await live.send({"type": "CloseStream"})
    await live.drain()
    assert live.close_code == 1000


async def test_dropped_socket_is_counted(dg: SimulatorHandle, http: aiohttp.ClientSession) -> None:
    live = await open_live(http, dg)
    await live.ws.send_bytes(bytes(3200))
    await live.ws.close()
    await eventually(lambda: dg.state()["streaming"]["dropped"] == 1, "the drop to be counted")
    assert dg.state()["streaming"]["active"] == 0


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ({"action": "close", "code": 1011, "reason": "NET-0000"}, {"close_code": 1011}),
        ({"action": "no_results"}, {"results": 0, "close_code": 1000}),
        ({"action": "no_metadata"}, {"metadata": 0, "close_code": 1000}),
        ({"action": "wrong_text", "text": "hello there"}, {"text": "hello there hello"}),
    ],
    ids=["close", "no-results", "no-metadata", "wrong-text"],
)
async def test_ws_faults(
    dg: SimulatorHandle,
    http: aiohttp.ClientSession,
    fault: dict[str, Any],
    check: dict[str, Any],
) -> None:
    dg.set_faults([{"endpoint": "ws", **fault}])
    live = await open_live(http, dg)
    for frame in pcm_frames(clip_pcm()):
        if live.ws.closed:
            break
        await live.ws.send_bytes(frame)
    if not live.ws.closed:
        await live.send({"type": "CloseStream"})
    await live.drain()
    seen = {
        "close_code": live.close_code,
        "results": len(live.of_type("Results")),
        "metadata": len(live.of_type("Metadata")),
        "text": " ".join(
            m["channel"]["alternatives"][0]["transcript"]
            for m in live.of_type("Results")
            if m["is_final"]
        ),
    }
    assert {k: seen[k] for k in check if k != "text"} == {
        k: v for k, v in check.items() if k != "text"
    }
    if "text" in check:
        assert seen["text"].startswith(check["text"])
