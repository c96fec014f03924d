"""How the servers that speak the OpenAI transcription API differ, as data.

One provider entry (``openai``) serves OpenAI itself, Groq and self-hosted
Whisper servers; a target's *flavour* (its region: ``openai``, ``groq``,
``local``) picks the row of this table its probes read. The probes name no
flavour: which models and response formats exist, which model streams and
how error bodies are shaped are fields here. docs/protocol-openai.md is the
prose of it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

__all__ = ["FLAVOURS", "Flavour", "check_target", "flavour_of"]

ErrorEnvelope = Literal["openai", "detail"]
API_PATH = "/v1"  # under every flavour's base URL (Groq's base URL ends in /openai)


@dataclass(frozen=True, slots=True)
class Flavour:
    """One kind of server: its base URL, models, formats, streaming and error shapes."""

    name: str
    label: str
    api_base: str  # the default base URL (the region's), without /v1
    api_key_env: str  # the environment variable a target's key defaults from ("": none)
    default_model: str
    # The response formats of each model it documents; other models get `other_formats`.
    formats: Mapping[str, frozenset[str]]
    other_formats: frozenset[str]
    # Models whose `stream=true` answers Server-Sent Events (the others ignore the flag).
    streaming_models: frozenset[str] = frozenset()
    # Whether that list is the whole truth (a hosted API's docs), so check-config can
    # refuse streaming on another model; a self-hosted server may stream any.
    streaming_models_known: bool = True
    error_envelope: ErrorEnvelope = "openai"
    # Statuses that mean "no capacity right now" besides the 5xx (Groq's 498).
    server_statuses: frozenset[int] = frozenset()
    # What a healthy answer carries that a probe records when present.
    headers_of_note: tuple[str, ...] = ()
    # Whether a target needs a key (a self-hosted server may check none).
    key_required: bool = True

    def formats_of(self, model: str) -> frozenset[str]:
        """Return the response formats `model` accepts here."""
        return self.formats.get(model, self.other_formats)

    def response_format(self, model: str) -> str:
        """Return the format a transcription asks for: verbose_json where it exists, else json."""
        return "verbose_json" if "verbose_json" in self.formats_of(model) else "json"

    def streams(self, model: str) -> bool:
        """Return True when `model` streams its transcript here."""
        return model in self.streaming_models

    @property
    def streaming_model(self) -> str | None:
        """Return the model a streaming probe uses by default (None: nothing streams)."""
        if self.default_model in self.streaming_models:
            return self.default_model
        return min(self.streaming_models) if self.streaming_models else None

    def api_error(self, body: Any) -> tuple[str | None, str | None]:
        """Return (message, code) of an error body: this flavour's envelope first, then any."""
        order = (self.error_envelope, *(e for e in _ENVELOPES if e != self.error_envelope))
        for envelope in order:
            found = _ENVELOPES[envelope](body)
            if found[0] is not None:
                return found
        return None, None


def _detail(body: Any) -> tuple[str | None, str | None]:
    # FastAPI's {"detail": "..."} (a validation error's detail is a list: no message).
    detail = body.get("detail") if isinstance(body, dict) else None
    return (detail if isinstance(detail, str) else None), None


def _openai(body: Any) -> tuple[str | None, str | None]:
    # {"error": {message, type, param, code}}; code may be an int (vLLM, LocalAI) or
    # null (then the type says it: insufficient_quota); whisper.cpp's {"error": "..."}.
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        return error, None
    if not isinstance(error, dict):
        return None, None
    message, code = error.get("message"), error.get("code") or error.get("type")
    return (message if isinstance(message, str) else None), (
        code if isinstance(code, str) else None
    )


_ENVELOPES = {"openai": _openai, "detail": _detail}


_ALL = frozenset({"json", "text", "srt", "verbose_json", "vtt"})
_JSON = frozenset({"json"})
_GROQ = frozenset({"json", "text", "verbose_json"})
_RATE = ("x-request-id", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests")

FLAVOURS: Mapping[str, Flavour] = {
    f.name: f
    for f in (
        Flavour(
            name="openai",
            label="OpenAI",
            api_base="https://api.openai.com",
            api_key_env="OPENAI_API_KEY",
            default_model="whisper-1",
            formats={
                "whisper-1": _ALL,
                "gpt-4o-transcribe": _JSON,
                "gpt-4o-mini-transcribe": _JSON,
                "gpt-4o-mini-transcribe-2025-12-15": _JSON,
                "gpt-4o-transcribe-diarize": frozenset({"json", "text", "diarized_json"}),
            },
            other_formats=_JSON,
            streaming_models=frozenset(
                {"gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-mini-transcribe-2025-12-15"}
            ),
            headers_of_note=(*_RATE, "openai-processing-ms"),
        ),
        Flavour(
            name="groq",
            label="Groq",
            api_base="https://api.groq.com/openai",
            api_key_env="GROQ_API_KEY",
            default_model="whisper-large-v3",
            formats={"whisper-large-v3": _GROQ, "whisper-large-v3-turbo": _GROQ},
            other_formats=_GROQ,
            server_statuses=frozenset({498}),
            headers_of_note=_RATE,
        ),
        Flavour(
            name="local",
            label="Self-hosted",
            api_base="http://127.0.0.1:8000",
            # A self-hosted server's key, when it has one, is the operator's own.
            api_key_env="OPENAI_COMPATIBLE_API_KEY",
            key_required=False,
            default_model="Systran/faster-whisper-small",
            formats={},
            other_formats=_ALL,
            # speaches streams every model; a server that does not ignores the flag,
            # which the streaming probe reports.
            streaming_models=frozenset(
                {"Systran/faster-whisper-small", "Systran/faster-distil-whisper-large-v3"}
            ),
            streaming_models_known=False,
            error_envelope="detail",
        ),
    )
}
DEFAULT_FLAVOUR = "openai"


# The hosted flavours by the host of their base URL.
_BY_HOST = {urlsplit(f.api_base).hostname: f.name for f in FLAVOURS.values() if f.name != "local"}


def flavour_of(target: object, chosen: str | None = None) -> Flavour:
    """Return the flavour of `target`: `chosen` (the spec's), else its region, else its host.

    A base URL on no known host is a self-hosted server.
    """
    if chosen is not None:
        return FLAVOURS[chosen]
    region = getattr(target, "region", None)
    if isinstance(region, str) and region in FLAVOURS:
        return FLAVOURS[region]
    host = urlsplit(str(getattr(target, "api_base", ""))).hostname or ""
    return FLAVOURS[_BY_HOST.get(host, "local")]


def check_target(target: Any) -> list[tuple[str, str]]:
    """Return the problems of `target`'s streaming probe against its flavour's documented models."""
    spec = target.probes.enabled().get("streaming")
    if spec is None:
        return []
    flavour = flavour_of(target, spec.flavour)
    if not flavour.streaming_models_known:
        return []
    if not flavour.streaming_models:
        return [
            (
                "probes.streaming",
                f"{flavour.label} documents no streaming transcription; turn the streaming "
                "probe off for this target",
            )
        ]
    model = spec.model or flavour.streaming_model
    if model not in flavour.streaming_models:
        known = ", ".join(sorted(flavour.streaming_models))
        return [
            (
                "probes.streaming.model",
                f"{model!r} does not stream on {flavour.label} (models that stream: {known})",
            )
        ]
    return []
