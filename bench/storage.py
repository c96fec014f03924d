"""Benchmark 5: bytes on disk per stored result, and the database after 90 days.

Seeds 90 days for 10 targets × 3 probes through the store (see `bench.seed`),
prunes to the default retention (raw 30 days, hourly roll-ups 90, daily 400)
and VACUUMs. Bytes per raw result = database size ÷ raw results; SQLite's
``dbstat`` splits the file into tables and indexes, and the column lengths
show which part of a row costs the most, per probe kind.
"""

from __future__ import annotations

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


def run(
    workdir: Path,
    *,
    days: int,
    targets: int = 10,
    raw_days: int = 30,
    seed_cache: Path | None = None,
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
        "seed_s": info["seed_s"],
        **parts,
    }
