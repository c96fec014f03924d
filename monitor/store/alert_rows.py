"""The alert half of `Store`: the alert state machine's rows and the alert outbox.

A mixin of `monitor.store.api.Store`, which provides `read`, `write`, the
clock and the agent's location; the SQL is in `monitor.store.alerts`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from monitor.models import LOCAL, Clock
from monitor.outcome import Quorum
from monitor.store import alerts, ingest
from monitor.store.dialect import Connection, Handle
from monitor.store.records import to_ms

if TYPE_CHECKING:
    from monitor.alert_records import AlertGroup, AlertState, Delivery, NewAlert, StoredAlert

__all__ = ["AlertRows"]

T = TypeVar("T")

# How long a delivery claimed by one agent's outbox worker is not due for another's:
# well over a send's timeout, so only a claimer that died mid-send is retried.
DELIVERY_CLAIM_MS = 180_000


class AlertRows:
    """Alert states, alerts, deliveries and attempts, read and written through the store."""

    _clock: Clock
    location: str
    quorum: Quorum

    @property
    def backend(self) -> str:
        """Return which database this store is on: ``"sqlite"`` or ``"postgresql"``."""
        raise NotImplementedError

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` on a reader connection."""
        raise NotImplementedError

    async def write(self, fn: Callable[[Handle], T]) -> T:
        """Run `fn` in a write transaction."""
        raise NotImplementedError

    async def alert_states(self) -> list[AlertState]:
        """Return every persisted alert state (one per component, plus deletion backlogs)."""
        return await self.read(alerts.load_states)

    async def save_alert_state(self, state: AlertState, new: Sequence[NewAlert]) -> list[int]:
        """Commit `state` and insert the `new` alerts in one transaction; return their ids.

        The alerts are stamped with the time the alerter decided them (`state.updated_at`).
        """
        now = to_ms(state.updated_at or self._clock.now())
        return await self.write(lambda db: alerts.insert_state_and_alerts(db.conn, state, new, now))

    async def alert_groups(self) -> list[AlertGroup]:
        """Return every open alert group (one per target whose components alert together)."""
        return await self.read(alerts.load_groups)

    async def save_alert_group(
        self,
        target: str,
        state: AlertState | None,
        decide: alerts.GroupDecision,
        now: datetime,
    ) -> tuple[list[int], AlertGroup | None]:
        """Step `target`'s alert group by `decide` and commit it with `state` and its alerts.

        One transaction: `decide` gets the component's committed open level and the
        stored group, and returns the group to keep and the alerts to insert (stamped
        `now`). Returns the alerts' ids and the group as stored.
        """
        at = to_ms(now)
        return await self.write(lambda db: alerts.write_group(db.conn, target, state, decide, at))

    async def unrouted_alerts(self) -> list[StoredAlert]:
        """Return alerts not yet routed to their destinations, oldest first."""
        return await self.read(alerts.unrouted_alerts)

    async def route_alert(
        self, alert_id: int, destinations: Sequence[tuple[str, str]], now: datetime
    ) -> None:
        """Create one delivery per (key, masked label), due at `now`, and mark the alert routed."""
        at = to_ms(now)
        await self.write(lambda db: alerts.route_alert(db.conn, alert_id, destinations, at))

    async def due_deliveries(self, now: datetime) -> list[Delivery]:
        """Return, per destination, its oldest open delivery when it is due at `now`.

        A SQLite store shared by agents in several locations (a location or quorum
        set) claims them for this agent's outbox worker, so no two send the same row.
        On PostgreSQL only the leader runs an outbox worker (`monitor.leadership`):
        its lease is the claim, and a new leader sends at once what a dead one left.
        """
        at = to_ms(now)
        if self.backend == "sqlite" and (self.location != LOCAL or self.quorum != 1):
            until = at + DELIVERY_CLAIM_MS
            return await self.write(lambda db: alerts.claim_due_deliveries(db.conn, at, until))
        return await self.read(lambda c: alerts.due_deliveries(c, at))

    async def next_delivery_at(self, exclude: Collection[str] = ()) -> datetime | None:
        """Return when the next open delivery is due (destinations in `exclude` aside)."""
        skip = tuple(exclude)
        return await self.read(lambda c: alerts.next_delivery_at(c, skip))

    async def record_delivery_attempt(
        self,
        delivery_id: int,
        *,
        at: datetime,
        ok: bool,
        error: str | None,
        elapsed_s: float,
        next_attempt_at: datetime | None,
        gave_up: bool,
    ) -> None:
        """Record one delivery attempt and the delivery's new state."""
        at_ms = to_ms(at)
        nxt = to_ms(next_attempt_at) if next_attempt_at is not None else None
        await self.write(
            lambda db: alerts.record_attempt(
                db.conn,
                delivery_id,
                at=at_ms,
                ok=ok,
                error=error,
                elapsed_ms=round(elapsed_s * 1000),
                next_attempt_at=nxt,
                gave_up=gave_up,
            )
        )

    async def prune_alerts(self, before: datetime) -> int:
        """Delete settled alerts (all deliveries done) created before `before`; return how many."""
        cutoff = to_ms(before)
        total = 0
        while True:
            n = await self.write(lambda db: alerts.prune_batch(db.conn, cutoff, ingest.PRUNE_BATCH))
            total += n
            if n < ingest.PRUNE_BATCH:
                return total
            await asyncio.sleep(0)

    async def alert_deliveries(self, limit: int = 100) -> list[dict[str, Any]]:
        """Return the newest alert deliveries with their state, newest first (for inspection)."""
        return await self.read(lambda c: alerts.deliveries(c, limit))
