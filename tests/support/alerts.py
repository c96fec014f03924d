"""The alerting tests' inputs: a config with one target and its alert URLs, and its results.

The DOWN result carries hostile text and the API key, as a careless probe might
echo them, so every test built on it also checks nothing of the kind reaches a message.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.config import Config, parse_config
from monitor.models import ErrorKind, ProbeResult, Status
from tests.support.receivers import API_KEY

T0 = datetime(2026, 3, 2, 9, 14, 2, tzinfo=UTC)
PUBLIC_URL = "https://status.example.com/"
EVIL = "upstream said <script>alert(1)</script> `rm -rf` " + "x" * 1000


def make_config(urls: list[str] | None = None, **alerts: Any) -> Config:
    """Return the one-target config; its alerts per component (group_wait 0) unless told."""
    return parse_config(
        {
            "public_url": PUBLIC_URL,
            "targets": [{"name": "aai-us", "display_name": "AssemblyAI (US)", "api_key": API_KEY}],
            "alerts": {"urls": urls or [], "group_wait": 0, **alerts},
        },
        env={},
    )


def down_result(i: int, message: str = EVIL) -> ProbeResult:
    return ProbeResult(
        target="aai-us",
        probe="streaming",
        started_at=T0 + timedelta(minutes=i),
        duration_s=4.21,
        status=Status.DOWN,
        error_kind=ErrorKind.STREAM_CLOSED,
        # A careless probe echoing the key must still not leak it into an alert.
        message=f"{message} (Authorization: {API_KEY})",
        phases={"connect": 0.1, "begin": 0.2},
        details={"close_code": 3005, "close_reason": "Internal error"},
    )


def slow_result(i: int) -> ProbeResult:
    return ProbeResult(
        target="aai-us",
        probe="streaming",
        started_at=T0 + timedelta(minutes=i),
        duration_s=5.0,
        status=Status.DEGRADED,
        phases={"connect": 0.12, "begin": 0.2, "first_transcript": 3.4},
    )


def up_result(i: int) -> ProbeResult:
    return ProbeResult(
        target="aai-us",
        probe="streaming",
        started_at=T0 + timedelta(minutes=i),
        duration_s=3.0,
        status=Status.UP,
        phases={"connect": 0.1, "begin": 0.2, "first_transcript": 0.45},
    )
