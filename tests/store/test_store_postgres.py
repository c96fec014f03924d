"""What only the PostgreSQL store has: a server that goes away and comes back, lost
connections, advisory-lock leases shared by several stores (agents) on one database."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import psycopg
import pytest

from monitor.models import Status
from monitor.store import Store, StoreWriteError
from tests.support.clocks import ManualClock
from tests.support.postgres import PostgresCluster, find_bin_dir, start_cluster
from tests.support.results import T0, make

LEASE_KEY = 17


@pytest.fixture
def own_cluster(postgres_cluster: PostgresCluster) -> Iterator[PostgresCluster]:
    """A cluster of the test's own, to stop and start (the session's serves other tests)."""
    bin_dir = find_bin_dir()
    assert bin_dir is not None  # postgres_cluster skipped the test otherwise
    cluster = start_cluster(bin_dir)
    try:
        yield cluster
    finally:
        cluster.stop()


async def test_a_stopped_server_fails_writes_says_so_and_nothing_committed_is_lost(
    own_cluster: PostgresCluster,
) -> None:
    url = own_cluster.create_database()
    async with await Store.open(url, clock=ManualClock()) as s:
        await s.add_result(make(at=T0))
        await s.record("us", "t-1")
        await asyncio.to_thread(own_cluster.pg_ctl, "stop", "-m", "fast", "-w")
        with pytest.raises(StoreWriteError, match="database not writable"):
            await s.add_result(make(at=T0 + timedelta(minutes=1)))
        health = s.health
        assert not health.writable and health.failing_since is not None
        assert health.last_error and "OperationalError: connection failed" in health.last_error
        started = await asyncio.to_thread(own_cluster.start)
        assert started.returncode == 0, started.stderr
        # The next write connects again; the failed one was not stored, the others are.
        await s.add_result(make(at=T0 + timedelta(minutes=2)))
        assert s.health.writable and s.health.failing_since is None
        assert [r.started_at for r in await s.results()] == [T0 + timedelta(minutes=2), T0]
        assert [e.transcript_id for e in await s.pending()] == ["t-1"]


async def test_a_connection_the_server_ends_is_replaced_without_failing_a_write(
    postgres_url: str,
) -> None:
    async with await Store.open(postgres_url) as s:
        await s.add_result(make(at=T0))
        assert len(await s.results()) == 1
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            ended = admin.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()
        assert ended is not None and ended[0] >= 2  # the writer's and a reader's
        await s.add_result(make(at=T0 + timedelta(minutes=1)))
        assert len(await s.results()) == 2
        assert s.health.writable


async def test_a_lease_is_held_by_one_store_at_a_time_and_freed_with_its_session(
    postgres_url: str,
) -> None:
    async with await Store.open(postgres_url) as a, await Store.open(postgres_url) as b:
        lease = await a.try_lease(LEASE_KEY)
        assert lease is not None and lease.held and await lease.alive()
        assert await b.try_lease(LEASE_KEY) is None
        assert await a.try_lease(LEASE_KEY + 1) is not None  # another duty, another lock
        await lease.release()
        assert not lease.held
        taken = await b.try_lease(LEASE_KEY)
        assert taken is not None
    # Closing the store ends its sessions, and with them its locks.
    async with await Store.open(postgres_url) as c:
        again = await c.try_lease(LEASE_KEY)
        assert again is not None
        await again.release()


async def test_sqlite_has_no_leases(tmp_path: object) -> None:
    async with await Store.open(f"{tmp_path}/s.db") as s:
        with pytest.raises(NotImplementedError, match="PostgreSQL"):
            await s.try_lease(LEASE_KEY)


async def test_agents_writing_one_component_at_once_lose_no_count(postgres_url: str) -> None:
    """Two stores (two agents) adding to the same hour's roll-up and streak: nothing lost.

    Without the component rows locked, one agent's roll-up increments overwrite
    the other's, or the two deadlock on the incident row.
    """
    per_agent = 150
    async with await Store.open(postgres_url) as a, await Store.open(postgres_url) as b:

        async def agent(s: Store, offset: int) -> None:
            for i in range(per_agent):
                at = T0 + timedelta(seconds=2 * i + offset)
                await s.add_result(make(at=at, status=Status.DOWN if i % 50 < 3 else Status.UP))

        await asyncio.gather(agent(a, 0), agent(b, 1))
        hourly = await a.rollups_hourly(None, None, T0 - timedelta(hours=1), T0 + timedelta(1))
        daily = await b.rollups_daily(None, None, T0 - timedelta(1), T0 + timedelta(1))
        assert sum(r.runs for r in hourly) == 2 * per_agent
        assert sum(r.runs for r in daily) == 2 * per_agent
        assert sum(r.down for r in hourly) == 2 * sum(1 for i in range(per_agent) if i % 50 < 3)
        assert len(await a.results(limit=1000)) == 2 * per_agent
