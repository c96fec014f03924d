"""The create-transcript request: its fields, their types, ranges and enums, and validation.

The tables mirror ``TranscriptParams`` (``audio_url`` + ``TranscriptOptionalParams``)
of the copied OpenAPI spec; tests/simulator/test_simulator_openapi.py compares them with
the spec so the two cannot drift apart.
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

_KIND_NAMES = {
    "string": "a String",
    "integer": "an Integer",
    "number": "a Number",
    "boolean": "a Boolean",
    "array": "an Array",
    "object": "an Object",
}


# Boolean options echoed on the Transcript, with the spec's defaults.
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
}
# Inclusive numeric ranges.
RANGES: dict[str, tuple[float, float]] = {
    "content_safety_confidence": (25, 100),
    "language_confidence_threshold": (0, 1),
    "speech_threshold": (0, 1),
    "temperature": (0, 1),
}
# Arrays whose items are plain strings.
STRING_ARRAYS = ("keyterms_prompt", "topics")


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
            return f"{name} must be {_KIND_NAMES[kind.rstrip('?')]}"
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
        problem = _value_problem(name, value)
        if problem is not None:
            return problem
    return None


def _value_problem(name: str, value: Any) -> str | None:
    """Return the 400 message for a well-typed value outside its range or enum."""
    if value is None:
        return None
    if name in RANGES:
        low, high = RANGES[name]
        if not low <= value <= high:
            return f"{name} must be between {low} and {high} (got {json.dumps(value)})"
    if name in STRING_ARRAYS and any(not isinstance(item, str) for item in value):
        return f"{name} must be an Array of Strings"
    allowed = ENUMS.get(name)
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
            return f"{name} must be {choices} (got {json.dumps(item)})"
    return None
