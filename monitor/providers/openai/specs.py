"""The settings of the OpenAI-compatible probe kinds (``targets[].probes.<kind>``).

Every kind carries the ``model`` it checks (None: the flavour's default) and may
name the ``flavour`` (None: the target's region, else its base URL's host).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from monitor.probes.spec import Duration, ProbeSpec

__all__ = ["ReachabilitySpec", "StreamingSpec", "TranscriptionSpec"]

FlavourName = Literal["openai", "groq", "local"]


class ReachabilitySpec(ProbeSpec):
    """The authenticated model list, timed by phase, and the configured model in it."""

    timeout: Duration = 10.0
    degraded_after: Duration = 2.0
    model: str | None = None
    flavour: FlavourName | None = None
    # OpenAI's whole list is tens of KB; a body past this is not a model list.
    max_body_bytes: int = Field(default=4_194_304, ge=1024)


class TranscriptionSpec(ProbeSpec):
    """One multipart upload of the probe clip, its transcript checked against the reference."""

    timeout: Duration = 30.0
    degraded_after: Duration = 10.0
    model: str | None = None
    flavour: FlavourName | None = None
    max_wer: float = Field(default=0.25, ge=0.0, le=1.0)
    language: str = Field(default="en", pattern=r"^[a-z]{2}$")


class StreamingSpec(ProbeSpec):
    """One ``stream=true`` transcription: time to the first text delta, then the done event."""

    timeout: Duration = 30.0
    degraded_after: Duration = 5.0
    # None: the flavour's streaming model (OpenAI's gpt-4o-mini-transcribe).
    model: str | None = None
    flavour: FlavourName | None = None
    max_wer: float = Field(default=0.35, ge=0.0, le=1.0)
    language: str = Field(default="en", pattern=r"^[a-z]{2}$")
