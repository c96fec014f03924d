"""Write-side logic run on the writer thread, inside the writer's transaction.

One batch of results becomes raw rows, roll-up increments for the hour and the
day, and steps of each component's streak (the outcome machine, monitor/outcome.py)
with the incident it opens or closes — all in the caller's transaction, so a crash
leaves either everything or nothing.
The incidents (one per target, its members the components that are down or
slow, across the locations that probe them) are monitor/store/incidents.py's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.models import LOCAL, ProbeResult, Status
from monitor.outcome import Quorum, Streak, Thresholds, step
from monitor.store.codec import encode_result, phases_in_us
from monitor.store.dialect import Connection, upsert
from monitor.store.incidents import ComponentIncidents, TargetIncidents, describe, step_incident
from monitor.store.incidents import load as load_incidents
from monitor.store.incidents import save as save_incidents
from monitor.store.records import (
    CODE_STATUS,
    DAY_MS,
    HISTOGRAM_SIZE,
    HOUR_MS,
    STATUS_CODE,
    compact_json,
    decode_histogram,
    decode_phases,
    encode_histogram,
    encode_phases,
    from_ms,
    histogram_index,
    key_latency,
    to_ms,
)
from monitor.store.schema import ROLLUP_TABLES

__all__ = ["apply_results"]


_dumps = compact_json


@dataclass(slots=True)
class _Agg:
    """Roll-up increments for one (component, bucket), merged into the stored row.

    Latencies and phases are summed as integer microseconds, the resolution of
    the raw rows (records.py, roll-up codec): the sums are exact in any order.
    """

    up: int = 0
    degraded: int = 0
    down: int = 0
    lat_sum: int = 0
    lat_min: int | None = None
    lat_max: int | None = None
    hist: list[int] = field(default_factory=lambda: [0] * HISTOGRAM_SIZE)
    phases: dict[str, list[int]] = field(default_factory=dict)
    wer_sum: float = 0.0
    wer_n: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def add(
        self,
        r: ProbeResult,
        status: int,
        latency: float,
        phases_us: dict[str, int],
        wer: float | None,
    ) -> None:
        if status == 2:
            self.down += 1
            kind = r.error_kind.value if r.error_kind else "internal"
            self.errors[kind] = self.errors.get(kind, 0) + 1
        else:
            if status == 0:
                self.up += 1
            else:
                self.degraded += 1
            us = round(latency * 1_000_000)
            self.lat_sum += us
            if self.lat_min is None or us < self.lat_min:
                self.lat_min = us
            if self.lat_max is None or us > self.lat_max:
                self.lat_max = us
            self.hist[histogram_index(latency)] += 1
            for name, v in phases_us.items():
                acc = self.phases.get(name)
                if acc is None:
                    self.phases[name] = [v, 1]
                else:
                    acc[0] += v
                    acc[1] += 1
        if wer is not None:
            self.wer_sum += wer
            self.wer_n += 1

    def _minmax(self, lo: int | None, hi: int | None) -> None:
        if lo is not None and (self.lat_min is None or lo < self.lat_min):
            self.lat_min = lo
        if hi is not None and (self.lat_max is None or hi > self.lat_max):
            self.lat_max = hi

    def merge(self, other: _Agg) -> None:
        """Add another increment's counts into this one."""
        self.up += other.up
        self.degraded += other.degraded
        self.down += other.down
        self.lat_sum += other.lat_sum
        self._minmax(other.lat_min, other.lat_max)
        for i, c in enumerate(other.hist):
            self.hist[i] += c
        for name, (s, n) in other.phases.items():
            acc = self.phases.setdefault(name, [0, 0])
            acc[0] += s
            acc[1] += n
        self.wer_sum += other.wer_sum
        self.wer_n += other.wer_n
        for kind, n in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n

    def merge_row(self, probe: str, row: Sequence[Any]) -> None:
        """Fold an existing stored row (columns as in `_ROLLUP_SELECT`) into this one."""
        up, degraded, down, lat_sum, lat_min, lat_max, hist, phases, ws, wn, errs = row
        self.up += up
        self.degraded += degraded
        self.down += down
        self.lat_sum += lat_sum
        self._minmax(lat_min, lat_max)
        if hist:
            for i, c in enumerate(decode_histogram(hist)):
                if c:
                    self.hist[i] += c
        if phases:
            for name, (s, n) in decode_phases(probe, up + degraded, phases).items():
                acc = self.phases.setdefault(name, [0, 0])
                acc[0] += s
                acc[1] += n
        self.wer_sum += ws
        self.wer_n += wn
        for kind, n in (json.loads(errs) if errs else {}).items():
            self.errors[kind] = self.errors.get(kind, 0) + n

    def row(self, probe: str, component: int, bucket: int) -> tuple[Any, ...]:
        return (
            component,
            bucket,
            self.up,
            self.degraded,
            self.down,
            self.lat_sum,
            self.lat_min,
            self.lat_max,
            encode_histogram(self.hist),
            encode_phases(probe, self.up + self.degraded, self.phases),
            self.wer_sum,
            self.wer_n,
            _dumps(self.errors) if self.errors else None,
        )


_ROLLUP_SELECT = (
    "up, degraded, down, lat_sum, lat_min, lat_max, lat_hist, phases, wer_sum, wer_n, errors"
)
_ROLLUP_UPSERT = {
    t: upsert(t, f"component, bucket, {_ROLLUP_SELECT}", key=2) for t in ROLLUP_TABLES
}


@dataclass(slots=True)
class _State:
    """A component row: its streak (`monitor.outcome`) and incident, mutated per batch."""

    id: int
    streak: Streak
    last_started_at: int | None
    # The error kinds and first message of the current down streak.
    streak_kinds: list[str]
    streak_message: str | None
    # Its locations' streaks and its open incident (monitor/store/incidents.py).
    incident: ComponentIncidents


def _wer(r: ProbeResult) -> float | None:
    w = r.details.get("wer")
    if isinstance(w, int | float) and not isinstance(w, bool):
        return float(w)
    return None


class ComponentIds:
    """(target, probe) → component id, cached across batches on the writer thread.

    The cache is dropped whenever a transaction fails, because a rolled-back
    insert would otherwise leave an id that does not exist.
    """

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], int] = {}

    def clear(self) -> None:
        self._ids.clear()

    def get(self, conn: Connection, target: str, probe: str) -> int:
        key = (target, probe)
        cid = self._ids.get(key)
        if cid is None:
            conn.execute(
                "INSERT INTO components (target, probe) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (target, probe),
            )
            cid = conn.execute(
                "SELECT id FROM components WHERE target = ? AND probe = ?", (target, probe)
            ).fetchone()[0]
            self._ids[key] = cid
        return cid


def lock_components(conn: Connection, targets: Iterable[str]) -> None:
    """Lock every component row of `targets` until the transaction ends, in id order (PostgreSQL).

    Every write of a component's roll-ups, streak and incident reads, then
    rewrites them, and the components of one target share its incident: two
    agents doing so at once on a shared server would lose one's counts, open
    two incidents of one target, or deadlock on the incident row. Locked first
    and always in the same order, their writes take turns instead. (SQLite's
    BEGIN IMMEDIATE already lets one writer in at a time.)
    """
    wanted = sorted(set(targets))
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        conn.execute(
            f"SELECT id FROM components WHERE target IN ({','.join('?' * len(chunk))})"
            " ORDER BY id FOR UPDATE",
            chunk,
        ).fetchall()


def result_stored(conn: Connection, ids: ComponentIds, result: ProbeResult) -> bool:
    """Return True when `result` (component, location, start, duration, status) is stored."""
    cid = ids.get(conn, result.target, result.probe)
    row = conn.execute(
        "SELECT 1 FROM results WHERE component = ? AND location = ? AND started_at = ?"
        " AND duration_us = ? AND status = ? LIMIT 1",
        (
            cid,
            result.location,
            to_ms(result.started_at),
            round(result.duration_s * 1_000_000),
            STATUS_CODE[result.status],
        ),
    ).fetchone()
    return row is not None


def apply_results(
    conn: Connection,
    ids: ComponentIds,
    results: Iterable[ProbeResult],
    thresholds: Thresholds,
    *,
    want_ids: bool,
    providers: Mapping[str, str] | None = None,
    quorum: Quorum = 1,
    stale_after_ms: int = 15 * 60_000,
) -> tuple[int, list[int]]:
    """Store `results` with their roll-ups and incident steps; return (count, row ids).

    Must run inside a transaction. Row ids are collected only when `want_ids`
    (bulk seeding inserts with executemany and cannot see them). `providers`
    (target -> provider) picks the kind whose key latency a result's roll-up counts.
    Incidents follow `quorum` over the locations whose last result of the component
    started at most `stale_after_ms` before the result being stored.
    """
    providers = providers or {}
    states: dict[int, _State] = {}
    hourly: dict[tuple[int, int], _Agg] = {}
    probes: dict[int, str] = {}  # the phases of a roll-up row are stored in its probe's order
    rows: list[tuple[Any, ...]] = []
    row_ids: list[int] = []
    count = 0
    dialect = conn.dialect
    results = list(results)
    cids = [ids.get(conn, r.target, r.probe) for r in results]
    if dialect.row_locks:
        lock_components(conn, (r.target for r in results))
    book = TargetIncidents(conn)  # the open incidents of the batch's targets
    for r, cid in zip(results, cids, strict=True):
        probes[cid] = r.probe
        phases_us = phases_in_us(r)
        enc = encode_result(r, phases_us)
        started, status = enc[0], enc[1]
        row = dialect.result_row(cid, enc, r.location)
        if want_ids:
            row_ids.append(conn.execute(dialect.insert_result + " RETURNING id", row).fetchone()[0])
        else:
            rows.append(row)
        count += 1
        latency = key_latency(r, providers.get(r.target)) if status != 2 else 0.0
        wer = _wer(r)
        key = (cid, started - started % HOUR_MS)
        agg = hourly.get(key)
        if agg is None:
            agg = hourly[key] = _Agg()
        agg.add(r, status, latency, phases_us, wer)
        state = states.get(cid)
        if state is None:
            state = states[cid] = _load_state(conn, cid)
        _step(state, r, started, thresholds)
        step_incident(
            conn, book, state.incident, r, started, latency, thresholds, quorum, stale_after_ms
        )
    if rows:
        conn.executemany(dialect.insert_result, rows)
    # A day is the sum of its hours, so the daily increments come from the hourly ones.
    daily: dict[tuple[int, int], _Agg] = {}
    for (cid, hour), agg in hourly.items():
        key = (cid, hour - hour % DAY_MS)
        day = daily.get(key)
        if day is None:
            day = daily[key] = _Agg()
        day.merge(agg)
    for table, aggs in zip(ROLLUP_TABLES, (hourly, daily), strict=True):
        _merge_rollups(conn, table, probes, aggs)
    _save(conn, states, book)
    return count, row_ids


def _merge_rollups(
    conn: Connection,
    table: str,
    probes: dict[int, str],
    aggs: dict[tuple[int, int], _Agg],
) -> None:
    out = []
    for (cid, bucket), agg in aggs.items():
        old = conn.execute(
            f"SELECT {_ROLLUP_SELECT} FROM {table} WHERE component = ? AND bucket = ?",
            (cid, bucket),
        ).fetchone()
        if old is not None:
            agg.merge_row(probes[cid], old)
        out.append(agg.row(probes[cid], cid, bucket))
    conn.executemany(_ROLLUP_UPSERT[table], out)


def _load_state(conn: Connection, cid: int) -> _State:
    row = conn.execute(
        "SELECT last_status, last_started_at, status_run, status_since, consecutive_good,"
        " streak_started_at, open_incident_id, streak_kinds, streak_message"
        " FROM components WHERE id = ?",
        (cid,),
    ).fetchone()
    status = CODE_STATUS[row[0]] if row[0] is not None else None
    # `streak_started_at` is the start of the down run after a down, else of the good run.
    good_since = row[5] if status is not Status.DOWN else None
    streak = Streak(
        status=status,
        length=row[2],
        since=from_ms(row[3]) if row[3] is not None else None,
        good=row[4],
        good_since=from_ms(good_since) if good_since is not None else None,
    )
    return _State(
        id=cid,
        streak=streak,
        last_started_at=row[1],
        streak_kinds=json.loads(row[7]) if row[7] else [],
        streak_message=row[8],
        incident=load_incidents(conn, cid, row[6]),
    )


def _step(st: _State, r: ProbeResult, started: int, th: Thresholds) -> None:
    """Step one component's own streak: all its results, from whichever location."""
    judged = step(st.streak, r.status, r.started_at, th)
    st.streak = streak = judged.streak
    st.last_started_at = started
    if r.status is Status.DOWN:
        kind = r.error_kind.value if r.error_kind else "internal"
        if streak.length == 1:  # the first down of a streak
            st.streak_kinds = []
            st.streak_message = describe(r)
        if kind not in st.streak_kinds:
            st.streak_kinds.append(kind)
    elif streak.good == 1:  # the first good run after a down (or ever)
        st.streak_kinds = []
        st.streak_message = None


def _ms(dt: datetime | None) -> int | None:
    return to_ms(dt) if dt is not None else None


def _component_row(s: _State) -> tuple[Any, ...]:
    streak = s.streak
    down = streak.status is Status.DOWN
    return (
        STATUS_CODE[streak.status] if streak.status is not None else None,
        s.last_started_at,
        streak.down,
        streak.good,
        _ms(streak.since if down else streak.good_since),
        s.incident.open_incident_id,
        _dumps(s.streak_kinds) if s.streak_kinds else None,
        s.streak_message,
        streak.length,
        _ms(streak.since),
        s.id,
    )


def _save(conn: Connection, states: dict[int, _State], book: TargetIncidents) -> None:
    conn.executemany(
        "UPDATE components SET last_status = ?, last_started_at = ?, consecutive_down = ?,"
        " consecutive_good = ?, streak_started_at = ?, open_incident_id = ?, streak_kinds = ?,"
        " streak_message = ?, status_run = ?, status_since = ? WHERE id = ?",
        [_component_row(s) for s in states.values()],
    )
    save_incidents(conn, (s.incident for s in states.values()), book)


# ---------------------------------------------------------------------------
# Deletion ledger


def ledger_record(
    conn: Connection, target: str, transcript_id: str, now: int, location: str = LOCAL
) -> None:
    """Insert a ledger entry of `location`'s agent; recording a transcript twice keeps the first."""
    conn.execute(
        "INSERT INTO ledger (target, transcript_id, created_at, location)"
        " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (target, transcript_id, now, location),
    )


def ledger_mark_deleted(
    conn: Connection, target: str, transcript_id: str, now: int, location: str = LOCAL
) -> None:
    """Mark an entry deleted (creating it, as `location`'s, if the probe never recorded it)."""
    conn.execute(
        "INSERT INTO ledger (target, transcript_id, created_at, deleted_at, location)"
        " VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (target, transcript_id) DO UPDATE SET deleted_at = excluded.deleted_at"
        " WHERE ledger.deleted_at IS NULL",
        (target, transcript_id, now, now, location),
    )


def ledger_mark_attempt(
    conn: Connection,
    target: str,
    transcript_id: str,
    error: str,
    now: int,
    location: str = LOCAL,
) -> None:
    """Count a failed deletion attempt and remember its error."""
    conn.execute(
        "INSERT INTO ledger (target, transcript_id, created_at, attempts, last_error,"
        " last_attempt_at, location) VALUES (?, ?, ?, 1, ?, ?, ?)"
        " ON CONFLICT (target, transcript_id) DO UPDATE SET attempts = ledger.attempts + 1,"
        " last_error = excluded.last_error, last_attempt_at = excluded.last_attempt_at",
        (target, transcript_id, now, error, now, location),
    )


# ---------------------------------------------------------------------------
# Retention

PRUNE_BATCH = 500


def prune_batch(conn: Connection, table: str, cutoff: int) -> int:
    """Delete up to `PRUNE_BATCH` rows of `table` older than `cutoff`; return how many."""
    if table == "results":
        # Through the (component, started_at) index, one component at a time, so the
        # oldest rows are found without scanning the table (the ORDER BY makes the
        # index the plan on PostgreSQL too, whatever its estimate of the matches).
        deleted = 0
        for (cid,) in conn.execute("SELECT id FROM components").fetchall():
            cur = conn.execute(
                "DELETE FROM results WHERE id IN (SELECT id FROM results"
                " WHERE component = ? AND started_at < ? ORDER BY started_at LIMIT ?)",
                (cid, cutoff, PRUNE_BATCH - deleted),
            )
            deleted += cur.rowcount
            if deleted >= PRUNE_BATCH:
                break
        return deleted
    if table in ROLLUP_TABLES:
        cur = conn.execute(
            f"DELETE FROM {table} WHERE (component, bucket) IN (SELECT component, bucket"
            f" FROM {table} WHERE bucket < ? LIMIT ?)",
            (cutoff, PRUNE_BATCH),
        )
        return cur.rowcount
    if table == "ledger":
        cur = conn.execute(
            "DELETE FROM ledger WHERE (target, transcript_id) IN (SELECT target, transcript_id"
            " FROM ledger WHERE deleted_at IS NOT NULL AND deleted_at < ? LIMIT ?)",
            (cutoff, PRUNE_BATCH),
        )
        return cur.rowcount
    if table == "incidents":
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM incidents WHERE closed_at IS NOT NULL AND closed_at < ?"
                " ORDER BY id LIMIT ?",
                (cutoff, PRUNE_BATCH),
            )
        ]
        if not ids:
            return 0
        marks = ",".join("?" * len(ids))
        # Its members and the operator's updates first: their rows point at it.
        conn.execute(f"DELETE FROM incident_components WHERE incident IN ({marks})", ids)
        conn.execute(f"DELETE FROM incident_updates WHERE incident IN ({marks})", ids)
        cur = conn.execute(f"DELETE FROM incidents WHERE id IN ({marks})", ids)
        return cur.rowcount
    raise ValueError(f"no retention rule for table {table!r}")
