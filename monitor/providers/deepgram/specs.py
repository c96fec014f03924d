"""The settings of Deepgram's probe kinds (``targets[].probes.<kind>`` of a Deepgram target)."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from monitor.probes.spec import Duration, ProbeSpec

__all__ = ["ReachabilitySpec", "StreamingSpec", "TranscriptionSpec"]


class ReachabilitySpec(ProbeSpec):
    """The authenticated GET of the project list (or another cheap path), timed by phase."""

    timeout: Duration = 10.0
    degraded_after: Duration = 2.0
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Regional hosts may not serve the Manage API: a target there can name another GET.
    path: str = "/v1/projects"

    @field_validator("path")
    @classmethod
    def _absolute_path(cls, v: str) -> str:
        if not v.startswith("/") or urlsplit(v).netloc:
            raise ValueError(f"must be a path starting with '/', got {v!r}")
        return v


class TranscriptionSpec(ProbeSpec):
    """One synchronous ``POST /v1/listen`` of the probe clip, checked against its text."""

    timeout: Duration = 30.0
    degraded_after: Duration = 5.0
    max_wer: float = Field(default=0.25, ge=0.0, le=1.0)
    model: str = "nova-3"
    language: str = "en"
    # Opt out of the Model Improvement Program: the audio is kept only while processed.
    mip_opt_out: bool = True
    # Read the request back from the project's request log to see the opt-out was recorded.
    verify_opt_out: bool = True
    request_log_wait: Duration = 5.0
    audio_url: str | None = None
    reference_text: str | None = None

    @field_validator("audio_url")
    @classmethod
    def _audio_url_http(cls, v: str | None) -> str | None:
        if v is not None and urlsplit(v).scheme not in ("http", "https"):
            raise ValueError(f"must be an http(s) URL, got {v!r}")
        return v

    def problems(self) -> list[tuple[str, str]]:
        """Return the base checks plus the reference text one."""
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


class StreamingSpec(ProbeSpec):
    """One live ``/v1/listen`` session with the probe clip sent at real-time pace."""

    timeout: Duration = 30.0
    degraded_after: Duration = 2.0
    max_wer: float = Field(default=0.35, ge=0.0, le=1.0)
    model: str = "nova-3"
    language: str = "en"
    endpointing_ms: int = Field(default=300, ge=10, le=10_000)
    frame_ms: int = Field(default=100, ge=20, le=1000)
    mip_opt_out: bool = True
    # How long to wait after Finalize for the final Results it flushes.
    finalize_wait: Duration = 3.0
