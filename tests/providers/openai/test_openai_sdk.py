"""The official ``openai`` Python SDK, unchanged, against the OpenAI-compatible simulator.

Synchronous client, the simulator on its own thread; ``base_url`` is the
simulator's root plus the flavour's prefix (``/v1``, Groq's ``/openai/v1``),
exactly as a user points the SDK at Groq or a self-hosted server.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest
from openai import OpenAI
from openai.types.audio import Transcription, TranscriptionVerbose

from monitor.probeclip import load_clip
from monitor.simulator.openai import Scenario, ThreadedSimulator, start_simulator_thread

CLIP = Path(__file__).resolve().parents[3] / "monitor" / "data" / "probe-clip.wav"
REFERENCE = load_clip().reference_text
MODELS = {
    "openai": "whisper-1",
    "groq": "whisper-large-v3",
    "local": "Systran/faster-whisper-small",
}
FLAVOURS = list(MODELS)


@pytest.fixture(params=FLAVOURS)
def threaded(request: pytest.FixtureRequest) -> Iterator[ThreadedSimulator]:
    """Yield a simulator of each flavour on its own thread."""
    sim = start_simulator_thread(scenario=Scenario(flavour=request.param, processing_ms=0))
    try:
        yield sim
    finally:
        sim.stop()


def client(sim: ThreadedSimulator, key: str = "sim-key") -> OpenAI:
    return OpenAI(base_url=sim.handle.api_url, api_key=key, max_retries=0, timeout=10)


def flavour(sim: ThreadedSimulator) -> str:
    return sim.handle.state_obj.flavour.name


def test_models_list_and_retrieve(threaded: ThreadedSimulator) -> None:
    c = client(threaded)
    ids = [m.id for m in c.models.list()]
    model = MODELS[flavour(threaded)]
    assert model in ids
    # Self-hosted ids carry a slash; the SDK percent-encodes it.
    assert c.models.retrieve(model).id == model


def test_transcription_json(threaded: ThreadedSimulator) -> None:
    with CLIP.open("rb") as f:
        got = client(threaded).audio.transcriptions.create(
            model=MODELS[flavour(threaded)], file=f, language="en"
        )
    assert isinstance(got, Transcription)
    assert got.text == REFERENCE


def test_transcription_text(threaded: ThreadedSimulator) -> None:
    with CLIP.open("rb") as f:
        got = client(threaded).audio.transcriptions.create(
            model=MODELS[flavour(threaded)], file=f, response_format="text"
        )
    assert got == REFERENCE + "\n"


def test_transcription_verbose_json_with_words(threaded: ThreadedSimulator) -> None:
    got = client(threaded).audio.transcriptions.create(
        model=MODELS[flavour(threaded)],
        file=("probe-clip.wav", CLIP.read_bytes(), "audio/wav"),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert isinstance(got, TranscriptionVerbose)
    assert got.text == REFERENCE
    assert got.duration == pytest.approx(load_clip().duration_s, abs=0.01)
    assert got.language == ("en" if flavour(threaded) == "local" else "english")
    words = got.words or []
    assert [w.word for w in words] == [w.strip(".") for w in REFERENCE.split()]
    assert all(0 <= a.start < a.end <= b.start for a, b in itertools.pairwise(words))
    assert got.segments and got.segments[0].text == " " + REFERENCE


@pytest.mark.parametrize("fmt", ["srt", "vtt"])
def test_captions_where_the_flavour_has_them(threaded: ThreadedSimulator, fmt: str) -> None:
    c = client(threaded)
    with CLIP.open("rb") as f:
        if flavour(threaded) == "groq":
            with pytest.raises(openai.BadRequestError) as info:
                c.audio.transcriptions.create(model="whisper-large-v3", file=f, response_format=fmt)  # type: ignore[call-overload]
            assert info.value.param == "response_format"
            return
        got = c.audio.transcriptions.create(
            model=MODELS[flavour(threaded)],
            file=f,
            response_format=fmt,  # type: ignore[call-overload]
        )
    assert REFERENCE in got
    if fmt == "vtt":
        assert got.startswith("WEBVTT\n\n00:00:00.150 --> 00:00:02.130\n")
    else:
        assert got.startswith("1\n00:00:00,150 --> 00:00:02,130\n")


def test_streaming_where_documented(threaded: ThreadedSimulator) -> None:
    name = flavour(threaded)
    model = {"openai": "gpt-4o-mini-transcribe"}.get(name, MODELS[name])
    with CLIP.open("rb") as f:
        stream = client(threaded).audio.transcriptions.create(model=model, file=f, stream=True)
        events = list(stream)
    if name == "groq":
        # Groq has no streaming: the flag is ignored, and the SDK sees no events.
        assert events == []
        return
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    done = [e for e in events if e.type == "transcript.text.done"]
    assert "".join(deltas).strip() == REFERENCE
    assert len(done) == 1 and done[0].text == REFERENCE
    assert threaded.handle.state()["streams"] == {"opened": 1, "completed": 1, "cut": 0}


def test_whisper_1_ignores_stream() -> None:
    sim = start_simulator_thread(scenario=Scenario(processing_ms=0))
    try:
        with CLIP.open("rb") as f:
            events = list(
                client(sim).audio.transcriptions.create(model="whisper-1", file=f, stream=True)
            )
        assert events == []  # a plain JSON answer, which the SDK's SSE parser skips
    finally:
        sim.stop()


def test_errors_raise_the_sdk_exceptions(threaded: ThreadedSimulator) -> None:
    name = flavour(threaded)
    c = client(threaded)
    with pytest.raises(openai.NotFoundError) as missing:
        c.models.retrieve("no-such-model")
    if name != "local":
        assert missing.value.code == "model_not_found"
        with pytest.raises(openai.AuthenticationError) as denied:
            client(threaded, key="sk-wrong-0123456789").models.list()
        assert denied.value.code == "invalid_api_key"
        assert "0123456789" not in str(denied.value)
    threaded.handle.set_faults([{"endpoint": "transcriptions", "action": "status", "status": 429}])
    with CLIP.open("rb") as f, pytest.raises(openai.RateLimitError):
        c.audio.transcriptions.create(model=MODELS[name], file=f)


def test_raw_response_headers() -> None:
    sim = start_simulator_thread(scenario=Scenario(processing_ms=0))
    try:
        with CLIP.open("rb") as f:
            raw = client(sim).audio.transcriptions.with_raw_response.create(
                model="whisper-1", file=f
            )
        assert raw.headers["x-request-id"].startswith("req_")
        assert int(raw.headers["x-ratelimit-remaining-requests"]) >= 0
        assert raw.headers["openai-processing-ms"].isdigit()
        assert raw.parse().text == REFERENCE
    finally:
        sim.stop()


def test_local_server_refuses_a_wrong_key_with_403() -> None:
    sim = start_simulator_thread(scenario=Scenario(flavour="local", require_auth=True))
    try:
        with pytest.raises(openai.PermissionDeniedError) as info:
            client(sim, key="wrong").models.list()
        assert info.value.body == {"detail": "Invalid or missing API key"}
    finally:
        sim.stop()


# The SDK (3.60) marks audio.translations deprecated; the endpoint is still served.
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_translation(threaded: ThreadedSimulator) -> None:
    c = client(threaded)
    with CLIP.open("rb") as f:
        got = c.audio.translations.create(model=MODELS[flavour(threaded)], file=f)
    assert got.text == REFERENCE
    if flavour(threaded) == "openai":
        # Only whisper-1 translates on OpenAI.
        with CLIP.open("rb") as f, pytest.raises(openai.BadRequestError) as info:
            c.audio.translations.create(model="gpt-4o-mini-transcribe", file=f)
        assert info.value.param == "model"


def test_over_tls(tmp_path: Path) -> None:
    """``--tls`` serving: the SDK trusts the simulator's own certificate through httpx."""
    import ssl

    import httpx

    from monitor.simulator.tls import make_self_signed, server_context

    cert, key = make_self_signed(tmp_path)
    sim = start_simulator_thread(scenario=Scenario(processing_ms=0), tls=server_context(cert, key))
    try:
        assert sim.handle.api_url.startswith("https://")
        secure = OpenAI(
            base_url=sim.handle.api_url,
            api_key="sim-key",
            max_retries=0,
            http_client=httpx.Client(verify=ssl.create_default_context(cafile=str(cert))),
        )
        assert "whisper-1" in [m.id for m in secure.models.list()]
    finally:
        sim.stop()
