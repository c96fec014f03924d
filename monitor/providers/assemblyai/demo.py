"""What ``sttwatch demo`` shows of AssemblyAI: its probes' settings and a plausible past.

The demo itself (monitor/demo.py) is provider-neutral: it asks this module for
the probes block of AssemblyAI's target, the shape of the synthetic history
(latency of each kind, the outages and the slow hour it draws) and what its
storyline does to the simulator (``SLOWDOWN``, ``FAILURE``), so the names of
AssemblyAI's probe kinds and simulator endpoints live here, with the provider.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from monitor.demo_profile import Failure
from monitor.models import ErrorKind

__all__ = [
    "FAILURE",
    "OUTAGES",
    "SLOW",
    "SLOWDOWN",
    "base_latency",
    "details",
    "phases",
    "probes",
    "scenario",
]


def scenario() -> dict[str, Any]:
    """Return the demo simulator's scenario: a fixed seed, so every demo draws the same."""
    return {"seed": 7}


def probes(interval: float, timeout: str) -> dict[str, Any]:
    """Return the demo target's ``probes:`` block: every kind every `interval` seconds."""
    every = {"interval": f"{interval}s", "timeout": timeout}
    return {
        "reachability": {**every, "degraded_after": "1s"},
        "transcription": {
            **every,
            "degraded_after": "2500ms",
            "poll_interval": "200ms",
            "poll_max_interval": "500ms",
        },
        "streaming": {**every, "degraded_after": "2s"},
    }


# A short streaming outage and a transcription outage a few days back.
OUTAGES = (
    Failure(
        "streaming",
        timedelta(days=2, hours=5),
        timedelta(minutes=25),
        ErrorKind.STREAM_CLOSED,
        "Session closed with 3005: Internal server error",
    ),
    Failure(
        "transcription",
        timedelta(days=3, hours=11),
        timedelta(minutes=40),
        ErrorKind.SERVER_ERROR,
        "HTTP 503 from the API",
    ),
)
# A slow hour of transcriptions yesterday: (kind, how long ago it started, span).
SLOW = (("transcription", timedelta(days=1, hours=3), timedelta(minutes=50)),)

# The storyline's chapters for this provider: (what the demo says after the provider's
# label, the faults it installs in the simulator).
SLOWDOWN = (
    "transcription slows down: submitting a job takes 1.5 s more; turnaround passes 2.5 s",
    [{"endpoint": "transcript.create", "action": "delay", "delay_ms": 1500}],
)
FAILURE = (
    "streaming fails: sessions are closed with 3005 (server error); an incident opens",
    [{"endpoint": "ws", "action": "close", "code": 3005, "reason": "Internal server error"}],
)

_BASE_LATENCY = {"reachability": 0.08, "transcription": 1.2, "streaming": 0.45}


def base_latency(probe: str) -> float:
    """Return the typical key latency of `probe`, in seconds (0.5 s for a kind not drawn)."""
    return _BASE_LATENCY.get(probe, 0.5)


def phases(probe: str, latency: float) -> dict[str, float]:
    """Return plausible phase timings of a run of `probe` whose key latency is `latency`."""
    if probe == "reachability":
        return {"connect": latency * 0.3, "ttfb": latency * 0.6, "total": latency}
    if probe == "transcription":
        return {"submit": 0.05, "queued": latency * 0.3, "processing": latency * 0.7 - 0.05}
    if probe == "streaming":
        return {"connect": 0.02, "begin": 0.05, "first_transcript": latency}
    return {}


def details(probe: str, rng: random.Random) -> dict[str, Any]:
    """Return a passing run's details: a small word error rate where the kind checks text."""
    wer = round(rng.uniform(0.0, 0.12), 3)
    return {} if probe == "reachability" else {"wer": wer}
