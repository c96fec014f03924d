"""The servers that speak the OpenAI transcription API, and how each differs (as data).

One simulator serves one flavour, chosen by the scenario: ``openai`` (OpenAI
itself), ``groq`` (Groq's OpenAI-compatible endpoint) or ``local`` (a
self-hosted Whisper server in the style of speaches / faster-whisper-server).
Everything that differs between them is a field here, read by the handlers;
the handlers name no flavour. docs/protocol-openai.md is the prose of it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ErrorStyle = Literal["openai", "detail"]

ALL_FORMATS = frozenset({"json", "text", "srt", "verbose_json", "vtt"})
JSON_FORMATS = frozenset({"json", "verbose_json"})
# The extensions OpenAI's own error message lists (the spec's list plus oga).
AUDIO_EXTENSIONS = ("flac", "m4a", "mp3", "mp4", "mpeg", "mpga", "oga", "ogg", "wav", "webm")


@dataclass(frozen=True, slots=True)
class ModelCard:
    """One model a server lists, and what it can do with audio."""

    id: str
    owned_by: str
    created: int
    # The response formats a transcription with this model accepts; empty: not an audio model.
    formats: frozenset[str] = frozenset()
    # True: `stream=true` answers Server-Sent Events; False: the flag is ignored.
    streams: bool = False
    # What `usage` a JSON answer carries: seconds of audio, tokens, or none.
    usage: Literal["duration", "tokens", "none"] = "duration"
    translates: bool = False


@dataclass(frozen=True, slots=True)
class Flavour:
    """Everything one kind of server does its own way."""

    name: str
    prefix: str  # the path every route is under ("/v1", Groq's "/openai/v1")
    models: tuple[ModelCard, ...]
    error_style: ErrorStyle  # {"error": {message, type, param, code}} or FastAPI's {"detail"}
    auth_status: int  # the status of a missing or wrong key
    require_auth: bool  # whether a key is needed at all unless the scenario says
    retrieve_route: bool  # GET <prefix>/models/{id} exists
    # Form fields a transcription accepts (`name[]`, `name[key]` count as `name`); None: any.
    fields: frozenset[str] | None
    rate_limit_headers: bool
    request_id_prefix: str  # x-request-id values ("" = none sent)
    openai_headers: bool  # openai-processing-ms, openai-version, openai-organization
    verbose_language: Literal["name", "code"]  # verbose_json `language`: "english" or "en"
    verbose_task: bool  # verbose_json carries `task`
    max_upload_bytes: int
    daily_requests: bool = False  # x-ratelimit-limit-requests counts per day (Groq)
    url_input: bool = False  # a `url` form field may replace the file (Groq)
    request_id_json: str | None = None  # JSON bodies carry {this: {"id": request id}}
    model_extras: dict[str, object] = field(default_factory=dict)  # extra keys of a Model
    stream_per: Literal["word", "segment"] = "word"  # what one streamed delta carries
    text_content_type: dict[str, str] = field(default_factory=dict)

    def model(self, model_id: str) -> ModelCard | None:
        """Return the model called `model_id`, or None."""
        return next((m for m in self.models if m.id == model_id), None)


_WHISPER_FORMATS = ALL_FORMATS
_TEXT = "text/plain; charset=utf-8"

OPENAI = Flavour(
    name="openai",
    prefix="/v1",
    models=(
        ModelCard("whisper-1", "openai-internal", 1677532384, _WHISPER_FORMATS, translates=True),
        ModelCard("gpt-4o-transcribe", "system", 1742068463, frozenset({"json"}), True, "tokens"),
        ModelCard(
            "gpt-4o-mini-transcribe", "system", 1742068463, frozenset({"json"}), True, "tokens"
        ),
        # Not audio models: a list has them too, and a transcription refuses them.
        ModelCard("gpt-4o-mini", "system", 1721172741),
        ModelCard("text-embedding-3-small", "system", 1705948997),
    ),
    error_style="openai",
    auth_status=401,
    require_auth=True,
    retrieve_route=True,
    # CreateTranscriptionRequest's properties (additionalProperties: false).
    fields=frozenset(
        {
            "file",
            "model",
            "language",
            "languages",
            "keywords",
            "prompt",
            "response_format",
            "temperature",
            "include",
            "timestamp_granularities",
            "stream",
            "chunking_strategy",
            "known_speaker_names",
            "known_speaker_references",
        }
    ),
    rate_limit_headers=True,
    request_id_prefix="req_",
    openai_headers=True,
    verbose_language="name",
    verbose_task=True,
    max_upload_bytes=26_214_400,
    text_content_type={"text": _TEXT, "srt": _TEXT, "vtt": _TEXT},
)

GROQ = Flavour(
    name="groq",
    prefix="/openai/v1",
    models=(
        ModelCard(
            "whisper-large-v3",
            "OpenAI",
            1693721698,
            frozenset({"json", "text", "verbose_json"}),
            translates=True,
        ),
        ModelCard(
            "whisper-large-v3-turbo",
            "OpenAI",
            1728413088,
            frozenset({"json", "text", "verbose_json"}),
        ),
        ModelCard("llama-3.3-70b-versatile", "Meta", 1733447754),
    ),
    error_style="openai",
    auth_status=401,
    require_auth=True,
    retrieve_route=True,
    fields=None,
    rate_limit_headers=True,
    request_id_prefix="req_",
    openai_headers=False,
    verbose_language="name",
    verbose_task=True,
    max_upload_bytes=25_000_000,
    daily_requests=True,
    url_input=True,
    request_id_json="x_groq",
    model_extras={"active": True, "context_window": 448, "public_apps": None},
    text_content_type={"text": _TEXT},
)

LOCAL = Flavour(
    name="local",
    prefix="/v1",
    models=(
        ModelCard(
            "Systran/faster-whisper-small", "Systran", 0, _WHISPER_FORMATS, True, "none", True
        ),
        ModelCard(
            "Systran/faster-distil-whisper-large-v3", "Systran", 0, _WHISPER_FORMATS, True, "none"
        ),
    ),
    error_style="detail",
    auth_status=403,
    require_auth=False,
    retrieve_route=True,
    fields=None,
    rate_limit_headers=False,
    request_id_prefix="",
    openai_headers=False,
    verbose_language="code",
    verbose_task=False,
    max_upload_bytes=512 * 1024 * 1024,
    stream_per="segment",
    model_extras={"task": "automatic-speech-recognition", "language": ["en"]},
    text_content_type={"text": _TEXT, "srt": _TEXT, "vtt": "text/vtt; charset=utf-8"},
)

FLAVOURS: dict[str, Flavour] = {f.name: f for f in (OPENAI, GROQ, LOCAL)}
FlavourName = Literal["openai", "groq", "local"]
