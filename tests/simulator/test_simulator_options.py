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
    pytest.param(
        {"keyterms_prompt": "fox"},
        "keyterms_prompt must be an Array of Strings",
        id="keyterms_prompt-not-an-array",
    ),
    pytest.param(
        {"custom_spelling": [1]}, "custom_spelling[0] must be an Object", id="custom_spelling-item"
    ),
    pytest.param(
        {"custom_spelling": [{"from": 1}]},
        "custom_spelling[0].from must be an Array of Strings",
        id="custom_spelling-from",
    ),
    pytest.param(
        {"custom_spelling": [{"from": ["a"], "to": "A"}, {"from": ["b", 2], "to": "B"}]},
        "custom_spelling[1].from must be an Array of Strings",
        id="custom_spelling-from-item",
    ),
    pytest.param(
        {"custom_spelling": [{"from": ["a"]}]},
        '"custom_spelling[0].to" is required',
        id="custom_spelling-to-missing",
    ),
    pytest.param(
        {"custom_spelling": [{"from": ["a"], "to": "A", "case": "upper"}]},
        '"custom_spelling[0].case" is not allowed',
        id="custom_spelling-extra-key",
    ),
    pytest.param(
        {"speaker_options": {"min_speakers_expected": "a"}},
        "speaker_options.min_speakers_expected must be an Integer",
        id="speaker_options-type",
    ),
    pytest.param(
        {"speaker_options": {"max_speakers_expected": 0}},
        "speaker_options.max_speakers_expected must be at least 1 (got 0)",
        id="speaker_options-range",
    ),
    pytest.param(
        {"speaker_options": {"speakers": 2}},
        '"speaker_options.speakers" is not allowed',
        id="speaker_options-extra-key",
    ),
    pytest.param(
        {"speakers_expected": -3},
        "speakers_expected must be at least 1 (got -3)",
        id="speakers_expected-negative",
    ),
    pytest.param(
        {"speech_understanding": {"request": 5}},
        "speech_understanding.request must be an Object",
        id="speech_understanding-request-type",
    ),
    pytest.param(
        {"speech_understanding": {}},
        '"speech_understanding.request" is required',
        id="speech_understanding-request-missing",
    ),
    pytest.param(
        {
            "speech_understanding": {
                "request": {"translation": {"target_languages": ["de"]}, "custom_formatting": {}}
            }
        },
        "speech_understanding.request must have exactly one of: "
        '"translation", "speaker_identification", "custom_formatting"',
        id="speech_understanding-two-requests",
    ),
    pytest.param(
        {"speech_understanding": {"request": {"translation": {}}}},
        '"speech_understanding.request.translation.target_languages" is required',
        id="speech_understanding-translation-required",
    ),
    pytest.param(
        {"speech_understanding": {"request": {"speaker_identification": {"speaker_type": "x"}}}},
        "speech_understanding.request.speaker_identification.speaker_type must be one of: "
        '"role", "name" (got "x")',
        id="speech_understanding-speaker_type-enum",
    ),
    pytest.param(
        {"language_detection_options": {"expected_languages": 5}},
        "language_detection_options.expected_languages must be an Array of Strings",
        id="expected_languages",
    ),
    pytest.param(
        {"language_detection_options": {"code_switching_confidence_threshold": 2}},
        "language_detection_options.code_switching_confidence_threshold must be between 0 and 1"
        " (got 2)",
        id="code_switching_confidence_threshold",
    ),
    pytest.param(
        {"redact_pii_audio_options": {"override_audio_redaction_method": "beep"}},
        'redact_pii_audio_options.override_audio_redaction_method must be one of: "silence"'
        ' (got "beep")',
        id="override_audio_redaction_method",
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
        {"custom_spelling": [{"from": ["fox", "f0x"], "to": "Fox"}]},
        {"speakers_expected": 1, "speaker_options": {"min_speakers_expected": 1}},
        {"language_detection_options": {"expected_languages": ["en"], "code_switching": True}},
        {"redact_pii_audio_options": {"override_audio_redaction_method": "silence"}},
        {"speech_understanding": {"request": {"translation": {"target_languages": ["de"]}}}},
        {
            "speech_understanding": {
                "request": {
                    "speaker_identification": {
                        "speaker_type": "role",
                        "speakers": [{"role": "host", "mood": "calm"}],
                    }
                }
            }
        },
    ],
    ids=lambda e: ",".join(f"{k}={v}" for k, v in e.items()),
)
async def test_edges_and_members_are_accepted(api: Api, extra: dict[str, Any]) -> None:
    reply = await api.call("POST", "/v2/transcript", json_body={**BASE, **extra})  # validates
    assert reply.status == 200, reply.json
    await api.get(reply.json["id"])  # the echo validates too


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
