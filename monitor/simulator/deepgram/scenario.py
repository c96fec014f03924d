"""The Deepgram simulator's scenario: its knobs and its fault vocabulary.

The action names are AssemblyAI's where the meaning is the same (``delay``,
``hang``, ``status``, ``malformed``, ``html``, ``wrong_text``, ``refuse``,
``close``); what only Deepgram has gets its own (``no_results``,
``first_result_delay``, ``hang_close``, ``no_metadata``). docs/simulator.md
lists them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self, get_args

from pydantic import Field, field_validator, model_validator

from ..scenario import AudioFetch, BaseFault, ClipSpec, Strict, fault_items, read_scenario_file

DEFAULT_API_KEY = "sim-key"
# The simulator's one project (GET /v1/projects); a fixed id so tests and docs can name it.
PROJECT_ID = "5b0d5e9c-7f4e-4c4b-9a43-0e6c9d1f2a10"
MAX_BODY_BYTES = 512 * 1024 * 1024

Endpoint = Literal["projects", "requests", "grant", "listen", "ws", "callback", "*"]
HTTP_ENDPOINTS = frozenset({"projects", "requests", "grant", "listen"})
HTTP_ACTIONS = frozenset({"delay", "hang", "status", "malformed", "html"})
LISTEN_ACTIONS = frozenset({"wrong_text"})
WS_ACTIONS = frozenset(
    {"refuse", "close", "no_results", "first_result_delay", "hang_close", "no_metadata"}
)
CALLBACK_ACTIONS = frozenset({"drop"})

Action = Literal[
    "delay",
    "hang",
    "status",
    "malformed",
    "html",
    "wrong_text",
    "refuse",
    "close",
    "no_results",
    "first_result_delay",
    "hang_close",
    "no_metadata",
    "drop",
]


def endpoints_for_action(action: str) -> frozenset[str]:
    """Return the endpoints on which ``action`` has a meaning."""
    if action == "delay":
        return HTTP_ENDPOINTS | {"callback"}
    if action in HTTP_ACTIONS:
        return HTTP_ENDPOINTS
    if action == "wrong_text":
        return frozenset({"listen", "ws"})
    if action in CALLBACK_ACTIONS:
        return frozenset({"callback"})
    return frozenset({"ws"})


class Fault(BaseFault):
    """One injected failure of the Deepgram simulator: where, when, and what it does."""

    endpoint: Endpoint
    action: Action
    # wrong_text
    text: str | None = None
    # close
    code: int | None = Field(default=None, ge=1000, le=4999)
    reason: str | None = None
    after_ms: int | None = Field(default=None, ge=0)
    error_frame: bool = False

    @model_validator(mode="after")
    def _check_action(self) -> Self:
        if self.endpoint == "*":
            if self.action not in HTTP_ACTIONS:
                raise ValueError(f"endpoint '*' only takes HTTP actions, not {self.action!r}")
        elif self.endpoint not in endpoints_for_action(self.action):
            raise ValueError(f"action {self.action!r} does not apply to endpoint {self.endpoint!r}")
        needs = {
            "status": ("status", "an HTTP status code"),
            "delay": ("delay_ms", "milliseconds"),
            "first_result_delay": ("delay_ms", "milliseconds"),
            "malformed": ("body_kind", "not_json, truncated or wrong_shape"),
            "wrong_text": ("text", "the transcript to answer"),
            "close": ("code", "a WebSocket close code"),
        }
        if self.action in needs:
            name, what = needs[self.action]
            if getattr(self, name) is None:
                raise ValueError(f"action {self.action!r} needs {name!r} ({what})")
        return self


class Prerecorded(Strict):
    """``POST /v1/listen``: how long the synchronous transcription takes."""

    processing_ms: int = Field(default=50, ge=0)
    # Callback deliveries: attempts in all and the pause between them (Deepgram: 10, 30 s).
    callback_attempts: int = Field(default=10, ge=1)
    callback_retry_ms: int = Field(default=30_000, ge=0)


class Streaming(Strict):
    """The live ``/v1/listen`` WebSocket."""

    # Interim Results come about once a second of audio upstream.
    interim_interval_ms: int = Field(default=1000, ge=10)
    # A window of continuous speech is made final after this much audio.
    max_window_ms: int = Field(default=5000, ge=100)
    # Without any frame for this long: close 1011 NET-0001 (about 10 s upstream).
    idle_timeout_s: float = Field(default=10.0, gt=0)
    # The docs disagree whether KeepAlive alone (before any audio) holds a stream open.
    keepalive_before_audio: bool = True
    # The close reason of NET-000x: the long sentence seen in the wild, or the docs' short code.
    close_reason_style: Literal["sentence", "code"] = "sentence"
    # DATA-0000 was 1002 in older docs, 1008 now.
    data_error_code: Literal[1002, 1008] = 1008
    first_result_delay_ms: int | None = Field(default=None, ge=0)


class Scenario(Strict):
    """A complete Deepgram simulator configuration (scenario YAML / JSON)."""

    seed: int = 0
    api_keys: list[str] = Field(default_factory=lambda: [DEFAULT_API_KEY], min_length=1)
    # The service answers `False` (capitalised) with 400; a lenient switch for old clients.
    strict_booleans: bool = True
    max_body_bytes: int = Field(default=MAX_BODY_BYTES, ge=1)
    prerecorded: Prerecorded = Field(default_factory=Prerecorded)
    streaming: Streaming = Field(default_factory=Streaming)
    audio_fetch: AudioFetch = Field(default_factory=AudioFetch)
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


ALL_ACTIONS = frozenset(get_args(Action))
