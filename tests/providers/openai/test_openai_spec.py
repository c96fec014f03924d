"""The OpenAI-flavour simulator's answers validate against OpenAI's own OpenAPI spec.

The spec's audio and model paths are copied in tests/specs/openai/ (see its
SOURCE.md). Each JSON answer (model list, model, json and verbose_json
transcripts, stream events, error bodies) is validated against the schema the
spec gives it; the form fields the simulator accepts are the spec's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import jsonschema
import pytest
import yaml

from monitor.probeclip import load_clip
from monitor.simulator.openai import FLAVOURS
from tests.support.openai_provider import OpenAISim

SPEC: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "specs" / "openai" / "openapi-audio.yml").read_text()
)
AUTH = {"Authorization": "Bearer sim-key"}


def assert_schema(instance: Any, name: str) -> None:
    """Validate `instance` against components/schemas/`name` (refs resolved in the spec)."""
    schema = {**SPEC, "$ref": f"#/components/schemas/{name}"}
    jsonschema.Draft202012Validator(schema).validate(instance)


def clip_form(**fields: str | list[str]) -> aiohttp.FormData:
    data = aiohttp.FormData()
    for name, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            data.add_field(name.replace("__", "[]"), item)
    data.add_field("file", load_clip().wav, filename="probe-clip.wav", content_type="audio/wav")
    return data


async def test_models_validate(openai_sim: OpenAISim) -> None:
    handle = await openai_sim("openai")
    async with aiohttp.ClientSession(headers=AUTH) as http:
        async with http.get(f"{handle.api_url}/models") as r:
            assert_schema(await r.json(), "ListModelsResponse")
        async with http.get(f"{handle.api_url}/models/whisper-1") as r:
            assert_schema(await r.json(), "Model")


@pytest.mark.parametrize(
    ("fields", "schema"),
    [
        ({"model": "whisper-1"}, "CreateTranscriptionResponseJson"),
        ({"model": "gpt-4o-mini-transcribe"}, "CreateTranscriptionResponseJson"),
        ({"model": "whisper-1", "response_format": "verbose_json",
          "timestamp_granularities__": ["word", "segment"]},
         "CreateTranscriptionResponseVerboseJson"),
    ],
    ids=["json-duration-usage", "json-token-usage", "verbose-json"],
)  # fmt: skip
async def test_transcriptions_validate(
    fields: dict[str, Any], schema: str, openai_sim: OpenAISim
) -> None:
    handle = await openai_sim("openai")
    async with (
        aiohttp.ClientSession(headers=AUTH) as http,
        http.post(f"{handle.api_url}/audio/transcriptions", data=clip_form(**fields)) as r,
    ):
        assert r.content_type == "application/json"
        body = await r.json()
    assert_schema(body, schema)
    if schema.endswith("VerboseJson"):
        for word in body["words"]:
            assert_schema(word, "TranscriptionWord")
        for segment in body["segments"]:
            assert_schema(segment, "TranscriptionSegment")


async def test_stream_events_validate(openai_sim: OpenAISim) -> None:
    handle = await openai_sim("openai")
    fields = {"model": "gpt-4o-mini-transcribe", "stream": "true"}
    async with (
        aiohttp.ClientSession(headers=AUTH) as http,
        http.post(f"{handle.api_url}/audio/transcriptions", data=clip_form(**fields)) as r,
    ):
        assert r.content_type == "text/event-stream"
        text = await r.text()
    events = [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]
    assert events and all(e["type"] == "transcript.text.delta" for e in events[:-1])
    assert events[-1]["type"] == "transcript.text.done"
    for event in events:
        assert_schema(event, "CreateTranscriptionResponseStreamEvent")


@pytest.mark.parametrize(
    ("fields", "faults", "status"),
    [
        ({"model": "whisper-1"}, [], 401),
        ({"model": "whisper-9"}, [], 404),
        ({"model": "whisper-1", "response_format": "xml"}, [], 400),
        ({"model": "whisper-1"}, [{"endpoint": "transcriptions", "action": "status",
                                   "status": 429}], 429),
        ({"model": "whisper-1"}, [{"endpoint": "transcriptions", "action": "status",
                                   "status": 500}], 500),
    ],
    ids=["401", "404", "400", "429", "500"],
)  # fmt: skip
async def test_error_bodies_validate(
    fields: dict[str, Any], faults: list[dict[str, Any]], status: int, openai_sim: OpenAISim
) -> None:
    handle = await openai_sim("openai", faults=faults)
    headers = {} if status == 401 else AUTH
    async with (
        aiohttp.ClientSession(headers=headers) as http,
        http.post(f"{handle.api_url}/audio/transcriptions", data=clip_form(**fields)) as r,
    ):
        assert r.status == status
        assert_schema(await r.json(), "ErrorResponse")
        if status == 429:
            assert int(r.headers["retry-after"]) >= 1  # the spec's TooManyRequests header


def test_the_openai_flavour_takes_exactly_the_spec_form_fields() -> None:
    request = SPEC["components"]["schemas"]["CreateTranscriptionRequest"]
    assert request["additionalProperties"] is False
    assert FLAVOURS["openai"].fields == set(request["properties"])


def test_the_openai_flavour_models_are_the_spec_models() -> None:
    (_, named) = SPEC["components"]["schemas"]["CreateTranscriptionRequest"]["properties"]["model"][
        "anyOf"
    ]
    audio = {m.id for m in FLAVOURS["openai"].models if m.formats}
    assert audio <= set(named["enum"])


@pytest.mark.parametrize(
    ("instance", "schema"),
    [
        ({"text": 1}, "CreateTranscriptionResponseJson"),
        ({"text": "x", "language": "english"}, "CreateTranscriptionResponseVerboseJson"),
        ({"error": {"message": "m", "type": "t"}}, "ErrorResponse"),
        ({"object": "list", "data": [{"id": "whisper-1"}]}, "ListModelsResponse"),
    ],
    ids=["text-not-string", "verbose-without-duration", "error-without-param", "model-bare"],
)
def test_the_schemas_do_refuse_what_they_should(instance: Any, schema: str) -> None:
    with pytest.raises(jsonschema.ValidationError):
        assert_schema(instance, schema)
