"""The alert that sttwatch cannot write its own database, delivered around the outbox.

Every other alert is committed to the outbox first and delivered from there.
The outbox lives in the database, so when the database cannot be written (a
full disk, a file system gone read-only, a lock held too long) that path is
exactly what is broken. This alert and its RESOLVED therefore go straight to
the destinations — routed like a DOWN alert (tags ``critical``, ``down`` or
``resolved``, ``database``, ``probe-database``) — with retries and per-destination
order kept in memory. The price is durability: a process that stops while such
an alert is still undelivered forgets it; if the database is still unwritable
at the next start, that start alerts again. The alerter also sends through
here the component alerts it cannot commit to the outbox (`send`).
See docs/alerting.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from monitor.alerting.delivery import Destination, deliver, route
from monitor.alerting.messages import Message, remote_text
from monitor.alerting.outbox import AlertMetrics, Backoff, Health
from monitor.config import Config
from monitor.durations import duration_text
from monitor.models import Clock, Status
from monitor.outcome import Streak, Thresholds, step
from monitor.redaction import redact
from monitor.tasks import cancel_and_wait

__all__ = ["DatabaseAlerts", "render_unwritable", "render_writable_again"]

log = logging.getLogger("sttwatch.alerting")

DATABASE_PROBE = "database"


def _when(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _footer(config: Config) -> list[str]:
    return [f"- Status page: {config.public_url}"] if config.public_url else []


def render_unwritable(config: Config, health: Health, since: datetime) -> Message:
    """Return the alert saying sttwatch cannot write its database (error masked and escaped)."""
    lines = [
        f"sttwatch **cannot write its database** since {_when(since)}.",
        "",
        f"- Database: {remote_text(config.database, 200)}",
        f"- Error: {remote_text(health.last_error or 'unknown error')}",
        "- Probes keep running and /metrics stays current, but results, incidents and "
        "alerts are not stored while this lasts (this alert was sent directly, "
        "not through the outbox).",
        "- Fix: free disk space or make the file system writable again; "
        "sttwatch resumes writing by itself.",
        *_footer(config),
    ]
    body = "\n".join(lines) + "\n"
    secrets = config.secrets()
    return Message(
        title="[DOWN] sttwatch cannot write its database",
        body=redact(body, secrets),
        notify_type="failure",
        tags=("critical", "down", DATABASE_PROBE, f"probe-{DATABASE_PROBE}"),
    )


def render_writable_again(config: Config, since: datetime, until: datetime) -> Message:
    """Return the RESOLVED message for the database alert."""
    lasted = duration_text(max(0.0, (until - since).total_seconds()))
    lines = [
        f"sttwatch **writes its database again** after {lasted} "
        f"(from {_when(since)} to {_when(until)}).",
        "",
        "- Results of that time are missing from the database and the status page; "
        "/metrics had them.",
        *_footer(config),
    ]
    return Message(
        title="[RESOLVED] sttwatch can write its database again",
        body=redact("\n".join(lines) + "\n", config.secrets()),
        notify_type="success",
        tags=("critical", "resolved", DATABASE_PROBE, f"probe-{DATABASE_PROBE}"),
    )


@dataclass(slots=True)
class _Queued:
    message: Message
    created_at: datetime
    attempts: int = 0


class DatabaseAlerts:
    """Watches the store's health; sends the database alert and its RESOLVED directly.

    `check` is called with the store's health after every result, and the
    outcome machine judges the checks like results (writable is up). The alert
    opens after `failure_threshold` unwritable checks in a row and resolves
    after `success_threshold` writable ones, so a write that squeezes through
    on a nearly full disk does not make the alert flap.
    """

    def __init__(
        self,
        config: Config,
        destinations: Sequence[Destination],
        *,
        clock: Clock,
        backoff: Backoff | None = None,
        metrics: AlertMetrics | None = None,
        send_timeout: float = 60.0,
    ) -> None:
        self._config = config
        self._destinations = list(destinations)
        self._clock = clock
        self._backoff = backoff or Backoff()
        self._metrics = metrics
        self._send_timeout = send_timeout
        self._give_up_after = timedelta(seconds=config.alerts.give_up_after)
        self._thresholds = Thresholds.from_config(config.alerts)
        self._open_since: datetime | None = None
        # A writable check counts as up, an unwritable one as down.
        self._streak = Streak()
        self._queues: dict[str, deque[_Queued]] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def open_since(self) -> datetime | None:
        """Return since when the database alert is open, or None."""
        return self._open_since

    def check(self, health: Health) -> None:
        """Open or resolve the database alert from the store's `health`; sends in the background."""
        now = self._clock.now()
        status = Status.UP if health.writable else Status.DOWN
        judged = step(self._streak, status, now, self._thresholds)
        self._streak = judged.streak
        if self._open_since is None:
            if judged.down:
                self._open_since = health.failing_since or now
                log.error("alert: sttwatch cannot write its database (%s)", health.last_error)
                self._send(render_unwritable(self._config, health, self._open_since), now)
        elif judged.good:
            since, self._open_since = self._open_since, None
            log.info("alert: sttwatch can write its database again")
            if self._config.alerts.send_resolved:
                self._send(render_writable_again(self._config, since, now), now)

    def send(self, message: Message) -> None:
        """Send `message` directly to the destinations that want it (background, in order)."""
        self._send(message, self._clock.now())

    def _send(self, message: Message, now: datetime) -> None:
        for dest in route(self._destinations, message.tags):
            self._queues.setdefault(dest.key, deque()).append(_Queued(message, now))
            task = self._tasks.get(dest.key)
            # A drain task that found its queue empty has returned without yielding,
            # so a task that is not done is still looping and will see this message.
            if task is None or task.done():
                self._tasks[dest.key] = asyncio.create_task(
                    self._drain(dest), name=f"sttwatch-db-alert-{dest.key}"
                )

    async def _drain(self, dest: Destination) -> None:
        queue = self._queues[dest.key]
        while queue:
            item = queue[0]
            outcome = await deliver(dest, item.message, send_timeout=self._send_timeout)
            item.attempts += 1
            result: Literal["sent", "failed", "gave_up"]
            if outcome.ok:
                queue.popleft()
                result = "sent"
                log.info("alert %r to %s delivered directly", item.message.title, dest.label)
            elif self._clock.now() - item.created_at >= self._give_up_after:
                queue.popleft()
                result = "gave_up"
                log.error(
                    "alert %r to %s given up after %d attempts: %s",
                    item.message.title,
                    dest.label,
                    item.attempts,
                    outcome.error,
                )
            else:
                result = "failed"
                log.warning(
                    "alert %r to %s failed (attempt %d): %s",
                    item.message.title,
                    dest.label,
                    item.attempts,
                    outcome.error,
                )
            if self._metrics is not None:
                self._metrics.alert_sent(result)
            if result == "failed":
                await self._clock.sleep(self._backoff.delay(item.attempts))

    async def wait_idle(self) -> None:
        """Return once every queued database alert is delivered or given up (tests)."""
        while tasks := [t for t in self._tasks.values() if not t.done()]:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        """Stop sending; undelivered database alerts are dropped (they live in memory only)."""
        tasks, self._tasks = list(self._tasks.values()), {}
        for t in tasks:
            await cancel_and_wait(t)
