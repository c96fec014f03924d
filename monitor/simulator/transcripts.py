"""Transcription jobs: request validation, lifecycle and their JSON shapes.

The JSON produced here is what ``GET /v2/transcript/{id}`` returns; every
shape validates against the ``Transcript`` / ``TranscriptListItem`` schemas
of the copied OpenAPI spec (tests/test_simulator_openapi.py checks it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .clips import Transcription

DELETED_URL = "http://deleted_by_user"
DELETED_TEXT = "Deleted by user."
SPEECH_MODELS = ("universal-3-pro", "universal-2")

SPEECH_MODEL_DEPRECATED = (
    'speech_model is deprecated. Use "speech_models" instead. See documentation: '
    "https://www.assemblyai.com/docs/pre-recorded-audio/select-the-speech-model"
)
SPEECH_MODELS_INVALID = (
    '"speech_models" must be a non-empty list containing one or more of: '
    '"universal-3-pro", "universal-2"'
)
LOOKUP_ERROR = "Transcript lookup error, transcript id not found"

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
_BOOL_DEFAULTS = {
    "auto_chapters": False,
    "auto_highlights": False,
    "content_safety": False,
    "custom_topics": False,
    "disfluencies": False,
    "entity_detection": False,
    "filter_profanity": False,
    "format_text": True,
    "iab_categories": False,
    "language_detection": False,
    "multichannel": False,
    "punctuate": True,
    "redact_pii": False,
    "redact_pii_audio": False,
    "sentiment_analysis": False,
    "speaker_labels": False,
    "summarization": False,
}
# Nullable echo fields (value or null on the Transcript).
_ECHO_NULLABLE = (
    "audio_end_at",
    "audio_start_from",
    "language_codes",
    "language_confidence_threshold",
    "redact_pii_audio_quality",
    "redact_pii_policies",
    "custom_spelling",
    "speakers_expected",
    "speech_threshold",
    "summary_model",
    "summary_type",
    "remove_audio_tags",
    "temperature",
    "webhook_auth_header_name",
    "webhook_url",
)
# Non-nullable optional echo fields: present only when the request set them.
_ECHO_IF_SET = ("keyterms_prompt", "prompt", "redact_pii_sub", "topics")
# Result fields: null until the job completes, null again after deletion.
_RESULT_FIELDS = (
    "auto_highlights_result",
    "chapters",
    "content_safety_labels",
    "entities",
    "iab_categories_result",
    "sentiment_analysis_results",
    "summary",
    "utterances",
    "words",
)


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
    return None


@dataclass
class Job:
    """One transcription job as the simulator keeps it."""

    id: str
    owner: str
    params: dict[str, Any]
    created_mono: float
    created_wall: datetime
    queued_ms: int
    processing_ms: int
    transcription: Transcription | None
    job_error: str | None = None
    upload_id: str | None = None
    stuck_stage: str | None = None
    deleted: bool = False
    frozen_status: str | None = None
    terminal_seen: bool = False
    sequence: int = 0

    def status(self, now: float) -> str:
        """Return the job's status at monotonic time ``now``."""
        if self.frozen_status is not None:
            return self.frozen_status
        elapsed_ms = (now - self.created_mono) * 1000
        if self.stuck_stage == "queued" or elapsed_ms < self.queued_ms:
            return "queued"
        if self.stuck_stage == "processing" or elapsed_ms < self.queued_ms + self.processing_ms:
            return "processing"
        return "error" if self.job_error is not None else "completed"

    def completed_wall(self, now: float) -> datetime | None:
        """Return the wall-clock time the job finished, or None while it runs."""
        if self.status(now) in {"queued", "processing"}:
            return None
        return self.created_wall + timedelta(milliseconds=self.queued_ms + self.processing_ms)

    def is_terminal(self, now: float) -> bool:
        """Return True once the job is completed or errored."""
        return self.status(now) in {"completed", "error"}

    def to_json(self, now: float) -> dict[str, Any]:
        """Return the full Transcript object a GET shows now."""
        if self.deleted:
            return self.scrubbed_json(now)
        status = self.status(now)
        params = self.params
        out: dict[str, Any] = {
            "id": self.id,
            "status": status,
            "audio_url": params["audio_url"],
            "speech_model": None,
            "speech_models": list(params["speech_models"]),
            "language_code": params.get("language_code") or "en_us",
            "language_model": "assemblyai_default",
            "acoustic_model": "assemblyai_default",
            "language_confidence": None,
            "text": None,
            "confidence": None,
            "audio_duration": None,
            "webhook_auth": params.get("webhook_auth_header_name") is not None,
            "webhook_status_code": None,
            "throttled": False,
            "content_safety_labels": None,
            "speed_boost": False,
        }
        for name, default in _BOOL_DEFAULTS.items():
            value = params.get(name)
            out[name] = default if value is None else value
        for name in _ECHO_NULLABLE:
            out[name] = params.get(name)
        for name in _ECHO_IF_SET:
            if params.get(name) is not None:
                out[name] = params[name]
        for name in _RESULT_FIELDS:
            out[name] = None
        if status == "completed" and self.transcription is not None:
            tr = self.transcription
            out["text"] = tr.text
            out["words"] = [
                {
                    "text": w.text,
                    "start": w.start,
                    "end": w.end,
                    "confidence": w.confidence,
                    "speaker": None,
                }
                for w in tr.words
            ]
            out["confidence"] = tr.confidence
            out["audio_duration"] = round(tr.duration_ms / 1000)
            out["speech_model_used"] = params["speech_models"][0]
            out["audio_channels"] = 1
            out["webhook_status_code"] = None
        elif status == "error":
            out["error"] = self.job_error
        return out

    def scrubbed_json(self, now: float) -> dict[str, Any]:
        """Return the object DELETE answers with and later GETs keep showing."""
        out = self.to_json_undeleted(now)
        out.update(
            {
                "audio_url": DELETED_URL,
                "webhook_url": DELETED_URL,
                "text": DELETED_TEXT,
                "confidence": None,
                "speech_model": None,
                "language_detection": False,
                "language_confidence": None,
                "language_confidence_threshold": None,
                "speaker_labels": None,
                "disfluencies": True,
            }
        )
        for name in _RESULT_FIELDS:
            out[name] = None
        # The spec example shows language_code and error as null, which the
        # spec's own schema rejects; leaving them out keeps the object valid.
        for name in ("language_code", "error", "keyterms_prompt", "prompt", "topics"):
            out.pop(name, None)
        return out

    def to_json_undeleted(self, now: float) -> dict[str, Any]:
        """Return the Transcript object as if it had never been deleted."""
        deleted, self.deleted = self.deleted, False
        try:
            return self.to_json(now)
        finally:
            self.deleted = deleted

    def list_item(self, base_url: str, now: float) -> dict[str, Any]:
        """Return the TranscriptListItem for the list endpoint."""
        shown = self.to_json(now)
        completed = self.completed_wall(now)
        return {
            "id": self.id,
            "resource_url": f"{base_url}/v2/transcript/{self.id}",
            "status": shown["status"],
            "created": self.created_wall.isoformat(timespec="microseconds"),
            "completed": completed.isoformat(timespec="microseconds") if completed else None,
            "audio_url": shown["audio_url"],
            "error": shown.get("error"),
        }
