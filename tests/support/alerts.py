"""The alerting tests' inputs: a one-target config, its results, and a runtime with its alerter.

The DOWN result carries hostile text and the API key, as a careless probe might
echo them, so every test built on it also checks nothing of the kind reaches a message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.alerting import Alerter, Backoff
from monitor.app import open_runtime
from monitor.config import Config, parse_config
from monitor.models import Clock, ErrorKind, ProbeResult, Status
from monitor.runtime import Runtime
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


@asynccontextmanager
async def alerting_runtime(
    config: Config, *, clock: Clock | None = None, backlog_check_every: float = 0
) -> AsyncIterator[tuple[Runtime, Alerter]]:
    """Yield one life of sttwatch: the runtime and its started alerter, as `run` wires them."""
    async with open_runtime(config, clock=clock) as rt:
        alerter = Alerter(
            config,
            rt.store,
            metrics=rt.metrics,
            backoff=Backoff(first=0.05, cap=0.2),
            backlog_check_every=backlog_check_every,
        )
        rt.sinks.append(alerter)
        await alerter.start()
        try:
            yield rt, alerter
        finally:
            await alerter.stop()
