"""The official ``assemblyai`` Python SDK's transcript helpers work unchanged against the simulator.

Sentences, paragraphs, SRT/VTT subtitles, word search, redacted audio,
speaker labels, webhooks and a downloaded ``audio_url``: each as a team would
call it. The SDK blocks, so the simulator (and the webhook receiver) run in
background threads.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import assemblyai as aai
import httpx
import pytest

from monitor.simulator import DEFAULT_API_KEY, Scenario, ThreadedSimulator, start_simulator_thread
from tests.support.simulator import CLIP_TEXT, CLIP_WAV, assert_openapi, clip_bytes

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:assemblyai.*"),
    pytest.mark.filterwarnings("ignore:.*parse_obj.*:DeprecationWarning"),
]

STORY = "One two three. Four five! Six seven? Eight nine. Ten eleven. Twelve thirteen."


@pytest.fixture
def threaded() -> Iterator[ThreadedSimulator]:
    """Yield a simulator in a background thread with fast jobs and quick webhook retries."""
    sim = start_simulator_thread(
        scenario=Scenario.model_validate(
            {
                "jobs": {"queued_ms": 50, "processing_ms": 50},
                "webhooks": {"retry_interval_ms": 20, "timeout_ms": 500},
            }
        )
    )
    try:
        yield sim
    finally:
        sim.stop()


def _validate(response: httpx.Response) -> None:
    """Fail the SDK call unless the simulator's answer validates against the OpenAPI spec."""
    request = response.request
    path = request.url.path
    if not path.startswith("/v2/"):
        return
    if path.endswith("/redacted-audio") and response.status_code == 202:
        return  # the SDK's "not ready yet", which the spec does not list
    response.read()
    query = dict(request.url.params)
    content_type = response.headers.get("Content-Type")
    assert_openapi(
        request.method, path, response.status_code, response.content, content_type, query
    )
    CHECKED.append((request.method, path))


CHECKED: list[tuple[str, str]] = []


@pytest.fixture
def sdk(threaded: ThreadedSimulator) -> Iterator[aai.Transcriber]:
    """Point the SDK's global settings at the simulator (put back after); yield a Transcriber.

    Every answer the SDK's default client receives is validated against the spec.
    """
    saved = (aai.settings.base_url, aai.settings.api_key, aai.settings.polling_interval)
    aai.settings.base_url = threaded.handle.base_url
    aai.settings.api_key = DEFAULT_API_KEY
    aai.settings.polling_interval = 0.05
    client = aai.Client.get_default()
    client.http_client.event_hooks["response"].append(_validate)
    CHECKED.clear()
    try:
        yield aai.Transcriber(
            client=client, config=aai.TranscriptionConfig(speech_models=["universal-2"])
        )
        assert CHECKED, "no answer was validated"
    finally:
        client.http_client.event_hooks["response"].remove(_validate)
        aai.settings.base_url, aai.settings.api_key, aai.settings.polling_interval = saved


def _config(**options: Any) -> aai.TranscriptionConfig:
    return aai.TranscriptionConfig(speech_models=["universal-2"], **options)


def _story(threaded: ThreadedSimulator, sdk: aai.Transcriber) -> aai.Transcript:
    threaded.handle.set_faults(
        [{"endpoint": "transcript.create", "action": "wrong_text", "text": STORY}]
    )
    transcript = sdk.transcribe(str(CLIP_WAV))
    assert transcript.status == aai.TranscriptStatus.completed, transcript.error
    return transcript


def test_get_sentences(threaded: ThreadedSimulator, sdk: aai.Transcriber) -> None:
    transcript = _story(threaded, sdk)
    sentences = transcript.get_sentences()
    assert [s.text for s in sentences][:3] == ["One two three.", "Four five!", "Six seven?"]
    assert len(sentences) == 6
    assert [w.text for s in sentences for w in s.words] == STORY.split()
    assert sentences[0].start == transcript.words[0].start


def test_get_paragraphs(threaded: ThreadedSimulator, sdk: aai.Transcriber) -> None:
    paragraphs = _story(threaded, sdk).get_paragraphs()
    assert [p.text for p in paragraphs] == [
        "One two three. Four five! Six seven? Eight nine. Ten eleven.",
        "Twelve thirteen.",
    ]
    assert all(p.words and p.start <= p.words[0].start for p in paragraphs)


@pytest.mark.parametrize("chars", [None, 15], ids=["default", "chars=15"])
def test_export_subtitles(
    threaded: ThreadedSimulator, sdk: aai.Transcriber, chars: int | None
) -> None:
    transcript = _story(threaded, sdk)
    srt = transcript.export_subtitles_srt(chars_per_caption=chars)
    vtt = transcript.export_subtitles_vtt(chars_per_caption=chars)
    assert srt.startswith("1\n00:00:")
    assert vtt.startswith("WEBVTT\n\n")
    srt_lines = re.findall(r"-->.*\n(.+)\n", srt)
    vtt_lines = re.findall(r"-->.*\n(.+)\n", vtt)
    assert srt_lines == vtt_lines
    assert " ".join(srt_lines) == STORY
    if chars is not None:
        assert len(srt_lines) > 1 and all(len(line) <= chars for line in srt_lines)


def test_word_search(threaded: ThreadedSimulator, sdk: aai.Transcriber) -> None:
    transcript = sdk.transcribe(str(CLIP_WAV))
    matches = {m.text: m for m in transcript.word_search(["fox", "lazy dog", "cat"])}
    assert matches["fox"].count == 1 and matches["fox"].indexes == [3]
    fox = transcript.words[3]
    assert matches["fox"].timestamps == [(fox.start, fox.end)]
    assert matches["lazy dog"].timestamps == [(transcript.words[7].start, transcript.words[8].end)]
    assert matches["cat"].count == 0


def test_speaker_labels_give_utterances(threaded: ThreadedSimulator, sdk: aai.Transcriber) -> None:
    transcript = sdk.transcribe(str(CLIP_WAV), config=_config(speaker_labels=True))
    assert transcript.utterances is not None
    [utterance] = transcript.utterances
    assert (utterance.speaker, utterance.text) == ("A", CLIP_TEXT)


def test_punctuate_and_format_text_off(threaded: ThreadedSimulator, sdk: aai.Transcriber) -> None:
    transcript = sdk.transcribe(str(CLIP_WAV), config=_config(punctuate=False, format_text=False))
    assert transcript.text == "the quick brown fox jumps over the lazy dog"


def test_redacted_audio(threaded: ThreadedSimulator, sdk: aai.Transcriber, tmp_path: Path) -> None:
    config = _config().set_redact_pii(
        redact_audio=True, policies=[aai.PIIRedactionPolicy.person_name]
    )
    transcript = sdk.transcribe(str(CLIP_WAV), config=config)
    assert transcript.get_redacted_audio_url().startswith(threaded.handle.base_url)
    target = tmp_path / "redacted.wav"
    transcript.save_redacted_audio(str(target))
    assert target.read_bytes() == clip_bytes()  # simplified: nothing is bleeped


def test_redacted_audio_url_waits_while_the_job_runs(
    threaded: ThreadedSimulator, sdk: aai.Transcriber
) -> None:
    config = _config().set_redact_pii(
        redact_audio=True, policies=[aai.PIIRedactionPolicy.person_name]
    )
    submitted = sdk.submit(str(CLIP_WAV), config=config)
    # The SDK polls through the simulator's 202 "not ready" answers.
    assert submitted.get_redacted_audio_url().endswith(f"/redacted-audio/{submitted.id}")
    assert threaded.handle.state()["requests"]["transcript.redacted_audio"] >= 2


def test_redacted_audio_not_requested(threaded: ThreadedSimulator, sdk: aai.Transcriber) -> None:
    transcript = sdk.transcribe(str(CLIP_WAV))
    # The SDK reads the API's 400 here as "no longer available".
    with pytest.raises(aai.types.RedactedAudioExpiredError):
        aai.api.get_redacted_audio(aai.Client.get_default().http_client, transcript.id)


def test_helpers_on_an_unfinished_transcript_raise_the_api_error(
    threaded: ThreadedSimulator, sdk: aai.Transcriber
) -> None:
    threaded.handle.set_faults(
        [{"endpoint": "transcript.create", "action": "stuck", "stage": "processing"}]
    )
    queued = sdk.submit(str(CLIP_WAV))
    with pytest.raises(aai.types.TranscriptError, match="is not completed"):
        queued.get_sentences()
    with pytest.raises(aai.types.TranscriptError, match="is not completed"):
        queued.export_subtitles_srt()


class _Receiver(http.server.BaseHTTPRequestHandler):
    """Records webhook POSTs on its server's ``posts`` list."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length))
        self.server.posts.append((dict(self.headers), body))  # type: ignore[attr-defined]
        self.server.arrived.set()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        data = clip_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "audio/wav")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[http.server.ThreadingHTTPServer]:
    """Yield a loopback HTTP server that records POSTs and serves the clip on GET."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.posts = []  # type: ignore[attr-defined]
    server.arrived = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_webhook_from_set_webhook(
    threaded: ThreadedSimulator, sdk: aai.Transcriber, receiver: http.server.ThreadingHTTPServer
) -> None:
    port = receiver.server_address[1]
    config = _config().set_webhook(f"http://127.0.0.1:{port}/hook", "X-Secret", "hunter2")
    transcript = sdk.submit(str(CLIP_WAV), config=config).wait_for_completion()
    assert receiver.arrived.wait(3), "no webhook arrived"  # type: ignore[attr-defined]
    headers, body = receiver.posts[0]  # type: ignore[attr-defined]
    assert body == {"transcript_id": transcript.id, "status": "completed"}
    assert headers["X-Secret"] == "hunter2"
    again = aai.Transcript.get_by_id(transcript.id)
    assert again.webhook_status_code == 200 and again.webhook_auth is True


def test_a_url_is_downloaded(
    threaded: ThreadedSimulator, sdk: aai.Transcriber, receiver: http.server.ThreadingHTTPServer
) -> None:
    url = f"http://127.0.0.1:{receiver.server_address[1]}/clip.wav"
    transcript = sdk.transcribe(url)
    assert transcript.text == CLIP_TEXT and transcript.audio_url == url


def test_an_unreachable_url_is_an_errored_transcript(
    threaded: ThreadedSimulator, sdk: aai.Transcriber, refused_port: int
) -> None:
    url = f"http://127.0.0.1:{refused_port}/nothing.wav"
    transcript = sdk.transcribe(url)
    assert transcript.status == aai.TranscriptStatus.error
    assert transcript.error == (
        f"Download error, unable to download {url}. "
        "Please make sure the file exists and is accessible from the internet."
    )


def test_out_of_range_option_is_raised(threaded: ThreadedSimulator, sdk: aai.Transcriber) -> None:
    with pytest.raises(aai.types.TranscriptError, match="speech_threshold must be between 0 and 1"):
        sdk.transcribe(str(CLIP_WAV), config=_config(speech_threshold=5))
