"""Everything the simulator remembers between requests, and its report.

One ``SimState`` lives in the aiohttp application. ``report()`` is the body
of ``GET /_sim/state``: what a test needs to prove a client left nothing
behind (undeleted transcripts, unterminated streaming sessions).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .clips import ClipLibrary, load_known_clips, load_scenario_clips
from .faults import FaultBook
from .outbound import Outbound
from .scenario import Fault, Scenario
from .transcripts import Job


@dataclass
class Upload:
    """An uploaded file: its owner and bytes."""

    id: str
    owner: str
    data: bytes
    deleted: bool = False


@dataclass
class Token:
    """A temporary streaming token: good for one session before it expires."""

    value: str
    owner: str
    expires_at: float
    max_session_duration_s: int
    used: bool = False


class SimState:
    """The simulator's memory: scenario, jobs, uploads, tokens, sessions, counters."""

    def __init__(
        self,
        scenario: Scenario,
        clock: Callable[[], float] = time.monotonic,
        clips: ClipLibrary | None = None,
    ) -> None:
        self.scenario = scenario
        self.clock = clock
        if clips is None:
            extra, texts = load_scenario_clips(scenario.clips)
            clips = ClipLibrary(load_known_clips() + extra, texts)
        self.clips = clips
        # Through a lambda so a test that swaps state.clock moves the fault windows too.
        self.faults: FaultBook[Fault] = FaultBook(scenario.seed, lambda: self.clock())
        # Set when the server shuts down, so hanging handlers let go.
        self.closing = asyncio.Event()
        # Open streaming sockets, closed with 1001 when the server shuts down.
        self.sockets: set[web.WebSocketResponse] = set()
        # Downloads and webhook deliveries in flight.
        self.outbound = Outbound()
        self.reset()

    def reset(self) -> None:
        """Forget all data and counters and reinstall the scenario's faults."""
        self.jobs: dict[str, Job] = {}
        self.uploads: dict[str, Upload] = {}
        self.tokens: dict[str, Token] = {}
        self.requests: Counter[str] = Counter()
        self.job_sequence = 0
        self.streams_opened = 0
        self.streams_terminated = 0
        self.streams_unterminated = 0
        self.streams_active = 0
        self.webhook_counts: Counter[str] = Counter()
        # Deliveries and downloads of forgotten jobs must not go on.
        self.outbound.cancel()
        self.faults.install(self.scenario.faults)
        self.faults.applied.clear()

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Swap the monotonic clock (tests drive time by hand); restarts the fault windows."""
        self.clock = clock
        self.faults.install(self.faults.faults)

    @property
    def api_keys(self) -> list[str]:
        """Return the accepted API keys."""
        return self.scenario.api_keys

    def report(self) -> dict[str, Any]:
        """Return the ``GET /_sim/state`` document."""
        undeleted = [job.id for job in self.jobs.values() if not job.deleted]
        deleted = len(self.jobs) - len(undeleted)
        return {
            "transcripts": {
                "created": len(self.jobs),
                "deleted": deleted,
                "undeleted": len(undeleted),
                "undeleted_ids": undeleted,
            },
            "uploads": {
                "count": len(self.uploads),
                "stored": sum(1 for u in self.uploads.values() if not u.deleted),
            },
            "streaming": {
                "opened": self.streams_opened,
                "terminated": self.streams_terminated,
                "unterminated": self.streams_unterminated,
                "active": self.streams_active,
            },
            "webhooks": {
                name: self.webhook_counts[name]
                for name in ("scheduled", "dropped", "attempts", "delivered", "failed")
            },
            "requests": dict(self.requests),
            "faults_applied": dict(self.faults.applied),
            "faults": [f.model_dump(exclude_defaults=True) for f in self.faults.faults],
        }
