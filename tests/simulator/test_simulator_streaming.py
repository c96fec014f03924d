"""The simulator's streaming v3 behaves as docs/protocol-assemblyai.md §2 says the real API does."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import time
import uuid
from typing import Any

import aiohttp
import pytest

from monitor.simulator import DEFAULT_API_KEY, SimulatorHandle
from monitor.simulator.clips import ClipLibrary, WordTiming, load_known_clips
from monitor.simulator.hearing import Hearing
from tests.support.fixture_types import SimFactory
from tests.support.simulator import (
    Api,
    StreamProbe,
    assert_openapi,
    assert_stream_message,
    clip_pcm,
    frames,
    open_stream,
    silence,
    wait_for,
)

UNAUTHORIZED = "Unauthorized Connection: Missing Authorization header"
UNPACED = {"streaming": {"strict_pacing": False}}
CLIP_WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog"]


async def _token(api: Api, **query: str) -> Any:
    reply = await api.call("GET", "/v3/token", query=query)
    return reply


async def _stream_clip(probe: StreamProbe, tail: bytes = b"") -> list[dict[str, Any]]:
    begin = await probe.next()
    assert begin is not None and begin["type"] == "Begin"
    await probe.send_paced(frames(clip_pcm() + tail))
    await probe.ws.send_str(json.dumps({"type": "Terminate"}))
    return await probe.drain()


# -- tokens ------------------------------------------------------------------------


async def test_token_is_minted_and_validates(api: Api) -> None:
    reply = await _token(api, expires_in_seconds="60", max_session_duration_seconds="600")
    assert reply.status == 200
    assert reply.json["expires_in_seconds"] == 60
    assert isinstance(reply.json["token"], str) and len(reply.json["token"]) > 20


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({}, '"expires_in_seconds" is required'),
        ({"expires_in_seconds": "0"}, '"expires_in_seconds" must be an integer between 1 and 600'),
        (
            {"expires_in_seconds": "601"},
            '"expires_in_seconds" must be an integer between 1 and 600',
        ),
        ({"expires_in_seconds": "x"}, '"expires_in_seconds" must be an integer between 1 and 600'),
        (
            {"expires_in_seconds": "60", "max_session_duration_seconds": "59"},
            '"max_session_duration_seconds" must be an integer between 60 and 10800',
        ),
        (
            {"expires_in_seconds": "60", "max_session_duration_seconds": "10801"},
            '"max_session_duration_seconds" must be an integer between 60 and 10800',
        ),
    ],
    ids=["missing", "zero", "too-long", "not-int", "session-short", "session-long"],
)
async def test_token_rejects_out_of_range(api: Api, query: dict[str, str], message: str) -> None:
    reply = await _token(api, **query)
    assert (reply.status, reply.json) == (400, {"error": message})


async def test_token_needs_a_key(api: Api) -> None:
    reply = await api.call("GET", "/v3/token", query={"expires_in_seconds": "60"}, key="nope")
    assert reply.status == 401


@pytest.mark.parametrize("where", ["query", "header"])
async def test_token_opens_exactly_one_session(
    api: Api, sim: SimulatorHandle, http: aiohttp.ClientSession, where: str
) -> None:
    token = (await _token(api, expires_in_seconds="60")).json["token"]
    query = f"sample_rate=16000&token={token}" if where == "query" else "sample_rate=16000"
    key = None if where == "query" else token
    first = await open_stream(http, sim, query, key=key)
    assert (await first.next())["type"] == "Begin"  # type: ignore[index]
    second = await open_stream(http, sim, query, key=key)
    assert await second.next() is None
    assert (second.closed_code, second.closed_reason) == (1008, UNAUTHORIZED)
    await first.ws.close()


async def test_expired_token_is_refused(
    api: Api, sim: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    token = (await _token(api, expires_in_seconds="1")).json["token"]
    real = sim.state_obj.clock
    sim.state_obj.set_clock(lambda: real() + 2)  # two seconds later
    probe = await open_stream(http, sim, f"token={token}", key=None)
    assert await probe.next() is None
    assert probe.closed_code == 1008


# -- auth and Begin ------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "wrong"], ids=["missing", "wrong"])
async def test_bad_auth_accepts_then_closes_1008(
    sim: SimulatorHandle, http: aiohttp.ClientSession, key: str | None
) -> None:
    probe = await open_stream(http, sim, key=key)
    assert await probe.next() is None
    assert (probe.closed_code, probe.closed_reason) == (1008, UNAUTHORIZED)
    assert sim.state()["streaming"]["opened"] == 0


async def test_bad_auth_can_refuse_the_upgrade(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim({"streaming": {"auth_failure": "refuse"}})
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await open_stream(http, sim, key="wrong")
    assert caught.value.status == 401


async def test_begin_carries_id_and_integer_expiry(
    sim: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    probe = await open_stream(http, sim)
    begin = await probe.next()
    assert begin is not None and begin["type"] == "Begin"
    uuid.UUID(begin["id"])
    assert isinstance(begin["expires_at"], int)
    assert abs(begin["expires_at"] - (time.time() + 10_800)) < 5
    await probe.ws.close()


# -- turns ----------------------------------------------------------------------------


async def test_clip_session_grows_turns_and_terminates(
    sim: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    probe = await open_stream(http, sim)
    rest = await _stream_clip(probe)
    turns = [m for m in rest if m["type"] == "Turn"]
    assert rest[-1]["type"] == "Termination"
    assert rest[-1] == {
        "type": "Termination",
        "audio_duration_seconds": 2,
        "session_duration_seconds": 2,
    }
    assert (probe.closed_code, probe.ws.close_code) == (None, 1000) or probe.ws.close_code == 1000
    assert len(turns) >= 3
    assert {t["turn_order"] for t in turns} == {0}
    final = turns[-1]
    assert final["end_of_turn"] is True
    assert final["transcript"] == " ".join(CLIP_WORDS)
    assert [w["text"] for w in final["words"]] == CLIP_WORDS
    # Finalised text only grows; words may add one provisional word at the end.
    previous = ""
    for turn in turns:
        assert turn["transcript"].startswith(previous)
        previous = turn["transcript"]
        finals = [w for w in turn["words"] if w["word_is_final"]]
        assert turn["transcript"] == " ".join(w["text"] for w in finals)
        assert all(not w["word_is_final"] for w in turn["words"][len(finals) :])
        assert len(turn["words"]) - len(finals) <= 1
        if not turn["end_of_turn"]:
            assert turn["utterance"] == ""
    assert any(len(t["words"]) > len(t["transcript"].split()) for t in turns)
    await wait_for(lambda: sim.state()["streaming"]["active"] == 0)
    assert sim.state()["streaming"] == {
        "opened": 1,
        "terminated": 1,
        "unterminated": 0,
        "active": 0,
    }


async def _send_fast(probe: StreamProbe, pcm: bytes) -> None:
    for chunk in frames(pcm):
        await probe.ws.send_bytes(chunk)


async def test_trailing_silence_ends_the_turn_and_a_new_one_starts(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim(UNPACED)
    probe = await open_stream(http, sim, "sample_rate=16000&min_turn_silence=300")
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    await _send_fast(probe, clip_pcm() + silence(400))
    # The turn ended on silence, before any Terminate.
    ended = await _until_end_of_turn(probe)
    assert ended["turn_order"] == 0
    assert ended["transcript"] == " ".join(CLIP_WORDS)
    # The same speech again is the next turn.
    await _send_fast(probe, clip_pcm())
    await probe.ws.send_str('{"type": "Terminate"}')
    rest = await probe.drain()
    later = [m for m in rest if m["type"] == "Turn"]
    assert later and {t["turn_order"] for t in later} == {1}
    assert later[-1]["end_of_turn"] is True
    assert later[-1]["transcript"] == " ".join(CLIP_WORDS)
    # Its words sit where the second copy was in the stream, after the first and the silence.
    assert later[-1]["words"][0]["start"] > ended["words"][-1]["end"] + 400


async def _until_end_of_turn(probe: StreamProbe) -> dict[str, Any]:
    """Return the first end-of-turn Turn (partials before it are skipped)."""
    while True:
        message = await probe.next()
        assert message is not None, "closed before the turn ended"
        if message.get("end_of_turn"):
            return message


async def test_format_turns_adds_a_formatted_end_of_turn(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim(UNPACED)
    probe = await open_stream(http, sim, "sample_rate=16000&format_turns=True")
    rest = await _stream_clip_bytes(probe, clip_pcm())
    ends = [m for m in rest if m["type"] == "Turn" and m["end_of_turn"]]
    assert [m["turn_is_formatted"] for m in ends] == [False, True]
    assert ends[1]["transcript"] == "The quick brown fox jumps over the lazy dog."
    assert ends[0]["turn_order"] == ends[1]["turn_order"]


async def test_force_endpoint_ends_the_turn_now(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim(UNPACED)
    probe = await open_stream(http, sim)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    await _send_fast(probe, clip_pcm()[:32000])  # the first second
    await probe.ws.send_str('{"type": "KeepAlive"}')
    await probe.ws.send_str('{"type": "UpdateConfiguration", "min_turn_silence": 200}')
    await probe.ws.send_str('{"type": "ForceEndpoint"}')
    ended = await _until_end_of_turn(probe)
    assert ended["transcript"].startswith("the quick")
    assert "dog" not in ended["transcript"]
    await probe.ws.send_str('{"type": "Terminate"}')
    rest = await probe.drain()
    # The forced end closed the turn: nothing was left to flush.
    assert [m["type"] for m in rest] == ["Termination"]


async def test_unknown_audio_gets_placeholder_words_and_silence_none(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim(UNPACED)
    import random

    noise = bytes(random.Random(1).getrandbits(8) for _ in range(32000 * 2))
    probe = await open_stream(http, sim)
    rest = await _stream_clip_bytes(probe, noise)
    turns = [m for m in rest if m["type"] == "Turn"]
    assert turns and turns[-1]["transcript"]
    assert turns[-1]["transcript"] != " ".join(CLIP_WORDS)
    quiet = await open_stream(http, sim)
    rest = await _stream_clip_bytes(quiet, silence(1000))
    assert [m["type"] for m in rest] == ["Termination"]


# The clip cut after its first second ("the quick brown" and most of "fox"), then a pause.
CUT = {
    "stops": clip_pcm()[:32000] + silence(2000),
    "pauses": clip_pcm()[:32000] + silence(200) + clip_pcm()[32000:] + silence(2000),
}


def _assert_finals_stable(turns: list[dict[str, Any]]) -> None:
    """Fail if a turn's final words (or its transcript) change in a later message of it."""
    finals: dict[int, list[tuple[str, int, int]]] = {}
    for turn in turns:
        seen = finals.setdefault(turn["turn_order"], [])
        words = [(w["text"], w["start"], w["end"]) for w in turn["words"]]
        assert words[: len(seen)] == seen, (seen, turn)
        assert all(w["word_is_final"] for w in turn["words"][: len(seen)]), turn
        now_final = [(w["text"], w["start"], w["end"]) for w in turn["words"] if w["word_is_final"]]
        assert turn["transcript"] == " ".join(text for text, _, _ in now_final), turn
        finals[turn["turn_order"]] = now_final


@pytest.mark.parametrize("cut", list(CUT), ids=list(CUT))
async def test_words_heard_before_a_clip_diverges_stay_final(
    make_sim: SimFactory, http: aiohttp.ClientSession, cut: str
) -> None:
    sim = await make_sim({"streaming": {"strict_pacing": False, "turn_interval_ms": 0}})
    probe = await open_stream(http, sim)
    rest = await _stream_clip_bytes(probe, CUT[cut])
    turns = [m for m in rest if m["type"] == "Turn"]
    # "the quick brown" was final before the audio stopped matching the clip.
    assert any(t["transcript"] == "the quick brown" for t in turns), turns
    _assert_finals_stable(turns)
    end = next(t for t in turns if t["end_of_turn"])
    assert end["transcript"].startswith("the quick brown fox"), end
    if cut == "stops":
        assert end["transcript"] == "the quick brown fox"
    else:
        # After the pause the rest is unknown speech: placeholder words, after "fox".
        later = end["words"][4:]
        assert later and later[0]["start"] >= end["words"][3]["end"]
        assert not {w["text"] for w in later} & set(CLIP_WORDS)


def test_the_heard_word_stream_only_grows() -> None:
    library = ClipLibrary(load_known_clips())
    clip = clip_pcm()
    cases = {
        **CUT,
        "spliced-noise": clip[:32000] + _noise(1000) + silence(600),
        "clip-twice-short-gap": clip + silence(100) + clip,
        "noise-then-cut-clip": _noise(900) + silence(300) + clip[:40000] + silence(900),
    }
    for name, pcm in cases.items():
        hearing = Hearing(library, 16000, "pcm_s16le")
        previous: list[WordTiming] = []
        for chunk in frames(pcm):
            hearing.feed(chunk)
            words = hearing.words()
            assert words[: len(previous)] == previous, name
            assert all(a.end <= b.start for a, b in itertools.pairwise(words)), (name, words)
            previous = words
        assert previous, name


async def _stream_clip_bytes(probe: StreamProbe, pcm: bytes) -> list[dict[str, Any]]:
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    await _send_fast(probe, pcm)
    await probe.ws.send_str('{"type": "Terminate"}')
    return await probe.drain()


async def test_terminate_without_audio(sim: SimulatorHandle, http: aiohttp.ClientSession) -> None:
    probe = await open_stream(http, sim)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    await probe.ws.send_str('{"type": "Terminate"}')
    assert await probe.drain() == [
        {"type": "Termination", "audio_duration_seconds": 0, "session_duration_seconds": 0}
    ]


# -- protocol violations -------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame_ms", "reason"),
    [
        (20, "Input duration violation: 20 ms. Expected between 50 and 1000 ms"),
        (1200, "Input duration violation: 1200 ms. Expected between 50 and 1000 ms"),
    ],
    ids=["too-short", "too-long"],
)
async def test_frame_duration_is_enforced(
    sim: SimulatorHandle, http: aiohttp.ClientSession, frame_ms: int, reason: str
) -> None:
    probe = await open_stream(http, sim)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    await probe.ws.send_bytes(silence(frame_ms))
    assert await probe.drain() == []
    assert (probe.closed_code, probe.closed_reason) == (3007, reason)
    await wait_for(lambda: sim.state()["streaming"]["terminated"] == 1)


async def test_frame_duration_bounds_are_inclusive(
    sim: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    probe = await open_stream(http, sim, "sample_rate=8000&encoding=pcm_mulaw")
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    await probe.ws.send_bytes(b"\xff" * 400)  # 50 ms of mu-law at 8 kHz
    await probe.ws.send_str('{"type": "Terminate"}')
    assert (await probe.drain())[-1]["type"] == "Termination"


async def test_faster_than_real_time_is_3007(
    sim: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    probe = await open_stream(http, sim)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    for chunk in frames(silence(3000)):
        if probe.ws.closed:
            break
        await probe.ws.send_bytes(chunk)
    await probe.drain()
    assert probe.closed_code == 3007
    assert probe.closed_reason is not None
    assert probe.closed_reason.startswith("Audio Transmission Rate Exceeded: Received ")
    assert " sec. audio in " in probe.closed_reason


async def test_pacing_check_can_be_relaxed(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim({"streaming": {"strict_pacing": False}})
    probe = await open_stream(http, sim)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    for chunk in frames(clip_pcm()):
        await probe.ws.send_bytes(chunk)
    await probe.ws.send_str('{"type": "Terminate"}')
    rest = await probe.drain()
    assert rest[-1]["type"] == "Termination"
    assert [m for m in rest if m["type"] == "Turn"][-1]["transcript"] == " ".join(CLIP_WORDS)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("{not json", "Invalid JSON: {not json"),
        ('{"type": "Dance"}', "Invalid Message Type: Dance"),
        ("[]", "Invalid Message: []"),
        ('{"kind": "Terminate"}', 'Invalid Message: {"kind": "Terminate"}'),
    ],
    ids=["bad-json", "unknown-type", "array", "no-type"],
)
async def test_bad_messages_close_3006(
    sim: SimulatorHandle, http: aiohttp.ClientSession, text: str, reason: str
) -> None:
    probe = await open_stream(http, sim)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    await probe.ws.send_str(text)
    assert await probe.drain() == []
    assert (probe.closed_code, probe.closed_reason) == (3006, reason)


async def test_long_close_reason_is_capped(
    sim: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    probe = await open_stream(http, sim)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    await probe.ws.send_str('{"type": "' + "x" * 300 + '"}')
    await probe.drain()
    assert probe.closed_code == 3006
    assert probe.closed_reason is not None and len(probe.closed_reason.encode()) <= 123


async def test_session_expires_3008(make_sim: SimFactory, http: aiohttp.ClientSession) -> None:
    sim = await make_sim({"streaming": {"max_session_duration_s": 0.2, "error_frames": True}})
    probe = await open_stream(http, sim)
    begin = await probe.next()
    assert begin is not None
    rest = await probe.drain()
    assert rest == [
        {
            "type": "Error",
            "error_code": 3008,
            "error": "Session Expired: Maximum session duration exceeded",
        }
    ]
    assert (probe.closed_code, probe.closed_reason) == (
        3008,
        "Session Expired: Maximum session duration exceeded",
    )


# -- accounting ----------------------------------------------------------------------


async def test_client_walking_away_counts_as_unterminated(
    sim: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    probe = await open_stream(http, sim)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    assert sim.state()["streaming"]["active"] == 1
    await probe.ws.close()
    await wait_for(lambda: sim.state()["streaming"]["active"] == 0)
    assert sim.state()["streaming"] == {
        "opened": 1,
        "terminated": 0,
        "unterminated": 1,
        "active": 0,
    }
    assert sim.state()["requests"]["ws"] == 1


async def test_token_response_matches_spec(api: Api) -> None:
    reply = await _token(api, expires_in_seconds="30")
    assert_openapi("GET", "/v3/token", reply.status, reply.raw, "application/json")


async def test_token_can_be_minted_with_post(api: Api) -> None:
    # The docs' prose says POST; the spec and the SDK use GET. Both work.
    reply = await api.call("POST", "/v3/token", query={"expires_in_seconds": "60"}, validate=False)
    assert reply.status == 200 and reply.json["expires_in_seconds"] == 60


async def test_shutdown_closes_open_sessions_1001(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim()
    probe = await open_stream(http, sim)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    state = sim.state_obj
    await sim.close()
    assert await probe.drain() == []
    assert probe.closed_code == 1001
    assert state.report()["streaming"] == {
        "opened": 1,
        "terminated": 1,
        "unterminated": 0,
        "active": 0,
    }


# -- the connection query ---------------------------------------------------------------

BAD_QUERIES = {
    "rate-not-int": (
        "sample_rate=abc",
        "Invalid Query Parameter: sample_rate must be an integer, got 'abc'",
    ),
    "rate-zero": (
        "sample_rate=0",
        "Invalid Query Parameter: sample_rate must be at least 1, got 0",
    ),
    "encoding": (
        "sample_rate=16000&encoding=mp3",
        "Invalid Query Parameter: encoding must be one of pcm_s16le, pcm_mulaw, got 'mp3'",
    ),
    "model": (
        "sample_rate=16000&speech_model=best",
        "Invalid Query Parameter: speech_model must be one of universal-streaming-english, "
        "universal-streaming-multilingual, whisper-rt, u3-rt-pro, got 'best'",
    ),
    "threshold": (
        "sample_rate=16000&end_of_turn_confidence_threshold=2",
        "Invalid Query Parameter: end_of_turn_confidence_threshold must be between 0.0 and 1.0, "
        "got 2.0",
    ),
    "inactivity": (
        "sample_rate=16000&inactivity_timeout=4",
        "Invalid Query Parameter: inactivity_timeout must be between 5 and 3600, got 4",
    ),
    "boolean": (
        "sample_rate=16000&format_turns=yes",
        "Invalid Query Parameter: format_turns must be true or false, got 'yes'",
    ),
    "keyterms": (
        "sample_rate=16000&keyterms_prompt=AssemblyAI",
        "Invalid Query Parameter: keyterms_prompt must be a JSON array of strings",
    ),
    "max-speakers": (
        "sample_rate=16000&max_speakers=11",
        "Invalid Query Parameter: max_speakers must be between 1 and 10, got 11",
    ),
    "silence": (
        "sample_rate=16000&max_turn_silence=-1",
        "Invalid Query Parameter: max_turn_silence must be at least 0, got -1",
    ),
}


@pytest.mark.parametrize("case", list(BAD_QUERIES), ids=list(BAD_QUERIES))
async def test_a_bad_query_value_closes_3006_before_begin(
    sim: SimulatorHandle, http: aiohttp.ClientSession, case: str
) -> None:
    query, reason = BAD_QUERIES[case]
    probe = await open_stream(http, sim, query)
    assert await probe.drain() == []
    # Close reasons are capped at 123 bytes (the full text goes in an Error frame).
    capped = reason.encode()[:123].decode()
    assert (probe.closed_code, probe.closed_reason) == (3006, capped)
    assert sim.state()["streaming"]["opened"] == 0


async def test_a_bad_query_value_gets_an_error_frame_when_asked(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim({"streaming": {"error_frames": True}})
    probe = await open_stream(http, sim, "sample_rate=abc")
    reason = "Invalid Query Parameter: sample_rate must be an integer, got 'abc'"
    assert await probe.drain() == [{"type": "Error", "error_code": 3006, "error": reason}]
    assert probe.closed_code == 3006


@pytest.mark.parametrize(
    "query",
    [
        "sample_rate=8000&encoding=pcm_mulaw&format_turns=True&speech_model=whisper-rt",
        "sample_rate=16000&min_end_of_turn_silence_when_confident=300&vad_threshold=0.5"
        "&inactivity_timeout=3600&keyterms_prompt=%5B%22AssemblyAI%22%5D&language=en",
        "sample_rate=16000&speech_model=u3-rt-pro&prompt=Names.&speaker_labels=true&max_speakers=2",
    ],
    ids=["mulaw-whisper", "old-names-and-unknown", "u3-prompt"],
)
async def test_good_queries_begin(
    sim: SimulatorHandle, http: aiohttp.ClientSession, query: str
) -> None:
    probe = await open_stream(http, sim, query)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    await probe.ws.close()


async def test_a_raw_api_key_is_not_a_token(
    sim: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    probe = await open_stream(http, sim, f"sample_rate=16000&token={DEFAULT_API_KEY}", key=None)
    assert await probe.next() is None
    assert (probe.closed_code, probe.closed_reason) == (1008, UNAUTHORIZED)


# -- inactivity_timeout -----------------------------------------------------------------

IDLE = {"streaming": {"inactivity_timeout_s": 0.3}}


async def test_an_idle_session_is_terminated(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim(IDLE)
    probe = await open_stream(http, sim, "sample_rate=16000&inactivity_timeout=5")
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    rest = await probe.drain()
    assert [m["type"] for m in rest] == ["Termination"]
    assert probe.ws.close_code == 1000
    await wait_for(lambda: sim.state()["streaming"]["active"] == 0)
    assert sim.state()["streaming"]["terminated"] == 1


async def test_audio_and_keepalive_keep_a_session_alive(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim(IDLE)
    probe = await open_stream(http, sim, "sample_rate=16000&inactivity_timeout=5")
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    # 0.8 s of activity in 0.1 s steps, alternating audio and KeepAlive: longer than 0.3 s.
    for step in range(8):
        if step % 2:
            await probe.ws.send_str('{"type": "KeepAlive"}')
        else:
            await probe.ws.send_bytes(silence(100))
        await asyncio.sleep(0.1)
        assert not probe.ws.closed
    # Then silence from the client: terminated, the open turn flushed first.
    rest = await probe.drain()
    assert rest[-1]["type"] == "Termination"
    assert probe.ws.close_code == 1000


async def test_no_inactivity_timeout_unless_asked(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim(IDLE)
    probe = await open_stream(http, sim)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    with pytest.raises(TimeoutError):
        await probe.ws.receive(timeout=0.6)
    await probe.ws.send_str('{"type": "Terminate"}')
    assert [m["type"] for m in await probe.drain()] == ["Termination"]


# -- turn detection: the query's knobs and u3-rt-pro's own semantics ------------------------


def _noise(ms: int, seed: int = 1) -> bytes:
    """Return ``ms`` of loud random audio (heard as placeholder words)."""
    return bytes(random.Random(seed).getrandbits(8) for _ in range(32 * ms))


async def _session(
    http: aiohttp.ClientSession, sim: SimulatorHandle, query: str, pcm: bytes
) -> list[dict[str, Any]]:
    """Send ``pcm`` unpaced, then Terminate; return every message after Begin."""
    probe = await open_stream(http, sim, query)
    rest = await _stream_clip_bytes(probe, pcm)
    assert rest[-1]["type"] == "Termination"
    return rest


# The clip's own 150 ms of trailing and leading silence make it 900 ms after the first "dog.".
TWICE = clip_pcm() + silence(600) + clip_pcm()
TURN_KNOBS = {
    # (query, how many turns the clip, 900 ms of silence and the clip again make)
    "defaults": ("", 2),
    "high-threshold": ("&end_of_turn_confidence_threshold=0.95", 1),
    "high-threshold-short-max": ("&end_of_turn_confidence_threshold=0.95&max_turn_silence=500", 2),
    "long-min-silence": ("&min_turn_silence=1000", 1),
    "u3-defaults": ("&speech_model=u3-rt-pro", 2),
    "u3-long-min-silence": (
        "&speech_model=u3-rt-pro&min_turn_silence=950&max_turn_silence=1000",
        1,
    ),
}


@pytest.mark.parametrize("case", list(TURN_KNOBS), ids=list(TURN_KNOBS))
async def test_turn_detection_follows_the_query(
    make_sim: SimFactory, http: aiohttp.ClientSession, case: str
) -> None:
    extra, expected = TURN_KNOBS[case]
    sim = await make_sim(UNPACED)
    rest = await _session(http, sim, f"sample_rate=16000{extra}", TWICE)
    ends = [m for m in rest if m["type"] == "Turn" and m["end_of_turn"]]
    assert [m["turn_order"] for m in ends] == list(range(expected))
    assert len(ends[-1]["words"]) == 9 * (3 - expected)


async def test_update_configuration_changes_turn_detection(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim(UNPACED)
    probe = await open_stream(http, sim, "sample_rate=16000&end_of_turn_confidence_threshold=0.95")
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    update = {"type": "UpdateConfiguration", "end_of_turn_confidence_threshold": 0.5}
    await probe.ws.send_str(json.dumps({**update, "max_turn_silence": None}))
    await _send_fast(probe, TWICE)
    await probe.ws.send_str('{"type": "Terminate"}')
    rest = await probe.drain()
    ends = [m for m in rest if m["type"] == "Turn" and m["end_of_turn"]]
    assert [m["turn_order"] for m in ends] == [0, 1]


async def test_universal_confidence_rises_with_silence_after_a_sentence(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim(UNPACED)
    rest = await _session(http, sim, "sample_rate=16000", clip_pcm() + silence(600))
    turns = [m for m in rest if m["type"] == "Turn"]
    partials = [t["end_of_turn_confidence"] for t in turns if not t["end_of_turn"]]
    assert partials and all(0 <= c < 0.4 for c in partials)
    end = next(t for t in turns if t["end_of_turn"])
    assert 0.4 < end["end_of_turn_confidence"] <= 1
    assert "SpeechStarted" not in {m["type"] for m in rest}


async def test_u3_pro_clip_is_one_formatted_turn_after_speech_started(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim(UNPACED)
    # format_turns does not apply to Universal-3 Pro: no second, formatted copy.
    query = "sample_rate=16000&speech_model=u3-rt-pro&format_turns=true"
    rest = await _session(http, sim, query, clip_pcm())
    assert rest[0] == {"type": "SpeechStarted", "timestamp": 150, "confidence": 0.98}
    ends = [m for m in rest if m["type"] == "Turn" and m["end_of_turn"]]
    assert len(ends) == 1
    end = ends[0]
    assert end["turn_is_formatted"] is True and end["end_of_turn_confidence"] == 1
    assert end["transcript"] == end["utterance"] == "The quick brown fox jumps over the lazy dog."
    assert all(w["word_is_final"] for w in end["words"])


async def test_u3_pro_partials_come_in_pauses_and_are_not_final(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim(UNPACED)
    rest = await _session(http, sim, "sample_rate=16000&speech_model=u3-rt-pro", _noise(2000))
    assert rest[0]["type"] == "SpeechStarted"
    turns = [m for m in rest if m["type"] == "Turn"]
    partials = [t for t in turns if not t["end_of_turn"]]
    assert len(partials) >= 2
    for partial in partials:
        assert partial["turn_is_formatted"] is False
        assert partial["end_of_turn_confidence"] == 0
        assert partial["utterance"] == ""
        assert partial["words"] and not any(w["word_is_final"] for w in partial["words"])
        assert partial["transcript"] == " ".join(w["text"] for w in partial["words"])
    # One partial per pause: each adds a word.
    counts = [len(p["words"]) for p in partials]
    assert counts == sorted(set(counts))
    end = turns[-1]
    assert end["end_of_turn"] and end["turn_is_formatted"] and end["end_of_turn_confidence"] == 1
    assert end["transcript"] == end["utterance"]


async def test_u3_pro_max_turn_silence_ends_an_unfinished_sentence(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim(UNPACED)
    query = "sample_rate=16000&speech_model=u3-rt-pro&max_turn_silence=500"
    rest = await _session(http, sim, query, _noise(1000) + silence(600) + clip_pcm())
    kinds = [(m["type"], m.get("turn_order"), m.get("end_of_turn")) for m in rest]
    ends = [m for m in rest if m["type"] == "Turn" and m["end_of_turn"]]
    assert [m["turn_order"] for m in ends] == [0, 1], kinds
    # Each turn starts with its own SpeechStarted.
    assert [m["type"] for m in rest].count("SpeechStarted") == 2
    assert ends[1]["transcript"] == "The quick brown fox jumps over the lazy dog."


async def test_language_detection_and_speaker_labels_on_turns(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim(UNPACED)
    query = "sample_rate=16000&language_detection=true&speaker_labels=true"
    rest = await _session(http, sim, query, clip_pcm())
    end = next(m for m in rest if m["type"] == "Turn" and m["end_of_turn"])
    assert (end["language_code"], end["speaker_label"]) == ("en", "A")
    assert 0 < end["language_confidence"] <= 1


def test_speech_started_is_not_in_the_universal_spec() -> None:
    message = {"type": "SpeechStarted", "timestamp": 10, "confidence": 0.9}
    assert_stream_message(message, u3_pro=True)
    with pytest.raises(AssertionError, match="not in the spec"):
        assert_stream_message(message)
