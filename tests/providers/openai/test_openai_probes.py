"""The OpenAI-compatible probes against the simulator of each flavour (openai, groq, local).

What every flavour must pass, what each flavour's quirks change (format asked
for, streaming, error envelope), rate limits and the flavour a target resolves
to. The fault-by-fault classification is test_openai_fault_matrix.py's.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from monitor.config import Target
from monitor.models import ErrorKind, Status
from monitor.probes.registry import provider
from monitor.providers.openai.quirks import FLAVOURS, flavour_of
from monitor.providers.openai.specs import ReachabilitySpec, StreamingSpec, TranscriptionSpec
from monitor.simulator.openai import FLAVOURS as SIM_FLAVOURS
from tests.support.openai_provider import OpenAISim, openai_target, run_probe


@pytest.mark.parametrize("flavour", list(FLAVOURS))
async def test_reachability_lists_the_model(flavour: str, openai_sim: OpenAISim) -> None:
    handle = await openai_sim(flavour)
    result = await run_probe("reachability", openai_target(handle), ReachabilitySpec())
    assert result.status is Status.UP, result.message
    assert result.details["model"] == FLAVOURS[flavour].default_model
    assert result.details["models"] == len(SIM_FLAVOURS[flavour].models)
    assert set(result.phases) >= {"connect", "ttfb", "transfer", "total"}
    assert handle.state()["requests"] == {"models.list": 1}


@pytest.mark.parametrize("flavour", list(FLAVOURS))
async def test_transcription_verifies_the_clip(flavour: str, openai_sim: OpenAISim) -> None:
    handle = await openai_sim(flavour, processing_ms=120)
    result = await run_probe("transcription", openai_target(handle), TranscriptionSpec())
    assert result.status is Status.UP, result.message
    assert result.details["wer"] == 0.0
    # Every flavour's default model has verbose_json (its duration is checked too).
    assert result.details["response_format"] == "verbose_json"
    # The server's processing time (it answers 120 ms after reading the upload) is in
    # the processing phase, which starts once the upload's last byte is sent.
    assert result.phases["processing"] >= 0.12
    assert result.details["turnaround_s"] == pytest.approx(
        sum(result.phases[p] for p in ("upload", "processing", "download")), abs=1e-5
    )
    # Nothing is stored, so no deletion phase.
    assert "delete" not in result.phases and handle.state()["stored"] == 0


async def test_transcription_asks_json_of_a_model_without_verbose_json(
    openai_sim: OpenAISim,
) -> None:
    handle = await openai_sim("openai")
    spec = TranscriptionSpec(model="gpt-4o-mini-transcribe")
    result = await run_probe("transcription", openai_target(handle), spec)
    assert result.status is Status.UP, result.message
    assert result.details["response_format"] == "json"


async def test_openai_headers_are_recorded(openai_sim: OpenAISim) -> None:
    handle = await openai_sim("openai", rate_limit={"requests": 5})
    result = await run_probe("transcription", openai_target(handle), TranscriptionSpec())
    assert result.details["x_request_id"].startswith("req_")
    assert result.details["x_ratelimit_remaining_requests"] == "4"
    assert result.details["openai_processing_ms"].isdigit()


async def test_rate_limit_reached_is_rate_limited_with_retry_after(openai_sim: OpenAISim) -> None:
    handle = await openai_sim("groq", rate_limit={"requests": 1, "window_s": 30})
    target = openai_target(handle)
    first = await run_probe("transcription", target, TranscriptionSpec())
    second = await run_probe("transcription", target, TranscriptionSpec())
    assert first.status is Status.UP, first.message
    assert (second.status, second.error_kind) == (Status.DOWN, ErrorKind.RATE_LIMITED)
    assert 1 <= second.details["retry_after"] <= 30
    assert second.details["api_error_code"] == "rate_limit_exceeded"


@pytest.mark.parametrize(
    ("flavour", "status", "kind"),
    [
        ("openai", Status.UP, None),
        ("local", Status.UP, None),
        # Groq documents no streaming: the probe says so instead of trying.
        ("groq", Status.DOWN, ErrorKind.BAD_RESPONSE),
    ],
    ids=["openai", "local", "groq"],
)
async def test_streaming_where_the_flavour_documents_it(
    flavour: str, status: Status, kind: ErrorKind | None, openai_sim: OpenAISim
) -> None:
    handle = await openai_sim(flavour)
    result = await run_probe("streaming", openai_target(handle), StreamingSpec())
    assert (result.status, result.error_kind) == (status, kind), result.message
    if status is Status.UP:
        assert result.details["wer"] == 0.0
        assert 0 < result.phases["first_transcript"] < result.phases["final"]
    else:
        assert "no streaming" in result.message and handle.state()["requests"] == {}


async def test_a_stream_the_server_ignores_is_no_transcript(aiohttp_server: Any) -> None:
    """A server that answers stream=true with plain JSON (whisper-1's way) is no stream."""

    async def transcribe(request: web.Request) -> web.Response:
        await request.post()
        return web.json_response({"text": "The quick brown fox jumps over the lazy dog."})

    app = web.Application()
    app.router.add_post("/v1/audio/transcriptions", transcribe)
    server = await aiohttp_server(app)
    target = _target("local", str(server.make_url("")).rstrip("/"))
    result = await run_probe("streaming", target, StreamingSpec())
    assert (result.status, result.error_kind) == (Status.DOWN, ErrorKind.STREAM_NO_TRANSCRIPT)
    assert "ignored stream=true" in result.message


def _target(region: str | None, api_base: str) -> Target:
    return Target.model_validate(
        {"name": "t", "provider": "openai", "api_key": "k", "api_base": api_base}
        | ({"region": region} if region else {})
    )


@pytest.mark.parametrize(
    ("region", "api_base", "chosen", "expected"),
    [
        ("groq", "http://127.0.0.1:9", None, "groq"),
        (None, "https://api.groq.com/openai", None, "groq"),
        (None, "https://api.openai.com", None, "openai"),
        (None, "http://10.0.0.5:8000", None, "local"),
        ("openai", "http://127.0.0.1:9", "local", "local"),
    ],
    ids=["region", "groq-host", "openai-host", "other-host-is-local", "spec-wins"],
)
def test_the_flavour_of_a_target(
    region: str | None, api_base: str, chosen: str | None, expected: str
) -> None:
    assert flavour_of(_target(region, api_base), chosen).name == expected


def test_regions_are_the_flavours_base_urls() -> None:
    regions = provider("openai").regions
    assert {name: e.api_base for name, e in regions.items()} == {
        "openai": "https://api.openai.com",
        "groq": "https://api.groq.com/openai",
        "local": "http://127.0.0.1:8000",
    }
    assert _target("groq", "https://api.groq.com/openai").api_base.endswith("/openai")


@pytest.mark.parametrize("flavour", list(FLAVOURS))
def test_the_descriptor_and_the_simulator_agree_on_each_flavour(flavour: str) -> None:
    """The probe's quirks table and the simulator's flavour say the same of every model."""
    quirks, sim = FLAVOURS[flavour], SIM_FLAVOURS[flavour]
    assert sim.model(quirks.default_model) is not None
    for card in sim.models:
        if not card.formats:
            continue  # not an audio model
        if card.id in quirks.formats:
            assert quirks.formats_of(card.id) == card.formats, card.id
        assert quirks.streams(card.id) == card.streams, card.id
    assert (quirks.error_envelope == "detail") == (sim.error_style == "detail")
