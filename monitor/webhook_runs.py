"""The runs waiting for a webhook, shared by the probes and sttwatch's receiver.

A probe that asks an API to call back opens a :class:`RunInbox` in the
:class:`LiveRuns` registry: a random token (the last segment of the URL the
API is given) and a random secret (the value of the custom header the API is
asked to send). The receiver (:mod:`monitor.webhook_receiver`) looks a call's
token up here, checks its secret, and hands the inbox the calls that carry
it; everything else it refuses and counts (:data:`REFUSALS`). The composition
root builds one registry per process and passes it to both sides; nothing
here is global, and nothing here does I/O.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "HEADER",
    "RECEIVER_PATH",
    "REFUSALS",
    "LiveRuns",
    "RunInbox",
    "TokenBucket",
    "WebhookCall",
    "checked_base_url",
]

RECEIVER_PATH = "/webhooks"
"""Where the receiver listens on sttwatch's web server: ``/webhooks/<run token>``."""

HEADER = "X-Sttwatch-Webhook-Secret"
"""The custom header the API is asked to send the run's secret in."""

REFUSALS: tuple[str, ...] = (
    "no_secret",  # a live run's token without the secret header
    "wrong_secret",  # a live run's token with another secret
    "unknown_run",  # a token of no run (a guess, or one ended long ago)
    "ended_run",  # a token of a run that has just ended (a late retry or duplicate)
    "too_large",  # a body over the receiver's limit
    "rate_limited",  # more authenticated calls for one run than its bucket allows
    "malformed",  # an authenticated call whose body is not a JSON object
)
"""Why the receiver refuses a call: the closed ``reason`` label vocabulary."""

MAX_CALLS = 8
"""Calls an inbox keeps; later ones are only counted (a run expects one or two)."""

ENDED_KEPT = 256
"""How many ended runs' tokens are remembered, to tell a late call from a guess."""


def checked_base_url(url: str) -> str:
    """Return `url` (``webhook_base_url``) without a trailing slash; ValueError if unusable."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"must be an http(s) URL with a host, got {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"must have no query or fragment (the run's path is added), got {url!r}")
    try:
        port = parts.port  # urlsplit takes any port; reading it checks it is 0-65535
    except ValueError:
        port = 0
    if port == 0 or any(ch.isspace() for ch in url):
        raise ValueError(f"must be a URL the API can call (a port 1-65535, no spaces), got {url!r}")
    return url.rstrip("/")


@dataclass(frozen=True, slots=True)
class WebhookCall:
    """One authenticated call for a run: when it arrived (the run's monotonic clock), its body."""

    arrived: float
    body: dict[str, Any]


class TokenBucket:
    """A token bucket: `capacity` calls at once, refilled at `rate` per second."""

    def __init__(self, capacity: float, rate: float, now: float) -> None:
        self.capacity, self.rate = capacity, rate
        self.tokens, self.stamp = capacity, now

    def take(self, now: float) -> bool:
        """Return True and use a token if one is left at `now`, else False."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1.0:
            return False
        self.tokens -= 1.0
        return True


class RunInbox:
    """One run's expectation of a call: its URL, secret, and what arrived for it."""

    def __init__(self, token: str, secret: str, url: str, monotonic: Callable[[], float]) -> None:
        self.token, self.secret, self.url, self.monotonic = token, secret, url, monotonic
        self.header_name = HEADER
        self.calls: list[WebhookCall] = []
        self.dropped = 0  # authenticated calls beyond MAX_CALLS: counted, not kept
        self.unauthenticated = 0  # calls on this run's URL without its secret
        self.malformed = 0  # authenticated calls whose body was no JSON object
        # Four calls at once, then one a second: a provider's retries fit, a flood does not.
        self.bucket = TokenBucket(capacity=4, rate=1.0, now=monotonic())
        self._new = asyncio.Event()

    def authentic(self, presented: str | None) -> bool:
        """Return True when `presented` is this run's secret (a constant-time comparison)."""
        return presented is not None and hmac.compare_digest(
            presented.encode("utf-8", "surrogateescape"), self.secret.encode()
        )

    def accept(self, body: dict[str, Any]) -> None:
        """Keep an authenticated call's body (stamped now) and wake the waiting run."""
        call = WebhookCall(self.monotonic(), body)
        if len(self.calls) < MAX_CALLS:
            self.calls.append(call)
        else:
            self.dropped += 1
        self._new.set()

    def note_refused(self, malformed: bool = False) -> None:
        """Count a call for this run that was refused (no or wrong secret, or malformed)."""
        if malformed:
            self.malformed += 1
        else:
            self.unauthenticated += 1

    @property
    def received(self) -> int:
        """Return how many authenticated calls arrived (kept or only counted)."""
        return len(self.calls) + self.dropped

    async def wait(self, seen: int) -> None:
        """Return once more than `seen` calls were kept (the caller bounds the wait)."""
        while len(self.calls) <= seen:
            self._new.clear()
            await self._new.wait()


class LiveRuns:
    """The registry of runs waiting for a call, by token; what the receiver refuses, counted.

    `base_url` is the public URL the API reaches sttwatch's web server at
    (``webhook_base_url``); `on_refused` is told each refusal's reason (the metrics).
    """

    def __init__(
        self, base_url: str | None, on_refused: Callable[[str], None] | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/") if base_url else None
        self.on_refused = on_refused
        self.refused: Counter[str] = Counter()
        self._live: dict[str, RunInbox] = {}
        self._ended: OrderedDict[str, None] = OrderedDict()

    @contextmanager
    def open(self, monotonic: Callable[[], float]) -> Iterator[RunInbox]:
        """Yield a new run's inbox (stamped by `monotonic`), registered until the block ends."""
        if self.base_url is None:
            raise RuntimeError("no webhook_base_url: the receiver cannot be reached")
        token = secrets.token_urlsafe(24)
        inbox = RunInbox(
            token,
            secrets.token_urlsafe(32),
            f"{self.base_url}{RECEIVER_PATH}/{token}",
            monotonic,
        )
        self._live[token] = inbox
        try:
            yield inbox
        finally:
            del self._live[token]
            self._ended[token] = None
            while len(self._ended) > ENDED_KEPT:
                self._ended.popitem(last=False)

    def get(self, token: str) -> RunInbox | None:
        """Return the live run of `token`, or None."""
        return self._live.get(token)

    def ended(self, token: str) -> bool:
        """Return True when `token` belonged to a run that ended recently."""
        return token in self._ended

    @property
    def live(self) -> int:
        """Return how many runs are waiting now."""
        return len(self._live)

    def tokens(self) -> tuple[str, ...]:
        """Return the tokens of the runs waiting now (in-process only: they are secrets)."""
        return tuple(self._live)

    def ended_tokens(self) -> tuple[str, ...]:
        """Return the tokens of the runs that ended recently, oldest first."""
        return tuple(self._ended)

    def refuse(self, reason: str) -> None:
        """Count a refused call under `reason` (one of REFUSALS)."""
        self.refused[reason] += 1
        if self.on_refused is not None:
            self.on_refused(reason)
