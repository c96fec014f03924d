"""`Store.uptime_all` gives, for every component at once, exactly what `Store.uptime` gives."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config import Retention
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.store import Store

T0 = datetime(2026, 10, 30, 22, 17, 13, 250_000, tzinfo=UTC)
COMPONENTS = [("us", "reachability"), ("us", "transcription"), ("eu", "streaming")]


def history(seed: int, days: float, step_s: float) -> list[ProbeResult]:
    """Return a random, reproducible history of every component, with gaps."""
    rng = random.Random(seed)
    out: list[ProbeResult] = []
    for i in range(int(days * 86400 / step_s)):
        for target, probe in COMPONENTS:
            if rng.random() < 0.1:
                continue  # a missed run: buckets differ between components
            at = T0 + timedelta(seconds=i * step_s + rng.uniform(0, 5))
            roll = rng.random()
            status = Status.DOWN if roll < 0.1 else Status.DEGRADED if roll < 0.2 else Status.UP
            out.append(
                ProbeResult(
                    target=target,
                    probe=probe,
                    started_at=at,
                    duration_s=0.2,
                    status=status,
                    error_kind=ErrorKind.TIMEOUT if status is Status.DOWN else None,
                    message="timed out" if status is Status.DOWN else "",
                )
            )
    out.sort(key=lambda r: r.started_at)
    return out


def random_windows(rng: random.Random, now: datetime, n: int) -> list[tuple[datetime, datetime]]:
    span_ms = 7 * 86400 * 1000
    out = [(now - timedelta(days=d), now) for d in (1, 7, 30, 90)]
    out.append((now, now - timedelta(hours=1)))  # empty: since after until
    for _ in range(n):
        a = rng.randrange(-86_400_000, span_ms)
        b = a + rng.randrange(1, span_ms)
        out.append((T0 + timedelta(milliseconds=a), T0 + timedelta(milliseconds=b)))
    return out


@pytest.mark.parametrize("pruned", [False, True], ids=["all-raw-kept", "raw-and-hourly-pruned"])
async def test_uptime_all_equals_per_component_uptime(database: str, pruned: bool) -> None:
    retention = Retention(raw=2 * 86400, hourly=4 * 86400, daily=400 * 86400)
    now = T0 + timedelta(days=6, minutes=37)
    async with await Store.open(database, retention=retention) as store:
        await store.add_results(history(seed=3, days=6, step_s=300))
        if pruned:
            # Old windows are then answered from widened hourly and daily roll-ups.
            await store.prune(now)
        windows = random_windows(random.Random(17), now, 40)
        batched = await store.uptime_all(windows)
        assert set(batched) == set(COMPONENTS)
        for target, probe in COMPONENTS:
            expected = [await store.uptime(target, probe, a, b) for a, b in windows]
            assert batched[(target, probe)] == expected, (target, probe)
        assert any(v is not None and 0 < v < 1 for v in batched[COMPONENTS[0]])


async def test_uptime_all_of_an_empty_store_is_empty(database: str) -> None:
    async with await Store.open(database) as store:
        assert await store.uptime_all([(T0, T0 + timedelta(days=1))]) == {}
