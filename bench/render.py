"""How long ``sttwatch render`` takes, and how much memory, on 90 days of 60-second results.

Seeds a database with one result per minute for 10 targets × 3 probes over 90
days (3.9 million results, through the store's own bulk ingest, so raw rows,
roll-ups and incidents are what the product writes; nothing is pruned, the
worst case for a reader), then runs ``sttwatch render -c CONFIG`` as a
subprocess several times and prints each run's wall time and peak RSS (the
child's own VmHWM from /proc, via ``bench.procs.run_measured``: ``ru_maxrss``
from ``wait4`` would include the seeding parent's size, BENCHMARKS.md F8).

The peer, in the same run: the same 90-day bars computed the way Uptime Kuma
v1's status pages did, by scanning raw results (``GROUP BY`` day over the
results table), timed in-process on the same database.

    python -m bench.render                 # 90 days, 10 targets, 3 renders
    python -m bench.render --days 7 --runs 1 --db /tmp/bench-render.db   # quick; reusable db
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from bench.procs import byte_compile_sttwatch, run_measured
from monitor.config import Config, load_config
from monitor.demo import synthetic_history
from monitor.store import Store


def write_config(workdir: Path, db: Path, targets: int) -> Path:
    """Return the path of a config naming `targets` targets (all three probes each)."""
    path = workdir / "sttwatch.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "title": "Render benchmark",
                "database": str(db),
                "site_dir": str(workdir / "site"),
                "targets": [
                    {"name": f"region-{i + 1:02d}", "api_key": "bench-key"} for i in range(targets)
                ],
            }
        )
    )
    path.chmod(0o600)
    return path


async def seed(config: Config, days: float) -> int:
    """Store `days` of one-per-minute results for every configured probe; return the count."""
    store = await Store.open(config.database)
    try:
        return await store.add_results(
            synthetic_history(config, datetime.now(UTC), days=days, step=timedelta(seconds=60))
        )
    finally:
        await store.close()


def render_once(config_path: Path) -> tuple[float, float]:
    """Return (wall seconds, peak RSS in MiB) of one ``sttwatch render`` subprocess."""
    wall, peak, code, err = run_measured(
        [sys.executable, "-m", "monitor", "render", "-c", str(config_path)]
    )
    if code != 0:
        raise SystemExit(f"sttwatch render exited {code}: {err[-800:]}")
    return wall, peak


def raw_scan_bars(db: Path, days: int) -> tuple[float, int]:
    """Return (seconds, rows) of computing every component's daily bars from raw results."""
    since_ms = int((datetime.now(UTC) - timedelta(days=days)).timestamp() * 1000)
    t0 = time.perf_counter()
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT component, started_at / 86400000 AS day, count(*), sum(status < 2),"
            " max(status) FROM results WHERE started_at >= ? GROUP BY component, day",
            (since_ms,),
        ).fetchall()
    return time.perf_counter() - t0, len(rows)


def main(argv: list[str] | None = None) -> int:
    """Seed, render, print the figures; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m bench.render", description=__doc__)
    parser.add_argument("--days", type=float, default=90.0)
    parser.add_argument("--targets", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--db", type=Path, help="reuse (or create) this database")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="sttwatch-bench-render-") as tmp:
        workdir = Path(tmp)
        db = args.db or workdir / "sttwatch.db"
        config_path = write_config(workdir, db, args.targets)
        config = load_config(config_path)
        if not db.exists():
            t0 = time.perf_counter()
            n = asyncio.run(seed(config, args.days))
            print(
                f"seeded {n:,} results ({args.days:g} days x {args.targets} targets x 3 probes,"
                f" one a minute) in {time.perf_counter() - t0:.1f} s;"
                f" database {db.stat().st_size / 2**20:.0f} MiB"
            )
        else:
            print(f"reusing {db} ({db.stat().st_size / 2**20:.0f} MiB)")

        byte_compile_sttwatch()  # as installed: pip byte-compiles the wheel's modules
        walls, rss = [], []
        for i in range(args.runs):
            wall, peak = render_once(config_path)
            walls.append(wall)
            rss.append(peak)
            print(f"sttwatch render run {i + 1}: {wall:.2f} s wall, peak RSS {peak:.0f} MiB")
        files = sum(1 for p in (workdir / "site").rglob("*") if p.is_file())
        print(
            f"sttwatch render: median {statistics.median(walls):.2f} s, peak RSS median"
            f" {statistics.median(rss):.0f} MiB ({files} files written)"
        )
        scan, groups = raw_scan_bars(db, int(args.days))
        print(
            f"peer (bars from raw results, the Uptime Kuma v1 way): {scan:.2f} s for the"
            f" {groups} day-bars alone, before any HTML"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
