"""What the OpenAI-compatible simulator remembers between requests, and its report."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import web

from ..clips import ClipLibrary, load_known_clips, load_scenario_clips
from ..faults import FaultBook
from .flavours import FLAVOURS, Flavour
from .replies import RateLimiter
from .scenario import HTTP_ACTIONS, HTTP_ENDPOINTS, Fault, Scenario


class SimState:
    """The simulator's memory: scenario, flavour, clips, faults, rate limits, counters."""

    def __init__(self, scenario: Scenario, clock: Callable[[], float] = time.monotonic) -> None:
        self.scenario = scenario
        self.flavour: Flavour = FLAVOURS[scenario.flavour]
        self.clock = clock
        extra, texts = load_scenario_clips(scenario.clips)
        self.clips = ClipLibrary(load_known_clips() + extra, texts)
        self.faults: FaultBook[Fault] = FaultBook(
            scenario.seed,
            lambda: self.clock(),
            http_endpoints=HTTP_ENDPOINTS,
            http_actions=HTTP_ACTIONS,
        )
        self.limiter = RateLimiter(scenario.rate_limit, self.flavour.daily_requests)
        # Set when the server shuts down, so hanging handlers let go.
        self.closing = asyncio.Event()
        # The API has no WebSocket; the shared control closes these at shutdown (none).
        self.sockets: set[web.WebSocketResponse] = set()
        self.reset()

    def reset(self) -> None:
        """Forget all counters and reinstall the scenario's faults."""
        self.requests: Counter[str] = Counter()
        self.transcriptions: Counter[str] = Counter()
        self.streams: Counter[str] = Counter()
        self.limiter.reset()
        self.faults.install(self.scenario.faults)
        self.faults.applied.clear()

    @property
    def require_auth(self) -> bool:
        """Return whether requests need one of the accepted keys."""
        if self.scenario.require_auth is not None:
            return self.scenario.require_auth
        return self.flavour.require_auth

    @property
    def max_upload_bytes(self) -> int:
        """Return the largest request body a transcription may have."""
        return self.scenario.max_upload_bytes or self.flavour.max_upload_bytes

    def report(self) -> dict[str, Any]:
        """Return the ``GET /_sim/state`` document."""
        return {
            "flavour": self.flavour.name,
            # The API keeps nothing: an answer is the whole transcript, nothing to delete.
            "stored": 0,
            "transcriptions": {
                name: self.transcriptions[name] for name in ("answered", "failed", "audio_ms")
            },
            "streams": {name: self.streams[name] for name in ("opened", "completed", "cut")},
            "requests": dict(self.requests),
            "faults_applied": dict(self.faults.applied),
            "faults": [f.model_dump(exclude_defaults=True) for f in self.faults.faults],
        }
