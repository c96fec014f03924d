"""Results from several locations in one store: per-location state, incidents by quorum.

Two agents share one SQLite file here the way they would share PostgreSQL: each
opens its own `Store` with its own location; the incident of a component opens
only when the quorum of locations confirms the outage (docs/storage.md, Locations).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from monitor.models import LOCAL, ErrorKind, ProbeResult, Status
from monitor.outcome import Quorum
from monitor.store import Store
from monitor.store.codec import encode_result
from monitor.store.records import to_ms
from monitor.store.schema import (
    m001_initial,
    m002_alerts,
    m003_compact_rollups,
    m004_whole_streaks,
)
from tests.support.clocks import ManualClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
STATUS = {"U": Status.UP, "D": Status.DOWN, "G": Status.DEGRADED}

# `open(quorum, *locations)`: one store per location, all on one database file.
Agents = Callable[..., Awaitable[dict[str, Store]]]


def result(location: str, letter: str, minute: float, probe: str = "reachability") -> ProbeResult:
    """Return a result of `location` with status `letter` (U, G, D) started `minute` after T0."""
    status = STATUS[letter]
    return ProbeResult(
        target="aai-us",
        probe=probe,
        started_at=T0 + minute * MINUTE,
        duration_s=0.2,
        status=status,
        error_kind=ErrorKind.CONNECT if status is Status.DOWN else None,
        message=f"refused from {location}" if status is Status.DOWN else "",
        phases={"total": 0.2 if status is not Status.DEGRADED else 3.0},
        location=location,
    )


async def feed(stores: dict[str, Store], script: str) -> None:
    """Store the script's results: one column a minute, `location:letters` per line."""
    lines = [line.split(":") for line in script.split()]
    for minute in range(max(len(letters) for _, letters in lines)):
        for location, letters in lines:
            if minute < len(letters) and letters[minute] != ".":
                await stores[location].add_result(result(location, letters[minute], minute))


@pytest.fixture
async def agents(database: str) -> AsyncIterator[Agents]:
    """Yield `open(quorum, *locations)`: one store per location on one database (each backend)."""
    opened: list[Store] = []

    async def open_(quorum: Quorum, *locations: str) -> dict[str, Store]:
        out = {}
        for loc in locations:
            store = await Store.open(
                database,
                failure_threshold=2,
                success_threshold=2,
                location=loc,
                quorum=quorum,
                clock=ManualClock(current=T0 + 10 * MINUTE),
            )
            opened.append(store)
            out[loc] = store
        return out

    yield open_
    for store in reversed(opened):
        await store.close()


async def test_one_location_down_opens_no_incident_and_shows_where(agents: Agents) -> None:
    stores = await agents(2, "eu-west", "us-east")
    await feed(stores, "eu-west:DDDD us-east:UUUU")
    store = stores["us-east"]
    assert await store.incidents() == []
    where = {s.location: (s.status, s.outage) for s in await store.location_states()}
    assert where == {"eu-west": (Status.DOWN, True), "us-east": (Status.UP, False)}


async def test_both_down_open_one_incident_from_the_second_and_close_on_the_first_recovery(
    agents: Agents,
) -> None:
    stores = await agents(2, "eu-west", "us-east")
    # eu-west fails from minute 0, us-east from minute 2; eu-west comes back at minute 5.
    await feed(stores, "eu-west:DDDDDUUU us-east:UUDDDDDD")
    (incident,) = await stores["eu-west"].incidents()
    # Down by quorum from the moment the second location began to fail.
    assert incident.opened_at == T0 + 2 * MINUTE
    assert incident.locations == ("eu-west", "us-east")
    assert incident.error_kinds == ("connect",)
    assert incident.first_message == "connect: refused from eu-west"
    assert "(seen from eu-west, us-east)" in incident.updates[0].body
    # Closed at eu-west's first good run: from then on only us-east saw it down.
    assert incident.closed_at == T0 + 5 * MINUTE


async def test_quorum_one_opens_on_any_location(agents: Agents) -> None:
    stores = await agents(1, "eu-west", "us-east")
    await feed(stores, "eu-west:UDDUU us-east:UUUUU")
    (incident,) = await stores["us-east"].incidents()
    assert incident.opened_at == T0 + MINUTE
    assert incident.closed_at == T0 + 3 * MINUTE
    assert incident.locations == ("eu-west",)


async def test_majority_of_three_needs_two(agents: Agents) -> None:
    stores = await agents("majority", "eu-west", "us-east", "ap-south")
    await feed(stores, "eu-west:DDDD us-east:UUUU ap-south:UUUU")
    assert await stores["eu-west"].incidents() == []
    await feed(stores, "eu-west:.... us-east:....DD ap-south:....UU")
    (incident,) = await stores["eu-west"].incidents(open_only=True)
    assert incident.locations == ("eu-west", "us-east")


async def test_a_stale_location_stops_counting(agents: Agents) -> None:
    stores = await agents("majority", "eu-west", "us-east")
    # us-east reports once, then its agent is gone; 20 minutes on, eu-west alone is the majority.
    await stores["us-east"].add_result(result("us-east", "U", 0))
    for minute in (20, 21):
        await stores["eu-west"].add_result(result("eu-west", "D", minute))
    (incident,) = await stores["eu-west"].incidents()
    assert incident.locations == ("eu-west",)


async def test_results_carry_their_location_and_filter_by_it(agents: Agents) -> None:
    stores = await agents(1, "eu-west", "us-east")
    await feed(stores, "eu-west:UD us-east:UU")
    store = stores["eu-west"]
    assert {r.location for r in await store.results()} == {"eu-west", "us-east"}
    only = await store.results(location="eu-west")
    assert [r.status for r in only] == [Status.DOWN, Status.UP]
    assert {r.location for r in only} == {"eu-west"}
    assert await store.results(location="nowhere") == []
    assert await store.locations() == ["eu-west", "us-east"]


async def test_each_agent_sweeps_only_its_own_ledger(agents: Agents) -> None:
    stores = await agents(1, "eu-west", "us-east")
    await stores["eu-west"].record("aai-us", "t-eu")
    await stores["us-east"].record("aai-us", "t-us")
    assert [e.transcript_id for e in await stores["eu-west"].pending()] == ["t-eu"]
    assert [e.transcript_id for e in await stores["us-east"].pending()] == ["t-us"]
    assert await stores["us-east"].pending_counts() == {"aai-us": 1}
    await stores["us-east"].mark_deleted("aai-us", "t-us")
    assert await stores["us-east"].pending_counts() == {"aai-us": 0}
    assert [e.transcript_id for e in await stores["eu-west"].overdue(-60)] == ["t-eu"]


async def test_migration_keeps_every_row_and_reads_them_as_the_default_location(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "old.db")
    old = Migrations("sttwatch")  # the store's migration set, stopped before m005
    for name, fn in [
        ("m001_initial", m001_initial),
        ("m002_alerts", m002_alerts),
        ("m003_compact_rollups", m003_compact_rollups),
        ("m004_whole_streaks", m004_whole_streaks),
    ]:
        old(name=name)(fn)
    down = [result(LOCAL, "D", m) for m in range(3)]
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        old.apply(Database(conn))
        # Three downs stored by a single agent before locations, an incident open on them.
        conn.execute(
            "INSERT INTO components (id, target, probe, last_status, last_started_at,"
            " consecutive_down, consecutive_good, streak_started_at, streak_kinds,"
            " streak_message, open_incident_id, status_run, status_since)"
            " VALUES (1, 'aai-us', 'reachability', 2, ?, 3, 0, ?, '[\"connect\"]',"
            " 'connect: refused from local', 1, 3, ?)",
            (to_ms(down[-1].started_at), to_ms(T0), to_ms(T0)),
        )
        conn.executemany(
            "INSERT INTO results (component, started_at, status, error_kind, duration_us,"
            " message, phases, details) VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
            [encode_result(r) for r in down],
        )
        conn.execute(
            "INSERT INTO incidents (id, component, opened_at, status, error_kinds,"
            " first_message, last_message, down_runs, updates)"
            " VALUES (1, 1, ?, 'investigating', '[\"connect\"]', 'connect: refused from local',"
            " 'connect: refused from local', 3, '[]')",
            (to_ms(T0),),
        )
        conn.execute(
            "INSERT INTO ledger (target, transcript_id, created_at) VALUES ('aai-us', 't1', ?)",
            (to_ms(T0),),
        )
    finally:
        conn.close()
    store = await Store.open(path, failure_threshold=2, success_threshold=2, location="eu-west")
    try:
        rows = await store.results()
        assert [r.started_at for r in rows] == [r.started_at for r in reversed(down)]
        assert {r.location for r in rows} == {LOCAL}
        (incident,) = await store.incidents()
        assert incident.locations == (LOCAL,) and incident.is_open
        # The old agent's ledger entry is the default location's, not this agent's.
        assert await store.pending() == []
        # The open outage continues under `local`: two good runs there close it at the first.
        for m in (3, 4):
            await store.add_result(result(LOCAL, "U", m))
        (incident,) = await store.incidents()
        assert incident.closed_at == T0 + 3 * MINUTE
    finally:
        await store.close()
    local = await Store.open(path, location=LOCAL)
    try:
        assert [e.transcript_id for e in await local.pending()] == ["t1"]
    finally:
        await local.close()
