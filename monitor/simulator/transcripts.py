"""Transcription jobs: their lifecycle and JSON shapes (validation is in params.py).

The JSON produced here is what ``GET /v2/transcript/{id}`` returns; every
shape validates against the ``Transcript`` / ``TranscriptListItem`` schemas
of the copied OpenAPI spec (tests/simulator/test_simulator_openapi.py checks it).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .clips import Transcription

DELETED_URL = "http://deleted_by_user"
DELETED_TEXT = "Deleted by user."
LOOKUP_ERROR = "Transcript lookup error, transcript id not found"
# What punctuate=false takes out of a word (apostrophes and hyphens stay).
_PUNCTUATION = re.compile(r"[^\w'-]")

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


def utterances(words: list[dict[str, Any]], text: str, confidence: float) -> list[dict[str, Any]]:
    """Return the utterances of a one-speaker transcript: all words, speaker "A"."""
    if not words:
        return []
    return [
        {
            "confidence": confidence,
            "start": words[0]["start"],
            "end": words[-1]["end"],
            "text": text,
            "words": words,
            "speaker": "A",
            "channel": None,
        }
    ]


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
    # The audio heard (upload or download), kept for /redacted-audio.
    audio: bytes | None = None
    # While the audio_url is being downloaded the job cannot finish.
    fetching: bool = False
    # The download's task, for whoever must wait for what it finds.
    download: asyncio.Task[None] | None = None
    fetched_mono: float | None = None
    # A wrong_text fault that arrived before the download finished.
    pending_text: str | None = None
    webhook_status_code: int | None = None

    def status(self, now: float) -> str:
        """Return the job's status at monotonic time ``now``."""
        if self.frozen_status is not None:
            return self.frozen_status
        elapsed_ms = (now - self.created_mono) * 1000
        if self.stuck_stage == "queued" or elapsed_ms < self.queued_ms:
            return "queued"
        if (
            self.stuck_stage == "processing"
            or elapsed_ms < self.queued_ms + self.processing_ms
            or self.fetching
        ):
            return "processing"
        return self.outcome

    @property
    def outcome(self) -> str:
        """Return the terminal status the job ends (or will end) in, as things stand."""
        return "error" if self.job_error is not None else "completed"

    def completed_wall(self, now: float) -> datetime | None:
        """Return the wall-clock time the job finished, or None while it runs."""
        if self.status(now) in {"queued", "processing"}:
            return None
        took_ms = float(self.queued_ms + self.processing_ms)
        if self.fetched_mono is not None:
            took_ms = max(took_ms, (self.fetched_mono - self.created_mono) * 1000)
        return self.created_wall + timedelta(milliseconds=took_ms)

    def result_words(self) -> list[dict[str, Any]]:
        """Return the completed job's words as the API shows them (options applied)."""
        if self.transcription is None:
            return []
        params = self.params
        speaker = "A" if params.get("speaker_labels") else None
        out = []
        for word in self.transcription.words:
            text = word.text
            if params.get("punctuate") is False:
                text = _PUNCTUATION.sub("", text)
            if params.get("format_text") is False:
                text = text.lower()
            if text:
                out.append(
                    {
                        "text": text,
                        "start": word.start,
                        "end": word.end,
                        "confidence": word.confidence,
                        "speaker": speaker,
                    }
                )
        return out

    def result_text(self, words: list[dict[str, Any]]) -> str:
        """Return the transcript text that goes with ``result_words()``."""
        params = self.params
        untouched = params.get("punctuate") is not False and params.get("format_text") is not False
        if self.transcription is not None and untouched:
            return self.transcription.text
        return " ".join(word["text"] for word in words)

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
        out["webhook_status_code"] = self.webhook_status_code
        if status == "completed" and self.transcription is not None:
            tr = self.transcription
            words = self.result_words()
            out["text"] = self.result_text(words)
            out["words"] = words
            out["confidence"] = tr.confidence
            out["audio_duration"] = round(tr.duration_ms / 1000)
            out["speech_model_used"] = params["speech_models"][0]
            out["audio_channels"] = 1
            if params.get("speaker_labels"):
                out["utterances"] = utterances(words, out["text"], tr.confidence)
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
        # The spec's list example shows a failed job with "completed": null.
        completed = self.completed_wall(now) if shown["status"] == "completed" else None
        return {
            "id": self.id,
            "resource_url": f"{base_url}/v2/transcript/{self.id}",
            "status": shown["status"],
            "created": self.created_wall.isoformat(timespec="microseconds"),
            "completed": completed.isoformat(timespec="microseconds") if completed else None,
            "audio_url": shown["audio_url"],
            "error": shown.get("error"),
        }
