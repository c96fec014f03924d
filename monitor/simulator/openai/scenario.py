"""The OpenAI-compatible simulator's scenario: its flavour, keys, timings, limits and faults.

The same :class:`Fault` model validates a scenario's ``faults`` and the list
posted to ``POST /_sim/faults`` (docs/simulator.md, "The OpenAI-compatible
simulator"). The action names are AssemblyAI's where the meaning is the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self, get_args

from pydantic import Field, field_validator, model_validator

from ..scenario import BaseFault, ClipSpec, Strict, fault_items, read_scenario_file
from .flavours import FlavourName

DEFAULT_API_KEY = "sim-key"

Endpoint = Literal["models.list", "models.get", "transcriptions", "translations", "*"]
HTTP_ENDPOINTS = frozenset(get_args(Endpoint)) - {"*"}
AUDIO_ENDPOINTS = frozenset({"transcriptions", "translations"})

HTTP_ACTIONS = frozenset({"delay", "hang", "status", "malformed", "html", "close"})
# Faults of the audio endpoints, applied once the upload has been read.
AUDIO_ACTIONS = frozenset({"slow_processing", "wrong_text", "stream_error", "first_delta_delay"})

Action = Literal[
    "delay",
    "hang",
    "status",
    "malformed",
    "html",
    "close",
    "slow_processing",
    "wrong_text",
    "stream_error",
    "first_delta_delay",
]


class Fault(BaseFault):
    """One injected failure: where it applies, when, and what it does."""

    endpoint: Endpoint
    action: Action
    # wrong_text
    text: str | None = None
    # stream_error
    message: str | None = None

    @model_validator(mode="after")
    def _check_action(self) -> Self:
        if self.action in AUDIO_ACTIONS and self.endpoint not in AUDIO_ENDPOINTS:
            raise ValueError(
                f"action {self.action!r} applies to transcriptions or translations, "
                f"not {self.endpoint!r}"
            )
        if self.action == "status" and self.status is None:
            raise ValueError("action 'status' needs 'status' (an HTTP status code)")
        if self.action in {"delay", "slow_processing", "first_delta_delay"} and (
            self.delay_ms is None
        ):
            raise ValueError(f"action {self.action!r} needs 'delay_ms'")
        if self.action == "malformed" and self.body_kind is None:
            raise ValueError("action 'malformed' needs 'body_kind'")
        if self.action == "wrong_text" and self.text is None:
            raise ValueError("action 'wrong_text' needs 'text'")
        return self


class RateLimit(Strict):
    """A per-key request budget; over it, requests are answered 429 as the real API does."""

    # None: unlimited (the headers still show a budget that never runs out).
    requests: int | None = Field(default=None, ge=1)
    window_s: float = Field(default=60.0, gt=0)


class Scenario(Strict):
    """A complete OpenAI-compatible simulator configuration (scenario YAML / JSON)."""

    flavour: FlavourName = "openai"
    seed: int = 0
    api_keys: list[str] = Field(default_factory=lambda: [DEFAULT_API_KEY], min_length=1)
    # None: the flavour's own habit (OpenAI and Groq need a key, a local server does not).
    require_auth: bool | None = None
    # How long a transcription takes before its answer (per request, not per audio second).
    processing_ms: int = Field(default=50, ge=0)
    # The pause between two streamed events.
    stream_interval_ms: int = Field(default=20, ge=0)
    # None: the flavour's limit (OpenAI 25 MiB, Groq 25 MB).
    max_upload_bytes: int | None = Field(default=None, ge=1)
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    clips: list[ClipSpec] = Field(default_factory=list)
    faults: list[Fault] = Field(default_factory=list)

    @field_validator("api_keys")
    @classmethod
    def _non_empty_keys(cls, keys: list[str]) -> list[str]:
        if any(not key for key in keys):
            raise ValueError("API keys must be non-empty strings")
        return keys

    @classmethod
    def from_yaml_file(cls, path: str | Path) -> Scenario:
        """Return the scenario read from a YAML (or JSON) file."""
        return cls.model_validate(read_scenario_file(path))


def parse_faults(payload: Any) -> list[Fault]:
    """Return the faults of a ``/_sim/faults`` body: a list, or ``{"faults": [...]}``."""
    return [Fault.model_validate(item) for item in fault_items(payload)]
