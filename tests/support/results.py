"""Probe results for the store tests: one of any shape, and a reproducible random history."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.models import ErrorKind, ProbeResult, Status

T0 = datetime(2026, 10, 30, 22, 17, 13, 250_000, tzinfo=UTC)

COMPONENTS = [("us", "reachability"), ("us", "transcription"), ("eu", "streaming")]
KINDS = [ErrorKind.TIMEOUT, ErrorKind.SERVER_ERROR, ErrorKind.AUTH, ErrorKind.STREAM_CLOSED]


def make(
    target: str = "us",
    probe: str = "reachability",
    at: datetime = T0,
    status: Status = Status.UP,
    latency: float = 0.05,
    kind: ErrorKind | None = None,
    message: str = "",
    wer: float | None = None,
) -> ProbeResult:
    """Return a result whose key latency (docs/design.md §3) is `latency`."""
    if status is Status.DOWN and kind is None:
        kind = ErrorKind.TIMEOUT
    if probe == "reachability":
        phases = {"dns": 0.001, "connect": 0.003, "ttfb": latency * 0.8, "total": latency}
    elif probe == "transcription":
        # turnaround = submit + queued + processing when no explicit turnaround phase
        phases = {
            "upload": 0.4,
            "submit": latency * 0.1,
            "queued": latency * 0.3,
            "processing": latency * 0.6,
            "verify": 0.001,
        }
    else:
        phases = {"connect": 0.1, "begin": 0.05, "first_transcript": latency}
    details: dict[str, Any] = {"http_status": 200}
    if wer is not None:
        details["wer"] = wer
    return ProbeResult(
        target=target,
        probe=probe,
        started_at=at,
        duration_s=latency + 0.5,
        status=status,
        error_kind=kind if status is Status.DOWN else None,
        message=message if status is Status.DOWN else "",
        phases=phases,
        details=details,
    )


def history(seed: int, days: float, step_s: float = 60.0) -> list[ProbeResult]:
    """Return a random but reproducible history of all COMPONENTS in started_at order."""
    rng = random.Random(seed)
    out = []
    n = int(days * 86400 / step_s)
    for i in range(n):
        for target, probe in COMPONENTS:
            at = T0 + timedelta(milliseconds=round((i * step_s + rng.uniform(0, 5)) * 1000))
            roll = rng.random()
            status = Status.DOWN if roll < 0.08 else Status.DEGRADED if roll < 0.2 else Status.UP
            latency = rng.lognormvariate(math.log(0.3 if probe != "transcription" else 8), 0.8)
            out.append(
                make(
                    target,
                    probe,
                    at,
                    status,
                    latency,
                    kind=rng.choice(KINDS),
                    message=f"failure {i}",
                    wer=round(rng.uniform(0, 0.4), 3) if probe != "reachability" else None,
                )
            )
    out.sort(key=lambda r: r.started_at)
    return out
