"""Leadership on a real PostgreSQL (one lock, one leader) and on SQLite (always the leader).

Each `Leadership` here is one agent: its own store (its own sessions) on the
same database. `check()` is what the agent's loop runs every 2 s; the tests call
it directly instead of waiting for the loop.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import psycopg
import pytest

from monitor.leadership import Duty, Leadership
from monitor.models import SystemClock
from monitor.store import Store
from tests.support import results


class Journal:
    """Duties that write down when they start and stop (and can be made to fail at start)."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.fail: set[str] = set()

    def duty(self, name: str) -> Duty:
        async def start() -> None:
            if name in self.fail:
                raise RuntimeError(f"{name} cannot start")
            self.events.append(f"start {name}")

        async def stop(final: bool) -> None:
            self.events.append(f"stop {name}{' (exit)' if final else ''}")

        return Duty(name, start, stop)


def agent(store: Store, journal: Journal, location: str) -> Leadership:
    lead = Leadership(store, clock=SystemClock(), location=location, alive_timeout=2.0)
    for name in ("alerting", "site"):
        lead.add(journal.duty(name))
    return lead


@pytest.fixture
async def open_store() -> AsyncIterator[Callable[[str], Awaitable[Store]]]:
    opened: list[Store] = []

    async def open_(where: str) -> Store:
        store = await Store.open(where)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        await store.close()


async def test_on_sqlite_the_one_agent_leads_at_once_and_stops_its_duties_at_exit(
    tmp_path: Path, open_store: Callable[[str], Awaitable[Store]]
) -> None:
    journal = Journal()
    lead = agent(await open_store(str(tmp_path / "one.db")), journal, "here")
    await lead.start()
    assert lead.leading and not lead.shared
    assert lead.report()["leading"] is True
    await lead.stop()
    assert journal.events == [
        "start alerting",
        "start site",
        "stop site (exit)",
        "stop alerting (exit)",
    ]


Pair = tuple[Leadership, Journal, Leadership, Journal]


@pytest.fixture
async def pair(postgres_url: str, open_store: Callable[[str], Awaitable[Store]]) -> Pair:
    """Return two agents on one database (each its own store), with their duties' journals."""
    first_duties, second_duties = Journal(), Journal()
    first = agent(await open_store(postgres_url), first_duties, "eu-west")
    second = agent(await open_store(postgres_url), second_duties, "us-east")
    return first, first_duties, second, second_duties


async def test_of_two_agents_one_leads_and_the_other_takes_over_when_it_stops(pair: Pair) -> None:
    first, first_duties, second, second_duties = pair
    assert await first.check() is True
    assert await second.check() is False
    assert await first.check() is True  # the leader keeps it while its session answers
    assert second_duties.events == []
    await first.stop()
    assert await second.check() is True
    assert first_duties.events == [
        "start alerting",
        "start site",
        "stop site (exit)",
        "stop alerting (exit)",
    ]
    assert second_duties.events == ["start alerting", "start site"]
    await second.stop()


async def test_a_leader_whose_session_ends_stops_its_duties_and_another_leads(
    pair: Pair, postgres_url: str
) -> None:
    first, first_duties, second, _ = pair
    assert await first.check() is True
    # What the server does to the session of a killed or cut-off agent: it ends it.
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        ended = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks"
            " WHERE locktype = 'advisory' AND objid = %s",
            (first.key,),
        ).fetchall()
    assert ended == [(True,)]
    assert await second.check() is True
    assert await first.check() is False
    assert first_duties.events == ["start alerting", "start site", "stop site", "stop alerting"]
    assert (first.lost, second.gained) == (1, 1)
    await first.stop()
    await second.stop()


async def test_a_leader_whose_duty_cannot_start_gives_the_lead_back(pair: Pair) -> None:
    first, broken, second, _ = pair
    broken.fail.add("site")
    assert await first.check() is False
    assert broken.events == ["start alerting", "stop alerting"]
    assert await second.check() is True
    await second.stop()
    await first.stop()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_results_written_again_are_not_stored_twice(
    backend: str,
    tmp_path: Path,
    open_store: Callable[[str], Awaitable[Store]],
    request: pytest.FixtureRequest,
) -> None:
    where = (
        request.getfixturevalue("postgres_url")
        if backend == "postgresql"
        else str(tmp_path / "x.db")
    )
    store = await open_store(where)
    batch = [
        results.make(at=results.T0.replace(second=s), latency=0.01 * (s + 1)) for s in range(5)
    ]
    assert await store.add_results_once(batch[:3]) == 3
    # The flush whose commit's answer was lost sends its batch again, with what followed.
    assert await store.add_results_once(batch) == 2
    stored = await store.results(limit=100)
    assert sorted(r.started_at for r in stored) == [r.started_at for r in batch]
