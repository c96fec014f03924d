"""The alert outbox: alerts are committed to SQLite first, then delivered by a background worker.

Writing is the sink's only job (one short transaction with the component's new
state), so a slow or dead notification service never delays a probe. The
worker routes each new alert to its destinations (one delivery row per
destination), then sends, per destination, the oldest undelivered row whose
``next_attempt_at`` has come — so a destination gets its alerts in order (a
``[RESOLVED]`` never overtakes its ``[DOWN]``) and a dead destination holds up
only itself. A failed attempt is recorded and retried with exponential
backoff until the alert is older than ``give_up_after``; then it is given up.
At start the worker picks up whatever a killed process left: unrouted alerts
and undelivered rows. Delivery is at-least-once: only a process killed between
a service accepting a message and the commit that records it sends it twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from monitor.alert_records import AlertGroup, AlertState, Delivery, NewAlert, StoredAlert
from monitor.alerting.delivery import Destination, Outcome, deliver, route
from monitor.alerting.messages import Message, with_alert_id
from monitor.alerting.rules import AlertEvent
from monitor.models import Clock, LedgerEntry, ProbeResult
from monitor.store.writer import StoreWriteError
from monitor.tasks import cancel_and_wait

__all__ = [
    "AlertMetrics",
    "AlertStore",
    "Backoff",
    "Delivery",
    "Health",
    "NewAlert",
    "OutboxWorker",
    "StoredAlert",
    "alert_row",
    "message_of",
    "new_alert",
    "sleep_or_wake",
]

log = logging.getLogger("sttwatch.alerting")

# How often an attempt that could not be recorded is tried again (seconds).
UNRECORDED_RETRY = 2.0


def new_alert(event: AlertEvent, message: Message) -> NewAlert:
    """Return the outbox row of `event` rendered as `message`."""
    return alert_row(event.target, event.probe, event.kind.value, event.level.value, message)


def alert_row(target: str, probe: str, kind: str, level: str, message: Message) -> NewAlert:
    """Return the outbox row of `message`, an alert of `kind` at `level` about `target`/`probe`."""
    return NewAlert(
        target=target,
        probe=probe,
        kind=kind,
        level=level,
        title=message.title,
        body=message.body,
        body_format=message.body_format,
        notify_type=message.notify_type,
        tags=message.tags,
    )


def message_of(alert: NewAlert) -> Message:
    """Return the rendered message an outbox row keeps."""
    return Message(
        title=alert.title,
        body=alert.body,
        notify_type=alert.notify_type,
        tags=alert.tags,
        body_format=alert.body_format,
    )


class Health(Protocol):
    """Whether the store can write its database (`monitor.store.StoreHealth` is one)."""

    @property
    def writable(self) -> bool:
        """Return False while writes fail."""
        ...

    @property
    def last_error(self) -> str | None:
        """Return the last write error, if any."""
        ...

    @property
    def failing_since(self) -> datetime | None:
        """Return since when writes fail, or None."""
        ...


class AlertStore(Protocol):
    """What the alerter needs from the store (implemented by `monitor.store.Store`)."""

    async def alert_states(self) -> list[AlertState]:
        """Return every persisted alert state."""
        ...

    async def save_alert_state(self, state: AlertState, alerts: Sequence[NewAlert]) -> list[int]:
        """Commit `state` and insert `alerts` in one transaction; return the new alert ids."""
        ...

    async def alert_groups(self) -> list[AlertGroup]:
        """Return every open alert group."""
        ...

    async def save_alert_group(
        self,
        target: str,
        state: AlertState | None,
        decide: Callable[
            [str | None, AlertGroup | None], tuple[AlertGroup | None, Sequence[NewAlert]]
        ],
        now: datetime,
    ) -> tuple[list[int], AlertGroup | None]:
        """Step `target`'s group by `decide`, commit it with `state` and the alerts decided."""
        ...

    async def unrouted_alerts(self) -> list[StoredAlert]:
        """Return alerts not yet routed to destinations, oldest first."""
        ...

    async def route_alert(
        self, alert_id: int, destinations: Sequence[tuple[str, str]], now: datetime
    ) -> None:
        """Create one delivery row per (key, label) due at `now` and mark the alert routed."""
        ...

    async def due_deliveries(self, now: datetime) -> list[Delivery]:
        """Return, per destination, its oldest open delivery if it is due at `now`."""
        ...

    async def next_delivery_at(self, exclude: Collection[str] = ()) -> datetime | None:
        """Return when the next head delivery is due (destinations in `exclude` aside)."""
        ...

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
        """Record one attempt and the row's new state (delivered, retry at, or given up)."""
        ...

    async def prune_alerts(self, before: datetime) -> int:
        """Delete settled alerts created before `before`; return how many."""
        ...

    async def pending(self, target: str | None = None) -> list[LedgerEntry]:
        """Return the deletion-ledger entries not yet confirmed deleted, oldest first."""
        ...

    async def overdue(self, older_than_s: float) -> list[LedgerEntry]:
        """Return every agent's undeleted entries created more than `older_than_s` ago."""
        ...

    async def as_quorum_sees_it(self, result: ProbeResult) -> ProbeResult:
        """Return `result`, or the result standing for its component's status by the quorum."""
        ...

    @property
    def health(self) -> Health:
        """Return whether the database can be written (the database alert watches it)."""
        ...


class AlertMetrics(Protocol):
    """The part of `monitor.metrics.Metrics` the outbox reports to."""

    def alert_sent(self, result: Literal["sent", "failed", "gave_up"]) -> None:
        """Count one delivery attempt's outcome (`sttwatch_alerts_sent_total{result}`)."""
        ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """Retry delays: `first` × `factor`^(attempts−1), capped at `cap` seconds."""

    first: float = 10.0
    factor: float = 2.0
    cap: float = 600.0

    def delay(self, attempts: int) -> float:
        """Return the seconds to wait after the `attempts`-th failed attempt."""
        return float(min(self.cap, self.first * self.factor ** max(0, attempts - 1)))


async def sleep_or_wake(clock: Clock, wake: asyncio.Event, seconds: float | None) -> None:
    """Wait `seconds` on the injected `clock` (None = forever), or until `wake` is set."""
    if wake.is_set():
        return
    waiter = asyncio.ensure_future(wake.wait())
    sleeper = asyncio.ensure_future(
        clock.sleep(seconds) if seconds is not None else asyncio.Event().wait()
    )
    try:
        await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in (waiter, sleeper):
            t.cancel()
        await asyncio.gather(waiter, sleeper, return_exceptions=True)


class OutboxWorker:
    """Routes and delivers the outbox in the background; see the module docstring."""

    def __init__(
        self,
        store: AlertStore,
        destinations: Sequence[Destination],
        *,
        clock: Clock,
        give_up_after: float,
        backoff: Backoff | None = None,
        metrics: AlertMetrics | None = None,
        send_timeout: float = 60.0,
    ) -> None:
        self._store = store
        self._destinations = list(destinations)
        self._by_key = {d.key: d for d in self._destinations}
        self._clock = clock
        self._give_up_after = timedelta(seconds=give_up_after)
        self._backoff = backoff or Backoff()
        self._metrics = metrics
        self._send_timeout = send_timeout
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._inflight: dict[str, asyncio.Task[None]] = {}
        # Attempts made but not yet recorded (the database was not writable), by
        # delivery id: (destination, the write). Never re-sent while they wait.
        self._unrecorded: dict[int, tuple[str, Callable[[], Awaitable[None]]]] = {}
        self.attempts = 0

    @property
    def destinations(self) -> list[Destination]:
        """Return the destinations alerts are routed to."""
        return list(self._destinations)

    def wake(self) -> None:
        """Ask the worker to look at the outbox now (a new alert was committed)."""
        self._idle.clear()
        self._wake.set()

    async def start(self) -> None:
        """Start the worker; it first delivers whatever an earlier process left behind."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="sttwatch-alert-outbox")

    async def stop(self) -> None:
        """Stop the worker; attempts in flight are abandoned and retried at the next start."""
        task, self._task = self._task, None
        if task is None:
            return
        await cancel_and_wait(task)

    async def wait_idle(self) -> None:
        """Return once the worker has nothing due and no attempt in flight (tests, demo)."""
        await self._idle.wait()

    async def _dispatch(self) -> float | None:
        """Route new alerts, start the due deliveries; return seconds until the next is due."""
        await self._record_unrecorded()
        await self._route_new()
        # A destination whose last attempt is not recorded yet waits: sending its row
        # again would repeat an alert the service may already have accepted.
        busy = set(self._inflight) | {dest for dest, _ in self._unrecorded.values()}
        for d in await self._store.due_deliveries(self._clock.now()):
            if d.destination in busy:
                continue
            busy.add(d.destination)
            task = asyncio.create_task(self._attempt(d), name=f"sttwatch-alert-{d.id}")
            self._inflight[d.destination] = task
            task.add_done_callback(functools.partial(self._finished, d.destination))
        nxt = await self._store.next_delivery_at(exclude=busy)
        wait = None if nxt is None else max(0.0, (nxt - self._clock.now()).total_seconds())
        if self._unrecorded:
            wait = UNRECORDED_RETRY if wait is None else min(wait, UNRECORDED_RETRY)
        return wait

    async def _record_unrecorded(self) -> None:
        """Write the attempts that could not be recorded earlier, oldest first, while it works."""
        for delivery_id, (_, write) in list(self._unrecorded.items()):
            try:
                await write()
            except StoreWriteError:
                return
            del self._unrecorded[delivery_id]

    def _finished(self, key: str, task: asyncio.Task[None]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]
        if not task.cancelled() and task.exception() is not None:
            log.error("alert outbox: delivery task failed", exc_info=task.exception())
        # The destination's next row (or this one's retry) may be due: look again.
        self._wake.set()

    async def _run(self) -> None:
        failures = 0
        try:
            while True:
                self._wake.clear()
                self._idle.clear()
                try:
                    wait = await self._dispatch()
                    failures = 0
                except Exception:  # the outbox must outlive a store hiccup; it is all in SQLite
                    failures += 1
                    log.exception("alert outbox: cannot read or update the outbox; retrying")
                    wait = min(60.0, 2.0**failures)
                if not self._inflight and (wait is None or wait > 0):
                    self._idle.set()
                if wait is None or wait > 0:
                    await sleep_or_wake(self._clock, self._wake, wait)
        finally:
            tasks = list(self._inflight.values())
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _route_new(self) -> None:
        for alert in await self._store.unrouted_alerts():
            targets = route(self._destinations, alert.tags)
            await self._store.route_alert(
                alert.id, [(d.key, d.label) for d in targets], self._clock.now()
            )
            if not targets:
                log.info(
                    "alert %s (%s) has no destination: none configured or none wants its tags",
                    alert.id,
                    alert.title,
                )

    async def _attempt(self, d: Delivery) -> None:
        now = self._clock.now()
        dest = self._by_key.get(d.destination)
        too_old = now - d.alert.created_at >= self._give_up_after
        if dest is None or (too_old and d.attempts == 0):
            # Never attempted and already stale (the process was down longer than
            # give_up_after), or its destination left the config: sending now would
            # page someone about the past, or nobody.
            error = (
                "destination no longer configured"
                if dest is None
                else "older than give_up_after before the first attempt; not sent"
            )
            await self._record(d, now, Outcome(False, error), None, gave_up=True)
            return
        self.attempts += 1
        message = with_alert_id(message_of(d.alert), d.alert.id)
        outcome = await deliver(dest, message, send_timeout=self._send_timeout)
        done_at = self._clock.now()
        if outcome.ok:
            await self._record(d, done_at, outcome, None, gave_up=False)
            return
        give_up = done_at - d.alert.created_at >= self._give_up_after
        delay = timedelta(seconds=self._backoff.delay(d.attempts + 1))
        retry_at = None if give_up else done_at + delay
        await self._record(d, done_at, outcome, retry_at, gave_up=give_up)

    async def _record(
        self,
        d: Delivery,
        at: datetime,
        outcome: Outcome,
        retry_at: datetime | None,
        *,
        gave_up: bool,
    ) -> None:
        write = functools.partial(
            self._store.record_delivery_attempt,
            d.id,
            at=at,
            ok=outcome.ok,
            error=outcome.error,
            elapsed_s=outcome.elapsed_s,
            next_attempt_at=retry_at,
            gave_up=gave_up,
        )
        label = f"{d.alert.title!r} to {d.destination_label}"
        try:
            await write()
        except StoreWriteError:
            # Full disk or read-only database: keep the outcome in memory and write it
            # when the database recovers; until then this destination is not sent to.
            self._unrecorded[d.id] = (d.destination, write)
            log.warning(
                "alert %s: the attempt could not be recorded (database not writable); "
                "it is kept in memory and recorded later, not sent again",
                label,
            )
        result: Literal["sent", "failed", "gave_up"] = (
            "sent" if outcome.ok else ("gave_up" if gave_up else "failed")
        )
        if self._metrics is not None:
            self._metrics.alert_sent(result)
        if outcome.ok:
            log.info("alert %s delivered (attempt %d)", label, d.attempts + 1)
        elif gave_up:
            attempts = d.attempts + 1
            log.error("alert %s given up after %d attempts: %s", label, attempts, outcome.error)
        else:
            log.warning(
                "alert %s failed (attempt %d, retry at %s): %s",
                label,
                d.attempts + 1,
                retry_at.isoformat() if retry_at else "-",
                outcome.error,
            )
