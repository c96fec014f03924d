"""A completed transcript's exports: sentences, paragraphs, SRT/VTT, word search, redacted audio.

Every JSON answer is validated against the OpenAPI spec by the ``Api`` helper.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import aiohttp
import pytest

from tests.support.clocks import ManualClock
from tests.support.fixture_types import SimFactory
from tests.support.simulator import CLIP_TEXT, Api, clip_bytes

# Three sentences, the last after a long pause is not needed: five sentences make a paragraph.
STORY = "One two three. Four five! Six seven? Eight nine. Ten eleven. Twelve thirteen."
EXPORTS = ["sentences", "paragraphs", "srt", "vtt", "word-search?words=fox"]
SRT_TIME = r"\d\d:\d\d:\d\d,\d\d\d"
VTT_TIME = r"\d\d:\d\d\.\d\d\d"


async def _story(make_sim: SimFactory, http: aiohttp.ClientSession) -> tuple[Api, dict[str, Any]]:
    """Return a transcript that heard STORY (a wrong_text fault re-times it over the clip)."""
    handle = await make_sim(
        {"faults": [{"endpoint": "transcript.create", "action": "wrong_text", "text": STORY}]}
    )
    client = Api(http, handle.base_url)
    return client, await client.transcribe()


def _texts(items: list[dict[str, Any]]) -> list[str]:
    return [item["text"] for item in items]


async def test_sentences_carry_the_transcript_words(api: Api) -> None:
    done = await api.transcribe()
    body = (await api.call("GET", f"/v2/transcript/{done['id']}/sentences")).json
    assert body["id"] == done["id"]
    assert body["audio_duration"] == done["audio_duration"]
    assert body["confidence"] == done["confidence"]
    [sentence] = body["sentences"]
    assert sentence["text"] == CLIP_TEXT
    assert sentence["words"] == done["words"]
    assert (sentence["start"], sentence["end"]) == (
        done["words"][0]["start"],
        done["words"][-1]["end"],
    )
    assert sentence["speaker"] is None


async def test_sentences_split_at_the_end_marks(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    client, done = await _story(make_sim, http)
    body = (await client.call("GET", f"/v2/transcript/{done['id']}/sentences")).json
    assert _texts(body["sentences"]) == [
        "One two three.",
        "Four five!",
        "Six seven?",
        "Eight nine.",
        "Ten eleven.",
        "Twelve thirteen.",
    ]
    words = [w for s in body["sentences"] for w in s["words"]]
    assert words == done["words"]


async def test_paragraphs_hold_at_most_five_sentences(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    client, done = await _story(make_sim, http)
    body = (await client.call("GET", f"/v2/transcript/{done['id']}/paragraphs")).json
    assert _texts(body["paragraphs"]) == [
        "One two three. Four five! Six seven? Eight nine. Ten eleven.",
        "Twelve thirteen.",
    ]
    first, second = body["paragraphs"]
    assert first["words"] + second["words"] == done["words"]
    assert first["end"] <= second["start"]


def _captions(text: str, time: str) -> list[tuple[str, str, str]]:
    pattern = rf"({time}) --> ({time})\n([^\n]+)\n"
    return re.findall(pattern, text)


@pytest.mark.parametrize("chars", [None, 12, 25, 1], ids=lambda c: f"chars={c}")
@pytest.mark.parametrize("fmt", ["srt", "vtt"])
async def test_captions_respect_chars_per_caption(
    make_sim: SimFactory, http: aiohttp.ClientSession, fmt: str, chars: int | None
) -> None:
    client, done = await _story(make_sim, http)
    query = {"chars_per_caption": str(chars)} if chars is not None else None
    reply = await client.call("GET", f"/v2/transcript/{done['id']}/{fmt}", query=query)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    text = reply.raw.decode()
    if fmt == "vtt":
        assert text.startswith("WEBVTT\n\n")
    else:
        # SubRip numbers its blocks from 1.
        assert re.findall(r"^(\d+)\n", text, flags=re.MULTILINE) == [
            str(i) for i in range(1, len(_captions(text, SRT_TIME)) + 1)
        ]
    captions = _captions(text, SRT_TIME if fmt == "srt" else VTT_TIME)
    # Every word is in exactly one caption, in order, none cut.
    assert " ".join(c[2] for c in captions) == " ".join(w["text"] for w in done["words"])
    limit = chars or 80
    for _, _, line in captions:
        assert len(line) <= limit or " " not in line  # a too-long word stands alone
    starts = [c[0] for c in captions]
    assert starts == sorted(starts)
    if chars is None:
        assert len(captions) == 1


async def test_caption_timings_are_the_word_timings(api: Api) -> None:
    done = await api.transcribe()
    reply = await api.call(
        "GET", f"/v2/transcript/{done['id']}/srt", query={"chars_per_caption": "10"}
    )
    first = _captions(reply.raw.decode(), SRT_TIME)[0]
    start_ms = done["words"][0]["start"]
    assert first[0] == f"00:00:00,{start_ms:03d}"
    assert first[2] == "The quick"


@pytest.mark.parametrize("value", ["abc", "0", "-3", "2.5"])
async def test_bad_chars_per_caption_is_a_400_naming_it(api: Api, value: str) -> None:
    done = await api.transcribe()
    reply = await api.call(
        "GET",
        f"/v2/transcript/{done['id']}/vtt",
        query={"chars_per_caption": value},
        validate=False,  # the spec's query schema rejects these before the answer
    )
    assert reply.status == 400
    assert "chars_per_caption" in reply.json["error"]


async def test_word_search_counts_and_times_each_term(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    client, done = await _story(make_sim, http)
    words = done["words"]
    reply = await client.call(
        "GET",
        f"/v2/transcript/{done['id']}/word-search",
        query={"words": "FIVE,six seven,absent,ten"},
    )
    body = reply.json
    assert body["id"] == done["id"]
    by_text = {m["text"]: m for m in body["matches"]}
    assert by_text["FIVE"] == {
        "text": "FIVE",
        "count": 1,
        "timestamps": [[words[4]["start"], words[4]["end"]]],
        "indexes": [4],
    }
    # A phrase matches its words in sequence, timed from the first to the last.
    assert by_text["six seven"]["timestamps"] == [[words[5]["start"], words[6]["end"]]]
    assert by_text["six seven"]["indexes"] == [5]
    assert by_text["absent"] == {"text": "absent", "count": 0, "timestamps": [], "indexes": []}
    assert body["total_count"] == 3


async def test_word_search_counts_repeats(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    handle = await make_sim(
        {
            "faults": [
                {
                    "endpoint": "transcript.create",
                    "action": "wrong_text",
                    "text": "Go, go. Stop go!",
                }
            ]
        }
    )
    client = Api(http, handle.base_url)
    done = await client.transcribe()
    body = (
        await client.call("GET", f"/v2/transcript/{done['id']}/word-search", query={"words": "go"})
    ).json
    assert body["matches"][0]["count"] == 3 == body["total_count"]
    assert body["matches"][0]["indexes"] == [0, 1, 3]


async def test_word_search_needs_words(api: Api) -> None:
    done = await api.transcribe()
    reply = await api.call("GET", f"/v2/transcript/{done['id']}/word-search")
    assert reply.status == 400
    assert "words" in reply.json["error"]


@pytest.mark.parametrize("export", EXPORTS)
async def test_exports_of_an_unfinished_job_are_a_400(
    make_sim: SimFactory, http: aiohttp.ClientSession, export: str
) -> None:
    handle = await make_sim({"jobs": {"queued_ms": 60_000}})
    client = Api(http, handle.base_url)
    created = await client.create(await client.upload())
    path, _, query = export.partition("?")
    reply = await client.call(
        "GET",
        f"/v2/transcript/{created['id']}/{path}",
        query=dict([query.split("=")]) if query else None,
    )
    assert reply.status == 400
    assert "not completed" in reply.json["error"] and "queued" in reply.json["error"]


@pytest.mark.parametrize("export", EXPORTS)
async def test_exports_of_a_failed_job_are_a_400(api: Api, export: str) -> None:
    failed = await api.transcribe(b"\0" * 100)
    path, _, query = export.partition("?")
    reply = await api.call(
        "GET",
        f"/v2/transcript/{failed['id']}/{path}",
        query=dict([query.split("=")]) if query else None,
    )
    assert reply.status == 400 and "error" in reply.json["error"]


@pytest.mark.parametrize("export", EXPORTS)
async def test_exports_of_unknown_deleted_or_others_jobs(
    make_sim: SimFactory, http: aiohttp.ClientSession, export: str
) -> None:
    handle = await make_sim({"api_keys": ["a", "b"]})
    mine, theirs = Api(http, handle.base_url, "a"), Api(http, handle.base_url, "b")
    path, _, query = export.partition("?")
    args = dict([query.split("=")]) if query else None
    unknown = await mine.call("GET", f"/v2/transcript/{uuid.uuid4()}/{path}", query=args)
    assert unknown.status == 400
    assert unknown.json == {"error": "Transcript lookup error, transcript id not found"}
    done = await mine.transcribe()
    other = await theirs.call("GET", f"/v2/transcript/{done['id']}/{path}", query=args)
    assert other.json == unknown.json
    nobody = await mine.call("GET", f"/v2/transcript/{done['id']}/{path}", query=args, key=False)
    assert nobody.status == 401
    await mine.call("DELETE", f"/v2/transcript/{done['id']}")
    gone = await mine.call("GET", f"/v2/transcript/{done['id']}/{path}", query=args)
    assert gone.status == 400 and "deleted" in gone.json["error"]


async def test_options_shape_every_export(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    handle = await make_sim()
    client = Api(http, handle.base_url)
    done = await client.transcribe(punctuate=False, format_text=False, speaker_labels=True)
    assert done["text"] == "the quick brown fox jumps over the lazy dog"
    assert {w["speaker"] for w in done["words"]} == {"A"}
    sentences = (await client.call("GET", f"/v2/transcript/{done['id']}/sentences")).json
    assert [s["speaker"] for s in sentences["sentences"]] == ["A"]
    assert sentences["sentences"][0]["text"] == done["text"]
    vtt = (await client.call("GET", f"/v2/transcript/{done['id']}/vtt")).raw.decode()
    assert vtt.rstrip().endswith(done["text"])


# -- redacted audio -------------------------------------------------------------

REDACT = {"redact_pii": True, "redact_pii_audio": True, "redact_pii_policies": ["person_name"]}


async def test_redacted_audio_url_serves_the_audio(api: Api, http: aiohttp.ClientSession) -> None:
    done = await api.transcribe(**REDACT)
    reply = await api.call("GET", f"/v2/transcript/{done['id']}/redacted-audio")
    assert reply.json["status"] == "redacted_audio_ready"
    async with http.get(reply.json["redacted_audio_url"]) as response:
        assert response.status == 200
        assert response.content_type == "audio/wav"
        # Simplified: the "redacted" file is the audio as heard (nothing is bleeped).
        assert await response.read() == clip_bytes()


async def test_redacted_audio_while_running_is_202(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    handle = await make_sim()
    clock = ManualClock()
    handle.state_obj.set_clock(clock)
    client = Api(http, handle.base_url)
    created = await client.create(await client.upload(), **REDACT)
    # 202 is what the SDK reads as "not ready"; the spec lists only 200.
    reply = await client.call(
        "GET", f"/v2/transcript/{created['id']}/redacted-audio", validate=False
    )
    assert reply.status == 202
    clock.advance(10)
    ready = await client.call("GET", f"/v2/transcript/{created['id']}/redacted-audio")
    assert ready.status == 200


async def test_redacted_audio_not_asked_for_or_deleted_is_a_400(
    api: Api, http: aiohttp.ClientSession
) -> None:
    plain = await api.transcribe()
    reply = await api.call("GET", f"/v2/transcript/{plain['id']}/redacted-audio")
    assert reply.status == 400 and "redact_pii_audio" in reply.json["error"]
    redacted = await api.transcribe(**REDACT)
    url = (await api.call("GET", f"/v2/transcript/{redacted['id']}/redacted-audio")).json[
        "redacted_audio_url"
    ]
    await api.call("DELETE", f"/v2/transcript/{redacted['id']}")
    gone = await api.call("GET", f"/v2/transcript/{redacted['id']}/redacted-audio")
    assert gone.status == 400
    async with http.get(url) as response:
        assert response.status == 404


# -- unknown routes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v2/nothing"),
        ("GET", "/v2/"),
        ("POST", "/v2/transcripts"),
        ("GET", "/v2/transcript/{id}/summary"),
        ("GET", "/v2/transcript/{id}/json"),
        ("PUT", "/v2/transcript"),
        ("PATCH", "/v2/transcript/{id}"),
        ("GET", "/v2/upload"),
        ("GET", "/v2/realtime/token"),
    ],
    ids=lambda v: v.replace("{id}", "ID") if isinstance(v, str) else v,
)
async def test_unknown_v2_routes_answer_json(api: Api, method: str, path: str) -> None:
    reply = await api.call(method, path.replace("{id}", str(uuid.uuid4())), validate=False)
    assert reply.status == 404
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json == {"error": "Not found"}
