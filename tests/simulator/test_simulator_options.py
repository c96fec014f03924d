"""Create-request options: checked by the spec's ranges and enums, and honoured on the result."""

from __future__ import annotations

from typing import Any

import pytest

from monitor.simulator.params import LANGUAGE_CODES, SPEECH_MODEL_DEPRECATED, SPEECH_MODELS_INVALID
from tests.support.simulator import CLIP_TEXT, Api

BASE = {"audio_url": "https://x.test/a.wav", "speech_models": ["universal-2"]}
LANGUAGES = f"one of the {len(LANGUAGE_CODES)} values the API reference lists"

REJECTED = [
    pytest.param(
        {"speech_threshold": 5},
        "speech_threshold must be between 0 and 1 (got 5)",
        id="speech_threshold-5",
    ),
    pytest.param(
        {"speech_threshold": -0.1},
        "speech_threshold must be between 0 and 1 (got -0.1)",
        id="speech_threshold-negative",
    ),
    pytest.param(
        {"language_confidence_threshold": 1.5},
        "language_confidence_threshold must be between 0 and 1 (got 1.5)",
        id="language_confidence_threshold",
    ),
    pytest.param(
        {"temperature": 2}, "temperature must be between 0 and 1 (got 2)", id="temperature"
    ),
    pytest.param(
        {"content_safety_confidence": 10},
        "content_safety_confidence must be between 25 and 100 (got 10)",
        id="content_safety_confidence",
    ),
    pytest.param(
        {"language_code": "xx_invalid"},
        f'language_code must be {LANGUAGES} (got "xx_invalid")',
        id="language_code",
    ),
    pytest.param(
        {"language_codes": ["en", "xx"]},
        f'language_codes must be {LANGUAGES} (got "xx")',
        id="language_codes",
    ),
    pytest.param(
        {"redact_pii_sub": "mask"},
        'redact_pii_sub must be one of: "entity_name", "hash" (got "mask")',
        id="redact_pii_sub",
    ),
    pytest.param(
        {"summary_model": "funny"},
        'summary_model must be one of: "informative", "conversational", "catchy" (got "funny")',
        id="summary_model",
    ),
    pytest.param(
        {"redact_pii_audio_quality": "flac"},
        'redact_pii_audio_quality must be one of: "mp3", "wav" (got "flac")',
        id="redact_pii_audio_quality",
    ),
    pytest.param(
        {"remove_audio_tags": "some"},
        'remove_audio_tags must be one of: "all" (got "some")',
        id="remove_audio_tags",
    ),
    pytest.param(
        {"keyterms_prompt": ["ok", 3]},
        "keyterms_prompt must be an Array of Strings",
        id="keyterms_prompt-items",
    ),
    pytest.param(
        {"speech_threshold": True}, "speech_threshold must be a Number", id="bool-is-not-a-number"
    ),
    pytest.param({"speech_models": ["bogus"]}, SPEECH_MODELS_INVALID, id="bogus-speech_models"),
    pytest.param({"speech_model": "bogus"}, SPEECH_MODEL_DEPRECATED, id="bogus-speech_model"),
]


@pytest.mark.parametrize(("extra", "message"), REJECTED)
async def test_out_of_range_or_enum_is_a_400_naming_the_field(
    api: Api, extra: dict[str, Any], message: str
) -> None:
    reply = await api.call("POST", "/v2/transcript", json_body={**BASE, **extra})
    assert reply.status == 400
    assert reply.json == {"error": message}
    assert (await api.call("GET", "/v2/transcript")).json["transcripts"] == []


@pytest.mark.parametrize(
    "extra",
    [
        {"speech_threshold": 0},
        {"speech_threshold": 1},
        {"speech_threshold": None},
        {"language_code": "no"},  # Norwegian, the code YAML 1.1 reads as false
        {"language_code": None, "language_detection": True},
        {"language_codes": ["en", "de"]},
        {"content_safety_confidence": 25},
        {"redact_pii": True, "redact_pii_policies": ["person_name", "email_address"]},
        {"summary_type": "gist", "summarization": True},
    ],
    ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()),
)
async def test_edges_and_members_are_accepted(api: Api, extra: dict[str, Any]) -> None:
    reply = await api.call("POST", "/v2/transcript", json_body={**BASE, **extra})
    assert reply.status == 200, reply.json


@pytest.mark.parametrize(
    ("options", "text", "first_word"),
    [
        ({}, CLIP_TEXT, "The"),
        ({"punctuate": False}, "The quick brown fox jumps over the lazy dog", "The"),
        ({"format_text": False}, "the quick brown fox jumps over the lazy dog.", "the"),
        (
            {"punctuate": False, "format_text": False},
            "the quick brown fox jumps over the lazy dog",
            "the",
        ),
    ],
    ids=["default", "no-punctuation", "no-formatting", "neither"],
)
async def test_punctuate_and_format_text_false_are_honoured(
    api: Api, options: dict[str, Any], text: str, first_word: str
) -> None:
    done = await api.transcribe(**options)
    assert done["text"] == text
    assert done["words"][0]["text"] == first_word
    assert " ".join(w["text"] for w in done["words"]) == text


async def test_speaker_labels_give_utterances(api: Api) -> None:
    done = await api.transcribe(speaker_labels=True)
    [utterance] = done["utterances"]
    assert utterance["speaker"] == "A"
    assert utterance["text"] == done["text"]
    assert utterance["words"] == done["words"]
    assert {w["speaker"] for w in done["words"]} == {"A"}
    plain = await api.transcribe()
    assert plain["utterances"] is None
    assert {w["speaker"] for w in plain["words"]} == {None}
