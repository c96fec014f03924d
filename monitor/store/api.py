"""`Store`: the async face of sttwatch's database, a SQLite file or a PostgreSQL server.

Writes are jobs for the one writer thread (`monitor.store.writer`); reads run
on a small pool of reader threads, each with its own read-only connection
(SQLite: WAL lets them proceed while the writer commits; PostgreSQL: pooled
connections, one REPEATABLE READ snapshot per read): `monitor.store.connections`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from monitor.config import Retention
from monitor.models import LOCAL, Clock, LedgerEntry, ProbeResult, SystemClock
from monitor.outcome import Quorum, Thresholds, combine
from monitor.redaction import Redactor
from monitor.store import ingest, queries, uptime
from monitor.store.alert_rows import AlertRows
from monitor.store.connections import Connections
from monitor.store.dialect import Connection, Handle
from monitor.store.ingest import ComponentIds
from monitor.store.operator_rows import OperatorRows
from monitor.store.records import (
    DAY_MS,
    HOUR_MS,
    ComponentState,
    Incident,
    LocationState,
    Rollup,
    StoredResult,
    StoreHealth,
    to_ms,
)

if TYPE_CHECKING:
    from monitor.store.postgres import Lease

__all__ = ["Store"]

log = logging.getLogger(__name__)


def _prune_batch(db: Handle, *, table: str, cutoff: int) -> int:
    return ingest.prune_batch(db.conn, table, cutoff)


T = TypeVar("T")

# Results per transaction when seeding in bulk: large enough to amortise the
# commit and roll-up merges, small enough that a probe's write queued behind it
# waits well under a second.
BULK_CHUNK = 20_000


class Store(AlertRows, OperatorRows):
    """sttwatch's database: results, roll-ups, incidents, the deletion ledger.

    Implements the `DeletionLedger` protocol of `monitor.models`. Open with
    ``await Store.open(path)`` (a SQLite file) or ``await Store.open(url)``
    (``postgresql://user:password@host:port/db``) and always ``await
    store.close()`` (or use ``async with await Store.open(...) as store``).
    """

    def __init__(
        self,
        path: str,
        *,
        thresholds: Thresholds,
        retention: Retention,
        clock: Clock,
        busy_timeout_s: float,
        secrets: Iterable[str] = (),
        providers: Mapping[str, str] | None = None,
        location: str = LOCAL,
        quorum: Quorum = 1,
        location_stale_after: float = 15 * 60.0,
    ) -> None:
        self.path = path
        # Each target's provider: a result's key latency (its roll-ups) is its provider's kind's.
        self.providers: Mapping[str, str] = dict(providers or {})
        # This agent's location: its ledger entries carry it; incidents follow the quorum
        # of every location's results (docs/storage.md, Locations).
        self.location = location
        self.quorum = quorum
        self.location_stale_after = location_stale_after
        # Deletion errors quote the server, which may echo the API key back.
        self._redactor = Redactor(secrets)
        self.thresholds = thresholds
        self.retention = retention
        self._clock = clock
        self._conns = Connections(path, clock=clock, busy_timeout_s=busy_timeout_s)
        self._writer = self._conns.writer
        self._ids = ComponentIds()
        self._writer.on_failure(self._ids.clear)

    @property
    def backend(self) -> str:
        """Return which database this store is on: ``"sqlite"`` or ``"postgresql"``."""
        return self._conns.backend

    @classmethod
    async def open(
        cls,
        path: str,
        *,
        failure_threshold: int = Thresholds().failure_threshold,
        success_threshold: int = Thresholds().success_threshold,
        degraded_threshold: int = Thresholds().degraded_threshold,
        retention: Retention | None = None,
        clock: Clock | None = None,
        busy_timeout_s: float = 5.0,
        secrets: Iterable[str] = (),
        providers: Mapping[str, str] | None = None,
        location: str = LOCAL,
        quorum: Quorum = 1,
        location_stale_after: float = 15 * 60.0,
    ) -> Store:
        """Return an open store at `path` (a file, or a PostgreSQL URL), its schema migrated.

        Raises `StoreWriteError` if the database cannot be created or migrated.
        `busy_timeout_s` is how long a write waits for a lock held by another
        process before it fails. `secrets` (the config's) are masked out of the
        deletion errors it stores. `providers` maps target names to their
        provider (the config's), whose kinds define each result's key latency.
        `location` is the agent's (its deletion ledger is its own); `quorum` and
        `location_stale_after` decide incidents across locations; the thresholds,
        when incidents open and close (`degraded_threshold` 0: slow runs open none).
        """
        store = cls(
            path,
            thresholds=Thresholds(failure_threshold, success_threshold, degraded_threshold),
            retention=retention or Retention(),
            clock=clock or SystemClock(),
            busy_timeout_s=busy_timeout_s,
            secrets=secrets,
            providers=providers,
            location=location,
            quorum=quorum,
            location_stale_after=location_stale_after,
        )
        store._writer.start()
        try:
            await store._writer.submit(store._conns.migrate, transactional=False)
        except BaseException:
            await store.close()
            raise
        return store

    async def close(self) -> None:
        """Finish queued writes, then close every connection and thread."""
        await self._conns.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def health(self) -> StoreHealth:
        """Return whether the database is writable, and since when it is not."""
        return self._writer.health

    # ------------------------------------------------------------------ writes

    async def write(self, fn: Callable[[Handle], T]) -> T:
        """Return `fn(db)` run on the writer thread in one committed transaction.

        The extension point for other parts of the store (alert state, outbox);
        `db.conn` is the writer's connection (on SQLite, `db` is also a
        sqlite-utils `Database`). Raises `StoreWriteError` when the database
        cannot be written.
        """
        return await self._writer.submit(fn)

    async def add_result(self, result: ProbeResult) -> int:
        """Store `result` with its roll-ups and incident step; return its row id once committed."""

        def job(db: Handle) -> int:
            _, ids = ingest.apply_results(
                db.conn,
                self._ids,
                (result,),
                self.thresholds,
                want_ids=True,
                providers=self.providers,
                **self._quorum(),
            )
            return ids[0]

        return await self.write(job)

    async def add_results_once(self, results: Sequence[ProbeResult]) -> int:
        """Store those of `results` not stored yet, in one transaction; return how many were new.

        A result is "stored" when its component has a row of the same location,
        start (ms), duration (µs) and status: what a buffer flushed again after a
        commit whose answer was lost sends twice (`monitor.store.spool`).
        """

        def job(db: Handle) -> int:
            fresh = [r for r in results if not ingest.result_stored(db.conn, self._ids, r)]
            n, _ = ingest.apply_results(db.conn, self._ids, fresh, self.thresholds, want_ids=False)
            return n

        return await self.write(job)

    async def add_results(self, results: Iterable[ProbeResult]) -> int:
        """Store many results in large transactions (seeding); return how many were stored.

        Same roll-up and incident logic as `add_result`, applied in the given
        order; each chunk is committed on its own.
        """
        total = 0
        it = iter(results)
        while chunk := list(itertools.islice(it, BULK_CHUNK)):

            def job(db: Handle, chunk: list[ProbeResult] = chunk) -> int:
                n, _ = ingest.apply_results(
                    db.conn,
                    self._ids,
                    chunk,
                    self.thresholds,
                    want_ids=False,
                    providers=self.providers,
                    **self._quorum(),
                )
                return n

            total += await self.write(job)
        return total

    def _quorum(self) -> dict[str, Any]:
        return {
            "quorum": self.quorum,
            "stale_after_ms": round(self.location_stale_after * 1000),
        }

    # -------------------------------------------------------- deletion ledger

    async def record(self, target: str, transcript_id: str) -> None:
        """Persist (committed) that `transcript_id` exists on `target` and must be deleted."""
        now = to_ms(self._clock.now())
        loc = self.location
        await self.write(lambda db: ingest.ledger_record(db.conn, target, transcript_id, now, loc))

    async def mark_deleted(self, target: str, transcript_id: str) -> None:
        """Persist that the deletion of `transcript_id` was confirmed."""
        now = to_ms(self._clock.now())
        loc = self.location
        await self.write(
            lambda db: ingest.ledger_mark_deleted(db.conn, target, transcript_id, now, loc)
        )

    async def mark_attempt(self, target: str, transcript_id: str, error: str) -> None:
        """Persist a failed deletion attempt (the janitor retries later), `secrets` masked."""
        now = to_ms(self._clock.now())
        error = self._redactor.redact(error)
        await self.write(
            lambda db: ingest.ledger_mark_attempt(
                db.conn, target, transcript_id, error, now, self.location
            )
        )

    async def pending(self, target: str | None = None) -> list[LedgerEntry]:
        """Return this agent's entries not yet confirmed deleted, oldest first.

        Each agent deletes only what its own probes created: another location's
        entry may belong to a run still going there.
        """
        return await self.read(lambda c: queries.ledger_pending(c, target, self.location))

    async def pending_counts(self) -> dict[str, int]:
        """Return this agent's undeleted transcripts per target (0 once all are gone)."""
        return await self.read(lambda c: queries.ledger_pending_counts(c, self.location))

    async def overdue(self, older_than_s: float) -> list[LedgerEntry]:
        """Return every agent's undeleted entries older than `older_than_s`, oldest first."""
        cutoff = to_ms(self._clock.now() - timedelta(seconds=older_than_s))
        return await self.read(lambda c: queries.ledger_overdue(c, cutoff))

    # ------------------------------------------------------------------- reads

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Return `fn(conn)` run on a reader thread against one consistent snapshot.

        The read-side extension point (alert state, outbox queries).
        """
        return await self._conns.read(fn)

    async def latest(
        self, target: str | None = None, probe: str | None = None
    ) -> list[ProbeResult]:
        """Return the last result of each matching component, ordered by target and probe."""
        return await self.read(lambda c: queries.latest(c, target, probe))

    async def results(
        self,
        target: str | None = None,
        probe: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before_id: int | None = None,
        location: str | None = None,
    ) -> list[ProbeResult]:
        """Return up to `limit` (≤ 1000) results started in [since, until), newest first."""
        rows = await self.result_rows(target, probe, since, until, limit, before_id, location)
        return [r.result for r in rows]

    async def result_rows(
        self,
        target: str | None = None,
        probe: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before_id: int | None = None,
        location: str | None = None,
    ) -> list[StoredResult]:
        """Return like `results`, each with its row id (pass the last as `before_id` to page).

        `location`: only the results probed from there.
        """
        s = to_ms(since) if since is not None else None
        u = to_ms(until) if until is not None else None
        return await self.read(
            lambda c: queries.result_rows(c, target, probe, s, u, limit, before_id, location)
        )

    async def location_states(self) -> list[LocationState]:
        """Return each location's latest view of each component, stale locations left out."""
        now = self._clock.now()
        since = to_ms(now - timedelta(seconds=self.location_stale_after))
        return await self.read(lambda c: queries.location_states(c, since))

    async def as_quorum_sees_it(self, result: ProbeResult) -> ProbeResult:
        """Return `result` if its status is its component's by the quorum, else a result that is.

        The component's status combines each live location's latest result
        (`monitor.outcome.combine`), `result` among them once it is stored. When
        they differ — this location alone sees it down, or others see what this one
        does not — the latest result of a location that agrees with the quorum
        stands in, started when `result` did: what alerting steps its streak on, so
        a failure seen from too few locations alerts nobody (docs/locations.md).
        """
        now = self._clock.now()
        since = to_ms(now - timedelta(seconds=self.location_stale_after))
        quorum = self.quorum

        def fn(conn: Connection) -> ProbeResult:
            seen = {
                s.location: s.status
                for s in queries.location_states(conn, since, result.target, result.probe)
            }
            seen.setdefault(result.location, result.status)
            status = combine(seen, quorum).status
            if status is result.status:
                return result
            agrees = sorted(loc for loc, s in seen.items() if s is status)
            found = (
                queries.latest_of(conn, result.target, result.probe, agrees[0]) if agrees else None
            )
            if found is None or found.status is not status:
                return result
            return replace(found, started_at=result.started_at)

        try:
            return await self.read(fn)
        except self._conns.database_errors() as exc:
            # Unreadable for now: judged alone, as a single agent would, rather than not at all.
            log.warning("cannot read the other locations (%s); judging this result alone", exc)
            return result

    async def locations(self) -> list[str]:
        """Return every location that has stored a result, sorted."""
        return await self.read(queries.locations)

    async def rollups_hourly(
        self, target: str | None, probe: str | None, since: datetime, until: datetime
    ) -> list[Rollup]:
        """Return hourly roll-ups overlapping [since, until) (None = every target/probe)."""
        s, u = to_ms(since), to_ms(until)
        return await self.read(
            lambda c: queries.rollups(c, "rollup_hourly", HOUR_MS, target, probe, s, u)
        )

    async def rollups_daily(
        self, target: str | None, probe: str | None, since: datetime, until: datetime
    ) -> list[Rollup]:
        """Return daily (UTC) roll-ups overlapping [since, until) (None = every target/probe)."""
        s, u = to_ms(since), to_ms(until)
        return await self.read(
            lambda c: queries.rollups(c, "rollup_daily", DAY_MS, target, probe, s, u)
        )

    async def uptime(
        self, target: str, probe: str, since: datetime, until: datetime
    ) -> float | None:
        """Return the fraction of up or degraded runs started in [since, until), or None."""
        runs, good = await self.run_counts(target, probe, since, until)
        return good / runs if runs else None

    async def daily_counts_all(self, since: datetime, until: datetime) -> list[queries.RunCounts]:
        """Return every component's daily run counts overlapping [since, until), by component, day.

        The counts of `rollups_daily(None, None, since, until)` without decoding
        histograms, phases and errors.
        """
        s, u = to_ms(since), to_ms(until)
        return await self.read(lambda c: queries.rollup_counts_all(c, "rollup_daily", DAY_MS, s, u))

    async def uptime_all(
        self, windows: Sequence[tuple[datetime, datetime]]
    ) -> dict[tuple[str, str], list[float | None]]:
        """Return every component's uptime per [since, until) window, by (target, probe).

        Each figure equals `uptime(target, probe, since, until)`; one read for all.
        """
        spans = [(to_ms(a), to_ms(b)) for a, b in windows]
        counts = await self.read(lambda c: uptime.uptime_counts_all(c, spans))
        return {
            key: [good / runs if runs else None for runs, good in per_window]
            for key, per_window in counts.items()
        }

    async def run_counts(
        self, target: str, probe: str, since: datetime, until: datetime
    ) -> tuple[int, int]:
        """Return (runs, up-or-degraded runs) started in [since, until), read from roll-ups."""
        s, u = to_ms(since), to_ms(until)
        return await self.read(lambda c: uptime.uptime_counts(c, target, probe, s, u))

    async def incidents(
        self,
        since: datetime | None = None,
        open_only: bool = False,
        limit: int = 100,
        target: str | None = None,
        probe: str | None = None,
    ) -> list[Incident]:
        """Return incidents still open or closed at/after `since`, newest first."""
        s = to_ms(since) if since is not None else None
        return await self.read(lambda c: queries.incidents(c, s, open_only, limit, target, probe))

    async def incident(self, incident_id: int) -> Incident | None:
        """Return one incident by id, or None."""
        return await self.read(lambda c: queries.incident(c, incident_id))

    async def component_states(self) -> list[ComponentState]:
        """Return the incident state machine's row of every component."""
        return await self.read(queries.component_states)

    # --------------------------------------------------------------- retention

    async def prune(self, now: datetime | None = None) -> dict[str, int]:
        """Delete rows past their retention in small transactions; return rows deleted per table.

        Raw results older than `retention.raw`, hourly roll-ups older than
        `retention.hourly`, daily older than `retention.daily`, confirmed
        deletions from the ledger older than `retention.raw`, resolved incidents
        older than `retention.daily`. Each batch is one short writer job, so a
        probe's write waits for at most one batch.
        """
        now = now or self._clock.now()
        r = self.retention
        plan = (
            ("results", r.raw),
            ("rollup_hourly", r.hourly),
            ("rollup_daily", r.daily),
            ("ledger", r.raw),
            ("incidents", r.daily),
        )
        deleted: dict[str, int] = {}
        for table, keep_s in plan:
            cutoff = to_ms(now - timedelta(seconds=keep_s))
            total = 0
            while True:
                n = await self.write(partial(_prune_batch, table=table, cutoff=cutoff))
                total += n
                if n < ingest.PRUNE_BATCH:
                    break
                await asyncio.sleep(0)
            deleted[table] = total
        return deleted

    async def vacuum(self) -> None:
        """Rebuild the database to its minimum size (blocks other writes meanwhile)."""
        await self._writer.submit(lambda db: db.conn.execute("VACUUM"), transactional=False)

    # ------------------------------------------------------------ leadership

    async def try_lease(self, key: int) -> Lease | None:
        """Return a held PostgreSQL advisory lock `key` on a session of its own, or None if taken.

        For duties exactly one agent of several may do (docs/scaling.md); the
        lock goes when the session does. Raises `NotImplementedError` on SQLite,
        where one process owns the file and there is nobody to share with.
        """
        return await self._conns.try_lease(key)
