"""What every probe kind's settings have in common: :class:`ProbeSpec`.

A probe kind's spec model subclasses it; the configuration validates each
``targets[].probes.<kind>`` mapping against the spec of that kind.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, field_validator

from monitor.durations import format_duration, parse_duration

__all__ = ["Duration", "ProbeSpec"]

Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
]
"""A setting in seconds, read from a duration spelling and written back in the shortest one."""


class ProbeSpec(BaseModel):
    """How often a probe runs, how long it may take, and when it counts as degraded."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    interval: Duration = 60.0
    timeout: Duration = 10.0
    degraded_after: Duration = 2.0

    @field_validator("interval")
    @classmethod
    def _interval_positive(cls, v: float) -> float:
        if v < 1:
            raise ValueError("interval must be at least 1s")
        return v

    @field_validator("timeout")
    @classmethod
    def _timeout_positive(cls, v: float) -> float:
        if v <= 0:
            raise ValueError("timeout must be greater than 0")
        return v

    def problems(self) -> list[tuple[str, str]]:
        """Return (key, message) for each setting that conflicts with another one."""
        found: list[tuple[str, str]] = []
        if self.timeout >= self.interval:
            found.append(
                (
                    "timeout",
                    f"timeout ({format_duration(self.timeout)}) must be shorter than "
                    f"interval ({format_duration(self.interval)}): a run must end before the "
                    "next one is due",
                )
            )
        if self.degraded_after >= self.timeout:
            found.append(
                (
                    "degraded_after",
                    f"degraded_after ({format_duration(self.degraded_after)}) must be "
                    f"shorter than timeout ({format_duration(self.timeout)})",
                )
            )
        return found
