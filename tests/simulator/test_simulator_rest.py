"""The simulator's REST v2 behaves as docs/protocol-assemblyai.md §1 says the real API does."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import uuid
from typing import Any

import aiohttp
import pytest

from monitor.simulator import DEFAULT_API_KEY, SimulatorHandle
from tests.support.clocks import ManualClock
from tests.support.fixture_types import SimFactory
from tests.support.simulator import CLIP_TEXT, ROOT, Api, clip_bytes

# The shared fixtures, re-exported so pytest finds them in this module.

AUTH_ERROR = {"error": "Authentication error, API token missing/invalid"}
LOOKUP_ERROR = {"error": "Transcript lookup error, transcript id not found"}
SPEECH_MODELS_ERROR = (
    '"speech_models" must be a non-empty list containing one or more of: '
    '"universal-3-pro", "universal-2"'
)
DEPRECATED_ERROR = (
    'speech_model is deprecated. Use "speech_models" instead. See documentation: '
    "https://www.assemblyai.com/docs/pre-recorded-audio/select-the-speech-model"
)
SPEC_REQUIRED = [
    "id",
    "speech_model",
    "language_model",
    "acoustic_model",
    "status",
    "audio_url",
    "webhook_auth",
    "auto_highlights",
    "redact_pii",
    "summarization",
    "language_confidence_threshold",
    "language_confidence",
]


# -- upload and auth -------------------------------------------------------------


async def test_upload_returns_url_on_the_simulator_itself(api: Api, sim: SimulatorHandle) -> None:
    url = await api.upload()
    assert url.startswith(f"{sim.base_url}/upload/")
    uuid.UUID(url.rsplit("/", 1)[1])
    assert sim.state()["uploads"] == {"count": 1, "stored": 1}


async def test_upload_accepts_no_content_type(sim: SimulatorHandle) -> None:
    # The SDK sends the bytes without a Content-Type header at all.
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    body = clip_bytes()
    writer.write(
        b"POST /v2/upload HTTP/1.1\r\nHost: x\r\nAuthorization: sim-key\r\n"
        + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        + body
    )
    await writer.drain()
    response = await reader.read()
    writer.close()
    assert response.startswith(b"HTTP/1.1 200")
    assert b'"upload_url"' in response


TOO_LARGE = {"error": "Request body too large: the simulator accepts at most 1000 bytes"}


async def _raw_headers(sim: SimulatorHandle, headers: bytes, limit_s: float = 5) -> bytes:
    """Send a request's head only (no body) and return the answer, which must not wait for it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", sim.port)
    try:
        writer.write(headers)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), limit_s)
        match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        assert match is not None, head
        length = int(match[1])
        return head + await asyncio.wait_for(reader.readexactly(length), limit_s)
    finally:
        writer.close()


async def test_upload_over_the_limit_is_a_json_413(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim({"max_upload_bytes": 1000})
    api = Api(http, sim.base_url)
    assert (await api.call("POST", "/v2/upload", data=b"x" * 1000)).status == 200
    # 413 is not in the spec's list for upload: check the body by hand.
    reply = await api.call("POST", "/v2/upload", data=b"x" * 1001, validate=False)
    assert reply.status == 413
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json == TOO_LARGE

    async def chunks() -> Any:
        for _ in range(3):
            yield b"x" * 400

    # Chunked, so no Content-Length to judge by: the limit is hit while reading.
    async with http.post(
        f"{sim.base_url}/v2/upload", data=chunks(), headers={"Authorization": DEFAULT_API_KEY}
    ) as response:
        assert response.status == 413
        assert await response.json() == TOO_LARGE
    assert sim.state()["uploads"] == {"count": 1, "stored": 1}


async def test_upload_checks_the_key_before_reading_the_body(make_sim: SimFactory) -> None:
    sim = await make_sim({"max_upload_bytes": 1000})
    # Neither answer waits for the 10 MB the head announces (and never come).
    unauthenticated = await _raw_headers(
        sim, b"POST /v2/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n"
    )
    assert unauthenticated.startswith(b"HTTP/1.1 401")
    assert unauthenticated.endswith(b'{"error": "Authentication error, API token missing/invalid"}')
    too_big = await _raw_headers(
        sim,
        b"POST /v2/upload HTTP/1.1\r\nHost: x\r\nAuthorization: sim-key\r\n"
        b"Content-Length: 10000000\r\n\r\n",
    )
    assert too_big.startswith(b"HTTP/1.1 413")
    assert too_big.endswith(TOO_LARGE["error"].encode() + b'"}')
    assert sim.state()["uploads"] == {"count": 0, "stored": 0}


async def test_unauthenticated_upload_over_the_limit_is_401(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim({"max_upload_bytes": 1000})
    reply = await Api(http, sim.base_url).call("POST", "/v2/upload", data=b"x" * 5000, key=False)
    assert reply.status == 401
    assert reply.json == AUTH_ERROR


async def test_create_body_over_the_limit_is_a_json_413(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim({"max_upload_bytes": 1000})
    body = {
        "audio_url": "https://x.test/a.wav",
        "speech_models": ["universal-2"],
        "prompt": "x" * 1000,
    }
    reply = await Api(http, sim.base_url).call(
        "POST", "/v2/transcript", json_body=body, validate=False
    )
    assert reply.status == 413
    assert reply.json == TOO_LARGE


async def test_fetching_an_upload_directly_is_denied(api: Api, http: aiohttp.ClientSession) -> None:
    url = await api.upload()
    async with http.get(url) as response:
        assert response.status == 403


ENDPOINT_CALLS = [
    ("POST", "/v2/upload", None),
    (
        "POST",
        "/v2/transcript",
        {"audio_url": "https://x.test/a.wav", "speech_models": ["universal-2"]},
    ),
    ("GET", "/v2/transcript", None),
    ("GET", f"/v2/transcript/{uuid.uuid4()}", None),
    ("DELETE", f"/v2/transcript/{uuid.uuid4()}", None),
]


@pytest.mark.parametrize(
    "key", [False, "wrong-key", "Bearer sim-key"], ids=["missing", "wrong", "bearer"]
)
@pytest.mark.parametrize(
    ("method", "path", "body"), ENDPOINT_CALLS, ids=["upload", "create", "list", "get", "delete"]
)
async def test_bad_key_is_401_on_every_endpoint(
    api: Api, method: str, path: str, body: Any, key: str | bool
) -> None:
    reply = await api.call(
        method,
        path,
        json_body=body,
        data=b"x" if body is None and method == "POST" else None,
        key=key,
    )
    assert reply.status == 401
    assert reply.json == AUTH_ERROR


async def test_header_name_is_case_insensitive(
    sim: SimulatorHandle, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{sim.base_url}/v2/transcript", headers={"authorization": "sim-key"}) as r:
        assert r.status == 200


async def test_scenario_api_keys_replace_the_default(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim({"api_keys": ["k1", "k2"]})
    assert (await Api(http, sim.base_url, "k2").call("GET", "/v2/transcript")).status == 200
    assert (
        await Api(http, sim.base_url, DEFAULT_API_KEY).call("GET", "/v2/transcript")
    ).status == 401


# -- create validation -------------------------------------------------------------

CREATE_CASES = [
    ({"audio_url": "https://x.test/a.wav"}, SPEECH_MODELS_ERROR),
    ({"audio_url": "https://x.test/a.wav", "speech_models": []}, SPEECH_MODELS_ERROR),
    ({"audio_url": "https://x.test/a.wav", "speech_models": ["best"]}, SPEECH_MODELS_ERROR),
    ({"audio_url": "https://x.test/a.wav", "speech_models": "universal-2"}, SPEECH_MODELS_ERROR),
    (
        {"audio_url": "https://x.test/a.wav", "speech_models": ["universal-2", "nano"]},
        SPEECH_MODELS_ERROR,
    ),
    ({"audio_url": "https://x.test/a.wav", "speech_model": "best"}, DEPRECATED_ERROR),
    (
        {
            "audio_url": "https://x.test/a.wav",
            "speech_model": "universal",
            "speech_models": ["universal-2"],
        },
        DEPRECATED_ERROR,
    ),
    (
        {"audio_url": "https://x.test/a.wav", "speech_models": ["universal-2"], "colour": "red"},
        '"colour" is not allowed',
    ),
    ({"speech_models": ["universal-2"]}, '"audio_url" is required'),
    (
        {
            "audio_url": "https://x.test/a.wav",
            "speech_models": ["universal-2"],
            "format_text": "yes",
        },
        "format_text must be a Boolean",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"),
    CREATE_CASES,
    ids=[
        "missing-models",
        "empty-models",
        "old-model-name",
        "models-not-a-list",
        "one-bad-model",
        "deprecated-singular",
        "singular-with-plural",
        "unknown-field",
        "missing-audio-url",
        "wrong-type",
    ],
)
async def test_create_rejects_what_the_2026_api_rejects(api: Api, body: Any, message: str) -> None:
    reply = await api.call("POST", "/v2/transcript", json_body=body)
    assert reply.status == 400
    assert reply.json == {"error": message}
    assert api.seen  # nothing was created
    assert (await api.call("GET", "/v2/transcript")).json["transcripts"] == []


async def test_create_accepts_null_singular_and_both_models(api: Api) -> None:
    created = await api.create(
        "https://x.test/a.wav", speech_model=None, speech_models=["universal-3-pro", "universal-2"]
    )
    assert created["speech_models"] == ["universal-3-pro", "universal-2"]


async def test_create_returns_full_queued_transcript(api: Api) -> None:
    created = await api.create(await api.upload(), language_code="en_us", punctuate=True)
    for key in SPEC_REQUIRED:
        assert key in created
    assert created["status"] == "queued"
    assert created["text"] is None and created["words"] is None
    assert created["speech_models"] == ["universal-2"]
    assert created["acoustic_model"] == created["language_model"] == "assemblyai_default"
    assert "error" not in created


# -- lifecycle and content -------------------------------------------------------------


async def test_job_moves_queued_processing_completed(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim({"jobs": {"queued_ms": 300, "processing_ms": 700}})
    clock = ManualClock()
    sim.state_obj.set_clock(clock)
    api = Api(http, sim.base_url)
    created = await api.create(await api.upload())
    seen = [created["status"]]
    for step in (0.25, 0.1, 0.6, 0.1):  # t = 250 ms, 350, 950, 1050
        clock.advance(step)
        seen.append((await api.get(created["id"])).json["status"])
    assert seen == ["queued", "queued", "processing", "processing", "completed"]


async def test_known_clip_completes_with_reference_text_and_timings(api: Api) -> None:
    done = await api.transcribe()
    assert done["status"] == "completed"
    assert done["text"] == CLIP_TEXT
    assert done["audio_duration"] == 2  # seconds, an integer, of a 2.28 s clip
    assert done["speech_model_used"] == "universal-2"
    words = done["words"]
    assert [w["text"] for w in words] == CLIP_TEXT.split()
    ends = 0
    for word in words:
        assert isinstance(word["start"], int) and isinstance(word["end"], int)
        assert ends <= word["start"] < word["end"] <= 2280
        ends = word["end"]
        assert 0 < word["confidence"] <= 1
        assert word["speaker"] is None
    # Timings come from the audio: speech starts after the clip's ~150 ms lead-in.
    assert 100 <= words[0]["start"] <= 300
    assert 0 < done["confidence"] <= 1


async def test_same_samples_in_another_wav_are_the_known_clip(api: Api) -> None:
    import io
    import wave

    from tests.support.simulator import clip_pcm

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(clip_pcm())
    rewritten = buffer.getvalue() + b"LIST\x04\x00\x00\x00INFO"  # different bytes, same audio
    assert rewritten != clip_bytes()
    assert (await api.transcribe(rewritten))["text"] == CLIP_TEXT


async def test_create_app_works_with_pytest_aiohttp(aiohttp_client: Any) -> None:
    from monitor.simulator import create_app

    client = await aiohttp_client(create_app())
    response = await client.get("/v2/transcript", headers={"Authorization": DEFAULT_API_KEY})
    assert response.status == 200
    assert (await response.json())["transcripts"] == []


async def test_unknown_audio_gets_deterministic_placeholder(api: Api) -> None:
    odd = b"\x01\x02" * 40000
    first = await api.transcribe(odd)
    second = await api.transcribe(odd)
    other = await api.transcribe(b"\x03\x04" * 40000)
    assert first["status"] == "completed"
    assert first["text"] == second["text"] != other["text"]
    assert first["text"] != CLIP_TEXT


async def test_remote_url_gets_placeholder_when_fetching_is_off(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    api = Api(http, (await make_sim({"audio_fetch": {"enabled": False}})).base_url)
    created = await api.create("https://example.test/meeting.mp3")
    done = await api.wait_terminal(created["id"])
    assert done["status"] == "completed" and done["text"]
    assert done["audio_url"] == "https://example.test/meeting.mp3"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"\0" * 3200, "Audio duration is too short."),
        (
            b"<html><body>login</body></html>",
            "File does not appear to contain audio. File type is text/html (HTML document).",
        ),
        (
            b"just some notes",
            "File does not appear to contain audio. File type is text/plain (ASCII text).",
        ),
    ],
    ids=["too-short", "html", "text"],
)
async def test_bad_audio_fails_the_job_like_the_real_api(api: Api, data: bytes, error: str) -> None:
    done = await api.transcribe(data)
    assert done["status"] == "error"
    assert done["error"] == error
    assert done["text"] is None


async def test_unknown_upload_url_fails_with_download_error(api: Api, sim: SimulatorHandle) -> None:
    url = f"{sim.base_url}/upload/{uuid.uuid4()}"
    done = await api.wait_terminal((await api.create(url))["id"])
    assert done["status"] == "error"
    assert done["error"].startswith(f"Download error, unable to download {url}.")


# -- lookup, isolation ---------------------------------------------------------


async def test_unknown_id_is_400_lookup_error(api: Api) -> None:
    reply = await api.get(str(uuid.uuid4()))
    assert (reply.status, reply.json) == (400, LOOKUP_ERROR)


async def test_unknown_id_can_be_404(make_sim: SimFactory, http: aiohttp.ClientSession) -> None:
    sim = await make_sim({"unknown_id_status": 404})
    reply = await Api(http, sim.base_url).get(str(uuid.uuid4()))
    assert (reply.status, reply.json) == (404, {"error": "Not found"})


async def test_keys_cannot_see_each_others_data(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim({"api_keys": ["alice", "bob"]})
    alice, bob = Api(http, sim.base_url, "alice"), Api(http, sim.base_url, "bob")
    done = await alice.transcribe()
    for reply in (
        await bob.get(done["id"]),
        await bob.call("DELETE", f"/v2/transcript/{done['id']}"),
    ):
        assert (reply.status, reply.json) == (400, LOOKUP_ERROR)
    assert (await bob.call("GET", "/v2/transcript")).json["transcripts"] == []
    # Bob cannot transcribe Alice's upload either: the download is forbidden.
    url = done["audio_url"]
    failed = await bob.wait_terminal((await bob.create(url))["id"])
    assert failed["status"] == "error"
    assert failed["error"] == f"Download error to {url}, 403 Client Error: Forbidden for url: {url}"
    assert (await alice.get(done["id"])).json["text"] == CLIP_TEXT


# -- delete ------------------------------------------------------------------------------


async def test_delete_returns_scrubbed_object_and_it_sticks(api: Api, sim: SimulatorHandle) -> None:
    done = await api.transcribe()
    reply = await api.call("DELETE", f"/v2/transcript/{done['id']}")
    assert reply.status == 200
    scrubbed = reply.json
    assert scrubbed["id"] == done["id"]
    assert scrubbed["status"] == "completed"
    assert scrubbed["text"] == "Deleted by user."
    assert scrubbed["audio_url"] == "http://deleted_by_user"
    assert scrubbed["webhook_url"] == "http://deleted_by_user"
    assert scrubbed["words"] is None and scrubbed["utterances"] is None
    assert scrubbed["confidence"] is None
    assert scrubbed["audio_duration"] == done["audio_duration"]
    assert scrubbed["disfluencies"] is True
    assert scrubbed["speech_model"] is None
    # Every later GET, and a second DELETE, show the same object.
    assert (await api.get(done["id"])).json == scrubbed
    again = await api.call("DELETE", f"/v2/transcript/{done['id']}")
    assert (again.status, again.json) == (200, scrubbed)
    listed = (await api.call("GET", "/v2/transcript")).json["transcripts"][0]
    assert listed["audio_url"] == "http://deleted_by_user"
    state = sim.state()["transcripts"]
    assert state == {"created": 1, "deleted": 1, "undeleted": 0, "undeleted_ids": []}


async def test_delete_removes_the_upload(api: Api, sim: SimulatorHandle) -> None:
    done = await api.transcribe()
    await api.call("DELETE", f"/v2/transcript/{done['id']}")
    assert sim.state()["uploads"] == {"count": 1, "stored": 0}
    reused = await api.wait_terminal((await api.create(done["audio_url"]))["id"])
    assert reused["status"] == "error"
    assert reused["error"].startswith("Download error, unable to download")


async def test_delete_of_unfinished_job_is_refused_by_default(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim({"jobs": {"queued_ms": 5000}})
    api = Api(http, sim.base_url)
    created = await api.create(await api.upload())
    reply = await api.call("DELETE", f"/v2/transcript/{created['id']}")
    assert reply.status == 400
    assert reply.json == {"error": "Transcript is still being processed and cannot be deleted yet"}
    assert sim.state()["transcripts"]["undeleted_ids"] == [created["id"]]


async def test_delete_of_unfinished_job_can_be_allowed(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim({"jobs": {"queued_ms": 5000, "delete_in_progress": "allow"}})
    api = Api(http, sim.base_url)
    created = await api.create(await api.upload())
    reply = await api.call("DELETE", f"/v2/transcript/{created['id']}")
    assert reply.status == 200
    assert (reply.json["status"], reply.json["text"]) == ("queued", "Deleted by user.")
    assert (await api.get(created["id"])).json == reply.json
    assert sim.state()["transcripts"]["undeleted"] == 0


# -- list ------------------------------------------------------------------------------------


async def _make_jobs(api: Api, n: int) -> list[str]:
    return [(await api.create(f"https://x.test/{i}.wav"))["id"] for i in range(n)]


async def test_list_is_newest_first_with_page_details(api: Api, sim: SimulatorHandle) -> None:
    ids = await _make_jobs(api, 12)
    page = (await api.call("GET", "/v2/transcript")).json
    assert [t["id"] for t in page["transcripts"]] == ids[::-1][:10]
    details = page["page_details"]
    assert details["limit"] == 10 and details["result_count"] == 10
    assert details["current_url"] == f"{sim.base_url}/v2/transcript"
    assert details["prev_url"] == f"{sim.base_url}/v2/transcript?limit=10&before_id={ids[2]}"
    assert details["next_url"] == f"{sim.base_url}/v2/transcript?limit=10&after_id={ids[11]}"
    item = page["transcripts"][0]
    assert item["resource_url"] == f"{sim.base_url}/v2/transcript/{ids[11]}"
    assert "T" in item["created"] and "+" not in item["created"]


async def test_list_pages_with_before_and_after(api: Api) -> None:
    ids = await _make_jobs(api, 6)
    older = (
        await api.call("GET", "/v2/transcript", query={"limit": "2", "before_id": ids[4]})
    ).json
    assert [t["id"] for t in older["transcripts"]] == [ids[3], ids[2]]
    newer = (await api.call("GET", "/v2/transcript", query={"limit": "2", "after_id": ids[1]})).json
    assert [t["id"] for t in newer["transcripts"]] == [ids[3], ids[2]]
    between = (
        await api.call("GET", "/v2/transcript", query={"after_id": ids[1], "before_id": ids[4]})
    ).json
    assert [t["id"] for t in between["transcripts"]] == [ids[3], ids[2]]


async def test_list_inverted_bounds_is_400(api: Api) -> None:
    ids = await _make_jobs(api, 2)
    reply = await api.call("GET", "/v2/transcript", query={"after_id": ids[1], "before_id": ids[0]})
    assert reply.status == 400
    assert reply.json == {"error": "'after_id' must be a newer transcript than 'before_id'"}


async def test_list_filters(api: Api, make_sim: SimFactory) -> None:
    done = await api.transcribe()
    failed = await api.transcribe(b"\0" * 100)
    by_status = (await api.call("GET", "/v2/transcript", query={"status": "error"})).json
    assert [t["id"] for t in by_status["transcripts"]] == [failed["id"]]
    assert by_status["transcripts"][0]["error"] == "Audio duration is too short."
    today = (await api.call("GET", "/v2/transcript", query={"limit": "1"})).json["transcripts"][0][
        "created"
    ][:10]
    dated = (await api.call("GET", "/v2/transcript", query={"created_on": today})).json
    assert {t["id"] for t in dated["transcripts"]} == {done["id"], failed["id"]}
    none = (await api.call("GET", "/v2/transcript", query={"created_on": "2001-01-01"})).json
    assert none["transcripts"] == [] and none["page_details"]["prev_url"] is None
    throttled = (await api.call("GET", "/v2/transcript", query={"throttled_only": "true"})).json
    assert throttled["transcripts"] == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "0"}, '"limit" must be greater than or equal to 1'),
        ({"limit": "201"}, '"limit" must be less than or equal to 200'),
        ({"limit": "ten"}, '"limit" must be a number'),
        ({"status": "done"}, '"status" must be one of [queued, processing, completed, error]'),
        ({"created_on": "yesterday"}, '"created_on" must be a valid date (YYYY-MM-DD)'),
        ({"before_id": str(uuid.uuid4())}, LOOKUP_ERROR["error"]),
    ],
    ids=["limit-0", "limit-201", "limit-nan", "bad-status", "bad-date", "unknown-bound"],
)
async def test_list_rejects_bad_queries(api: Api, query: dict[str, str], message: str) -> None:
    reply = await api.call("GET", "/v2/transcript", query=query)
    assert (reply.status, reply.json) == (400, {"error": message})


async def test_list_accepts_limit_bounds(api: Api) -> None:
    await _make_jobs(api, 2)
    for limit in ("1", "200"):
        page = (await api.call("GET", "/v2/transcript", query={"limit": limit})).json
        assert page["page_details"]["limit"] == int(limit)


# -- control endpoints and the CLI entry point ----------------------------------------


async def test_state_and_reset(api: Api, sim: SimulatorHandle, http: aiohttp.ClientSession) -> None:
    done = await api.transcribe()
    async with http.get(f"{sim.base_url}/_sim/state") as r:
        state = await r.json()
    assert state == sim.state()
    assert state["transcripts"]["undeleted_ids"] == [done["id"]]
    assert state["requests"]["upload"] == 1 and state["requests"]["transcript.create"] == 1
    async with http.post(f"{sim.base_url}/_sim/reset") as r:
        assert r.status == 200
    assert sim.state()["transcripts"]["created"] == 0
    assert (await api.get(done["id"])).status == 400


def test_run_simulator_serves_until_sigterm(tmp_path: Any) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("api_keys: [cli-key]\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys\nfrom monitor.simulator import run_simulator\n"
            f"sys.exit(run_simulator('127.0.0.1', 0, {str(scenario)!r}))",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "http://127.0.0.1:" in first
        assert "cli-key" in proc.stdout.readline()
        base = first.split()[4]
        import urllib.request

        request = urllib.request.Request(
            f"{base}/v2/transcript", headers={"Authorization": "cli-key"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_run_simulator_rejects_bad_scenario(
    tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.simulator import run_simulator

    bad = tmp_path / "bad.yaml"
    bad.write_text("faults:\n  - endpoint: upload\n    action: explode\n")
    assert run_simulator("127.0.0.1", 0, str(bad)) == 2
    assert "faults.0.action" in capsys.readouterr().err


def test_simulator_imports_nothing_from_the_rest_of_monitor() -> None:
    # A test double must not share code with what it tests (docs/design.md §1).
    import ast

    for path in sorted((ROOT / "monitor" / "simulator").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, f"{path.name} imports from outside the package"
                assert node.level == 1 or not (node.module or "").startswith("monitor"), path.name
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("monitor") for a in node.names), path.name
