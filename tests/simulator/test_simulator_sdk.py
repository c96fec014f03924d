"""The official ``assemblyai`` SDK, which nobody here wrote, round-trips against the simulator.

The SDK is synchronous and blocking, so the simulator runs on its own event
loop in a background thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import assemblyai as aai
import pytest
from assemblyai.streaming.v3 import (
    BeginEvent,
    StreamingClient,
    StreamingClientOptions,
    StreamingError,
    StreamingEvents,
    StreamingParameters,
    TerminationEvent,
    TurnEvent,
)

from monitor.simulator import DEFAULT_API_KEY, Scenario, ThreadedSimulator, start_simulator_thread
from tests.support.simulator import CLIP_TEXT, CLIP_WAV, clip_pcm, frames

# The SDK's own deprecation noise (pydantic v1 API, websockets legacy calls).
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:assemblyai.*"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning:websockets.*"),
    pytest.mark.filterwarnings("ignore:.*parse_obj.*:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:connect\\(\\) must be used:DeprecationWarning"),
]


@pytest.fixture
def threaded() -> Iterator[ThreadedSimulator]:
    """Yield a simulator in a background thread with fast jobs."""
    sim = start_simulator_thread(
        scenario=Scenario.model_validate({"jobs": {"queued_ms": 100, "processing_ms": 100}})
    )
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def sdk_settings(threaded: ThreadedSimulator) -> Iterator[None]:
    """Point the SDK's global settings at the simulator, and put them back after."""
    saved = (aai.settings.base_url, aai.settings.api_key, aai.settings.polling_interval)
    aai.settings.base_url = threaded.handle.base_url
    aai.settings.api_key = DEFAULT_API_KEY
    aai.settings.polling_interval = 0.1
    try:
        yield
    finally:
        aai.settings.base_url, aai.settings.api_key, aai.settings.polling_interval = saved


def test_sdk_transcribes_the_clip_and_deletes_it(
    threaded: ThreadedSimulator, sdk_settings: None
) -> None:
    config = aai.TranscriptionConfig(speech_models=["universal-2"], language_code="en_us")
    transcript = aai.Transcriber().transcribe(str(CLIP_WAV), config=config)
    assert transcript.status == aai.TranscriptStatus.completed, transcript.error
    assert transcript.text == CLIP_TEXT
    assert transcript.audio_duration == 2
    assert transcript.words is not None and transcript.words[0].text == "The"
    assert transcript.id is not None
    deleted = aai.Transcript.delete_by_id(transcript.id)
    assert deleted.text == "Deleted by user."
    assert deleted.audio_url == "http://deleted_by_user"
    state = threaded.handle.state()
    assert state["transcripts"]["undeleted"] == 0
    assert state["uploads"] == {"count": 1, "stored": 0}


def test_sdk_sees_the_2026_validation(threaded: ThreadedSimulator, sdk_settings: None) -> None:
    # Without speech_models the SDK sends a body the 2026 API rejects with a 400,
    # which the SDK raises rather than returning as an errored transcript.
    with pytest.raises(aai.types.TranscriptError, match='"speech_models" must be a non-empty list'):
        aai.Transcriber().transcribe(str(CLIP_WAV))
    assert threaded.handle.state()["transcripts"]["created"] == 0


def test_sdk_reports_a_failed_job(threaded: ThreadedSimulator, sdk_settings: None) -> None:
    threaded.handle.set_faults(
        [
            {
                "endpoint": "transcript.create",
                "action": "fail_job",
                "error": "Audio duration is too short.",
            }
        ]
    )
    config = aai.TranscriptionConfig(speech_models=["universal-2"])
    transcript = aai.Transcriber().transcribe(str(CLIP_WAV), config=config)
    assert transcript.status == aai.TranscriptStatus.error
    assert transcript.error == "Audio duration is too short."


def _stream_session(port: int, query_extra: dict[str, Any] | None = None) -> dict[str, Any]:
    events: dict[str, Any] = {"begin": [], "turns": [], "termination": [], "errors": []}
    client = StreamingClient(
        StreamingClientOptions(api_key=DEFAULT_API_KEY, api_host=f"ws://127.0.0.1:{port}")
    )
    client.on(StreamingEvents.Begin, lambda _c, e: events["begin"].append(e))
    client.on(StreamingEvents.Turn, lambda _c, e: events["turns"].append(e))
    client.on(StreamingEvents.Termination, lambda _c, e: events["termination"].append(e))
    client.on(StreamingEvents.Error, lambda _c, e: events["errors"].append(e))
    client.connect(StreamingParameters(sample_rate=16000, format_turns=True, **(query_extra or {})))

    def paced() -> Iterator[bytes]:
        start = time.monotonic()
        for index, chunk in enumerate(frames(clip_pcm())):
            yield chunk
            time.sleep(max(0.0, start + (index + 1) * 0.05 - time.monotonic()))

    # stream() enqueues as the generator yields; Terminate queues behind the audio.
    client.stream(paced())
    client.disconnect(terminate=True)
    return events


def test_sdk_streaming_session(threaded: ThreadedSimulator) -> None:
    events = _stream_session(threaded.handle.port)
    assert events["errors"] == []
    assert len(events["begin"]) == 1 and isinstance(events["begin"][0], BeginEvent)
    turns: list[TurnEvent] = events["turns"]
    assert turns and all(isinstance(t, TurnEvent) for t in turns)
    formatted = [t for t in turns if t.end_of_turn and t.turn_is_formatted]
    assert formatted and formatted[-1].transcript == CLIP_TEXT
    assert len(events["termination"]) == 1 and isinstance(
        events["termination"][0], TerminationEvent
    )
    assert events["termination"][0].audio_duration_seconds == 2
    state = threaded.handle.state()["streaming"]
    assert state["opened"] == 1 and state["unterminated"] == 0


def test_sdk_streaming_sees_a_close_fault(threaded: ThreadedSimulator) -> None:
    threaded.handle.set_faults(
        [
            {
                "endpoint": "ws",
                "action": "close",
                "code": 3005,
                "reason": "Session Cancelled: An error occurred",
                "after_ms": 200,
            }
        ]
    )
    errors: list[StreamingError] = []
    done = threading.Event()
    client = StreamingClient(
        StreamingClientOptions(
            api_key=DEFAULT_API_KEY, api_host=f"ws://127.0.0.1:{threaded.handle.port}"
        )
    )

    def on_error(_client: StreamingClient, error: StreamingError) -> None:
        errors.append(error)
        done.set()

    client.on(StreamingEvents.Error, on_error)
    client.connect(StreamingParameters(sample_rate=16000))  # type: ignore[call-arg]
    assert done.wait(timeout=5)
    client.disconnect()
    assert errors and errors[0].code == 3005


def test_sdk_streams_with_a_temporary_token(threaded: ThreadedSimulator) -> None:
    # create_temporary_token() always uses https://<api_host>, so mint the token directly;
    # the SDK then sends it in the Authorization header, which the simulator accepts.
    import json
    import urllib.request

    request = urllib.request.Request(
        f"{threaded.handle.base_url}/v3/token?expires_in_seconds=60",
        headers={"Authorization": DEFAULT_API_KEY},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        token = json.load(response)["token"]
    began = threading.Event()
    terminated: list[TerminationEvent] = []
    client = StreamingClient(StreamingClientOptions(token=token, api_host=threaded.handle.ws_base))
    client.on(StreamingEvents.Begin, lambda _c, _e: began.set())
    client.on(StreamingEvents.Termination, lambda _c, e: terminated.append(e))
    client.connect(StreamingParameters(sample_rate=16000))  # type: ignore[call-arg]
    assert began.wait(timeout=5)
    client.disconnect(terminate=True)
    assert len(terminated) == 1
    assert threaded.handle.state()["streaming"]["terminated"] == 1
