"""Roll-up rows in their compact encoding (migration m003): same figures, a quarter the bytes.

The roll-up writer and reader as they were before m003 are copied below,
frozen, to build databases the way the product used to write them; the tests
then migrate such a database and compare every roll-up read with the same
results written by today's store.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database, Migrations

from monitor.models import ProbeResult
from monitor.store import MIGRATIONS, Rollup, Store
from monitor.store.codec import encode_result
from monitor.store.records import (
    DAY_MS,
    HISTOGRAM_SIZE,
    HOUR_MS,
    STATUS_CODE,
    decode_histogram,
    decode_phases,
    encode_histogram,
    encode_phases,
    from_ms,
    histogram_index,
    key_latency,
)
from monitor.store.schema import m001_initial, m002_alerts
from tests.support.clocks import ManualClock
from tests.support.results import T0, history, make

SINCE, UNTIL = T0 - timedelta(days=2), T0 + timedelta(days=5)
QUANTILES = (0.0, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0)

# ---------------------------------------------------------------------------
# The roll-up writer and reader before m003, frozen (monitor/store/ingest.py and
# queries.py at 18bd9c4, trimmed to the roll-ups).


@dataclass(slots=True)
class _AggV1:
    runs: int = 0
    up: int = 0
    degraded: int = 0
    down: int = 0
    lat_n: int = 0
    lat_sum: float = 0.0
    lat_min: float | None = None
    lat_max: float | None = None
    hist: list[int] = field(default_factory=lambda: [0] * HISTOGRAM_SIZE)
    phases: dict[str, list[float]] = field(default_factory=dict)
    wer_sum: float = 0.0
    wer_n: int = 0
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, r: ProbeResult, status: int, latency: float, wer: float | None) -> None:
        self.runs += 1
        if status == 2:
            self.down += 1
            kind = r.error_kind.value if r.error_kind else "internal"
            self.errors[kind] = self.errors.get(kind, 0) + 1
        else:
            if status == 0:
                self.up += 1
            else:
                self.degraded += 1
            self.lat_n += 1
            self.lat_sum += latency
            if self.lat_min is None or latency < self.lat_min:
                self.lat_min = latency
            if self.lat_max is None or latency > self.lat_max:
                self.lat_max = latency
            self.hist[histogram_index(latency)] += 1
            for name, secs in r.phases.items():
                acc = self.phases.get(name)
                if acc is None:
                    self.phases[name] = [secs, 1]
                else:
                    acc[0] += secs
                    acc[1] += 1
        if wer is not None:
            self.wer_sum += wer
            self.wer_n += 1

    def merge(self, other: _AggV1) -> None:
        self.runs += other.runs
        self.up += other.up
        self.degraded += other.degraded
        self.down += other.down
        self.lat_n += other.lat_n
        self.lat_sum += other.lat_sum
        if other.lat_min is not None and (self.lat_min is None or other.lat_min < self.lat_min):
            self.lat_min = other.lat_min
        if other.lat_max is not None and (self.lat_max is None or other.lat_max > self.lat_max):
            self.lat_max = other.lat_max
        for i, c in enumerate(other.hist):
            self.hist[i] += c
        for name, (s, n) in other.phases.items():
            acc = self.phases.setdefault(name, [0.0, 0])
            acc[0] += s
            acc[1] += n
        self.wer_sum += other.wer_sum
        self.wer_n += other.wer_n
        for kind, n in other.errors.items():
            self.errors[kind] = self.errors.get(kind, 0) + n

    def merge_row(self, row: Sequence[Any]) -> None:
        runs, up, degraded, down, lat_n, lat_sum, lat_min, lat_max, hist, phases, ws, wn, errs = row
        self.runs += runs
        self.up += up
        self.degraded += degraded
        self.down += down
        self.lat_n += lat_n
        self.lat_sum += lat_sum
        if lat_min is not None and (self.lat_min is None or lat_min < self.lat_min):
            self.lat_min = lat_min
        if lat_max is not None and (self.lat_max is None or lat_max > self.lat_max):
            self.lat_max = lat_max
        for i, c in enumerate(json.loads(hist)):
            if i < HISTOGRAM_SIZE:
                self.hist[i] += c
        for name, (s, n) in (json.loads(phases) if phases else {}).items():
            acc = self.phases.setdefault(name, [0.0, 0])
            acc[0] += s
            acc[1] += n
        self.wer_sum += ws
        self.wer_n += wn
        for kind, n in (json.loads(errs) if errs else {}).items():
            self.errors[kind] = self.errors.get(kind, 0) + n

    def row(self, component: int, bucket: int) -> tuple[Any, ...]:
        dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str).encode
        return (
            component,
            bucket,
            self.runs,
            self.up,
            self.degraded,
            self.down,
            self.lat_n,
            self.lat_sum,
            self.lat_min,
            self.lat_max,
            dumps(self.hist),
            dumps(self.phases) if self.phases else None,
            self.wer_sum,
            self.wer_n,
            dumps(self.errors) if self.errors else None,
        )


_V1_SELECT = (
    "runs, up, degraded, down, lat_n, lat_sum, lat_min, lat_max, lat_hist, phases,"
    " wer_sum, wer_n, errors"
)


def _wer(r: ProbeResult) -> float | None:
    w = r.details.get("wer")
    return float(w) if isinstance(w, int | float) and not isinstance(w, bool) else None


def write_v1(conn: sqlite3.Connection, results: Sequence[ProbeResult], batch: int) -> None:
    """Store `results` in batches of `batch`, raw rows and roll-ups as before m003."""
    comps: dict[tuple[str, str], int] = {}
    for i in range(0, len(results), batch):
        hourly: dict[tuple[int, int], _AggV1] = {}
        for r in results[i : i + batch]:
            cid = comps.get((r.target, r.probe))
            if cid is None:
                conn.execute(
                    "INSERT INTO components (target, probe) VALUES (?, ?)", (r.target, r.probe)
                )
                cid = comps[(r.target, r.probe)] = conn.execute(
                    "SELECT id FROM components WHERE target = ? AND probe = ?",
                    (r.target, r.probe),
                ).fetchone()[0]
            enc = encode_result(r)
            conn.execute(
                "INSERT INTO results (component, started_at, status, error_kind, duration_us,"
                " message, phases, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (cid, *enc),
            )
            status = STATUS_CODE[r.status]
            key = (cid, enc[0] - enc[0] % HOUR_MS)
            hourly.setdefault(key, _AggV1()).add(
                r, status, key_latency(r) if status != 2 else 0.0, _wer(r)
            )
        daily: dict[tuple[int, int], _AggV1] = {}
        for (cid, hour), agg in hourly.items():
            daily.setdefault((cid, hour - hour % DAY_MS), _AggV1()).merge(agg)
        for table, aggs in (("rollup_hourly", hourly), ("rollup_daily", daily)):
            out = []
            for (cid, bucket), agg in aggs.items():
                old = conn.execute(
                    f"SELECT {_V1_SELECT} FROM {table} WHERE component = ? AND bucket = ?",
                    (cid, bucket),
                ).fetchone()
                if old is not None:
                    agg.merge_row(old)
                out.append(agg.row(cid, bucket))
            conn.executemany(f"INSERT OR REPLACE INTO {table} VALUES ({', '.join('?' * 15)})", out)


def read_v1(conn: sqlite3.Connection, table: str, bucket_ms: int) -> list[Rollup]:
    """Return every roll-up row of `table` as the reader before m003 decoded it."""
    rows = conn.execute(
        "SELECT c.target, c.probe, r.bucket, r.runs, r.up, r.degraded, r.down, r.lat_n,"
        " r.lat_sum, r.lat_min, r.lat_max, r.lat_hist, r.phases, r.wer_sum, r.wer_n, r.errors"
        f" FROM {table} r JOIN components c ON c.id = r.component"
        " ORDER BY c.target, c.probe, r.bucket"
    ).fetchall()
    return [
        Rollup(
            target=t,
            probe=p,
            bucket_start=from_ms(b),
            bucket_s=bucket_ms // 1000,
            runs=runs,
            up=up,
            degraded=deg,
            down=down,
            latency_n=n,
            latency_sum=s,
            latency_min=lo,
            latency_max=hi,
            histogram=tuple(json.loads(hist)),
            phases={k: tuple(v) for k, v in json.loads(ph).items()} if ph else {},
            wer_sum=ws,
            wer_n=wn,
            errors=json.loads(errs) if errs else {},
        )
        for t, p, b, runs, up, deg, down, n, s, lo, hi, hist, ph, ws, wn, errs in rows
    ]


def old_database(path: Path, results: Sequence[ProbeResult], batch: int = 500) -> None:
    """Create at `path` a database at the schema before m003, holding `results`."""
    old = Migrations("sttwatch")  # the store's migration set, stopped before m003
    old(name="m001_initial")(m001_initial)
    old(name="m002_alerts")(m002_alerts)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        old.apply(Database(conn))
        conn.execute("BEGIN")
        write_v1(conn, results, batch)
        conn.execute("COMMIT")
    finally:
        conn.close()


# ---------------------------------------------------------------------------
# Helpers


def quantized(results: Sequence[ProbeResult]) -> list[ProbeResult]:
    """Return `results` with phases and duration in whole µs, as the store gives them back."""
    return [
        ProbeResult(
            target=r.target,
            probe=r.probe,
            started_at=r.started_at,
            duration_s=round(r.duration_s, 6),
            status=r.status,
            error_kind=r.error_kind,
            message=r.message,
            phases={k: round(v, 6) for k, v in r.phases.items()},
            details=r.details,
        )
        for r in results
    ]


async def reads(store: Store) -> dict[str, Any]:
    """Return every roll-up read of the store's public surface over the test window."""
    day_starts = [T0 - timedelta(days=1) + timedelta(hours=7 * i) for i in range(20)]
    windows = [(a, a + timedelta(hours=h)) for a in day_starts for h in (1, 5, 24, 50)]
    return {
        "hourly": await store.rollups_hourly(None, None, SINCE, UNTIL),
        "daily": await store.rollups_daily(None, None, SINCE, UNTIL),
        "daily_counts": await store.daily_counts_all(SINCE, UNTIL),
        "uptime": [
            await store.run_counts(t, p, a, b) for t, p in COMPONENT_KEYS for a, b in windows[::7]
        ],
        "uptime_all": await store.uptime_all(windows),
    }


COMPONENT_KEYS = [("eu", "streaming"), ("us", "reachability"), ("us", "transcription")]


def wer_rounded(reads: dict[str, Any]) -> dict[str, Any]:
    """Return `reads` with each roll-up's WER sum rounded to 9 places."""
    return {
        k: [dataclasses.replace(r, wer_sum=round(r.wer_sum, 9)) for r in v]
        if k in ("hourly", "daily")
        else v
        for k, v in reads.items()
    }


def figures(r: Rollup) -> dict[str, Any]:
    """Return what the readers derive from a roll-up: counts, percentiles, means."""
    return {
        "key": (r.target, r.probe, r.bucket_start, r.bucket_s),
        "counts": (r.runs, r.up, r.degraded, r.down, r.latency_n, r.good),
        "uptime": r.uptime,
        "worst": r.worst,
        "histogram": r.histogram,
        "min_max": (r.latency_min, r.latency_max),
        "percentiles": [r.percentile(q) for q in QUANTILES],
        "errors": dict(r.errors),
        "wer": (round(r.wer_sum, 9), r.wer_n, round(r.wer_mean or 0.0, 12)),
        "phase_runs": {k: n for k, (_, n) in r.phases.items()},
    }


def assert_sums_close(old: Rollup, new: Rollup, abs_per_run: float) -> None:
    """Sums (and so means) agree up to float rounding or `abs_per_run` seconds per run."""
    tol = abs_per_run * max(1, old.latency_n) + 1e-12 * abs(old.latency_sum)
    assert new.latency_sum == pytest.approx(old.latency_sum, abs=tol)
    assert set(new.phases) == set(old.phases)
    for name, (s, n) in old.phases.items():
        assert new.phases[name][0] == pytest.approx(s, abs=abs_per_run * n + 1e-12 * abs(s))
        assert new.phase_mean(name) == pytest.approx(old.phase_mean(name), abs=abs_per_run + 1e-12)


# ---------------------------------------------------------------------------
# The codec


def test_histogram_blob_round_trips() -> None:
    rng = random.Random(1)
    for _ in range(300):
        hist = [rng.choice((0, 0, 0, 1, 7, 60, 1440, 10**9)) for _ in range(HISTOGRAM_SIZE)]
        assert decode_histogram(encode_histogram(hist)) == hist
    assert encode_histogram([0] * HISTOGRAM_SIZE) == b""
    one_hour = [0] * HISTOGRAM_SIZE
    one_hour[6], one_hour[7] = 25, 35
    assert len(encode_histogram(one_hour)) == 4  # vs 49 bytes of JSON


@pytest.mark.parametrize("probe", ["reachability", "transcription", "streaming", "future"])
def test_phase_blob_round_trips(probe: str) -> None:
    rng = random.Random(probe)
    names = ["dns", "connect", "ttfb", "total", "upload", "queued", "first_transcript", "token"]
    for _ in range(300):
        good = rng.choice((1, 60, 1440, 100_000))
        phases = {
            name: (rng.randrange(-(10**6), 10**13), rng.choice((good, good, 1, max(1, good - 1))))
            for name in rng.sample([*names, "naïve phase", "x"], rng.randrange(0, 10))
        }
        blob = encode_phases(probe, good, phases)
        if not phases:
            assert blob is None
            continue
        assert blob is not None
        assert decode_phases(probe, good, blob) == phases


def test_an_hour_of_reachability_phases_takes_a_few_bytes_each() -> None:
    sums = {"dns": 234577, "connect": 749510, "ttfb": 5132704, "transfer": 24036, "total": 6140826}
    blob = encode_phases("reachability", 60, {k: (s, 60) for k, s in sums.items()})
    assert blob is not None and len(blob) <= 20  # 148 bytes as JSON


# ---------------------------------------------------------------------------
# Migration and equivalence


@pytest.mark.parametrize("exact_us", [True, False], ids=["us-results", "float-results"])
async def test_migrated_and_fresh_databases_read_the_same_as_before(
    tmp_path: Path, exact_us: bool
) -> None:
    """Same results into an old-schema DB (then migrated) and a new one: every read agrees.

    With results in whole µs (what the store holds and gives back) the counts,
    histograms, min/max and percentiles are identical to the old reader's, and
    the sums differ only by the old float accumulation; with arbitrary float
    results by at most half a µs per run (the new rows keep µs, as raw rows do).
    """
    results = history(seed=21, days=1.5)
    if exact_us:
        results = quantized(results)
    clock = ManualClock()
    old_path = tmp_path / "old.db"
    await _in_thread(old_database, old_path, results)
    before = await _in_thread(_read_v1_all, old_path)

    async with await Store.open(str(old_path), clock=clock) as migrated:
        after = await reads(migrated)
    async with await Store.open(str(tmp_path / "new.db"), clock=clock) as fresh:
        await fresh.add_results(results[:-150])
        for r in results[-150:]:  # the live path, one result per transaction
            await fresh.add_result(r)
        fresh_reads = await reads(fresh)

    # A migrated database and one written fresh are indistinguishable (but for the
    # float sum of WER, which depends on how the results were batched, before as now).
    if exact_us:
        assert wer_rounded(after) == wer_rounded(fresh_reads)
    else:
        assert [figures(r) for r in after["hourly"]] == [figures(r) for r in fresh_reads["hourly"]]
        for key in ("daily_counts", "uptime", "uptime_all"):
            assert after[key] == fresh_reads[key]

    # And both read what the old reader read. Transcription's key latency is a sum of
    # three phases, not a whole number of µs even when they are: its min/max (so its
    # percentiles) move by float rounding, ~1e-16 s.
    per_run = 0.0 if exact_us else 0.5e-6
    for table in ("hourly", "daily"):
        old_rows, new_rows = before[table], after[table]
        assert len(old_rows) == len(new_rows) > 0
        for old, new in zip(old_rows, new_rows, strict=True):
            f_old, f_new = figures(old), figures(new)
            if exact_us and old.probe != "transcription":
                assert f_new == f_old
            for k in ("key", "counts", "uptime", "worst", "histogram", "errors", "wer"):
                assert f_new[k] == f_old[k]
            tol = max(per_run, 1e-12)
            assert f_new["min_max"] == pytest.approx(f_old["min_max"], abs=tol)
            assert f_new["percentiles"] == pytest.approx(f_old["percentiles"], abs=tol)
            assert_sums_close(old, new, per_run)
    assert [(c.runs, c.up, c.degraded, c.down) for c in after["daily_counts"]] == [
        (r.runs, r.up, r.degraded, r.down) for r in before["daily"]
    ]


async def test_migration_keeps_a_populated_database_and_its_writes_going(tmp_path: Path) -> None:
    """A database written before m003 migrates in place; later results merge into its rows."""
    results = quantized(history(seed=4, days=1))
    head, tail = results[: len(results) // 2], results[len(results) // 2 :]
    path = tmp_path / "old.db"
    await _in_thread(old_database, path, head, 37)
    clock = ManualClock()
    async with await Store.open(str(path), clock=clock) as s:
        await s.add_results(tail)
        migrated = await reads(s)
        assert MIGRATIONS.pending(Database(sqlite3.connect(path))) == []
    async with await Store.open(str(tmp_path / "new.db"), clock=clock) as s:
        await s.add_results(results)
        assert wer_rounded(await reads(s)) == wer_rounded(migrated)
    conn = sqlite3.connect(path)
    try:
        cols = [r[1] for r in conn.execute("PRAGMA table_info(rollup_hourly)")]
        assert "runs" not in cols and "lat_n" not in cols
        assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == len(results)
    finally:
        conn.close()


async def test_hourly_rows_take_a_quarter_of_the_bytes(tmp_path: Path) -> None:
    """A steady day of 60-s results for 3 components: hourly rows under 100 B of payload."""
    rng = random.Random(8)
    results = quantized(
        [
            make(t, p, T0 + timedelta(minutes=i), latency=rng.uniform(0.2, 0.3) * scale)
            for i in range(1440)
            for (t, p), scale in zip(COMPONENT_KEYS, (1, 0.4, 25), strict=True)
        ]
    )
    old_path, new_path = tmp_path / "old.db", tmp_path / "new.db"
    await _in_thread(old_database, old_path, results)
    async with await Store.open(str(new_path), clock=ManualClock()) as s:
        await s.add_results(results)
        await s.vacuum()
    sizes = [await _in_thread(_hourly_bytes_per_row, p) for p in (old_path, new_path)]
    print(f"\nhourly roll-up bytes per row: {sizes[0]:.1f} before m003, {sizes[1]:.1f} after")
    assert sizes[1] < 100
    assert sizes[1] < sizes[0] / 3


# ---------------------------------------------------------------------------


def _read_v1_all(path: Path) -> dict[str, list[Rollup]]:
    conn = sqlite3.connect(path)
    try:
        return {
            "hourly": read_v1(conn, "rollup_hourly", HOUR_MS),
            "daily": read_v1(conn, "rollup_daily", DAY_MS),
        }
    finally:
        conn.close()


def _hourly_bytes_per_row(path: Path) -> float:
    conn = sqlite3.connect(path)
    try:
        conn.execute("VACUUM")
        size = conn.execute(
            # Payload, not pages: 72 rows fill a few pages, and a page is 4 KiB.
            "SELECT sum(payload) FROM dbstat WHERE name = 'rollup_hourly'"
        ).fetchone()
        n = conn.execute("SELECT count(*) FROM rollup_hourly").fetchone()
        return float(size[0]) / n[0]
    finally:
        conn.close()


async def _in_thread(fn: Any, *args: Any) -> Any:
    return await asyncio.to_thread(fn, *args)
