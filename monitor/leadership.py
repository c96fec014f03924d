"""Which agent does the duties exactly one of several may do: alerts, the status page, pruning.

Several agents (``sttwatch run`` in several locations) can share one
PostgreSQL database. Each of them probes and keeps its own deletion ledger and
janitor, but three duties must run on one agent only, or every agent would send
the same alert, write the same page and prune the same rows: *alerting* (the
alert state machine, the outbox worker, the deletion-backlog check),
*rendering* the status page, and *pruning* old rows (``retention``).

The agent that holds a PostgreSQL session advisory lock (`LEASE_KEY`, taken
with ``pg_try_advisory_lock`` on a session of its own that stays open, see
`monitor.store.Store.try_lease`) does them. Every `check_every` seconds a
follower tries the lock, and the leader checks that its session still answers
(within `alive_timeout`). The server frees the lock when the session ends:

- the leader is killed (``kill -9``, OOM) or stops: its socket closes, the
  server ends the session at once, and a follower takes over at its next try —
  within `check_every` (2 s) plus the time its duties take to start;
- the leader's machine vanishes without closing its socket: the server ends the
  session when TCP keepalive gives up (``tcp_keepalives_idle`` +
  ``tcp_keepalives_interval`` × ``tcp_keepalives_count``; deploy/compose.yaml sets
  10 + 5 × 3 = 25 s), so takeover takes that plus `check_every`;
- the leader loses the database: its check fails within `check_every` +
  `alive_timeout` (4 s) and it stops its duties — before the server, which needs
  the keepalive time above, can hand the lock to another agent.

So two agents never lead at once as long as the server's keepalive time exceeds
`check_every` + `alive_timeout`. Alert delivery is at least once, never lost: an
alert's delivery row stays open until the attempt is recorded, so a delivery the
dead leader had started is sent again, once, by the next leader (a duplicate
only when the leader died in the milliseconds between the mail server's "250 OK"
and the commit recording it; each message carries its alert id for a receiver
to tell). See docs/agents.md.

On SQLite there is one agent by construction (one process owns the file): it
always leads, with no lock, and the duties start and stop exactly as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from monitor.models import LOCAL, Clock, ProbeResult, iso
from monitor.tasks import cancel_and_wait

if TYPE_CHECKING:
    from monitor.scheduler import ResultSink

__all__ = [
    "LEASE_KEY",
    "Duty",
    "LeaderGauge",
    "Leadership",
    "LeaseSource",
]

log = logging.getLogger(__name__)


LEASE_KEY = 0x5354_5457  # "STTW": the advisory lock every agent of one database contends for
CHECK_EVERY = 2.0
ALIVE_TIMEOUT = 2.0
ACQUIRE_TIMEOUT = 5.0


class Held(Protocol):
    """A held lease (`monitor.store.postgres.Lease`)."""

    async def alive(self) -> bool:
        """Return True while the session holding the lock still answers."""
        ...

    async def release(self) -> None:
        """Unlock and give the session back."""
        ...


class LeaseSource(Protocol):
    """What leadership needs from the store: a lock on a session of its own."""

    @property
    def backend(self) -> str:
        """Return ``"sqlite"`` or ``"postgresql"``."""
        ...

    async def try_lease(self, key: int) -> Any:
        """Return a held lease on advisory lock `key`, or None when another session holds it."""
        ...


class LeaderGauge(Protocol):
    """The metric that says whether this agent leads (``sttwatch_leader{location}``)."""

    def set_leader(self, location: str, leading: bool) -> None:
        """Set the gauge of `location` to 1 (leading) or 0."""
        ...


@dataclass(slots=True)
class Duty:
    """One duty of the leader: started on taking the lead, stopped on losing it (or at exit)."""

    name: str
    start: Callable[[], Awaitable[None]]
    stop: Callable[[bool], Awaitable[None]]
    """Called with True at shutdown (a last page may be written), False when the lead is lost."""


class Leadership:
    """Takes, keeps and loses the lead; starts and stops the duties with it (see the module doc)."""

    def __init__(
        self,
        store: LeaseSource,
        *,
        clock: Clock,
        location: str = LOCAL,
        metrics: LeaderGauge | None = None,
        check_every: float = CHECK_EVERY,
        alive_timeout: float = ALIVE_TIMEOUT,
        key: int = LEASE_KEY,
    ) -> None:
        self._store = store
        self._clock = clock
        self.location = location
        self._metrics = metrics
        self.check_every = check_every
        self.alive_timeout = alive_timeout
        self.key = key
        self.shared = store.backend == "postgresql"
        self._duties: list[Duty] = []
        self._lease: Held | None = None
        self._task: asyncio.Task[None] | None = None
        self._change = asyncio.Lock()
        self.leading = False
        self.since: datetime | None = None
        self.gained = 0
        self.lost = 0
        self.last_error: str | None = None
        self._publish()

    def attach(self, metrics: LeaderGauge) -> None:
        """Report to `metrics` from now on (``sttwatch_leader{location}``)."""
        self._metrics = metrics
        self._publish()

    def add(self, duty: Duty) -> None:
        """Register `duty`; duties start in the order added and stop in reverse."""
        self._duties.append(duty)

    def gate(self, sink: ResultSink) -> ResultSink:
        """Return a result sink that passes results to `sink` only while this agent leads."""

        async def gated(result: ProbeResult) -> None:
            if self.leading:
                await sink(result)

        gated.__qualname__ = f"leader-only {getattr(sink, '__qualname__', repr(sink))}"
        return gated

    async def prune(self) -> Any:
        """Prune the store's old rows when this agent leads (the scheduler's `Maintenance`)."""
        prune = getattr(self._store, "prune", None)
        if self.leading and prune is not None:
            return await prune()
        return None

    async def start(self) -> None:
        """Lead at once on SQLite; on PostgreSQL try the lock now and then every `check_every`."""
        if not self.shared:
            await self._gain()
            return
        await self.check()
        self._task = asyncio.create_task(self._loop(), name="sttwatch-leadership")

    async def stop(self) -> None:
        """Stop the duties (shutdown: a last page may be written) and give up the lock."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        await self._lose(final=True)

    async def check(self) -> bool:
        """Try to take the lead (a follower) or confirm it (the leader); return whether we lead."""
        if self.leading:
            if self._lease is not None and not await self._alive(self._lease):
                log.warning(
                    "leadership: the database session holding the lead is gone; "
                    "stopping alerting, rendering and pruning here"
                )
                await self._lose(final=False)
            return self.leading
        try:
            lease = await asyncio.wait_for(self._store.try_lease(self.key), ACQUIRE_TIMEOUT)
        except Exception as exc:  # the database is unreachable: stay a follower, try again
            self.last_error = f"{type(exc).__name__}: {exc}".strip()[:300]
            return False
        self.last_error = None
        if lease is None:
            return False
        self._lease = lease
        await self._gain()
        return self.leading

    async def _alive(self, lease: Held) -> bool:
        try:
            return await asyncio.wait_for(lease.alive(), self.alive_timeout)
        except Exception:  # a session that does not answer in time is as good as lost
            return False

    async def _loop(self) -> None:
        while True:
            # Real time, not the injected clock: the server ends sessions in real time,
            # and a test clock that jumps on every sleep would spin this loop.
            await asyncio.sleep(self.check_every)
            try:
                await self.check()
            except Exception:  # keep contending; a bug here must not stop probing
                log.exception("leadership: check failed")

    async def _gain(self) -> None:
        async with self._change:
            if self.leading:
                return
            self.leading = True
            self.since = self._clock.now()
            self.gained += 1
            self._publish()
            if self.shared:
                log.info(
                    "leadership: this agent (%s) leads: alerting, rendering and pruning run here",
                    self.location,
                )
            started: list[Duty] = []
            for duty in self._duties:
                try:
                    await duty.start()
                except Exception:
                    # Half a leader would hold the lock with no one sending alerts: give
                    # the lead back, to this agent's next try or another agent's.
                    log.exception("leadership: starting %s failed; giving up the lead", duty.name)
                    for done in reversed(started):
                        with contextlib.suppress(Exception):
                            await done.stop(False)
                    self.leading = False
                    self.since = None
                    self._publish()
                    lease, self._lease = self._lease, None
                    if lease is not None:
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(lease.release(), self.alive_timeout)
                    return
                started.append(duty)

    async def _lose(self, *, final: bool) -> None:
        async with self._change:
            was = self.leading
            self.leading = False
            self.since = None
            if was:
                if not final:
                    self.lost += 1
                for duty in reversed(self._duties):
                    try:
                        await duty.stop(final)
                    except Exception:
                        log.exception("leadership: stopping %s failed", duty.name)
            self._publish()
            lease, self._lease = self._lease, None
            if lease is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(lease.release(), self.alive_timeout)

    def _publish(self) -> None:
        if self._metrics is not None:
            self._metrics.set_leader(self.location, self.leading)

    def report(self) -> dict[str, Any]:
        """Return what ``/healthz`` says of leadership."""
        return {
            "leading": self.leading,
            "location": self.location,
            "shared_database": self.shared,
            "since": iso(self.since) if self.since else None,
            "gained": self.gained,
            "lost": self.lost,
            "last_error": self.last_error,
        }
