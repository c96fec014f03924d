"""A scenario registers its own clips with their reference text: a team tests its own audio."""

from __future__ import annotations

import hashlib
import math
import struct
import wave
from pathlib import Path

import aiohttp
import pytest
from pydantic import ValidationError

from monitor.simulator import Scenario
from tests.support.fixture_types import SimFactory
from tests.support.outbound_peer import Hosted, OutboundPeer
from tests.support.simulator import CLIP_TEXT, Api, clip_bytes, frames, open_stream, silence

OWN_TEXT = "Our own meeting starts now."


def _tone_wav(path: Path, ms: int = 1500, lead_ms: int = 300, rate: int = 16000) -> bytes:
    """Write a WAV of ``lead_ms`` silence then a tone; return its bytes."""
    lead = [0] * (rate * lead_ms // 1000)
    tone = [
        int(8000 * math.sin(2 * math.pi * 440 * i / rate))
        for i in range(rate * (ms - lead_ms) // 1000)
    ]
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(struct.pack(f"<{len(lead) + len(tone)}h", *lead, *tone))
    return path.read_bytes()


def _scenario_file(tmp_path: Path, clips: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(
        f"jobs: {{queued_ms: 20, processing_ms: 20}}\nclips:\n{clips}", encoding="utf-8"
    )
    return path


async def test_a_scenario_wav_is_heard_as_its_text(
    make_sim: SimFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    (tmp_path / "audio").mkdir()
    raw = _tone_wav(tmp_path / "audio" / "meeting.wav")
    # The file is named relative to the scenario file, not to the working directory.
    path = _scenario_file(tmp_path, f"  - {{file: audio/meeting.wav, text: {OWN_TEXT!r}}}\n")
    handle = await make_sim(Scenario.from_yaml_file(path))
    api = Api(http, handle.base_url)
    done = await api.transcribe(raw)
    assert done["text"] == OWN_TEXT
    assert [w["text"] for w in done["words"]] == OWN_TEXT.split()
    # Timed over the audible part: nothing in the leading silence.
    assert done["words"][0]["start"] >= 250
    assert done["words"][-1]["end"] <= 1500
    assert done["audio_duration"] == 2  # 1.5 s, rounded as the API rounds seconds
    # The bundled clip is still known.
    assert (await api.transcribe(clip_bytes()))["text"] == CLIP_TEXT


async def test_audio_known_by_its_hash_only(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    mp3ish = b"ID3\x04\x00" + bytes(range(256)) * 200  # not a WAV the simulator can decode
    handle = await make_sim(
        {"clips": [{"sha256": hashlib.sha256(mp3ish).hexdigest().upper(), "text": OWN_TEXT}]}
    )
    done = await Api(http, handle.base_url).transcribe(mp3ish)
    assert done["status"] == "completed"
    assert done["text"] == OWN_TEXT


async def test_an_undecodable_file_is_known_by_its_bytes(
    make_sim: SimFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    blob = b"OggS" + bytes(range(256)) * 100
    (tmp_path / "talk.ogg").write_bytes(blob)
    path = _scenario_file(tmp_path, f"  - {{file: talk.ogg, text: {OWN_TEXT!r}}}\n")
    handle = await make_sim(Scenario.from_yaml_file(path))
    assert (await Api(http, handle.base_url).transcribe(blob))["text"] == OWN_TEXT


async def test_a_scenario_clip_is_heard_from_an_audio_url(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer, tmp_path: Path
) -> None:
    raw = _tone_wav(tmp_path / "hosted.wav")
    peer.files["/hosted.wav"] = Hosted(raw, "audio/wav")
    handle = await make_sim({"clips": [{"file": str(tmp_path / "hosted.wav"), "text": OWN_TEXT}]})
    api = Api(http, handle.base_url)
    done = await api.wait_terminal((await api.create(peer.url("/hosted.wav")))["id"])
    assert done["text"] == OWN_TEXT


async def test_other_audio_keeps_the_placeholder(
    make_sim: SimFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    _tone_wav(tmp_path / "meeting.wav")
    handle = await make_sim({"clips": [{"file": str(tmp_path / "meeting.wav"), "text": OWN_TEXT}]})
    other = _tone_wav(tmp_path / "other.wav", ms=2000)
    done = await Api(http, handle.base_url).transcribe(other)
    assert done["status"] == "completed" and done["text"] not in {OWN_TEXT, CLIP_TEXT}


@pytest.mark.parametrize(
    ("clip", "message"),
    [
        ({"text": "x"}, "exactly one of 'file' or 'sha256'"),
        ({"text": "x", "file": "a.wav", "sha256": "0" * 64}, "exactly one of 'file' or 'sha256'"),
        (
            {"text": "x", "file": "/nonexistent/a.wav"},
            "clip file '/nonexistent/a.wav' does not exist",
        ),
        ({"text": "x", "sha256": "abc"}, "String should match pattern"),
        ({"text": "", "sha256": "0" * 64}, "at least 1 character"),
        ({"text": "x", "sha256": "0" * 64, "name": "n"}, "Extra inputs are not permitted"),
    ],
    ids=["neither", "both", "missing-file", "short-hash", "empty-text", "unknown-key"],
)
def test_a_bad_clip_entry_says_what_is_wrong(clip: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message) as caught:
        Scenario.model_validate({"clips": [clip]})
    assert "clips.0" in str(caught.value)  # and where


async def test_a_scenario_text_wins_over_a_bundled_clip(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    digest = hashlib.sha256(clip_bytes()).hexdigest()
    handle = await make_sim({"clips": [{"sha256": digest, "text": OWN_TEXT}]})
    done = await Api(http, handle.base_url).transcribe(clip_bytes())
    assert done["text"] == OWN_TEXT
    assert done["words"][0]["start"] >= 100  # still timed over the clip's audible span


async def test_a_scenario_wav_is_heard_when_streamed(
    make_sim: SimFactory, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    _tone_wav(tmp_path / "meeting.wav", ms=1000, lead_ms=100)
    handle = await make_sim({"clips": [{"file": str(tmp_path / "meeting.wav"), "text": OWN_TEXT}]})
    probe = await open_stream(http, handle)
    assert (await probe.next())["type"] == "Begin"
    with wave.open(str(tmp_path / "meeting.wav")) as wav:
        pcm = wav.readframes(wav.getnframes())
    await probe.send_paced(frames(pcm + silence(600)))
    await probe.ws.send_str('{"type": "Terminate"}')
    messages = await probe.drain()
    final = [m for m in messages if m["type"] == "Turn" and m["end_of_turn"]]
    # Unformatted turns are lower case without punctuation.
    assert final and final[0]["transcript"] == "our own meeting starts now"
