"""Every JSON answer the simulator can give validates against the copied specs.

The ``Api`` helper already validates each reply in every simulator test;
this module makes sure each (endpoint, status) pair is actually produced at
least once, taking the list of statuses from the spec itself.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from monitor.simulator.params import (
    CLOSED,
    ENUMS,
    EXACTLY_ONE_OF,
    FIELD_KINDS,
    NESTED_KINDS,
    RANGES,
    REQUIRED,
    SIM_MINIMUMS,
)
from tests.support.fixture_types import SimFactory
from tests.support.simulator import SPECS, Api, Reply, assert_openapi, assert_stream_message

SPEC = json.loads((SPECS / "openapi.json").read_text())
OPERATIONS = {
    "upload": ("POST", "/v2/upload"),
    "transcript.create": ("POST", "/v2/transcript"),
    "transcript.list": ("GET", "/v2/transcript"),
    "transcript.get": ("GET", "/v2/transcript/{transcript_id}"),
    "transcript.delete": ("DELETE", "/v2/transcript/{transcript_id}"),
    "transcript.sentences": ("GET", "/v2/transcript/{transcript_id}/sentences"),
    "transcript.paragraphs": ("GET", "/v2/transcript/{transcript_id}/paragraphs"),
    "transcript.subtitles": ("GET", "/v2/transcript/{transcript_id}/{subtitle_format}"),
    "transcript.word_search": ("GET", "/v2/transcript/{transcript_id}/word-search"),
    "transcript.redacted_audio": ("GET", "/v2/transcript/{transcript_id}/redacted-audio"),
}


def _documented(endpoint: str) -> list[int]:
    method, path = OPERATIONS[endpoint]
    return sorted(int(code) for code in SPEC["paths"][path][method.lower()]["responses"])


FAULTED = [
    pytest.param(endpoint, status, id=f"{endpoint}-{status}")
    for endpoint in OPERATIONS
    for status in _documented(endpoint)
    if status != 200
]


async def _request(api: Api, endpoint: str) -> Reply:
    method, path = OPERATIONS[endpoint]
    path = path.replace("{transcript_id}", str(uuid.uuid4())).replace("{subtitle_format}", "srt")
    body = {"audio_url": "https://x.test/a", "speech_models": ["universal-2"]}
    if endpoint == "upload":
        return await api.call(method, path, data=b"abc")
    if endpoint == "transcript.create":
        return await api.call(method, path, json_body=body)
    if endpoint == "transcript.word_search":
        return await api.call(method, path, query={"words": "fox"})
    return await api.call(method, path)


@pytest.mark.parametrize(("endpoint", "status"), FAULTED)
async def test_every_documented_error_status_validates(
    make_sim: SimFactory, http: aiohttp.ClientSession, endpoint: str, status: int
) -> None:
    sim = await make_sim({"faults": [{"endpoint": endpoint, "action": "status", "status": status}]})
    reply = await _request(Api(http, sim.base_url), endpoint)  # validates
    assert reply.status == status


@pytest.mark.parametrize("status", [400, 401, 429, 500], ids=str)
async def test_token_error_statuses_validate(
    make_sim: SimFactory, http: aiohttp.ClientSession, status: int
) -> None:
    sim = await make_sim({"faults": [{"endpoint": "token", "action": "status", "status": status}]})
    reply = await Api(http, sim.base_url).call(
        "GET", "/v3/token", query={"expires_in_seconds": "9"}
    )
    assert reply.status == status


async def test_every_natural_answer_validates(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim({"jobs": {"queued_ms": 0, "processing_ms": 0}, "api_keys": ["a", "b"]})
    api = Api(http, sim.base_url, "a")
    # 200s: every status of a job, deleted ones, lists, tokens.
    done = await api.transcribe(
        language_code="en_us", punctuate=True, format_text=True, keyterms_prompt=["fox"]
    )
    failed = await api.transcribe(b"\0" * 10)
    await api.call("GET", "/v2/transcript", query={"limit": "200"})
    await api.call("DELETE", f"/v2/transcript/{done['id']}")
    await api.call("DELETE", f"/v2/transcript/{failed['id']}")
    await api.get(done["id"])
    await api.call("GET", "/v2/transcript")
    await api.call("GET", "/v3/token", query={"expires_in_seconds": "60"})
    slow = await make_sim({"jobs": {"queued_ms": 10_000}})
    slow_api = Api(http, slow.base_url)
    queued = await slow_api.create("https://x.test/a")
    await slow_api.get(queued["id"])
    await slow_api.call("DELETE", f"/v2/transcript/{queued['id']}")  # 400 still processing
    processing = await make_sim(
        {"jobs": {"queued_ms": 0, "processing_ms": 10_000, "delete_in_progress": "allow"}}
    )
    processing_api = Api(http, processing.base_url)
    running = await processing_api.create("https://x.test/a", webhook_url="https://hooks.test/x")
    assert (await processing_api.get(running["id"])).json["status"] == "processing"
    await processing_api.call("DELETE", f"/v2/transcript/{running['id']}")
    # 400s and 401s.
    await api.call("POST", "/v2/transcript", json_body={"audio_url": "x"})
    await api.call("POST", "/v2/transcript", data=b"{not json")
    await api.call("GET", "/v2/transcript", query={"limit": "0"})
    await api.get(str(uuid.uuid4()))
    await api.call("GET", "/v3/token")
    await api.call("GET", "/v2/transcript", key="wrong")
    await api.call("GET", "/v3/token", key="wrong")
    statuses = {(method, status) for method, _, status in api.seen}
    assert {status for _, status in statuses} == {200, 400, 401}
    four_oh_four = await make_sim({"unknown_id_status": 404})
    reply = await Api(http, four_oh_four.base_url).get(str(uuid.uuid4()))
    assert reply.status == 404


def test_create_fields_match_the_spec() -> None:
    params = SPEC["components"]["schemas"]["TranscriptOptionalParams"]["properties"]
    assert set(FIELD_KINDS) == set(params) | {"audio_url"}
    for name, kind in FIELD_KINDS.items():
        if name == "audio_url":
            continue
        schema = params[name]
        declared = schema.get("type")
        if declared is None:
            continue  # $ref / oneOf enums: strings in practice
        types = declared if isinstance(declared, list) else [declared]
        assert kind.rstrip("?") in types, name
        assert kind.endswith("?") == ("null" in types), name


@dataclass
class _Node:
    """What the spec says of one path of the create body ("a.b", "a[]" as in params.py)."""

    types: set[str] = field(default_factory=set)
    enum: set[str] = field(default_factory=set)
    range: tuple[float, float] | None = None
    required: set[str] = field(default_factory=set)
    one_of: set[str] = field(default_factory=set)
    closed: bool = False


def _resolve(schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _walk(path: str, schema: dict[str, Any], tree: dict[str, _Node]) -> None:
    """Record ``schema`` at ``path`` and everything below it (through $ref, oneOf, anyOf)."""
    schema = _resolve(schema)
    node = tree.setdefault(path, _Node())
    declared = schema.get("type")
    if declared is not None:
        node.types |= set(declared if isinstance(declared, list) else [declared])
    node.enum |= set(schema.get("enum", []))
    if "minimum" in schema or "maximum" in schema:
        node.range = (schema["minimum"], schema["maximum"])
    if schema.get("additionalProperties") is False:
        node.closed = True
    branches = [_resolve(b) for key in ("oneOf", "anyOf") for b in schema.get(key, [])]
    objects = [b for b in branches if b.get("type") == "object"]
    if len(objects) > 1:
        # A oneOf of request bodies, each requiring its own key: exactly one of them.
        node.types.add("object")
        for branch in objects:
            node.one_of |= set(branch.get("required", []))
            for name, sub in branch.get("properties", {}).items():
                _walk(f"{path}.{name}", sub, tree)
        branches = [b for b in branches if b not in objects]
    node.required |= set(schema.get("required", []))
    for branch in branches:
        _walk(path, branch, tree)
    for name, sub in schema.get("properties", {}).items():
        _walk(f"{path}.{name}", sub, tree)
    if isinstance(schema.get("items"), dict):
        _walk(f"{path}[]", schema["items"], tree)


def _spec_tree() -> dict[str, _Node]:
    """Return every path of TranscriptOptionalParams, top-level fields and all below them."""
    tree: dict[str, _Node] = {}
    for name, schema in SPEC["components"]["schemas"]["TranscriptOptionalParams"][
        "properties"
    ].items():
        _walk(name, schema, tree)
    return tree


def _nested(path: str) -> bool:
    return "." in path or "[]" in path


def test_nested_create_fields_match_the_spec() -> None:
    tree = _spec_tree()
    assert set(NESTED_KINDS) == {path for path in tree if _nested(path)}
    for path, kind in NESTED_KINDS.items():
        assert kind.rstrip("?") in tree[path].types, path
        assert kind.endswith("?") == ("null" in tree[path].types), path
    assert {path: set(keys) for path, keys in REQUIRED.items()} == {
        path: node.required for path, node in tree.items() if node.required
    }
    assert {path: set(keys) for path, keys in EXACTLY_ONE_OF.items()} == {
        path: node.one_of for path, node in tree.items() if node.one_of
    }
    assert set(CLOSED) == {path for path, node in tree.items() if node.closed}


def test_create_enums_match_the_spec() -> None:
    # An array's enum is that of its items; SpeechModel is a free string in the
    # spec (SPEECH_MODELS holds the 2026 names).
    spec_enums = {
        path.removesuffix("[]"): node.enum for path, node in _spec_tree().items() if node.enum
    }
    assert {path: set(values) for path, values in ENUMS.items()} == spec_enums


def test_create_ranges_match_the_spec() -> None:
    tree = _spec_tree()
    assert {path: node.range for path, node in tree.items() if node.range is not None} == RANGES
    # The simulator's own lower bounds are on integer fields the spec leaves unbounded.
    for path in SIM_MINIMUMS:
        assert "integer" in tree[path].types and tree[path].range is None, path


def test_spec_validation_catches_a_bad_body() -> None:
    # Guard against a validator that accepts anything.
    with pytest.raises(Exception, match="required"):
        assert_openapi("GET", "/v2/transcript/x", 200, b'{"id": "x"}', "application/json")


def test_stream_schema_validation_catches_a_bad_message() -> None:
    import jsonschema

    with pytest.raises(jsonschema.ValidationError):
        assert_stream_message(
            {"type": "Begin", "id": str(uuid.uuid4()), "expires_at": "2026-01-01T00:00:00"}
        )
    with pytest.raises(jsonschema.ValidationError):
        assert_stream_message(
            {"type": "Termination", "audio_duration_seconds": 1.5, "session_duration_seconds": 2}
        )
