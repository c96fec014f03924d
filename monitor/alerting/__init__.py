"""Alerting: a thresholds state machine per component, an outbox in SQLite, Apprise delivery.

:class:`Alerter` is the result sink the scheduler calls last (after the store
and metrics). ``observe`` steps the component's state machine
(:mod:`.rules`), renders any alert (:mod:`.messages`) and commits the new
state with the alert rows in one transaction — that is all a probe ever waits
for. The :class:`~.outbox.OutboxWorker` delivers through Apprise
(:mod:`.delivery`) in the background. A second background loop checks the
deletion ledger for transcripts that stayed undeleted too long.
See docs/alerting.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TextIO

from monitor import maintenance
from monitor.alert_records import AlertGroup, GroupMember
from monitor.alerting import grouping
from monitor.alerting.database import DatabaseAlerts
from monitor.alerting.delivery import (
    Destination,
    Outcome,
    build_asset,
    deliver,
    load_destinations,
    route,
    split_tags,
)
from monitor.alerting.grouping import GroupNotice
from monitor.alerting.messages import Message, render, render_group, render_test
from monitor.alerting.outbox import (
    AlertMetrics,
    AlertStore,
    Backoff,
    Delivery,
    NewAlert,
    OutboxWorker,
    StoredAlert,
    alert_row,
    new_alert,
    sleep_or_wake,
)
from monitor.alerting.rules import (
    DELETION_PROBE,
    AlertEvent,
    AlertKind,
    AlertRules,
    AlertState,
    Level,
    backlog_step,
    step,
)
from monitor.config import Config
from monitor.models import LOCAL, Clock, ProbeResult, SystemClock
from monitor.probes import probe_type
from monitor.probes.registry import key_latency
from monitor.redaction import redact
from monitor.store.writer import StoreWriteError
from monitor.tasks import cancel_and_wait

__all__ = [
    "DELETION_PROBE",
    "AlertEvent",
    "AlertKind",
    "AlertMetrics",
    "AlertRules",
    "AlertState",
    "AlertStore",
    "Alerter",
    "Backoff",
    "DatabaseAlerts",
    "Delivery",
    "Destination",
    "GroupNotice",
    "Level",
    "Message",
    "NewAlert",
    "OutboxWorker",
    "Outcome",
    "StoredAlert",
    "backlog_step",
    "build_asset",
    "deliver",
    "load_destinations",
    "render",
    "render_group",
    "render_test",
    "route",
    "run_test_alert",
    "send_test",
    "split_tags",
    "step",
]

log = logging.getLogger("sttwatch.alerting")

BACKLOG_CHECK_EVERY = 60.0
OPEN_MESSAGE_LIMIT = 1000
PRUNE_EVERY = 3600.0
# How soon a held batch that could not be written is tried again (seconds).
GROUP_RETRY = 2.0
_OPENING = (AlertKind.DOWN, AlertKind.DEGRADED)


class Alerter:
    """The alerting sink: state machine per component, outbox writes, background delivery."""

    def __init__(
        self,
        config: Config,
        store: AlertStore,
        *,
        clock: Clock | None = None,
        metrics: AlertMetrics | None = None,
        destinations: Sequence[Destination] | None = None,
        backoff: Backoff | None = None,
        backlog_check_every: float = BACKLOG_CHECK_EVERY,
        send_timeout: float = 60.0,
    ) -> None:
        self.config = config
        self.rules = AlertRules.from_config(config.alerts)
        self._store = store
        self._clock = clock or SystemClock()
        self._metrics = metrics
        self._destinations = list(destinations) if destinations is not None else None
        self._backoff = backoff
        self._backlog_every = backlog_check_every
        self._send_timeout = send_timeout
        self._states: dict[tuple[str, str], AlertState] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self._worker: OutboxWorker | None = None
        self._database: DatabaseAlerts | None = None
        # Components whose state advanced while the database could not be written.
        self._unsaved: set[tuple[str, str]] = set()
        self._backlog_task: asyncio.Task[None] | None = None
        # When each target's held batch is due (from the groups this agent wrote or read).
        self._flush_due: dict[str, datetime] = {}
        self._group_wake = asyncio.Event()
        self._group_task: asyncio.Task[None] | None = None
        self._loaded = False
        self.problems: list[str] = []
        self.write_errors = 0
        self._secrets = config.secrets()
        # A lone agent (default location, quorum 1) judges its own results, as always.
        self._located = config.location != LOCAL or config.quorum != 1

    @property
    def worker(self) -> OutboxWorker:
        """Return the outbox worker (after `start`)."""
        if self._worker is None:
            raise RuntimeError("Alerter.start() has not run")
        return self._worker

    @property
    def database(self) -> DatabaseAlerts:
        """Return the watcher of the store's own health (after `start`)."""
        if self._database is None:
            raise RuntimeError("Alerter.start() has not run")
        return self._database

    async def load(self) -> None:
        """Load the persisted alert states (done by `start`; `observe` alone also loads)."""
        if not self._loaded:
            for state in await self._store.alert_states():
                self._states[(state.target, state.probe)] = state
            self._loaded = True

    async def start(self) -> None:
        """Load state and destinations, then start delivery and the deletion-backlog check.

        Started again after a stop (an agent that leads again, monitor.leadership),
        it reads the states afresh: another agent may have moved them on meanwhile.
        """
        self._loaded = False
        self._states.clear()
        self._unsaved.clear()
        await self.load()
        if self._destinations is None:
            # Reading alerts.config may touch the disk (or the network, for an http
            # config URL): not on the event loop.
            dests, self.problems = await asyncio.to_thread(load_destinations, self.config.alerts)
            self._destinations = dests
            for problem in self.problems:
                log.error("alerting: %s", problem)
        self._worker = OutboxWorker(
            self._store,
            self._destinations,
            clock=self._clock,
            give_up_after=self.config.alerts.give_up_after,
            backoff=self._backoff,
            metrics=self._metrics,
            send_timeout=self._send_timeout,
        )
        await self._worker.start()
        # The outbox cannot carry "the database is not writable": this sends around it.
        self._database = DatabaseAlerts(
            self.config,
            self._destinations,
            clock=self._clock,
            backoff=self._backoff,
            metrics=self._metrics,
            send_timeout=self._send_timeout,
        )
        if self._backlog_every > 0:
            self._backlog_task = asyncio.create_task(
                self._backlog_loop(), name="sttwatch-alert-backlog"
            )
        # Sends the held batches when their group_wait is over — also those a stopped
        # process held (they are in the store).
        self._group_task = asyncio.create_task(self._group_loop(), name="sttwatch-alert-groups")

    async def stop(self) -> None:
        """Stop the background tasks (undelivered alerts stay in the outbox for the next start)."""
        for task in (self._backlog_task, self._group_task):
            if task is not None:
                await cancel_and_wait(task)
        self._backlog_task = self._group_task = None
        if self._worker is not None:
            await self._worker.stop()
        if self._database is not None:
            await self._database.stop()

    async def __call__(self, result: ProbeResult) -> None:
        """Observe `result` (so the alerter itself is a `ResultSink`)."""
        await self.observe(result)

    async def observe(self, result: ProbeResult) -> None:
        """Step the result's component and commit its state with any alerts to the outbox."""
        await self.load()
        if self._unsaved:
            await self._save_unsaved()
        key = (result.target, result.probe)
        if self._located:
            # Several agents: a component's alert follows the quorum of its locations.
            result = await self._store.as_quorum_sees_it(result)
        async with self._locks.setdefault(key, asyncio.Lock()):
            state = self._states.get(key) or AlertState(result.target, result.probe)
            now = self._clock.now()
            window = maintenance.active(self.config, result.target, result.probe, now)
            new, events = step(state, result, now, self.rules, window is not None)
            if self.config.alerts.group_wait > 0 and result.probe != DELETION_PROBE:
                await self._commit_grouped(key, state, new, events, now)
            else:
                await self._commit(key, new, events)
        if self._database is not None:
            # After the store sink and our own commit: health reflects this result's writes.
            self._database.check(self._store.health)

    async def check_backlog(self) -> None:
        """Open or resolve each target's deletion-backlog alert from the ledger."""
        await self.load()
        # Agents in several locations each keep their own ledger, but a target's backlog
        # alert is one: every agent judges it on all of them (and commits it once).
        pending = await (self._store.overdue(0.0) if self._located else self._store.pending())
        now = self._clock.now()
        for target in self.config.targets:
            key = (target.name, DELETION_PROBE)
            # The kinds whose runs leave test data behind for the ledger to delete.
            creators = [
                k for k in target.probes if probe_type(k, target.provider).creates_test_data
            ]
            if (
                not creators
                and key not in self._states
                and not any(e.target == target.name for e in pending)
            ):
                continue  # a target that never creates transcripts has no backlog
            async with self._locks.setdefault(key, asyncio.Lock()):
                state = self._states.get(key) or AlertState(target.name, DELETION_PROBE)
                window = next(
                    (
                        w
                        for k in creators
                        if (w := maintenance.active(self.config, target.name, k, now))
                    ),
                    None,
                )
                new, events = backlog_step(state, pending, now, self.rules, window is not None)
                if events or new.open_level != state.open_level or key not in self._states:
                    await self._commit(key, new, events)

    def _bounded(self, new: AlertState) -> AlertState:
        """Return `new` with the error it opened with redacted and bounded, as stored."""
        if not new.open_message:
            return new
        # The state row keeps the error an alert opened with (for its RESOLVED):
        # remote text, so bounded, and never a secret (docs/design.md rule 4).
        message = redact(new.open_message, self._secrets)[:OPEN_MESSAGE_LIMIT]
        return replace(new, open_message=message)

    async def _commit(
        self, key: tuple[str, str], new: AlertState, events: list[AlertEvent]
    ) -> None:
        messages = [render(e, self.config) for e in events]
        alerts = [new_alert(e, m) for e, m in zip(events, messages, strict=True)]
        new = self._bounded(new)
        try:
            await self._store.save_alert_state(new, alerts)
        except StoreWriteError:
            self._send_directly(key, new, messages)
            return
        self._committed(key, new, alerts)

    def _send_directly(
        self, key: tuple[str, str], new: AlertState, messages: list[Message]
    ) -> None:
        """Send `messages` around the outbox: the database cannot take them now."""
        # The store logs unwritable databases itself (rate-limited).
        self.write_errors += 1
        if self._database is None:
            # Not started, so no direct path: the cached state stays as it was and
            # the next result makes the same decision again — late, never lost.
            return
        # The outbox cannot take these alerts, so they go out directly now; the
        # state advances in memory and is written when the database recovers.
        self._states[key] = new
        self._unsaved.add(key)
        for m in messages:
            log.info("alert (sent directly, database not writable): %s", m.title)
            self._database.send(m)

    def _committed(self, key: tuple[str, str], new: AlertState, alerts: list[NewAlert]) -> None:
        self._states[key] = new
        self._unsaved.discard(key)
        self._announce(alerts)

    def _announce(self, alerts: list[NewAlert]) -> None:
        if alerts:
            for a in alerts:
                log.info("alert: %s", a.title)
            if self._worker is not None:
                self._worker.wake()

    async def _commit_grouped(
        self,
        key: tuple[str, str],
        old: AlertState,
        new: AlertState,
        events: list[AlertEvent],
        now: datetime,
    ) -> None:
        """Commit the component's step through its target's alert group (one message per batch)."""
        resolved = old.open_level in (Level.DOWN, Level.DEGRADED) and new.open_level is None
        if not events and not resolved:
            await self._commit(key, new, events)
            return
        target, probe = key
        messages = [render(e, self.config) for e in events]
        solo = [new_alert(e, m) for e, m in zip(events, messages, strict=True)]
        by_kind = {e.kind: (e, m) for e, m in zip(events, messages, strict=True)}
        new = self._bounded(new)
        rules = self.rules
        wait = self.config.alerts.group_wait
        probes = self._probes(target)
        resolved_at = new.streak.since or now

        def decide(
            stored: str | None, group: AlertGroup | None
        ) -> tuple[AlertGroup | None, list[NewAlert]]:
            alerts: list[NewAlert] = []
            notices: list[GroupNotice] | None = []
            opening = next((by_kind[k] for k in _OPENING if k in by_kind), None)
            if opening is not None:
                event, message = opening
                if stored == event.level.value:
                    return group, []  # another agent committed this opening already
                member = self._member(event, message)
                group = grouping.join(group, target, member, now, wait, probes)
            elif resolved:
                if stored is None:
                    return group, []  # another agent committed this resolution already
                done = by_kind.get(AlertKind.RESOLVED)
                pair = (done[1].title, done[1].body) if done else None
                group, notices = grouping.leave(
                    group, probe, resolved_at, now, send_resolved=rules.send_resolved, solo=pair
                )
            elif AlertKind.REMINDER in by_kind:
                event, message = by_kind[AlertKind.REMINDER]
                group, notices = grouping.remind(
                    group,
                    self._member(event, message),
                    now,
                    rules.reminder_every,
                    (message.title, message.body),
                )
            if notices is None:
                alerts += solo  # not one of the group's: its own alert, as before grouping
            else:
                alerts += [self._group_alert(n) for n in notices]
            if group is not None:
                group, due = grouping.flush(group, now)
                alerts += [self._group_alert(n) for n in due]
            return group, alerts

        try:
            ids, group = await self._store.save_alert_group(target, new, decide, now)
        except StoreWriteError:
            self._send_directly(key, new, messages)
            return
        self._states[key] = new
        self._unsaved.discard(key)
        self._note_group(target, group)
        if ids and self._worker is not None:
            log.info("alert: %d committed for %s", len(ids), target)
            self._worker.wake()

    def _probes(self, target: str) -> tuple[str, ...]:
        """Return the target's enabled probe kinds (none once it left the config)."""
        try:
            return tuple(self.config.target(target).probes.enabled())
        except KeyError:
            return ()

    def _member(self, event: AlertEvent, message: Message) -> GroupMember:
        """Return `event`'s component as a member of its target's group."""
        result = event.result
        provider = None
        with contextlib.suppress(KeyError):
            provider = self.config.target(event.target).provider
        text = redact(event.message, self._secrets)[:OPEN_MESSAGE_LIMIT]
        return GroupMember(
            probe=event.probe,
            level=event.level,
            since=event.incident_since,
            error_kind=event.error_kind,
            message=text,
            latency_s=key_latency(result, provider) if result is not None else None,
            checked_at=result.started_at if result is not None else None,
            took_s=result.duration_s if result is not None else None,
            streak_len=event.streak_len,
            solo_title=message.title,
            solo_body=message.body,
        )

    def _group_alert(self, notice: GroupNotice) -> NewAlert:
        message = render_group(notice, self.config)
        probes = ",".join(m.probe for m in notice.members)
        return alert_row(notice.target, probes, notice.kind.value, notice.level.value, message)

    def _note_group(self, target: str, group: AlertGroup | None) -> None:
        """Remember when `target`'s held batch is due, and have the group loop look again."""
        if group is not None and group.flush_at is not None:
            self._flush_due[target] = group.flush_at
        else:
            self._flush_due.pop(target, None)
        self._group_wake.set()

    async def flush_due(self) -> None:
        """Send every held batch whose group_wait is over (one round of the group loop)."""
        now = self._clock.now()
        groups = await self._store.alert_groups()
        self._flush_due = {g.target: g.flush_at for g in groups if g.flush_at is not None}
        for target, at in list(self._flush_due.items()):
            if at > now:
                continue

            def decide(
                _: str | None, group: AlertGroup | None
            ) -> tuple[AlertGroup | None, list[NewAlert]]:
                if group is None:
                    return None, []  # another agent sent and closed it meanwhile
                group, notices = grouping.flush(group, now)
                return group, [self._group_alert(n) for n in notices]

            try:
                ids, group = await self._store.save_alert_group(target, None, decide, now)
            except StoreWriteError:
                self.write_errors += 1  # still due: the next round tries again
                continue
            self._note_group(target, group)
            if ids and self._worker is not None:
                self._worker.wake()

    async def _group_loop(self) -> None:
        while True:
            self._group_wake.clear()
            try:
                await self.flush_due()
            except Exception:  # keep going; the groups are in the store
                log.exception("alerting: sending held alerts failed")
            now = self._clock.now()
            due = [(at - now).total_seconds() for at in self._flush_due.values()]
            wait = min(due) if due else None
            if wait is not None and wait <= 0:
                wait = GROUP_RETRY  # still due after a round: its write failed
            await sleep_or_wake(self._clock, self._group_wake, wait)

    async def _save_unsaved(self) -> None:
        """Write the states that advanced while the database was not writable, while it works."""
        for key in list(self._unsaved):
            async with self._locks.setdefault(key, asyncio.Lock()):
                if key not in self._unsaved:
                    continue
                try:
                    await self._store.save_alert_state(self._states[key], [])
                except StoreWriteError:
                    return
                self._unsaved.discard(key)

    async def _backlog_loop(self) -> None:
        last_prune: float | None = None
        while True:
            try:
                await self.check_backlog()
                mono = self._clock.monotonic()
                if last_prune is None or mono - last_prune >= PRUNE_EVERY:
                    last_prune = mono
                    keep = timedelta(seconds=self.config.retention.raw)
                    await self._store.prune_alerts(self._clock.now() - keep)
            except Exception:  # keep checking; the next round reads the ledger afresh
                log.exception("alerting: deletion backlog check failed")
            await self._clock.sleep(self._backlog_every)

    def states(self) -> dict[tuple[str, str], AlertState]:
        """Return the current alert state of every component seen so far."""
        return dict(self._states)


async def send_test(
    config: Config, *, clock: Clock | None = None, send_timeout: float = 30.0
) -> tuple[list[tuple[Destination, Outcome]], list[str]]:
    """Return the outcome per destination of a test message sent to all of them, and problems.

    Every destination gets the test, whatever its tags: the point is to prove
    each URL works.
    """
    clock = clock or SystemClock()
    dests, problems = await asyncio.to_thread(load_destinations, config.alerts)
    message = render_test(config, clock.now())
    outcomes = await asyncio.gather(
        *(deliver(d, message, send_timeout=send_timeout) for d in dests)
    )
    return list(zip(dests, outcomes, strict=True)), problems


async def run_test_alert(config: Config, out: TextIO, *, send_timeout: float = 30.0) -> int:
    """Send the test message everywhere, print one line per destination; return the exit code.

    0 when every destination accepted it; 1 when any failed, any URL was
    unusable, or no destination is configured.
    """
    results, problems = await send_test(config, send_timeout=send_timeout)
    if not results and not problems:
        print(
            "sttwatch test-alert: no alert destination configured "
            "(set alerts.urls or alerts.config)",
            file=out,
        )
        return 1
    total = len(results) + len(problems)
    noun = "destination" if total == 1 else "destinations"
    print(f"sttwatch test-alert: sending a test notification to {total} {noun}", file=out)
    width = max((len(d.label) for d, _ in results), default=0)
    for dest, outcome in results:
        tags = f" [tags: {', '.join(sorted(dest.tags))}]" if dest.tags else ""
        label = dest.label.ljust(width)
        if outcome.ok:
            print(f"  ok      {label}  ({outcome.elapsed_s:.2f} s){tags}", file=out)
        else:
            print(f"  FAILED  {label}  {outcome.error}{tags}", file=out)
    for problem in problems:
        print(f"  FAILED  {problem}", file=out)
    failed = sum(not o.ok for _, o in results) + len(problems)
    if failed:
        print(f"{failed} of {total} {noun} failed.", file=out)
        return 1
    print(f"all {total} {noun} accepted the test notification.", file=out)
    return 0
