"""What ``sttwatch demo`` shows of the OpenAI-compatible API: its probes and a plausible past.

The same interface as AssemblyAI's profile (monitor/providers/assemblyai/demo.py):
the demo target's ``probes:`` block and the shape of its synthetic history,
plus the region (flavour) of the demo target and its simulator's scenario.
The demo simulates OpenAI itself, with streaming on gpt-4o-mini-transcribe.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from monitor.demo_profile import Failure
from monitor.models import ErrorKind

__all__ = [
    "OUTAGES",
    "REGION",
    "SLOW",
    "base_latency",
    "details",
    "phases",
    "probes",
    "scenario",
]

REGION = "openai"


def scenario() -> dict[str, Any]:
    """Return the demo simulator's scenario: OpenAI, a transcription taking ~0.6 s."""
    return {"flavour": REGION, "processing_ms": 600, "stream_interval_ms": 40}


def probes(interval: float, timeout: str) -> dict[str, Any]:
    """Return the demo target's ``probes:`` block: every kind every `interval` seconds."""
    every = {"interval": f"{interval}s", "timeout": timeout}
    return {
        "reachability": {**every, "degraded_after": "1s"},
        "transcription": {**every, "degraded_after": "2s"},
        "streaming": {**every, "degraded_after": "1500ms", "model": "gpt-4o-mini-transcribe"},
    }


# A rate-limited half hour and a short spell of a missing model (a deploy that renamed it).
OUTAGES = (
    Failure(
        "transcription",
        timedelta(days=1, hours=8),
        timedelta(minutes=30),
        ErrorKind.RATE_LIMITED,
        "Rate limited by the API (HTTP 429, retry after 20 s)",
    ),
    Failure(
        "reachability",
        timedelta(days=4, hours=2),
        timedelta(minutes=15),
        ErrorKind.MODEL_MISSING,
        "API reachable, but the model 'whisper-1' is not in its model list",
    ),
)
SLOW = (("streaming", timedelta(days=2, hours=6), timedelta(minutes=40)),)

_BASE_LATENCY = {"reachability": 0.12, "transcription": 0.9, "streaming": 0.35}


def base_latency(probe: str) -> float:
    """Return the typical key latency of `probe`, in seconds (0.5 s for a kind not drawn)."""
    return _BASE_LATENCY.get(probe, 0.5)


def phases(probe: str, latency: float) -> dict[str, float]:
    """Return plausible phase timings of a run of `probe` whose key latency is `latency`."""
    if probe == "reachability":
        return {"connect": latency * 0.3, "ttfb": latency * 0.6, "total": latency}
    if probe == "transcription":
        return {"upload": latency * 0.1, "processing": latency * 0.85, "download": latency * 0.05}
    if probe == "streaming":
        return {"upload": 0.05, "first_transcript": latency, "final": latency * 1.8}
    return {}


def details(probe: str, rng: random.Random) -> dict[str, Any]:
    """Return a passing run's details: a small word error rate where the kind checks text."""
    wer = round(rng.uniform(0.0, 0.08), 3)
    return {} if probe == "reachability" else {"wer": wer}
