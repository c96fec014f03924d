"""Uptime from the roll-ups: whole days and hours from `rollup_daily` and `rollup_hourly`,
the partial hours at the edges from raw results, so the figure equals the raw count
wherever raw results are kept (docs/storage.md, Uptime).

Run on the store's reader threads, like `monitor.store.queries`; times are epoch ms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.store.dialect import Connection, Dialect
from monitor.store.records import DAY_MS, HOUR_MS

__all__ = ["uptime_counts", "uptime_counts_all"]


def _floor(ms: int, size: int) -> int:
    return ms - ms % size


def _ceil(ms: int, size: int) -> int:
    return -((-ms) // size) * size


def uptime_counts(
    conn: Connection, target: str, probe: str, since: int, until: int
) -> tuple[int, int]:
    """Return (runs, good runs) of one component with started_at in [since, until).

    Whole days come from `rollup_daily`, whole hours from `rollup_hourly` and the
    partial hours at either edge from raw results, which gives exactly the raw
    figure wherever raw results are retained. Where they are not, an edge is
    widened to its whole hour (or day, where hourly roll-ups are gone too).
    """
    comp = conn.execute(
        "SELECT id FROM components WHERE target = ? AND probe = ?", (target, probe)
    ).fetchone()
    if comp is None or since >= until:
        return 0, 0
    cid = comp[0]
    raw_from = conn.execute(
        "SELECT min(started_at) FROM results WHERE component = ?", (cid,)
    ).fetchone()[0]
    hourly_from = conn.execute(
        "SELECT min(bucket) FROM rollup_hourly WHERE component = ?", (cid,)
    ).fetchone()[0]
    raw, hours, days = _uptime_plan(since, until, raw_from, hourly_from)
    runs = good = 0
    for a, b in raw:
        n, g = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status < 2) FROM results"
            " WHERE component = ? AND started_at >= ? AND started_at < ?",
            (cid, a, b),
        ).fetchone()
        runs, good = runs + n, good + g
    for table, buckets in (("rollup_hourly", hours), ("rollup_daily", days)):
        for n, g in _bucket_sums(conn, table, cid, sorted(buckets)):
            runs, good = runs + n, good + g
    return runs, good


def _uptime_plan(
    since: int, until: int, raw_from: int | None, hourly_from: int | None
) -> tuple[list[tuple[int, int]], set[int], set[int]]:
    """Return (raw ranges, hour buckets, day buckets) that together count [since, until) once.

    `raw_from` and `hourly_from` are the oldest retained raw result and hourly
    bucket of the component (None when there are none).
    """
    # The exact decomposition: raw edges, whole hours, whole days.
    pieces: list[tuple[str, int, int]] = []
    hs, he = _ceil(since, HOUR_MS), _floor(until, HOUR_MS)
    if hs >= he:
        pieces.append(("raw", since, until))
    else:
        pieces += [("raw", since, hs), ("raw", he, until)]
        ds, de = _ceil(hs, DAY_MS), _floor(he, DAY_MS)
        if ds >= de:
            pieces.append(("hour", hs, he))
        else:
            pieces += [("hour", hs, ds), ("day", ds, de), ("hour", de, he)]

    # Widen what the retained data cannot answer exactly.
    resolved: list[tuple[str, int, int]] = []
    for level, a, b in pieces:
        if a >= b:
            continue
        if level == "raw" and (raw_from is None or a < raw_from):
            level, a, b = "hour", _floor(a, HOUR_MS), _ceil(b, HOUR_MS)
        if level == "hour" and (hourly_from is None or a < hourly_from):
            level, a, b = "day", _floor(a, DAY_MS), _ceil(b, DAY_MS)
        resolved.append((level, a, b))
    days = {d for lv, a, b in resolved if lv == "day" for d in range(a, b, DAY_MS)}
    hours = {
        h
        for lv, a, b in resolved
        if lv == "hour"
        for h in range(a, b, HOUR_MS)
        if _floor(h, DAY_MS) not in days
    }
    raw = [
        (a, b)
        for lv, a, b in resolved
        if lv == "raw" and _floor(a, HOUR_MS) not in hours and _floor(a, DAY_MS) not in days
    ]
    return raw, hours, days


def _spans(buckets: Iterable[int], size: int) -> list[tuple[int, int]]:
    """Return sorted bucket starts merged into [start, end) ranges of consecutive buckets."""
    out: list[tuple[int, int]] = []
    for b in sorted(buckets):
        if out and out[-1][1] == b:
            out[-1] = (out[-1][0], b + size)
        else:
            out.append((b, b + size))
    return out


# What each range of a table sums: (runs, good runs), for the raw rows or a roll-up.
_RANGE_SUMS = {
    "results": ("started_at", "count(*), count(*) FILTER (WHERE t.status < 2)"),
    "rollup_hourly": (
        "bucket",
        "coalesce(sum(t.up + t.degraded + t.down), 0), coalesce(sum(t.up + t.degraded), 0)",
    ),
    "rollup_daily": (
        "bucket",
        "coalesce(sum(t.up + t.degraded + t.down), 0), coalesce(sum(t.up + t.degraded), 0)",
    ),
}


def _range_sums_sql(dialect: Dialect, table: str, ranges: int) -> str:
    """Return the statement summing `table` over `ranges` (component, window, from, to) rows.

    Each range must be one index seek, never a scan of the table: SQLite's CROSS
    JOIN keeps the ranges as the outer loop; PostgreSQL would rather hash-join
    the whole table, so it gets a LATERAL subquery per range.
    """
    key, sums = _RANGE_SUMS[table]
    values = ",".join(["(?,?,?,?)"] * ranges)
    match = f"t.component = q.column1 AND t.{key} >= q.column3 AND t.{key} < q.column4"
    if dialect.lateral:
        return (
            f"SELECT q.column2, q.column1, s.* FROM (VALUES {values}) q"
            f" CROSS JOIN LATERAL (SELECT {sums} FROM {table} t WHERE {match}) s"
        )
    return (
        f"SELECT q.column2, q.column1, {sums} FROM (VALUES {values}) q"
        f" CROSS JOIN {table} t ON {match} GROUP BY q.column2, q.column1"
    )


def uptime_counts_all(
    conn: Connection, windows: Sequence[tuple[int, int]]
) -> dict[tuple[str, str], list[tuple[int, int]]]:
    """Return (runs, good runs) per window for every component, by (target, probe).

    The same figures as `uptime_counts` for each component and window, read
    with a few range queries for all components at once instead of several
    queries per component and window.
    """
    comps = conn.execute(
        "SELECT c.id, c.target, c.probe,"
        " (SELECT min(started_at) FROM results WHERE component = c.id),"
        " (SELECT min(bucket) FROM rollup_hourly WHERE component = c.id)"
        " FROM components c ORDER BY c.target, c.probe"
    ).fetchall()
    ranges: dict[str, list[tuple[int, int, int, int]]] = {t: [] for t in _RANGE_SUMS}
    for cid, _, _, raw_from, hourly_from in comps:
        for w, (since, until) in enumerate(windows):
            if since >= until:
                continue
            raw, hours, days = _uptime_plan(since, until, raw_from, hourly_from)
            ranges["results"] += [(cid, w, a, b) for a, b in raw]
            ranges["rollup_hourly"] += [(cid, w, a, b) for a, b in _spans(hours, HOUR_MS)]
            ranges["rollup_daily"] += [(cid, w, a, b) for a, b in _spans(days, DAY_MS)]
    sums: dict[tuple[int, int], tuple[int, int]] = {}
    for table, rows in ranges.items():
        for i in range(0, len(rows), 500):
            chunk = rows[i : i + 500]
            sql = _range_sums_sql(conn.dialect, table, len(chunk))
            args = [v for row in chunk for v in row]
            for w, cid, n, g in conn.execute(sql, args):
                runs, good = sums.get((cid, w), (0, 0))
                sums[(cid, w)] = (runs + n, good + g)
    return {
        (t, p): [sums.get((cid, w), (0, 0)) for w in range(len(windows))]
        for cid, t, p, _, _ in comps
    }


def _bucket_sums(
    conn: Connection, table: str, cid: int, buckets: list[int]
) -> Iterable[tuple[int, int]]:
    for i in range(0, len(buckets), 500):
        chunk = buckets[i : i + 500]
        marks = ",".join("?" * len(chunk))
        yield conn.execute(
            f"SELECT coalesce(sum(up + degraded + down), 0), coalesce(sum(up + degraded), 0)"
            f" FROM {table}"
            f" WHERE component = ? AND bucket IN ({marks})",
            (cid, *chunk),
        ).fetchone()
