"""The operator's half of `Store`: ``sttwatch incident`` writes (docs/incidents.md).

A mixin of `monitor.store.api.Store`, which provides `read`, `write` and the
clock; the SQL is in `monitor.store.operator_incidents`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from monitor.models import Clock
from monitor.store import operator_incidents
from monitor.store.dialect import Connection, Handle
from monitor.store.records import to_ms

__all__ = ["OperatorRows"]

T = TypeVar("T")


class OperatorRows:
    """Operator incidents, updates, resolutions and postmortems, written through the store."""

    _clock: Clock

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Run `fn` on a reader connection."""
        raise NotImplementedError

    async def write(self, fn: Callable[[Handle], T]) -> T:
        """Run `fn` in a write transaction."""
        raise NotImplementedError

    def _now_ms(self) -> int:
        return to_ms(self._clock.now())

    async def open_operator_incident(
        self,
        target: str,
        kinds: Sequence[str],
        *,
        title: str,
        message: str,
        status: str = "investigating",
        impact: str = "minor",
    ) -> int:
        """Open an operator incident of `target`'s probe `kinds`; return its id once committed.

        Raises `IncidentError` (nothing written) for a status or impact Statuspage lacks.
        """
        at = self._now_ms()
        return await self.write(
            lambda db: operator_incidents.open_incident(
                db.conn,
                target=target,
                kinds=list(kinds),
                title=title,
                message=message,
                status=status,
                impact=impact,
                at=at,
            )
        )

    async def post_incident_update(self, incident_id: int, *, status: str, message: str) -> None:
        """Append an operator update to the open incident `incident_id` (of either source)."""
        at = self._now_ms()
        await self.write(
            lambda db: operator_incidents.post_update(
                db.conn, incident_id, status=status, body=message, at=at
            )
        )

    async def resolve_incident(self, incident_id: int, *, message: str) -> None:
        """Resolve the operator incident `incident_id`; a probe incident's is refused."""
        at = self._now_ms()
        await self.write(
            lambda db: operator_incidents.resolve(db.conn, incident_id, body=message, at=at)
        )

    async def set_postmortem(self, incident_id: int, text: str) -> None:
        """Set the postmortem of the resolved incident `incident_id`."""
        at = self._now_ms()
        await self.write(
            lambda db: operator_incidents.set_postmortem(db.conn, incident_id, text=text, at=at)
        )

    async def incident_revision(self) -> tuple[Any, ...]:
        """Return a token that changes whenever an operator writes (what a renderer polls)."""
        return await self.read(operator_incidents.revision)
