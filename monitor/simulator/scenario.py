"""The scenario: every knob of the simulator, loaded from YAML or JSON.

A scenario fixes the accepted API keys, job timings, streaming options and a
list of faults. The same ``Fault`` model validates the list posted at runtime
to ``POST /_sim/faults``, so a scenario file and a test talking to the control
endpoint speak one vocabulary (docs/simulator.md).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Self, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_API_KEY = "sim-key"
# The largest request body (an upload) the simulator takes; the real API takes
# 2.2 GB, which a local simulator need not buffer.
MAX_UPLOAD_BYTES = 512 * 1024 * 1024

Endpoint = Literal[
    "upload",
    "transcript.create",
    "transcript.get",
    "transcript.list",
    "transcript.delete",
    "transcript.sentences",
    "transcript.paragraphs",
    "transcript.subtitles",
    "transcript.word_search",
    "transcript.redacted_audio",
    "token",
    "ws",
    "webhook",
    "*",
]

HTTP_ACTIONS = frozenset({"delay", "hang", "status", "malformed", "html"})
JOB_ACTIONS = frozenset({"stuck", "fail_job", "wrong_text"})
DELETE_ACTIONS = frozenset({"ignore_delete"})
WS_ACTIONS = frozenset(
    {"refuse", "close", "no_begin", "no_turn", "first_turn_delay", "hang_terminate"}
)
# Delivery faults of webhooks; "delay" and "malformed" are shared with the HTTP actions.
WEBHOOK_ACTIONS = frozenset({"drop", "duplicate", "wrong_auth", "no_auth", "wrong_id", "early"})
# Every REST v2 endpoint: the Endpoint names that are neither streaming nor webhooks.
REST_ENDPOINTS = frozenset(get_args(Endpoint)) - {"token", "ws", "webhook", "*"}
HTTP_ENDPOINTS = REST_ENDPOINTS | {"token"}

Action = Literal[
    "delay",
    "hang",
    "status",
    "malformed",
    "html",
    "stuck",
    "fail_job",
    "wrong_text",
    "ignore_delete",
    "refuse",
    "close",
    "no_begin",
    "no_turn",
    "first_turn_delay",
    "hang_terminate",
    "drop",
    "duplicate",
    "wrong_auth",
    "no_auth",
    "wrong_id",
    "early",
]


def endpoints_for_action(action: str) -> frozenset[str]:
    """Return the endpoints on which ``action`` has a meaning."""
    if action in ("delay", "malformed"):
        return HTTP_ENDPOINTS | {"webhook"}
    if action in HTTP_ACTIONS:
        return HTTP_ENDPOINTS
    if action in WEBHOOK_ACTIONS:
        return frozenset({"webhook"})
    if action in JOB_ACTIONS:
        return frozenset({"transcript.create", "transcript.get"})
    if action in DELETE_ACTIONS:
        return frozenset({"transcript.delete"})
    return frozenset({"ws"})


class Strict(BaseModel):
    """A scenario model in which unknown keys are errors (every simulator's)."""

    # A typo in a fault must not silently disable it.
    model_config = ConfigDict(extra="forbid")


class BaseFault(Strict):
    """What every simulator's fault has: where and when it fires, and the HTTP actions' settings.

    Each simulator's ``Fault`` narrows ``endpoint`` and ``action`` to its own
    vocabulary, adds the settings of its own actions and checks which action
    needs which; the window check is here.
    """

    endpoint: str
    action: str
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    count: int | None = Field(default=None, ge=1)
    after_s: float | None = Field(default=None, ge=0.0)
    until_s: float | None = Field(default=None, ge=0.0)

    # delay (and each simulator's other delays)
    delay_ms: int | None = Field(default=None, ge=0)
    # status (and a refused WebSocket upgrade)
    status: int | None = Field(default=None, ge=100, le=599)
    body: str | dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] | None = None
    # malformed
    body_kind: Literal["not_json", "truncated", "wrong_shape"] | None = None

    @model_validator(mode="after")
    def _check_window(self) -> Self:
        if self.after_s is not None and self.until_s is not None and self.until_s <= self.after_s:
            raise ValueError("'until_s' must be greater than 'after_s'")
        return self


class Fault(BaseFault):
    """One injected failure: where it applies, when, and what it does."""

    endpoint: Endpoint
    action: Action

    # stuck
    stage: Literal["queued", "processing"] | None = None
    # fail_job
    error: str | None = None
    # wrong_text
    text: str | None = None
    # close
    code: int | None = Field(default=None, ge=1000, le=4999)
    reason: str | None = None
    after_ms: int | None = Field(default=None, ge=0)
    error_frame: bool = False

    @model_validator(mode="after")
    def _check_action(self) -> Self:
        if self.endpoint != "*" and self.endpoint not in endpoints_for_action(self.action):
            raise ValueError(f"action {self.action!r} does not apply to endpoint {self.endpoint!r}")
        if self.endpoint == "*" and self.action not in HTTP_ACTIONS:
            raise ValueError(f"endpoint '*' only takes HTTP actions, not {self.action!r}")
        if self.action == "status" and self.status is None:
            raise ValueError("action 'status' needs 'status' (an HTTP status code)")
        if self.action in {"delay", "first_turn_delay"} and self.delay_ms is None:
            raise ValueError(f"action {self.action!r} needs 'delay_ms'")
        if self.action == "malformed" and self.body_kind is None:
            raise ValueError("action 'malformed' needs 'body_kind'")
        if self.action == "stuck" and self.stage is None:
            raise ValueError("action 'stuck' needs 'stage' (queued or processing)")
        if self.action == "fail_job" and self.error is None:
            raise ValueError("action 'fail_job' needs 'error' (the job's error message)")
        if self.action == "wrong_text" and self.text is None:
            raise ValueError("action 'wrong_text' needs 'text'")
        if self.action == "close" and self.code is None:
            raise ValueError("action 'close' needs 'code' (a WebSocket close code)")
        return self


class JobTiming(Strict):
    """How long a transcription job spends in each non-terminal status."""

    queued_ms: int = Field(default=300, ge=0)
    processing_ms: int = Field(default=700, ge=0)
    # Unverified upstream: whether DELETE of an unfinished job is refused.
    delete_in_progress: Literal["reject", "allow"] = "reject"


class AudioFetch(Strict):
    """How the simulator downloads an ``audio_url`` that is not one of its own uploads."""

    # False: hear a placeholder without any network access (offline tests).
    enabled: bool = True
    max_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    timeout_s: float = Field(default=30.0, gt=0)


class WebhookOptions(Strict):
    """Webhook delivery: the real API's documented policy, shortened by tests."""

    # 10 attempts in all, a 2xx expected within 10 s; a 4xx ends them (AssemblyAI's docs).
    attempts: int = Field(default=10, ge=1)
    retry_interval_ms: int = Field(default=10_000, ge=0)
    timeout_ms: int = Field(default=10_000, gt=0)


class ClipSpec(Strict):
    """An extra known clip: audio (a file, or only its SHA-256) and its reference text."""

    text: str = Field(min_length=1)
    file: Path | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.file is None) == (self.sha256 is None):
            raise ValueError("a clip needs exactly one of 'file' or 'sha256'")
        if self.file is not None and not self.file.is_file():
            raise ValueError(f"clip file {str(self.file)!r} does not exist")
        return self


class StreamingOptions(Strict):
    """Knobs of the streaming v3 endpoint."""

    strict_pacing: bool = True
    # Audio may run this far ahead of real time before 3007 (network jitter, buffers).
    pacing_tolerance_ms: int = Field(default=1000, ge=0)
    turn_interval_ms: int = Field(default=200, ge=0)
    first_turn_delay_ms: int | None = Field(default=None, ge=0)
    auth_failure: Literal["close", "refuse"] = "close"
    # Send an Error frame before every error close (newer servers do; the spec lacks it).
    error_frames: bool = False
    # Overrides the 3 h / token session cap, so tests can reach 3008 quickly.
    max_session_duration_s: float | None = Field(default=None, gt=0)
    # Silence after the last word that ends a turn, unless the client sets
    # min_turn_silence (None: the model's default, 400 ms, u3-rt-pro 100 ms).
    min_turn_silence_ms: int | None = Field(default=None, ge=0)
    # Overrides a client's inactivity_timeout (5 s at least), so tests reach it quickly.
    inactivity_timeout_s: float | None = Field(default=None, gt=0)


class Scenario(Strict):
    """A complete simulator configuration (scenario YAML / JSON)."""

    seed: int = 0
    api_keys: list[str] = Field(default_factory=lambda: [DEFAULT_API_KEY], min_length=1)
    jobs: JobTiming = Field(default_factory=JobTiming)
    unknown_id_status: Literal[400, 404] = 400
    # Larger request bodies (uploads, create bodies) are answered 413.
    max_upload_bytes: int = Field(default=MAX_UPLOAD_BYTES, ge=1)
    streaming: StreamingOptions = Field(default_factory=StreamingOptions)
    audio_fetch: AudioFetch = Field(default_factory=AudioFetch)
    webhooks: WebhookOptions = Field(default_factory=WebhookOptions)
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


def read_scenario_file(path: str | Path) -> Any:
    """Return a scenario file's data (YAML or JSON), its clips' files made relative to it."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if isinstance(data, dict) and isinstance(data.get("clips"), list):
        # A clip's file is relative to the scenario file, not to the current directory.
        for clip in data["clips"]:
            if isinstance(clip, dict) and isinstance(clip.get("file"), str):
                clip["file"] = str(Path(path).parent / clip["file"])
    return data if data is not None else {}


def fault_items(payload: Any) -> list[Any]:
    """Return the items of a ``/_sim/faults`` body: a list, or ``{"faults": [...]}``."""
    if isinstance(payload, dict) and set(payload) == {"faults"}:
        payload = payload["faults"]
    if not isinstance(payload, list):
        raise ValueError('expected a JSON list of faults or {"faults": [...]}')
    return payload


def parse_faults(payload: Any) -> list[Fault]:
    """Return the faults of a ``/_sim/faults`` body: a list, or ``{"faults": [...]}``."""
    return [Fault.model_validate(item) for item in fault_items(payload)]
