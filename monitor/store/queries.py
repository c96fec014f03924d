"""Read-side SQL, run on the store's reader threads (WAL lets reads run beside the writer).

Each function takes a read connection and plain values (times in epoch ms) and
returns the typed rows of `monitor.store.records`.
"""

from __future__ import annotations

import heapq
import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, NamedTuple

from monitor.models import LedgerEntry, ProbeResult
from monitor.store import operator_incidents
from monitor.store.codec import decode_result
from monitor.store.dialect import Connection
from monitor.store.records import (
    CODE_STATUS,
    ComponentState,
    Incident,
    IncidentComponent,
    IncidentUpdate,
    JSONMapping,
    LocationState,
    PhaseSums,
    Rollup,
    StoredResult,
    decode_histogram,
    from_ms,
)

__all__ = [
    "RunCounts",
    "component_states",
    "incidents",
    "latest",
    "latest_of",
    "ledger_overdue",
    "ledger_pending",
    "ledger_pending_counts",
    "location_states",
    "locations",
    "result_rows",
    "rollup_counts_all",
    "rollups",
]

MAX_LIMIT = 1000
# Incidents are few (one per outage), and the status page wants all of 90 days.
MAX_INCIDENTS = 100_000


def _where(*columns: tuple[str, object | None]) -> tuple[str, list[Any]]:
    """Return ``AND column = ?`` for each (column, value) whose value is given, and the values.

    The store's SQL spells "any" as a condition left out, not ``? IS NULL OR``:
    PostgreSQL cannot type a parameter compared only with NULL.
    """
    sql = ""
    args: list[Any] = []
    for column, value in columns:
        if value is not None:
            sql += f" AND {column} = ?"
            args.append(value)
    return sql, args


def _component_filter(
    target: str | None, probe: str | None, prefix: str = ""
) -> tuple[str, list[Any]]:
    """Return the ``AND`` conditions (and their values) selecting `target` and `probe` if given."""
    return _where((f"{prefix}target", target), (f"{prefix}probe", probe))


def _components(
    conn: Connection, target: str | None, probe: str | None
) -> list[tuple[int, str, str]]:
    where, args = _component_filter(target, probe)
    sql = f"SELECT id, target, probe FROM components WHERE TRUE{where} ORDER BY target, probe"
    return conn.execute(sql, args).fetchall()


def latest(conn: Connection, target: str | None, probe: str | None) -> list[ProbeResult]:
    """Return the most recent result of each matching component, ordered by target, probe."""
    where, args = _component_filter(target, probe, "c.")
    # One statement for all components (a round trip each would cost PostgreSQL 30 of them
    # for 30 components), each component's row found through its index.
    rows = conn.execute(
        f"SELECT {conn.dialect.result_columns} FROM results r"
        " JOIN components c ON c.id = r.component WHERE r.id IN (SELECT (SELECT x.id"
        " FROM results x WHERE x.component = c.id ORDER BY x.started_at DESC, x.id DESC"
        f" LIMIT 1) FROM components c WHERE TRUE{where}) ORDER BY c.target, c.probe",
        args,
    ).fetchall()
    return [decode_result(row).result for row in rows]


def result_rows(
    conn: Connection,
    target: str | None,
    probe: str | None,
    since: int | None,
    until: int | None,
    limit: int,
    before_id: int | None,
    location: str | None = None,
) -> list[StoredResult]:
    """Return up to `limit` results, newest first, with started_at in [since, until).

    `location`: only the results probed from there.

    `before_id` pages on: only rows ordered after that row (older, or as old
    with a smaller id) are returned. Each component is read through its index
    and the streams are merged, so no query scans the whole table.
    """
    limit = max(0, min(limit, MAX_LIMIT))
    cursor: tuple[int, int] | None = None
    if before_id is not None:
        found = conn.execute("SELECT started_at FROM results WHERE id = ?", (before_id,)).fetchone()
        if found is None:
            return []
        cursor = (found[0], before_id)
    # Pass 1 reads only (started_at, id) — the index covers it — per component;
    # pass 2 fetches the full rows of the `limit` that survive the merge.
    streams: list[list[tuple[int, int]]] = []
    for cid, _, _ in _components(conn, target, probe):
        sql = "SELECT -started_at, -id FROM results WHERE component = ?"
        args: list[int | str] = [cid]
        if since is not None:
            sql += " AND started_at >= ?"
            args.append(since)
        if until is not None:
            sql += " AND started_at < ?"
            args.append(until)
        if cursor is not None:
            sql += " AND (started_at, id) < (?, ?)"
            args.extend(cursor)
        if location is not None:
            # Not in the index: a location's rows are read past the others' (few locations).
            sql += " AND location = ?"
            args.append(location)
        sql += " ORDER BY started_at DESC, id DESC LIMIT ?"
        args.append(limit)
        streams.append(conn.execute(sql, args).fetchall())
    ids = [-key[1] for _, key in zip(range(limit), heapq.merge(*streams), strict=False)]
    by_id: dict[int, StoredResult] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        rows = conn.execute(
            f"SELECT {conn.dialect.result_columns} FROM results r"
            " JOIN components c ON c.id = r.component"
            f" WHERE r.id IN ({','.join('?' * len(chunk))})",
            chunk,
        ).fetchall()
        by_id.update((row[0], decode_result(row)) for row in rows)
    return [by_id[i] for i in ids]


def rollups(
    conn: Connection,
    table: str,
    bucket_ms: int,
    target: str | None,
    probe: str | None,
    since: int,
    until: int,
) -> list[Rollup]:
    """Return roll-up rows whose bucket overlaps [since, until), by target, probe, bucket."""
    out: list[Rollup] = []
    # One primary-key range per component: never a scan of the whole table.
    for cid, t, p in _components(conn, target, probe):
        rows = conn.execute(
            "SELECT bucket, up, degraded, down, lat_sum, lat_min, lat_max,"
            f" lat_hist, phases, wer_sum, wer_n, errors FROM {table}"
            " WHERE component = ? AND bucket > ? AND bucket < ? ORDER BY bucket",
            (cid, since - bucket_ms, until),
        ).fetchall()
        out.extend(_rollup((t, p, *row), bucket_ms) for row in rows)
    return out


class RunCounts(NamedTuple):
    """The run counts of one roll-up bucket, without its latency and error figures."""

    target: str
    probe: str
    bucket_start: datetime
    runs: int
    up: int
    degraded: int
    down: int

    @property
    def uptime(self) -> float | None:
        """Return the fraction of good (up or degraded) runs, or None without runs."""
        return (self.up + self.degraded) / self.runs if self.runs else None


def rollup_counts_all(
    conn: Connection, table: str, bucket_ms: int, since: int, until: int
) -> list[RunCounts]:
    """Return every component's bucket counts overlapping [since, until), by target, probe, bucket.

    One query for all components, and none of the histogram, phase or error
    columns decoded: what a day bar needs, at a fraction of `rollups`' cost.
    """
    rows = conn.execute(
        "SELECT c.target, c.probe, r.bucket, r.up + r.degraded + r.down, r.up, r.degraded, r.down"
        f" FROM components c {conn.dialect.join} {table} r"
        " ON r.component = c.id AND r.bucket > ? AND r.bucket < ?"
        " ORDER BY c.target, c.probe, r.bucket",
        (since - bucket_ms, until),
    ).fetchall()
    return [RunCounts(t, p, from_ms(b), n, u, d, x) for t, p, b, n, u, d, x in rows]


def _rollup(row: tuple[Any, ...], bucket_ms: int) -> Rollup:
    (target, probe, bucket, up, degraded, down, lat_sum, lat_min, lat_max, hist, phases,
     wer_sum, wer_n, errors) = row  # fmt: skip
    good = up + degraded
    return Rollup(
        target=target,
        probe=probe,
        bucket_start=from_ms(bucket),
        bucket_s=bucket_ms // 1000,
        runs=good + down,
        up=up,
        degraded=degraded,
        down=down,
        latency_n=good,
        latency_sum=lat_sum / 1_000_000,
        latency_min=lat_min / 1_000_000 if lat_min is not None else None,
        latency_max=lat_max / 1_000_000 if lat_max is not None else None,
        histogram=tuple(decode_histogram(hist)),
        phases=PhaseSums(probe, good, phases) if phases else {},
        wer_sum=wer_sum,
        wer_n=wer_n,
        errors=JSONMapping(errors) if errors else {},
    )


def _incident(
    row: tuple[object, ...],
    members: tuple[IncidentComponent, ...],
    posted: Sequence[IncidentUpdate] = (),
) -> Incident:
    (iid, target, probe, opened, closed, status, kinds, first, last, down_runs, updates, where,
     impact, source, title, affected, postmortem, postmortem_at) = row  # fmt: skip
    assert isinstance(iid, int) and isinstance(opened, int) and isinstance(down_runs, int)
    assert isinstance(kinds, str) and isinstance(updates, str)
    written = [
        IncidentUpdate(at=from_ms(u["at"]), status=u["status"], body=u["body"], id=f"{iid}-{n + 1}")
        for n, u in enumerate(json.loads(updates))
    ]
    timeline = operator_incidents.timeline(written, posted)
    return Incident(
        id=iid,
        target=str(target),
        probe=members[0].probe if members else str(probe),
        opened_at=from_ms(opened),
        closed_at=from_ms(closed) if isinstance(closed, int) else None,
        status=operator_incidents.current_status(timeline, closed is not None, str(status)),
        error_kinds=tuple(json.loads(kinds)),
        first_message=str(first),
        last_message=str(last),
        down_runs=down_runs,
        updates=timeline,
        locations=tuple(json.loads(str(where))),
        impact=str(impact),
        components=members,
        title=str(title) if title is not None else None,
        source=str(source),
        affected=tuple(json.loads(affected)) if isinstance(affected, str) else (),
        postmortem=str(postmortem) if postmortem is not None else None,
        postmortem_at=from_ms(postmortem_at) if isinstance(postmortem_at, int) else None,
    )


_INCIDENT_SELECT = (
    "SELECT i.id, c.target, c.probe, i.opened_at, i.closed_at, i.status, i.error_kinds,"
    " i.first_message, i.last_message, i.down_runs, i.updates, i.locations, i.impact,"
    " i.source, i.title, i.affected, i.postmortem, i.postmortem_at"
    " FROM incidents i JOIN components c ON c.id = i.component"
)


def _members(conn: Connection, ids: list[int]) -> dict[int, tuple[IncidentComponent, ...]]:
    """Return the members of incidents `ids`, each incident's in the order they joined."""
    found: dict[int, list[IncidentComponent]] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        rows = conn.execute(
            "SELECT m.incident, c.probe, m.impact, m.state, m.joined_at, m.left_at,"
            " m.error_kinds, m.last_message FROM incident_components m"
            " JOIN components c ON c.id = m.component"
            f" WHERE m.incident IN ({','.join('?' * len(chunk))})"
            " ORDER BY m.incident, m.position",
            chunk,
        ).fetchall()
        for iid, probe, impact, state, joined, left, kinds, last in rows:
            found.setdefault(iid, []).append(
                IncidentComponent(
                    probe=probe,
                    impact=impact,
                    joined_at=from_ms(joined),
                    left_at=from_ms(left) if left is not None else None,
                    error_kinds=tuple(json.loads(kinds)),
                    last_message=last,
                    state=state,
                )
            )
    return {iid: tuple(ms) for iid, ms in found.items()}


def _with_members(conn: Connection, rows: list[Any]) -> list[Incident]:
    ids = [row[0] for row in rows]
    members = _members(conn, ids)
    posted = operator_incidents.posted_updates(conn, ids)
    return [_incident(row, members.get(row[0], ()), posted.get(row[0], ())) for row in rows]


def incidents(
    conn: Connection,
    since: int | None,
    open_only: bool,
    limit: int,
    target: str | None,
    probe: str | None,
) -> list[Incident]:
    """Return incidents open at or after `since` (still open, or closed since), newest first.

    `probe` selects the incidents that have that probe among their members, and
    the operator's incidents that name it.
    """
    where, args = _component_filter(target, None, "c.")
    sql = f"{_INCIDENT_SELECT} WHERE TRUE{where}"
    if probe is not None:
        sql += (
            " AND (EXISTS (SELECT 1 FROM incident_components m"
            " JOIN components mc ON mc.id = m.component"
            " WHERE m.incident = i.id AND mc.probe = ?)"
            " OR (i.source = 'operator' AND i.affected LIKE ?))"
        )
        args += [probe, f'%"{probe}"%']
    if open_only:
        sql += " AND i.closed_at IS NULL"
    if since is not None:
        sql += " AND (i.closed_at IS NULL OR i.closed_at >= ?)"
        args.append(since)
    sql += " ORDER BY i.opened_at DESC, i.id DESC LIMIT ?"
    args.append(max(0, min(limit, MAX_INCIDENTS)))
    return _with_members(conn, conn.execute(sql, args).fetchall())


def incident(conn: Connection, incident_id: int) -> Incident | None:
    """Return one incident by id, or None."""
    row = conn.execute(_INCIDENT_SELECT + " WHERE i.id = ?", (incident_id,)).fetchone()
    return _with_members(conn, [row])[0] if row is not None else None


def component_states(conn: Connection) -> list[ComponentState]:
    """Return every component's state-machine row, ordered by target, probe."""
    rows = conn.execute(
        "SELECT target, probe, last_status, last_started_at, consecutive_down,"
        " consecutive_good, open_incident_id FROM components ORDER BY target, probe"
    ).fetchall()
    return [
        ComponentState(
            target=t,
            probe=p,
            last_status=CODE_STATUS[s] if s is not None else None,
            last_started_at=from_ms(at) if at is not None else None,
            consecutive_down=cd,
            consecutive_good=cg,
            open_incident_id=oi,
        )
        for t, p, s, at, cd, cg, oi in rows
    ]


def location_states(
    conn: Connection, since: int, target: str | None = None, probe: str | None = None
) -> list[LocationState]:
    """Return each location's latest view of each component (of `target`, `probe`, or all),
    if its last result started at or after `since` (older ones are stale), ordered by
    target, probe, location."""
    where, args = _component_filter(target, probe, "c.")
    rows = conn.execute(
        "SELECT c.target, c.probe, l.location, l.last_status, l.last_started_at,"
        " l.key_latency_us, l.outage_since FROM component_locations l"
        f" JOIN components c ON c.id = l.component WHERE l.last_started_at >= ?{where}"
        " ORDER BY c.target, c.probe, l.location",
        (since, *args),
    ).fetchall()
    return [
        LocationState(
            target=t,
            probe=p,
            location=loc,
            status=CODE_STATUS[s],
            started_at=from_ms(at),
            key_latency_s=lat / 1_000_000 if lat is not None else None,
            outage=outage is not None,
        )
        for t, p, loc, s, at, lat, outage in rows
    ]


def latest_of(conn: Connection, target: str, probe: str, location: str) -> ProbeResult | None:
    """Return the most recent result of (target, probe) probed from `location`, if any."""
    row = conn.execute(
        f"SELECT {conn.dialect.result_columns} FROM results r"
        " JOIN components c ON c.id = r.component"
        " WHERE c.target = ? AND c.probe = ? AND r.location = ?"
        " ORDER BY r.started_at DESC, r.id DESC LIMIT 1",
        (target, probe, location),
    ).fetchone()
    return decode_result(row).result if row is not None else None


def locations(conn: Connection) -> list[str]:
    """Return every location that has stored a result, sorted."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT DISTINCT location FROM component_locations ORDER BY location"
        )
    ]


def _entries(rows: Iterable[tuple[str, str, int, int, str | None]]) -> list[LedgerEntry]:
    return [
        LedgerEntry(target=t, transcript_id=tid, created_at=from_ms(c), attempts=a, last_error=e)
        for t, tid, c, a, e in rows
    ]


def ledger_pending(
    conn: Connection, target: str | None, location: str | None = None
) -> list[LedgerEntry]:
    """Return undeleted ledger entries (of `target`, or all; of `location`'s agent, or all),
    oldest first."""
    where, args = _where(("target", target), ("location", location))
    return _entries(
        conn.execute(
            "SELECT target, transcript_id, created_at, attempts, last_error FROM ledger"
            f" WHERE deleted_at IS NULL{where} ORDER BY created_at, target, transcript_id",
            args,
        ).fetchall()
    )


def ledger_overdue(conn: Connection, created_before: int) -> list[LedgerEntry]:
    """Return undeleted ledger entries created before `created_before`, oldest first."""
    return _entries(
        conn.execute(
            "SELECT target, transcript_id, created_at, attempts, last_error FROM ledger"
            " WHERE deleted_at IS NULL AND created_at < ? ORDER BY created_at, target",
            (created_before,),
        ).fetchall()
    )


def ledger_pending_counts(conn: Connection, location: str | None = None) -> dict[str, int]:
    """Return undeleted entries per target (of `location`'s agent, or all), 0 for targets
    whose entries are all deleted."""
    where, args = _where(("location", location))
    rows = conn.execute(
        "SELECT target, count(*) FILTER (WHERE deleted_at IS NULL) FROM ledger"
        f" WHERE TRUE{where} GROUP BY target",
        args,
    ).fetchall()
    return {t: n for t, n in rows}
