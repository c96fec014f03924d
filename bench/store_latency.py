"""``python -m bench.store_latency --database PATH_OR_URL``: store write latency, one backend.

Seeds `--bulk` results with ``add_results``, then writes `--n` more one at a
time the way the scheduler does (each awaited: ``add_result`` returns once its
transaction committed), and prints p50/p95/p99 of the single writes, the bulk
rate and the median latency of the page's main reads (warm). Point it at a
SQLite file or at an empty PostgreSQL database (docs/scaling.md has the figures).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from bench.seed import Plan, results
from monitor.database_url import masked_database
from monitor.store import Store

NOW = datetime(2026, 1, 1, tzinfo=UTC)


async def _median(read: Callable[[], Awaitable[object]], n: int = 11) -> float:
    """Return the median seconds of `n` calls of `read`, after one to warm the connections."""
    await read()
    times = []
    for _ in range(n):
        t = time.perf_counter()
        await read()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


async def measure(database: str, n: int, bulk: int) -> dict[str, float]:
    """Return the figures of one run against `database` (which should be empty)."""
    # The benchmarks' production-shaped results: 10 targets x 3 probes every 60 s.
    seeded = list(itertools.islice(results(Plan(days=400, raw_days=400), NOW), bulk + n))
    async with await Store.open(database) as store:
        t = time.perf_counter()
        await store.add_results(seeded[:bulk])
        bulk_s = time.perf_counter() - t
        single = []
        for r in seeded[bulk:]:
            t = time.perf_counter()
            await store.add_result(r)
            single.append(time.perf_counter() - t)
        now = seeded[-1].started_at
        windows = [(now - timedelta(days=d), now) for d in (1, 7, 30, 90)]
        latest_s = await _median(store.latest)
        uptime_s = await _median(lambda: store.uptime_all(windows))
    q = statistics.quantiles(single, n=100)
    return {
        "write_p50_ms": q[49] * 1000,
        "write_p95_ms": q[94] * 1000,
        "write_p99_ms": q[98] * 1000,
        "bulk_rows_per_s": bulk / bulk_s,
        "latest_ms": latest_s * 1000,
        "uptime_all_ms": uptime_s * 1000,
    }


def main() -> None:
    """Parse the flags, run, print one line per figure."""
    parser = argparse.ArgumentParser(prog="python -m bench.store_latency")
    parser.add_argument("--database", required=True, help="a SQLite path or a PostgreSQL URL")
    parser.add_argument("--n", type=int, default=2000, help="single writes (default 2000)")
    parser.add_argument("--bulk", type=int, default=50_000, help="bulk rows (default 50,000)")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.database, args.n, args.bulk))
    print(masked_database(args.database))
    for name, value in figures.items():
        print(f"  {name:<16} {value:>10.2f}")


if __name__ == "__main__":
    main()
