"""Pure data shared by every part of sttwatch: statuses, error kinds, probe results.

Nothing here does I/O. The JSON shape of :class:`ProbeResult` is the public
contract printed by ``sttwatch once --json`` (docs/design.md §3).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import aiohttp
    from pydantic import SecretStr

    from monitor.webhook_runs import LiveRuns

# Statuspage's incident statuses and impacts (docs/incidents.md): an open incident is
# investigating, identified or monitoring (an operator moves it on), then resolved.
INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
OPEN_INCIDENT_STATUSES = INCIDENT_STATUSES[:3]
INCIDENT_IMPACTS = ("minor", "major", "critical")


class Status(StrEnum):
    """Outcome of one probe run."""

    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"

    @property
    def severity(self) -> int:
        """Return 0 for up, 1 for degraded, 2 for down (the `sttwatch_probe_status` value)."""
        return _SEVERITY[self]


_SEVERITY = {Status.UP: 0, Status.DEGRADED: 1, Status.DOWN: 2}


class ErrorKind(StrEnum):
    """Why a probe run was down; the vocabulary of docs/design.md §3."""

    TIMEOUT = "timeout"
    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    AUTH = "auth"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    BAD_RESPONSE = "bad_response"
    TRANSCRIPTION_FAILED = "transcription_failed"
    JOB_TIMEOUT = "job_timeout"
    INACCURATE = "inaccurate"
    DELETION_FAILED = "deletion_failed"
    MODEL_MISSING = "model_missing"
    STREAM_CLOSED = "stream_closed"
    STREAM_NO_TRANSCRIPT = "stream_no_transcript"
    WEBHOOK_MISSING = "webhook_missing"
    WEBHOOK_EARLY = "webhook_early"
    WEBHOOK_DUPLICATE = "webhook_duplicate"
    WEBHOOK_UNAUTHENTICATED = "webhook_unauthenticated"
    WEBHOOK_MALFORMED = "webhook_malformed"
    INTERNAL = "internal"


LOCAL = "local"
"""The location of an agent that names none (config `location:`), and of rows stored before."""


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def iso(dt: datetime) -> str:
    """Return `dt` as ISO 8601 UTC with a trailing ``Z`` and millisecond precision."""
    return dt.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """What one probe run found. Expected failures are data, never exceptions."""

    target: str
    probe: str
    started_at: datetime
    duration_s: float
    status: Status
    error_kind: ErrorKind | None = None
    message: str = ""
    phases: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    # Where the run was made from: the agent's config `location:` (stamped by run_probe).
    location: str = LOCAL

    def __post_init__(self) -> None:
        if self.status is Status.DOWN and self.error_kind is None:
            raise ValueError("a down result needs an error_kind")
        if self.status is not Status.DOWN and self.error_kind is not None:
            raise ValueError("only a down result carries an error_kind")

    @property
    def ok(self) -> bool:
        """Return True when the run was up or degraded (every check passed)."""
        return self.status is not Status.DOWN

    def to_json(self) -> dict[str, Any]:
        """Return the JSON object of docs/design.md §3 (one line of ``once --json``)."""
        return {
            "target": self.target,
            "probe": self.probe,
            "started_at": iso(self.started_at),
            "duration_s": round(self.duration_s, 6),
            "status": self.status.value,
            "error_kind": self.error_kind.value if self.error_kind else None,
            "message": self.message,
            "phases": {k: round(v, 6) for k, v in self.phases.items()},
            "details": self.details,
            "location": self.location,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProbeResult:
        """Return the result that :meth:`to_json` produced `data` from."""
        started = data["started_at"].replace("Z", "+00:00")
        kind = data.get("error_kind")
        return cls(
            target=data["target"],
            probe=data["probe"],
            started_at=datetime.fromisoformat(started),
            duration_s=float(data["duration_s"]),
            status=Status(data["status"]),
            error_kind=ErrorKind(kind) if kind else None,
            message=data.get("message", ""),
            phases=dict(data.get("phases") or {}),
            details=dict(data.get("details") or {}),
            location=data.get("location") or LOCAL,
        )


class Clock(Protocol):
    """Injected time source (docs/design.md rule 6)."""

    def monotonic(self) -> float:
        """Return seconds on a monotonic clock."""
        ...

    def now(self) -> datetime:
        """Return the current wall-clock time, aware UTC."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` (tests may advance virtual time instead)."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """Return `time.monotonic()`."""
        return time.monotonic()

    def now(self) -> datetime:
        """Return the current UTC time."""
        return utcnow()

    async def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        import asyncio

        await asyncio.sleep(seconds)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One transcript a probe created and that is not yet confirmed deleted."""

    target: str
    transcript_id: str
    created_at: datetime
    attempts: int = 0
    last_error: str | None = None


class DeletionLedger(Protocol):
    """Durable record of transcripts a probe created, so none is ever left behind."""

    async def record(self, target: str, transcript_id: str) -> None:
        """Persist (committed) that `transcript_id` exists on `target` and must be deleted."""
        ...

    async def mark_deleted(self, target: str, transcript_id: str) -> None:
        """Persist that the deletion of `transcript_id` was confirmed."""
        ...

    async def mark_attempt(self, target: str, transcript_id: str, error: str) -> None:
        """Persist a failed deletion attempt (the janitor retries later)."""
        ...

    async def pending(self, target: str | None = None) -> list[LedgerEntry]:
        """Return the entries not yet confirmed deleted, oldest first."""
        ...


SessionFactory = Callable[..., "aiohttp.ClientSession"]


@dataclass(slots=True)
class ProbeContext:
    """What a probe may use besides its target and spec: HTTP sessions, time, the ledger.

    `webhooks` is the registry of runs waiting for a call to sttwatch's own
    receiver; None when nothing serves it (``sttwatch once``).
    """

    session_factory: SessionFactory
    clock: Clock
    ledger: DeletionLedger
    user_agent: str = "sttwatch"
    webhooks: LiveRuns | None = None
    location: str = LOCAL  # the agent's; every result of a run made with this context carries it


class ProbeTarget(Protocol):
    """What a probe may read of its target (monitor.config.Target is one)."""

    @property
    def name(self) -> str:
        """Return the target's slug."""
        ...

    @property
    def label(self) -> str:
        """Return the target's human name."""
        ...

    @property
    def provider(self) -> str:
        """Return the name of the target's provider ("assemblyai")."""
        ...

    @property
    def api_base(self) -> str:
        """Return the REST base URL, without a trailing slash."""
        ...

    @property
    def streaming_base(self) -> str:
        """Return the streaming base URL (ws:// or wss://), without a trailing slash."""
        ...

    @property
    def api_key(self) -> SecretStr:
        """Return the API key."""
        ...


ProbeFn = Callable[[ProbeTarget, Any, ProbeContext], Awaitable[ProbeResult]]
"""A probe kind's run coroutine; its spec is the kind's own ProbeSpec subclass.

The spec is ``Any`` here because a table of every kind's run holds functions of
different spec types; monitor.probes.ProbeType ties each run to its spec.
"""
