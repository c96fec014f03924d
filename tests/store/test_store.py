"""The store: roll-ups, incidents, ledger, retention, failures — on both databases.

Most tests run twice (``[sqlite]``: a real file in tmp_path, ``[postgresql]``: a
fresh database of the session's real server; tests/store/conftest.py). Those of
what only a SQLite file has (read-only files, locks of another process, WAL,
bytes on disk) open a file in tmp_path themselves.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import shutil
import sqlite3
import subprocess
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlite_utils import Database

from monitor.config import Retention
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.store import LATENCY_BUCKETS, MIGRATIONS, Rollup, Store, StoreWriteError
from tests.support.clocks import ManualClock
from tests.support.results import COMPONENTS, T0, history, make


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    """A SQLite file, for the tests of what only SQLite has."""
    return str(tmp_path / "sttwatch.db")


# ---------------------------------------------------------------------------
# Result generation


def key_latency(r: ProbeResult) -> float:
    if r.probe == "reachability":
        return r.phases["total"]
    if r.probe == "transcription":
        return r.phases["submit"] + r.phases["queued"] + r.phases["processing"]
    return r.phases["first_transcript"]


def rounded(value: Any) -> Any:
    """Return `value` with every float rounded, so summation order does not matter."""
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, list | tuple):
        return [rounded(v) for v in value]
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if hasattr(value, "__dataclass_fields__"):
        return {k: rounded(getattr(value, k)) for k in value.__dataclass_fields__}
    return value


def ms(dt: datetime) -> int:
    return int((dt - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))


def bucket_of(v: float) -> int:
    """Histogram bucket of `v`: how many upper bounds lie below it."""
    return sum(1 for edge in LATENCY_BUCKETS if edge < v)


def recompute(results: list[ProbeResult], size_s: int) -> dict[tuple[str, str, datetime], Any]:
    """Return roll-ups computed straight from raw results, the way a reader would expect."""
    out: dict[tuple[str, str, datetime], Any] = {}
    for r in results:
        t = ms(r.started_at)
        bucket = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=t - t % (size_s * 1000))
        g = out.setdefault(
            (r.target, r.probe, bucket),
            {
                "runs": 0,
                "status": Counter(),
                "errors": Counter(),
                "lat": [],
                "phases": defaultdict(list),
                "wer": [],
            },
        )
        g["runs"] += 1
        g["status"][r.status] += 1
        if r.status is Status.DOWN:
            assert r.error_kind is not None
            g["errors"][r.error_kind.value] += 1
        else:
            g["lat"].append(key_latency(r))
            for k, v in r.phases.items():
                g["phases"][k].append(v)
        if "wer" in r.details:
            g["wer"].append(r.details["wer"])
    return out


def assert_rollups_match(rollups: list[Rollup], expected: dict[Any, Any]) -> None:
    got = {(r.target, r.probe, r.bucket_start): r for r in rollups}
    assert set(got) == set(expected)
    for key, exp in expected.items():
        r = got[key]
        assert r.runs == exp["runs"], key
        assert (r.up, r.degraded, r.down) == (
            exp["status"][Status.UP],
            exp["status"][Status.DEGRADED],
            exp["status"][Status.DOWN],
        ), key
        assert dict(r.errors) == dict(exp["errors"]), key
        lat = exp["lat"]
        assert r.latency_n == len(lat)
        assert r.latency_sum == pytest.approx(sum(lat), rel=1e-6)
        if lat:
            assert r.latency_min == pytest.approx(min(lat), abs=1e-6)
            assert r.latency_max == pytest.approx(max(lat), abs=1e-6)
        hist = [0] * (len(LATENCY_BUCKETS) + 1)
        for v in lat:
            hist[bucket_of(round(v, 6))] += 1
        assert list(r.histogram) == hist, key
        for name, values in exp["phases"].items():
            assert r.phases[name][1] == len(values)
            assert r.phases[name][0] == pytest.approx(sum(values), rel=1e-5, abs=1e-5)
        assert r.wer_n == len(exp["wer"])
        assert r.wer_sum == pytest.approx(sum(exp["wer"]), abs=1e-9)


# ---------------------------------------------------------------------------
# Round trip and roll-ups


async def test_result_round_trips_through_the_database(store: Store) -> None:
    r = ProbeResult(
        target="us",
        probe="streaming",
        started_at=T0,
        duration_s=3.141593,
        status=Status.DOWN,
        error_kind=ErrorKind.STREAM_CLOSED,
        message="closed 3008 «session expired» <script>",
        phases={"connect": 0.012345, "begin": 0.2},
        details={"close_code": 3008, "reason": "Session expired", "nested": {"a": [1, 2]}},
    )
    rid = await store.add_result(r)
    assert rid > 0
    [back] = await store.latest()
    assert back.to_json() == r.to_json()


async def test_rollups_equal_recomputation_from_raw_results(store: Store) -> None:
    results = history(seed=7, days=2.5)
    # The bulk path and the one-at-a-time path must agree, so use both.
    await store.add_results(results[:-200])
    for r in results[-200:]:
        await store.add_result(r)
    since, until = T0 - timedelta(days=1), T0 + timedelta(days=4)
    assert_rollups_match(
        await store.rollups_hourly(None, None, since, until), recompute(results, 3600)
    )
    assert_rollups_match(
        await store.rollups_daily(None, None, since, until), recompute(results, 86400)
    )


async def test_bulk_and_single_writes_store_the_same(
    make_database: Callable[[], str], clock: ManualClock
) -> None:
    results = history(seed=3, days=0.3)
    results[40:44] = [
        make(r.target, r.probe, r.started_at, Status.DOWN, kind=ErrorKind.AUTH)
        for r in results[40:44]
    ]
    states = []
    for bulk in (True, False):
        async with await Store.open(make_database(), clock=clock) as s:
            if bulk:
                assert await s.add_results(iter(results)) == len(results)
            else:
                for r in results:
                    await s.add_result(r)
            states.append(
                (
                    await s.rollups_hourly(None, None, T0 - timedelta(hours=1), T0 + timedelta(1)),
                    await s.incidents(),
                    await s.component_states(),
                    len(await s.results(limit=1000)),
                )
            )
    assert rounded(states[0]) == rounded(states[1])


@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99], ids=["p50", "p90", "p95", "p99"])
async def test_percentile_from_histogram_within_one_bucket(store: Store, q: float) -> None:
    rng = random.Random(11)
    results = [
        make(at=T0 + timedelta(seconds=20 * i), latency=rng.lognormvariate(math.log(0.25), 0.9))
        for i in range(2000)
    ]
    await store.add_results(results)
    rows = await store.rollups_hourly("us", "reachability", T0, T0 + timedelta(days=1))
    assert len(rows) > 1
    latencies = sorted(key_latency(r) for r in results)
    true = latencies[max(1, math.ceil(q * len(latencies))) - 1]
    merged = Rollup.merged(rows)
    assert merged is not None
    estimate = merged.percentile(q)
    assert estimate is not None
    assert abs(bucket_of(estimate) - bucket_of(true)) <= 1, (estimate, true)


async def test_uptime_from_rollups_equals_raw_computation(store: Store) -> None:
    results = history(seed=5, days=3)
    await store.add_results(results)
    rng = random.Random(99)
    span_ms = 3 * 86400 * 1000
    windows = [(T0, T0 + timedelta(days=3))]  # everything
    windows += [(T0 + timedelta(minutes=10), T0 + timedelta(minutes=50))]  # inside one hour
    for _ in range(40):
        a = rng.randrange(-3_600_000, span_ms)
        b = a + rng.randrange(1, span_ms)
        windows.append((T0 + timedelta(milliseconds=a), T0 + timedelta(milliseconds=b)))
    for since, until in windows:
        for target, probe in COMPONENTS:
            raw = [
                r
                for r in results
                if (r.target, r.probe) == (target, probe) and since <= r.started_at < until
            ]
            expected = sum(r.ok for r in raw) / len(raw) if raw else None
            assert await store.uptime(target, probe, since, until) == expected, (since, until)


# ---------------------------------------------------------------------------
# Incidents

U, G, D = Status.UP, Status.DEGRADED, Status.DOWN


@pytest.mark.parametrize(
    ("thresholds", "sequence", "expected"),
    [
        ((2, 2), [U, D, U], []),
        ((2, 2), [D, D], [(0, None)]),
        ((2, 2), [U, D, D, D], [(1, None)]),
        ((2, 2), [D, D, U, U], [(0, 2)]),
        ((2, 2), [D, D, U, D, U], [(0, None)]),
        ((2, 2), [D, D, G, U], [(0, 2)]),
        ((2, 2), [D, U, D, U, D, U, D, U, D], []),
        ((2, 2), [D, D, U, U, D, D, U, U], [(0, 2), (4, 6)]),
        ((3, 1), [D, D, U, D, D, D, U], [(3, 6)]),
        ((1, 3), [D, U, U, D, U, U, U], [(0, 4)]),
    ],
    ids=[
        "one-down-opens-nothing",
        "two-downs-open",
        "opened-at-first-down-of-streak",
        "two-goods-close-at-first-good",
        "one-good-does-not-close",
        "degraded-counts-as-good",
        "flapping-opens-nothing",
        "two-outages-two-incidents",
        "threshold-3-1",
        "threshold-1-3",
    ],
)
async def test_incidents_follow_thresholds(
    db_path: str,
    clock: ManualClock,
    thresholds: tuple[int, int],
    sequence: list[Status],
    expected: list[tuple[int, int | None]],
) -> None:
    times = [T0 + timedelta(minutes=i) for i in range(len(sequence))]
    async with await Store.open(
        db_path, failure_threshold=thresholds[0], success_threshold=thresholds[1], clock=clock
    ) as s:
        for at, status in zip(times, sequence, strict=True):
            await s.add_result(make(at=at, status=status))
        got = [(i.opened_at, i.closed_at) for i in reversed(await s.incidents())]
        [state] = await s.component_states()
    assert got == [(times[o], times[c] if c is not None else None) for o, c in expected]
    still_open = bool(expected) and expected[-1][1] is None
    assert (state.open_incident_id is not None) == still_open


async def test_incident_records_kinds_messages_and_updates(store: Store) -> None:
    seq = [
        (D, ErrorKind.TIMEOUT, "no answer in 10 s"),
        (D, ErrorKind.SERVER_ERROR, "HTTP 503"),
        (D, ErrorKind.TIMEOUT, "no answer again"),
        (D, ErrorKind.AUTH, "HTTP 401"),
    ]
    for i, (st, kind, msg) in enumerate(seq):
        await store.add_result(
            make(at=T0 + timedelta(minutes=i), status=st, kind=kind, message=msg)
        )
    [inc] = await store.incidents(open_only=True)
    assert inc.is_open and inc.status == "investigating"
    # Kinds from the whole down streak, including the runs before it opened.
    assert inc.error_kinds == ("timeout", "server_error", "auth")
    assert inc.first_message == "timeout: no answer in 10 s"
    assert inc.last_message == "auth: HTTP 401"
    assert inc.down_runs == 4
    assert [u.body for u in inc.updates] == [
        "reachability on us is down: timeout: no answer in 10 s",
        "Now failing with auth: HTTP 401",
    ]
    for i in (4, 5):
        await store.add_result(make(at=T0 + timedelta(minutes=i)))
    assert await store.incidents(open_only=True) == []
    [done] = await store.incidents()
    assert done.status == "resolved"
    assert done.updates[-1].status == "resolved"
    assert done.duration(T0) == timedelta(minutes=4)


async def test_incident_state_survives_reopen(database: str, clock: ManualClock) -> None:
    async with await Store.open(database, clock=clock) as s:
        await s.add_result(make(at=T0, status=D))
    async with await Store.open(database, clock=clock) as s:
        await s.add_result(make(at=T0 + timedelta(minutes=1), status=D))
        assert len(await s.incidents(open_only=True)) == 1
    async with await Store.open(database, clock=clock) as s:
        await s.add_result(make(at=T0 + timedelta(minutes=2), status=D))
        assert len(await s.incidents()) == 1  # not opened twice
        await s.add_result(make(at=T0 + timedelta(minutes=3)))
    async with await Store.open(database, clock=clock) as s:
        await s.add_result(make(at=T0 + timedelta(minutes=4)))
        [inc] = await s.incidents()
    assert inc.opened_at == T0
    assert inc.closed_at == T0 + timedelta(minutes=3)
    assert inc.down_runs == 3


async def test_incidents_since_includes_open_and_recently_closed(store: Store) -> None:
    pattern = [D, D, U, U] * 3
    for i, st in enumerate(pattern):
        await store.add_result(make(at=T0 + timedelta(hours=i), status=st))
    await store.add_result(make(at=T0 + timedelta(hours=20), status=D))
    await store.add_result(make(at=T0 + timedelta(hours=21), status=D))
    recent = await store.incidents(since=T0 + timedelta(hours=6))
    # closed at hours 2, 6, 10 and one open since hour 20
    assert [(i.opened_at, i.closed_at) for i in recent] == [
        (T0 + timedelta(hours=20), None),
        (T0 + timedelta(hours=8), T0 + timedelta(hours=10)),
        (T0 + timedelta(hours=4), T0 + timedelta(hours=6)),
    ]


# ---------------------------------------------------------------------------
# Reads


async def test_results_pages_newest_first_without_gaps(store: Store) -> None:
    results = history(seed=1, days=0.5)
    await store.add_results(results)
    seen = []
    before = None
    while page := await store.result_rows(target="us", limit=97, before_id=before):
        seen.extend(page)
        before = page[-1].id
    us = [r for r in results if r.target == "us"]
    assert len(seen) == len(us)
    assert [s.result.started_at for s in seen] == sorted((r.started_at for r in us), reverse=True)
    assert len({s.id for s in seen}) == len(seen)


@pytest.mark.parametrize(
    ("kwargs", "count"),
    [
        ({}, 100),
        ({"limit": 5000}, 1000),
        ({"limit": 0}, 0),
        ({"probe": "streaming", "limit": 1000}, 720),
        ({"target": "nope"}, 0),
        ({"since": T0 + timedelta(hours=11), "limit": 1000}, 180),
        ({"until": T0 + timedelta(hours=1), "limit": 1000}, 180),
    ],
    ids=["default-100", "capped-at-1000", "zero", "by-probe", "unknown-target", "since", "until"],
)
async def test_results_filters_and_bounds(store: Store, kwargs: dict[str, Any], count: int) -> None:
    await store.add_results(history(seed=2, days=0.5))
    assert len(await store.results(**kwargs)) == count


async def test_latest_returns_last_result_per_component(store: Store) -> None:
    results = history(seed=4, days=0.1)
    await store.add_results(results)
    latest = await store.latest()
    expected = {}
    for r in results:
        expected[(r.target, r.probe)] = r
    assert sorted(r.to_json()["started_at"] for r in latest) == sorted(
        r.to_json()["started_at"] for r in expected.values()
    )
    assert [(r.target, r.probe) for r in await store.latest(target="us")] == [
        ("us", "reachability"),
        ("us", "transcription"),
    ]


# ---------------------------------------------------------------------------
# Deletion ledger


async def test_ledger_round_trips_and_survives_reopen(database: str, clock: ManualClock) -> None:
    async with await Store.open(database, clock=clock) as s:
        await s.record("us", "t-1")
        clock.advance(10)
        await s.record("us", "t-2")
        await s.record("eu", "t-3")
        await s.record("us", "t-1")  # recording twice keeps the first
        await s.mark_attempt("us", "t-1", "HTTP 500")
        await s.mark_attempt("us", "t-1", "timeout")
    async with await Store.open(database, clock=clock) as s:
        pending = await s.pending()
        assert [(e.target, e.transcript_id) for e in pending] == [
            ("us", "t-1"),
            ("eu", "t-3"),
            ("us", "t-2"),
        ]
        first = pending[0]
        assert (first.attempts, first.last_error) == (2, "timeout")
        assert first.created_at == clock.now() - timedelta(seconds=10)
        assert await s.pending_counts() == {"eu": 1, "us": 2}
        await s.mark_deleted("us", "t-1")
        await s.mark_deleted("eu", "t-3")
        assert [e.transcript_id for e in await s.pending("us")] == ["t-2"]
        assert await s.pending_counts() == {"eu": 0, "us": 1}


async def test_ledger_overdue_reports_entries_older_than_threshold(
    store: Store, clock: ManualClock
) -> None:
    await store.record("us", "old")
    clock.advance(3000)
    await store.record("us", "young")
    clock.advance(700)
    assert [e.transcript_id for e in await store.overdue(3600)] == ["old"]
    await store.mark_deleted("us", "old")
    assert await store.overdue(3600) == []


# ---------------------------------------------------------------------------
# Retention


async def test_prune_drops_old_rows_and_keeps_rollups(database: str, clock: ManualClock) -> None:
    retention = Retention(raw=2 * 86400, hourly=4 * 86400, daily=30 * 86400)
    results = history(seed=8, days=6, step_s=120)
    async with await Store.open(database, retention=retention, clock=clock) as s:
        await s.add_results(results)
        await s.record("us", "gone")
        await s.mark_deleted("us", "gone")
        await s.record("us", "stuck")
        now = T0 + timedelta(days=6)
        clock.current = now + timedelta(days=3)  # ledger rows are older than raw retention then
        before_daily = await s.rollups_daily(None, None, T0 - timedelta(1), now)
        deleted = await s.prune(now)
        raw_cut = now - timedelta(days=2)
        kept = [r for r in results if r.started_at >= raw_cut]
        assert deleted["results"] == len(results) - len(kept) > 500  # several batches
        assert len(await s.results(limit=1000, since=T0 - timedelta(1))) == min(1000, len(kept))
        oldest = await s.results(limit=1, until=raw_cut + timedelta(minutes=3))
        assert all(r.started_at >= raw_cut for r in oldest)
        hourly = await s.rollups_hourly(None, None, T0 - timedelta(1), now)
        hourly_cut = now - timedelta(days=4)
        first_hour = hourly_cut.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        assert min(h.bucket_start for h in hourly) == first_hour
        assert sum(h.runs for h in hourly) == sum(1 for r in results if r.started_at >= first_hour)
        assert await s.rollups_daily(None, None, T0 - timedelta(1), now) == before_daily
        assert [e.transcript_id for e in await s.pending()] == ["stuck"]
        # A window older than raw retention is still answered, from roll-ups.
        day2 = datetime(2026, 11, 1, tzinfo=UTC)
        raw = [r for r in results if day2 <= r.started_at < day2 + timedelta(1)]
        uptime = await s.uptime("us", "reachability", day2, day2 + timedelta(1))
        exp = [r for r in raw if (r.target, r.probe) == ("us", "reachability")]
        assert uptime == sum(r.ok for r in exp) / len(exp)
        assert await s.prune(now) == dict.fromkeys(deleted, 0)


# ---------------------------------------------------------------------------
# Failures: the database cannot be written


def _chattr(flag: str, *paths: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    done = subprocess.run(["chattr", flag, *map(str, paths)], capture_output=True, check=False)
    return done.returncode == 0


@pytest.fixture
def immutable(tmp_path: Path) -> Iterator[list[Path]]:
    """Files the test makes immutable (read-only even for root); always restored."""
    paths: list[Path] = []
    yield paths
    _chattr("-i", *[p for p in paths if p.exists()])


async def test_read_only_database_raises_and_recovers(
    tmp_path: Path, clock: ManualClock, immutable: list[Path]
) -> None:
    path = tmp_path / "ro.db"
    async with await Store.open(str(path), clock=clock) as s:
        for i in range(3):
            await s.add_result(make(at=T0 + timedelta(minutes=i)))
        await s.record("us", "t-1")
        files = [path, Path(f"{path}-wal")]
        if not _chattr("+i", *files):
            pytest.skip("chattr +i is not available here (needs root on ext4/xfs)")
        immutable.extend(files)
        clock.advance(5)
        with pytest.raises(StoreWriteError):
            await s.add_result(make(at=T0 + timedelta(minutes=3)))
        with pytest.raises(StoreWriteError):
            await s.mark_deleted("us", "t-1")
        h = s.health
        assert not h.writable
        assert h.last_error
        assert h.failing_since == clock.now()
        # Reads keep working while writes fail.
        assert len(await s.results()) == 3
        _chattr("-i", *files)
        clock.advance(5)
        await s.add_result(make(at=T0 + timedelta(minutes=4)))
        assert s.health.writable
        assert s.health.last_write_ok == clock.now()
        assert s.health.failing_since is None
        assert len(await s.results()) == 4
        assert [e.transcript_id for e in await s.pending()] == ["t-1"]
    async with await Store.open(str(path), clock=clock) as s:
        assert len(await s.results()) == 4


async def test_database_read_only_from_the_start_opens_and_serves_reads(
    tmp_path: Path, clock: ManualClock, immutable: list[Path]
) -> None:
    path = tmp_path / "ro-start.db"
    async with await Store.open(str(path), clock=clock) as s:
        await s.add_result(make(at=T0))
    if not _chattr("+i", path):
        pytest.skip("chattr +i is not available here (needs root on ext4/xfs)")
    immutable.append(path)
    async with await Store.open(str(path), clock=clock) as s:
        assert [r.started_at for r in await s.results()] == [T0]
        with pytest.raises(StoreWriteError):
            await s.add_result(make(at=T0 + timedelta(minutes=1)))
        assert not s.health.writable


async def test_locked_database_raises_logs_once_a_minute_and_recovers(
    db_path: str, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with await Store.open(db_path, clock=clock, busy_timeout_s=0.05) as s:
        await s.add_result(make(at=T0))
        other = sqlite3.connect(db_path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        try:
            with caplog.at_level(logging.ERROR, logger="sttwatch.store"):
                for i in range(3):
                    with pytest.raises(StoreWriteError):
                        await s.add_result(make(at=T0 + timedelta(minutes=1 + i)))
                    clock.advance(20)
                assert not s.health.writable
                assert "locked" in (s.health.last_error or "")
                clock.advance(5)  # 65 s after the first report
                with pytest.raises(StoreWriteError):
                    await s.record("us", "t-9")
            reports = [r for r in caplog.records if r.name == "sttwatch.store"]
            assert len(reports) == 2
            assert "3 more failures" not in reports[1].getMessage()
            assert "2 more failures" in reports[1].getMessage()
        finally:
            other.execute("ROLLBACK")
            other.close()
        await s.add_result(make(at=T0 + timedelta(minutes=9)))
        assert s.health.writable
        assert len(await s.results()) == 2


async def test_concurrent_writers_are_all_committed(store: Store) -> None:
    async def one(i: int) -> int:
        target, probe = COMPONENTS[i % 3]
        await store.record(target, f"t-{i}")
        return await store.add_result(make(target, probe, T0 + timedelta(seconds=i)))

    ids = await asyncio.gather(*(one(i) for i in range(300)))
    assert len(set(ids)) == 300
    assert len(await store.results(limit=1000)) == 300
    assert sum((await store.pending_counts()).values()) == 300
    hourly = await store.rollups_hourly(None, None, T0 - timedelta(hours=1), T0 + timedelta(1))
    assert sum(h.runs for h in hourly) == 300


async def test_closed_store_refuses_writes(database: str, clock: ManualClock) -> None:
    s = await Store.open(database, clock=clock)
    await s.close()
    with pytest.raises(StoreWriteError):
        await s.add_result(make())


# ---------------------------------------------------------------------------
# Schema and size


async def test_postgresql_schema_is_migrated_once(postgres_url: str, clock: ManualClock) -> None:
    import psycopg

    from monitor.store.pg_schema import PG_MIGRATIONS, pending
    from monitor.store.postgres import PgConnection

    opened = [Store.open(postgres_url, clock=clock) for _ in range(3)]
    stores = await asyncio.gather(*opened)  # agents starting together migrate one by one
    for s in stores:
        await s.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM _sttwatch_migrations ORDER BY name")]
        assert names == [name for name, _ in PG_MIGRATIONS]
        assert pending(PgConnection(conn)) == []


async def test_schema_is_migrated_once_and_uses_wal(db_path: str, clock: ManualClock) -> None:
    for _ in range(2):
        async with await Store.open(db_path, clock=clock):
            pass
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
        assert names[0] == "m001_initial"
        assert len(names) == len(set(names))  # each applied once, though opened twice
        assert MIGRATIONS.pending(Database(conn)) == []
    finally:
        conn.close()


async def test_bytes_per_raw_result_after_vacuum(db_path: str, clock: ManualClock) -> None:
    """A typical day of reachability results for 30 components: ≤ 200 bytes each on disk."""
    rng = random.Random(0)
    results = []
    for minute in range(1440):
        for c in range(30):
            latency = round(rng.uniform(0.04, 0.4), 6)
            results.append(
                ProbeResult(
                    target=f"target-{c:02d}",
                    probe="reachability",
                    started_at=T0 + timedelta(minutes=minute, milliseconds=rng.randrange(5000)),
                    duration_s=round(latency + 0.0004, 6),
                    status=Status.UP,
                    phases={
                        "dns": round(rng.uniform(0.0005, 0.02), 6),
                        "connect": round(rng.uniform(0.01, 0.05), 6),
                        "ttfb": round(latency * 0.7, 6),
                        "transfer": round(rng.uniform(0.0001, 0.001), 6),
                        "total": latency,
                    },
                    details={"http_status": 200},
                )
            )
    async with await Store.open(db_path, clock=clock) as s:
        await s.add_results(results)
        await s.vacuum()
    size = await asyncio.to_thread(lambda: Path(db_path).stat().st_size)
    per_row = size / len(results)
    print(f"\n{len(results)} results, {size} bytes after VACUUM: {per_row:.1f} bytes per result")
    assert per_row <= 200


async def test_prune_lets_probe_writes_through_between_batches(
    database: str, clock: ManualClock
) -> None:
    retention = Retention(raw=86400, hourly=90 * 86400, daily=400 * 86400)
    async with await Store.open(database, retention=retention, clock=clock) as s:
        await s.add_results(history(seed=6, days=3, step_s=60))  # ~8,600 rows to prune
        pruning = asyncio.create_task(s.prune(T0 + timedelta(days=3)))
        await asyncio.sleep(0)  # the first batch is queued
        await s.add_result(make(at=T0 + timedelta(days=3)))
        # The probe's write was served between batches, long before pruning ended.
        assert not pruning.done()
        deleted = await pruning
        assert deleted["results"] > 10 * 500


async def test_cancelled_caller_still_commits_its_ledger_entry(store: Store) -> None:
    task = asyncio.create_task(store.record("us", "t-cancelled"))
    await asyncio.sleep(0)  # the write is queued
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await store.record("us", "t-after")  # jobs run in order: the first is done by now
    assert {e.transcript_id for e in await store.pending()} == {"t-cancelled", "t-after"}
