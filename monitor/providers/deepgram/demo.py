"""What ``sttwatch demo`` shows of Deepgram: its probes' settings and a plausible past.

The same profile interface as AssemblyAI's (``probes``, ``OUTAGES``, ``SLOW``,
``SLOWDOWN``, ``base_latency``, ``phases``, ``details``), with
Deepgram's phases and simulator endpoints: a transcription is one synchronous
request, a stream ends with Finalize and CloseStream.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

from monitor.demo_profile import Failure
from monitor.models import ErrorKind

__all__ = [
    "OUTAGES",
    "SLOW",
    "SLOWDOWN",
    "base_latency",
    "details",
    "phases",
    "probes",
]


def probes(interval: float, timeout: str) -> dict[str, Any]:
    """Return the demo target's ``probes:`` block: every kind every `interval` seconds."""
    every = {"interval": f"{interval}s", "timeout": timeout}
    return {
        "reachability": {**every, "degraded_after": "1s"},
        "transcription": {**every, "degraded_after": "1500ms", "request_log_wait": "1s"},
        "streaming": {**every, "degraded_after": "2s", "finalize_wait": "1s"},
    }


# An idle-stream outage one day, a rate-limited afternoon another.
OUTAGES = (
    Failure(
        "streaming",
        timedelta(days=1, hours=9),
        timedelta(minutes=20),
        ErrorKind.SERVER_ERROR,
        "Deepgram produced no response in time (close 1011): NET-0000",
    ),
    Failure(
        "transcription",
        timedelta(days=4, hours=2),
        timedelta(minutes=30),
        ErrorKind.RATE_LIMITED,
        "Rate limited by the API (HTTP 429)",
    ),
)
# A slow stretch of first transcripts two days back.
SLOW = (("streaming", timedelta(days=2, hours=6), timedelta(minutes=45)),)

# The storyline's slowdown for Deepgram, should it be the first provider with one: (what
# the demo says after the provider's label, the faults it installs in its simulator).
# No FAILURE: the storyline's failure stays AssemblyAI's streaming (tests/cli/test_demo.py).
SLOWDOWN = (
    "streaming slows down: the first Results comes 2.5 s after the audio; "
    "time to first transcript passes 2 s",
    [{"endpoint": "ws", "action": "first_result_delay", "delay_ms": 2500}],
)

_BASE_LATENCY = {"reachability": 0.06, "transcription": 0.6, "streaming": 0.9}


def base_latency(probe: str) -> float:
    """Return the typical key latency of `probe`, in seconds (0.5 s for a kind not drawn)."""
    return _BASE_LATENCY.get(probe, 0.5)


def phases(probe: str, latency: float) -> dict[str, float]:
    """Return plausible phase timings of a run of `probe` whose key latency is `latency`."""
    if probe == "reachability":
        return {"connect": latency * 0.3, "ttfb": latency * 0.6, "total": latency}
    if probe == "transcription":
        return {"transcribe": latency, "verify": 0.002, "request_log": 0.05}
    if probe == "streaming":
        return {"connect": 0.03, "first_transcript": latency, "first_final": latency + 1.1}
    return {}


def details(probe: str, rng: random.Random) -> dict[str, Any]:
    """Return a passing run's details: a small word error rate where the kind checks text."""
    wer = round(rng.uniform(0.0, 0.1), 3)
    return {} if probe == "reachability" else {"wer": wer}
