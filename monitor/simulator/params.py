"""The create-transcript request: its fields, their types, ranges and enums, and validation.

The tables mirror ``TranscriptParams`` (``audio_url`` + ``TranscriptOptionalParams``)
of the copied OpenAPI spec, down to the sub-fields of objects and the items of arrays;
tests/simulator/test_simulator_openapi.py compares them with the spec so the two cannot
drift apart.
"""

from __future__ import annotations

import json
from typing import Any

SPEECH_MODELS = ("universal-3-pro", "universal-2")

SPEECH_MODEL_DEPRECATED = (
    'speech_model is deprecated. Use "speech_models" instead. See documentation: '
    "https://www.assemblyai.com/docs/pre-recorded-audio/select-the-speech-model"
)
SPEECH_MODELS_INVALID = (
    '"speech_models" must be a non-empty list containing one or more of: '
    '"universal-3-pro", "universal-2"'
)

# Field kinds of TranscriptParams (audio_url + TranscriptOptionalParams in the
# spec). A test compares this table with the spec so the two cannot drift.
FIELD_KINDS: dict[str, str] = {
    "audio_url": "string",
    "audio_end_at": "integer",
    "audio_start_from": "integer",
    "auto_chapters": "boolean",
    "auto_highlights": "boolean",
    "content_safety": "boolean",
    "content_safety_confidence": "integer",
    "custom_spelling": "array",
    "disfluencies": "boolean",
    "entity_detection": "boolean",
    "filter_profanity": "boolean",
    "format_text": "boolean",
    "iab_categories": "boolean",
    "keyterms_prompt": "array",
    "language_code": "string?",
    "language_codes": "array?",
    "language_confidence_threshold": "number",
    "language_detection": "boolean",
    "language_detection_options": "object",
    "multichannel": "boolean",
    "prompt": "string",
    "punctuate": "boolean",
    "redact_pii": "boolean",
    "redact_pii_audio": "boolean",
    "redact_pii_audio_options": "object",
    "redact_pii_audio_quality": "string?",
    "redact_pii_policies": "array",
    "redact_pii_sub": "string?",
    "sentiment_analysis": "boolean",
    "speaker_labels": "boolean",
    "speaker_options": "object",
    "speakers_expected": "integer?",
    "speech_models": "array",
    "speech_threshold": "number?",
    "speech_understanding": "object",
    "summarization": "boolean",
    "summary_model": "string?",
    "summary_type": "string?",
    "remove_audio_tags": "string?",
    "temperature": "number",
    "webhook_auth_header_name": "string?",
    "webhook_auth_header_value": "string?",
    "webhook_url": "string",
    "custom_topics": "boolean",
    "speech_model": "string?",
    "topics": "array",
}

# The sub-fields of object fields and the items of array fields, by path: "a.b"
# is property b of object a, "a[]" each item of array a. Kinds as in FIELD_KINDS;
# ENUMS and RANGES take these paths too.
_SPEAKER_ID = "speech_understanding.request.speaker_identification"
NESTED_KINDS: dict[str, str] = {
    "custom_spelling[]": "object",
    "custom_spelling[].from": "array",
    "custom_spelling[].from[]": "string",
    "custom_spelling[].to": "string",
    "keyterms_prompt[]": "string",
    "language_codes[]": "string",
    "language_detection_options.expected_languages": "array",
    "language_detection_options.expected_languages[]": "string",
    "language_detection_options.fallback_language": "string",
    "language_detection_options.code_switching": "boolean",
    "language_detection_options.code_switching_confidence_threshold": "number",
    "redact_pii_audio_options.return_redacted_no_speech_audio": "boolean",
    "redact_pii_audio_options.override_audio_redaction_method": "string",
    "redact_pii_policies[]": "string",
    "speaker_options.min_speakers_expected": "integer",
    "speaker_options.max_speakers_expected": "integer",
    "speech_models[]": "string",
    "speech_understanding.request": "object",
    "speech_understanding.request.translation": "object",
    "speech_understanding.request.translation.target_languages": "array",
    "speech_understanding.request.translation.target_languages[]": "string",
    "speech_understanding.request.translation.formal": "boolean",
    "speech_understanding.request.translation.match_original_utterance": "boolean",
    _SPEAKER_ID: "object",
    f"{_SPEAKER_ID}.speaker_type": "string",
    f"{_SPEAKER_ID}.known_values": "array",
    f"{_SPEAKER_ID}.known_values[]": "string",
    f"{_SPEAKER_ID}.speakers": "array",
    f"{_SPEAKER_ID}.speakers[]": "object",
    f"{_SPEAKER_ID}.speakers[].role": "string",
    f"{_SPEAKER_ID}.speakers[].name": "string",
    f"{_SPEAKER_ID}.speakers[].description": "string",
    "speech_understanding.request.custom_formatting": "object",
    "speech_understanding.request.custom_formatting.date": "string",
    "speech_understanding.request.custom_formatting.phone_number": "string",
    "speech_understanding.request.custom_formatting.email": "string",
    "topics[]": "string",
}
# Keys an object must have.
REQUIRED: dict[str, tuple[str, ...]] = {
    "custom_spelling[]": ("from", "to"),
    "speech_understanding": ("request",),
    "speech_understanding.request.translation": ("target_languages",),
    _SPEAKER_ID: ("speaker_type",),
}
# Objects that must have exactly one of these keys (the spec's oneOf of request bodies).
EXACTLY_ONE_OF: dict[str, tuple[str, ...]] = {
    "speech_understanding.request": ("translation", "speaker_identification", "custom_formatting"),
}
# Objects with no other keys than NESTED_KINDS names (additionalProperties: false).
CLOSED = frozenset(
    {
        "custom_spelling[]",
        "language_detection_options",
        "redact_pii_audio_options",
        "speaker_options",
    }
)

_KIND_NAMES = {
    "string": "a String",
    "integer": "an Integer",
    "number": "a Number",
    "boolean": "a Boolean",
    "array": "an Array",
    "object": "an Object",
}
_PLURALS = {"string": "Strings", "integer": "Integers", "number": "Numbers", "boolean": "Booleans"}


def _kind(path: str) -> str:
    return FIELD_KINDS.get(path) or NESTED_KINDS[path]


def _describe(path: str) -> str:
    """Return what the field at ``path`` must be: "a Boolean", "an Array of Strings"..."""
    base = _kind(path).rstrip("?")
    items = NESTED_KINDS.get(f"{path}[]")
    if base == "array" and items in _PLURALS:
        return f"an Array of {_PLURALS[items]}"
    return _KIND_NAMES[base]


def _kind_ok(kind: str, value: Any) -> bool:
    nullable = kind.endswith("?")
    base = kind.rstrip("?")
    if value is None:
        return nullable
    if base == "boolean":
        return isinstance(value, bool)
    if base == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if base == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if base == "string":
        return isinstance(value, str)
    if base == "array":
        return isinstance(value, list)
    return isinstance(value, dict)


# The spec's TranscriptLanguageCode enum (the schema also admits any string;
# the service does not, so neither does the simulator). Written as words, as a
# literal tuple would take a line per code.
LANGUAGE_CODES = tuple(
    (  # noqa: SIM905
        "en en_au en_uk en_us es fr de it pt nl af sq am ar hy as az ba eu be bn bs br bg my ca "
        "zh hr cs da et fo fi gl ka el gu ht ha haw he hi hu is id ja jw kn kk km ko lo la lv "
        "ln lt lb mk mg ms ml mt mi mr mn ne no nn oc pa ps fa pl ro ru sa sr sn sd si sk sl so "
        "su sw sv tl tg ta tt te th bo tr tk uk ur uz vi cy yi yo "
    ).split()
)
PII_POLICIES = tuple(
    (  # noqa: SIM905
        "account_number banking_information blood_type credit_card_cvv credit_card_expiration "
        "credit_card_number date date_interval date_of_birth drivers_license drug duration "
        "email_address event filename gender_sexuality healthcare_number injury ip_address "
        "language location marital_status medical_condition medical_process money_amount "
        "nationality number_sequence occupation organization passport_number password "
        "person_age person_name phone_number physical_attribute political_affiliation religion "
        "statistics time url us_social_security_number username vehicle_id zodiac_sign "
    ).split()
)
# Closed value sets of string fields (and of array items, for arrays).
ENUMS: dict[str, tuple[str, ...]] = {
    "language_code": LANGUAGE_CODES,
    "language_codes": LANGUAGE_CODES,
    "redact_pii_audio_quality": ("mp3", "wav"),
    "redact_pii_policies": PII_POLICIES,
    "redact_pii_sub": ("entity_name", "hash"),
    "remove_audio_tags": ("all",),
    "summary_model": ("informative", "conversational", "catchy"),
    "summary_type": ("bullets", "bullets_verbose", "gist", "headline", "paragraph"),
    "redact_pii_audio_options.override_audio_redaction_method": ("silence",),
    "speech_understanding.request.speaker_identification.speaker_type": ("role", "name"),
}
# Inclusive numeric ranges.
RANGES: dict[str, tuple[float, float]] = {
    "content_safety_confidence": (25, 100),
    "language_confidence_threshold": (0, 1),
    "speech_threshold": (0, 1),
    "temperature": (0, 1),
    "language_detection_options.code_switching_confidence_threshold": (0, 1),
}
# Lower bounds the spec leaves out: a count of speakers below one means nothing.
SIM_MINIMUMS: dict[str, int] = {
    "speakers_expected": 1,
    "speaker_options.min_speakers_expected": 1,
    "speaker_options.max_speakers_expected": 1,
}


def validate_create_body(body: Any) -> str | None:
    """Return the 400 error message for a create-transcript body, or None if it is valid."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    # The 2026 API rejects the deprecated singular before anything else.
    if body.get("speech_model") is not None:
        return SPEECH_MODEL_DEPRECATED
    for name in body:
        if name not in FIELD_KINDS:
            return f'"{name}" is not allowed'
    for name, value in body.items():
        kind = FIELD_KINDS[name]
        if name != "speech_models" and not _kind_ok(kind, value):
            return f"{name} must be {_describe(name)}"
    if "audio_url" not in body:
        return '"audio_url" is required'
    models = body.get("speech_models")
    if (
        not isinstance(models, list)
        or not models
        or any(model not in SPEECH_MODELS for model in models)
    ):
        return SPEECH_MODELS_INVALID
    for name, value in body.items():
        problem = _value_problem(name, name, value)
        if problem is not None:
            return problem
    return None


def _value_problem(path: str, shown: str, value: Any) -> str | None:
    """Return the 400 message for a well-typed value outside its range or enum, or whose
    items or sub-fields are wrong; ``shown`` is ``path`` with the array indexes filled in."""
    if value is None:
        return None
    if path in RANGES:
        low, high = RANGES[path]
        if not low <= value <= high:
            return f"{shown} must be between {low} and {high} (got {json.dumps(value)})"
    if path in SIM_MINIMUMS and value < SIM_MINIMUMS[path]:
        return f"{shown} must be at least {SIM_MINIMUMS[path]} (got {json.dumps(value)})"
    if isinstance(value, list):
        problem = _items_problem(path, shown, value)
    elif isinstance(value, dict):
        problem = _object_problem(path, shown, value)
    else:
        problem = None
    if problem is not None:
        return problem
    allowed = ENUMS.get(path)
    if allowed is None:
        return None
    values = value if isinstance(value, list) else [value]
    for item in values:
        if item not in allowed:
            # Short sets are spelled out; the long ones (languages, PII) are not.
            choices = (
                "one of: " + ", ".join(json.dumps(a) for a in allowed)
                if len(allowed) <= 10
                else f"one of the {len(allowed)} values the API reference lists"
            )
            return f"{shown} must be {choices} (got {json.dumps(item)})"
    return None


def _items_problem(path: str, shown: str, value: list[Any]) -> str | None:
    item_path = f"{path}[]"
    kind = NESTED_KINDS.get(item_path)
    if kind is None:
        return None
    for index, item in enumerate(value):
        if not _kind_ok(kind, item):
            # An array of scalars is named whole, an array of objects by its item.
            if kind in _PLURALS:
                return f"{shown} must be {_describe(path)}"
            return f"{shown}[{index}] must be {_describe(item_path)}"
        problem = _value_problem(item_path, f"{shown}[{index}]", item)
        if problem is not None:
            return problem
    return None


def _object_problem(path: str, shown: str, value: dict[str, Any]) -> str | None:
    if path in CLOSED:
        for key in value:
            if f"{path}.{key}" not in NESTED_KINDS:
                return f'"{shown}.{key}" is not allowed'
    for key, item in value.items():
        item_path = f"{path}.{key}"
        if item_path not in NESTED_KINDS:
            continue  # an open object's extra key
        if not _kind_ok(NESTED_KINDS[item_path], item):
            return f"{shown}.{key} must be {_describe(item_path)}"
        problem = _value_problem(item_path, f"{shown}.{key}", item)
        if problem is not None:
            return problem
    for key in REQUIRED.get(path, ()):
        if key not in value:
            return f'"{shown}.{key}" is required'
    choices = EXACTLY_ONE_OF.get(path)
    if choices is not None and sum(key in value for key in choices) != 1:
        names = ", ".join(json.dumps(key) for key in choices)
        return f"{shown} must have exactly one of: {names}"
    return None
