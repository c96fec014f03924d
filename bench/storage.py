"""Benchmark 5: bytes on disk per stored result, and the database after 90 days.

Seeds 90 days for 10 targets × 3 probes through the store (see `bench.seed`),
prunes to the default retention (raw 30 days, hourly roll-ups 90, daily 400)
and VACUUMs. Bytes per raw result = database size ÷ raw results; SQLite's
``dbstat`` splits the file into tables and indexes, and the column lengths
show which part of a row costs the most, per probe kind. A sample of the
stored rows is then copied under the leaner encodings of Findings F5, to
measure what each would save. Hourly roll-up rows are sized apart within raw
retention (60 runs an hour, as in production) and beyond it (one seeded run an
hour), and the roll-ups' share is projected for a history whose every hour is
as full as production's.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from bench.seed import Plan, seeded


def breakdown(db: Path) -> dict[str, Any]:
    """Return bytes per table/index (dbstat) and mean column bytes per probe kind."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        pages = {
            name: int(size)
            for name, size in conn.execute(
                "SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC"
            )
        }
        cols: dict[str, Any] = {}
        for probe, n, msg, phases, details in conn.execute(
            """
            SELECT c.probe, count(*), avg(length(CAST(r.message AS BLOB))),
                   avg(length(CAST(r.phases AS BLOB))), avg(length(CAST(r.details AS BLOB)))
            FROM results r JOIN components c ON c.id = r.component GROUP BY c.probe
            """
        ):
            cols[probe] = {
                "rows": int(n),
                "message_bytes": round(msg or 0, 1),
                "phases_bytes": round(phases or 0, 1),
                "details_bytes": round(details or 0, 1),
            }
        return {"bytes_by_object": pages, "mean_text_columns_by_probe": cols}
    finally:
        conn.close()


# Detail keys that repeat a phase, and defaults a reader can put back.
_REPEATS_PHASES = ("queue_s", "processing_s", "turnaround_s", "first_transcript_s")
# The first four re-encode the v0 columns (the encoding before F5) step by step;
# "v2" is the rows as the store now writes them (monitor/store/codec.py).
_ENCODINGS = ("v0", "no_up_messages", "plus_trimmed_details", "plus_positional_phases", "v2")


def _reencode(
    probe: str, status: int, message: str | None, phases: str | None, details: str | None, step: int
) -> tuple[str | None, str | None, str | None]:
    """Return the text columns of one row under encoding `step` (index into _ENCODINGS)."""
    # The stored phase order of each kind (the v1 encoding's frozen order).
    from monitor.store.records import PHASE_ORDER

    if step >= 1 and status == 0:
        message = None  # an up run's message is rebuilt from status and key latency
    if step >= 2 and details:
        d = json.loads(details)
        for key in _REPEATS_PHASES:
            d.pop(key, None)
        if d.get("wer") == 0.0:
            d.pop("text", None)
        if d.get("close_code") == 1000 and d.get("close_reason") == "":
            del d["close_code"], d["close_reason"]
        if d.get("http_status") == 200 and status != 2:
            del d["http_status"]
        details = json.dumps(d, separators=(",", ":")) if d else None
    if step >= 3 and phases:
        p = json.loads(phases)
        order = PHASE_ORDER.get(probe, ())
        if set(p) <= set(order):
            phases = json.dumps([p.get(k) for k in order], separators=(",", ":"))
    return message, phases, details


def reencoded_sizes(db: Path, workdir: Path, sample: int) -> dict[str, float]:
    """Return bytes per result (results table + index, VACUUMed) of `sample` stored rows
    copied under each candidate encoding of Findings F5 — the gain of a store change,
    measured without making it."""
    from monitor.store.codec import RESULT_COLUMNS, decode_result, encode_v0

    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        stored = src.execute(
            f"SELECT r.component, {RESULT_COLUMNS}"
            " FROM results r JOIN components c ON c.id = r.component ORDER BY r.id LIMIT ?",
            (sample,),
        ).fetchall()
    finally:
        src.close()
    # (component, probe, started_at, status, error_kind, duration_us, then the text
    # columns as v0 wrote them and as stored, the location column left out).
    rows = [
        (row[0], row[3], *row[4:8], *encode_v0(decode_result(row[1:]).result), row[8:11])
        for row in stored
    ]
    out: dict[str, float] = {}
    for step, name in enumerate(_ENCODINGS):
        path = workdir / f"reencoded-{name}.db"
        path.unlink(missing_ok=True)
        dst = sqlite3.connect(path)
        try:
            # The results table and its index exactly as monitor/store/schema.py makes them.
            dst.execute(
                """
                CREATE TABLE results (
                    id INTEGER PRIMARY KEY, component INTEGER NOT NULL,
                    started_at INTEGER NOT NULL, status INTEGER NOT NULL, error_kind TEXT,
                    duration_us INTEGER NOT NULL, message TEXT, phases TEXT, details TEXT)
                """
            )
            dst.execute("CREATE INDEX results_component_time ON results (component, started_at)")
            dst.executemany(
                "INSERT INTO results (component, started_at, status, error_kind, duration_us,"
                " message, phases, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (
                        comp,
                        started,
                        status,
                        kind,
                        dur,
                        *(as_stored if step == 4 else _reencode(probe, status, m, p, d, step)),
                    )
                    for comp, probe, started, status, kind, dur, m, p, d, as_stored in rows
                ),
            )
            dst.commit()
            dst.execute("VACUUM")
        finally:
            dst.close()
        out[name] = round(path.stat().st_size / len(rows), 1)
        path.unlink()
    return out


def hourly_row_sizes(db: Path, workdir: Path, raw_from_ms: int) -> dict[str, float]:
    """Return bytes per hourly roll-up row (copied alone, VACUUMed) within and beyond raw retention.

    The seed writes one result per component-hour beyond raw retention (`bench.seed`),
    so those hours hold 1 run where a real history holds 60: the rows within raw
    retention are the ones shaped like production's.
    """
    src = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (ddl,) = src.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'rollup_hourly'"
        ).fetchone()
        width = len(src.execute("SELECT * FROM rollup_hourly LIMIT 1").description or ())
        out: dict[str, float] = {}
        for label, cond in (("within_raw_retention", ">="), ("beyond_raw_retention", "<")):
            path = workdir / f"hourly-{label}.db"
            path.unlink(missing_ok=True)
            dst = sqlite3.connect(path)
            try:
                dst.execute(ddl.replace("REFERENCES components(id)", ""))
                dst.executemany(
                    f"INSERT INTO rollup_hourly VALUES ({', '.join('?' * width)})",
                    src.execute(
                        f"SELECT * FROM rollup_hourly WHERE bucket {cond} ?", (raw_from_ms,)
                    ),
                )
                dst.commit()
                dst.execute("VACUUM")
                size, n = dst.execute(
                    "SELECT (SELECT sum(pgsize) FROM dbstat WHERE name = 'rollup_hourly'),"
                    " (SELECT count(*) FROM rollup_hourly)"
                ).fetchone()
            finally:
                dst.close()
            path.unlink()
            if n:
                out[label] = round(size / n, 1)
        return out
    finally:
        src.close()


def run(
    workdir: Path,
    *,
    days: int,
    targets: int = 10,
    raw_days: int = 30,
    seed_cache: Path | None = None,
    reencode_sample: int = 60_000,
) -> dict[str, Any]:
    """Return bytes per raw result and the size of `days` of history, after VACUUM."""
    plan = Plan(days=days, targets=targets, raw_days=raw_days)
    db, info = seeded(seed_cache, plan, workdir / f"storage-{days}d.db")
    rows = info["rows"]
    parts = breakdown(db)
    raw_bytes = sum(
        size
        for name, size in parts["bytes_by_object"].items()
        if name in ("results", "results_component_time")
    )
    rollup_bytes = sum(
        size for name, size in parts["bytes_by_object"].items() if name.startswith("rollup_")
    )
    raw_from = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        (oldest_raw,) = raw_from.execute("SELECT min(started_at) FROM results").fetchone()
    finally:
        raw_from.close()
    # The first hour holding raw results may be partial: start at the next one.
    hourly_rows = hourly_row_sizes(db, workdir, (oldest_raw // 3_600_000 + 1) * 3_600_000)
    dense = (
        hourly_rows["within_raw_retention"] * rows["rollup_hourly"]
        + parts["bytes_by_object"].get("rollup_daily", 0)
        if "within_raw_retention" in hourly_rows
        else 0
    )
    return {
        "days": days,
        "components": targets * 3,
        "raw_retention_days": raw_days,
        "rows": rows,
        "db_bytes": info["bytes"],
        "db_mb": round(info["bytes"] / 1e6, 1),
        "bytes_per_raw_result": round(info["bytes"] / rows["results"], 1),
        "results_table_and_index_bytes_per_result": round(raw_bytes / rows["results"], 1),
        "rollup_share_pct": round(100.0 * rollup_bytes / info["bytes"], 2),
        "rollup_bytes_per_row": {
            table: round(parts["bytes_by_object"].get(table, 0) / rows[table], 1)
            for table in ("rollup_hourly", "rollup_daily")
            if rows.get(table)
        },
        "hourly_rollup_bytes_per_row": hourly_rows,
        # Hourly rows all as full as production's (60 runs each), the rest of the file unchanged.
        "rollup_share_pct_at_60_runs_per_hour": round(
            100.0 * dense / (info["bytes"] - rollup_bytes + dense), 2
        )
        if dense
        else None,
        "seed_s": info["seed_s"],
        "reencoded_bytes_per_result": reencoded_sizes(
            db, workdir, min(reencode_sample, rows["results"])
        ),
        **parts,
    }
