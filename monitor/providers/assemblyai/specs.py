"""The settings of AssemblyAI's probe kinds (``targets[].probes.<kind>``)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from monitor.probes.spec import Duration, ProbeSpec

__all__ = ["JobSpec", "ReachabilitySpec", "StreamingSpec", "TranscriptionSpec", "WebhookSpec"]


class ReachabilitySpec(ProbeSpec):
    """The authenticated GET of the transcript list, timed by phase."""

    timeout: Duration = 10.0
    degraded_after: Duration = 2.0
    max_body_bytes: int = Field(default=1_048_576, ge=1024)


class JobSpec(ProbeSpec):
    """The settings of every kind that submits the probe clip as a transcription job."""

    speech_models: list[str] = Field(default_factory=lambda: ["universal-2"], min_length=1)
    language_code: str = "en_us"
    poll_interval: Duration = 0.5
    poll_max_interval: Duration = 3.0

    def problems(self) -> list[tuple[str, str]]:
        """Return the base checks plus the polling one."""
        found = super().problems()
        if self.poll_max_interval < self.poll_interval:
            found.append(("poll_max_interval", "must not be shorter than poll_interval"))
        return found


class TranscriptionSpec(JobSpec):
    """Upload, transcribe, verify, delete and confirm the deletion of the probe clip."""

    # 55 s, not the 120 s of the first sketch: a run must end before the next one is due.
    timeout: Duration = 55.0
    degraded_after: Duration = 30.0
    max_wer: float = Field(default=0.25, ge=0.0, le=1.0)
    audio_url: str | None = None
    reference_text: str | None = None

    @field_validator("audio_url")
    @classmethod
    def _audio_url_http(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).scheme not in ("http", "https"):
            raise ValueError(f"must be an http(s) URL, got {v!r}")
        return v

    def problems(self) -> list[tuple[str, str]]:
        """Return the job checks plus the reference text one."""
        found = super().problems()
        if self.audio_url and not self.reference_text:
            found.append(
                (
                    "reference_text",
                    "required when audio_url is set "
                    "(the words spoken in your clip, to compute the word error rate)",
                )
            )
        return found


class WebhookSpec(JobSpec):
    """Submit the probe clip with a webhook to sttwatch's receiver and time the call."""

    # The job takes seconds; what is left of the timeout is how long the call may take.
    timeout: Duration = 45.0
    # The key latency is the delivery delay (job terminal -> call received).
    degraded_after: Duration = 5.0
    # Polled only to time the job's end: a short ceiling keeps the delivery delay precise.
    poll_max_interval: Duration = 1.0
    # After the call, how long further calls for the same transcript count as duplicates.
    duplicate_window: Duration = Field(default=3.0, le=5.0)


class StreamingSpec(ProbeSpec):
    """One v3 streaming session with the probe clip sent at real-time pace."""

    timeout: Duration = 30.0
    degraded_after: Duration = 2.0
    max_wer: float = Field(default=0.35, ge=0.0, le=1.0)
    speech_model: str = "universal-streaming-english"
    auth: Literal["key", "token"] = "key"
    frame_ms: int = Field(default=50, ge=50, le=100)
