"""What the Deepgram simulator remembers between requests, and its ``/_sim/state`` report.

Deepgram keeps no transcript, so there is nothing to delete; what a test needs
to prove is that a client closed every stream it opened (``CloseStream``, not
a dropped socket that keeps billing) and, for ``mip_opt_out``, what each
request asked for: the request log (``GET /v1/projects/{id}/requests/{id}``)
holds every ``/v1/listen`` call.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from ..clips import ClipLibrary, load_known_clips, load_scenario_clips
from ..faults import FaultBook
from ..outbound import Outbound
from .scenario import HTTP_ACTIONS, HTTP_ENDPOINTS, Fault, Scenario


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One ``/v1/listen`` call as the project's request log shows it."""

    request_id: str
    api_key: str
    created: str
    path: str  # path and query, as the client sent them
    code: int
    callback: str | None
    response: dict[str, Any]


@dataclass(slots=True)
class Grant:
    """A temporary token: its minting key and when it stops working (for new handshakes)."""

    key: str
    expires_at: float


class DeepgramState:
    """The simulator's memory: scenario, clips, faults, tokens, the request log, counters."""

    def __init__(self, scenario: Scenario, clock: Callable[[], float] = time.monotonic) -> None:
        self.scenario = scenario
        self.clock = clock
        extra, texts = load_scenario_clips(scenario.clips)
        self.clips = ClipLibrary(load_known_clips() + extra, texts)
        self.faults: FaultBook[Fault] = FaultBook(
            scenario.seed,
            lambda: self.clock(),
            http_endpoints=HTTP_ENDPOINTS,
            http_actions=HTTP_ACTIONS,
        )
        self.closing = asyncio.Event()
        self.sockets: set[web.WebSocketResponse] = set()
        self.outbound = Outbound()
        self.reset()

    def reset(self) -> None:
        """Forget all data and counters and reinstall the scenario's faults."""
        self.grants: dict[str, Grant] = {}
        self.log: dict[str, LoggedRequest] = {}
        self.requests: Counter[str] = Counter()
        self.streams: Counter[str] = Counter()
        self.callbacks: Counter[str] = Counter()
        self.outbound.cancel()
        self.faults.install(self.scenario.faults)
        self.faults.applied.clear()

    def key_of(self, scheme: str, credential: str) -> str | None:
        """Return the API key behind a credential, or None when it is not accepted."""
        if scheme == "token":
            return credential if credential in self.scenario.api_keys else None
        grant = self.grants.get(credential)
        if grant is None or self.clock() >= grant.expires_at:
            return None
        return grant.key

    def report(self) -> dict[str, Any]:
        """Return the ``GET /_sim/state`` document."""
        opened = self.streams["opened"]
        return {
            "listen": {
                "requests": len(self.log),
                "mip_opt_out": sum("mip_opt_out=true" in r.path for r in self.log.values()),
            },
            "streaming": {
                "opened": opened,
                # Ended by the client's CloseStream (or an empty frame), or by the server.
                "closed": self.streams["closed"],
                # The client dropped the socket without CloseStream: billing would go on.
                "dropped": self.streams["dropped"],
                "active": self.streams["active"],
            },
            "grants": len(self.grants),
            "callbacks": {
                name: self.callbacks[name]
                for name in ("scheduled", "dropped", "attempts", "delivered", "failed")
            },
            "requests": dict(self.requests),
            "faults_applied": dict(self.faults.applied),
            "faults": [f.model_dump(exclude_defaults=True) for f in self.faults.faults],
        }
