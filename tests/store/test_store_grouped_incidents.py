"""Incidents are a target's: its failing (or slow) components join one, on both databases.

Scripted results go through the real store (``[sqlite]`` a file, ``[postgresql]``
a fresh database of the session's server); the incidents are read back as the
page reads them (docs/storage.md, Incidents).
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import psycopg
from sqlite_utils import Database, Migrations

from monitor.database_url import is_postgres_url
from monitor.models import Status
from monitor.store import Incident, IncidentComponent, Store
from monitor.store import pg_schema as pg
from monitor.store.records import to_ms
from monitor.store.schema import (
    m001_initial,
    m002_alerts,
    m003_compact_rollups,
    m004_whole_streaks,
    m005_locations,
)
from tests.support.clocks import ManualClock
from tests.support.results import T0, make

U, G, D = Status.UP, Status.DEGRADED, Status.DOWN
MINUTE = timedelta(minutes=1)
PROBES = ("reachability", "transcription", "streaming")


def at(minute: int) -> Any:
    return T0 + minute * MINUTE


async def play(store: Store, script: dict[tuple[str, str], str], start: int = 0) -> None:
    """Store each component's letters (U up, G slow, D down), one minute apart, in time order."""
    status = {"U": U, "G": G, "D": D}
    rows = [
        make(target, probe, at(start + i), status[letter], latency=3.0 if letter == "G" else 0.05)
        for (target, probe), letters in script.items()
        for i, letter in enumerate(letters)
        if letter != " "
    ]
    for r in sorted(rows, key=lambda r: r.started_at):
        await store.add_result(r)


def members(inc: Incident) -> list[tuple[str, str, str, Any, Any]]:
    """Return (probe, impact, state, joined_at, left_at) of each member, in order."""
    return [(m.probe, m.impact, m.state, m.joined_at, m.left_at) for m in inc.components]


async def test_all_probes_of_a_target_failing_together_are_one_incident(store: Store) -> None:
    script = {("us", p): "DDD" for p in PROBES}
    await play(store, script)
    [inc] = await store.incidents()
    assert inc.is_open and inc.target == "us" and inc.probe == "reachability"
    assert [m.probe for m in inc.components] == list(PROBES)
    # Reachability's outage is critical (its kind's impact), the others' major.
    assert [m.impact for m in inc.components] == ["critical", "major", "major"]
    assert inc.impact == "critical"
    assert inc.opened_at == T0 and all(m.joined_at == T0 for m in inc.components)
    assert inc.down_runs == 9
    states = {s.probe: s.open_incident_id for s in await store.component_states()}
    assert states == dict.fromkeys(PROBES, inc.id)  # each component is in it

    # Two recover (two good runs each); the third is still down: still one open incident.
    await play(store, {("us", "reachability"): "UU", ("us", "transcription"): "UU"}, start=3)
    await play(store, {("us", "streaming"): "DD"}, start=3)
    [inc] = await store.incidents()
    assert inc.is_open
    assert members(inc) == [
        ("reachability", "critical", "recovered", T0, at(3)),
        ("transcription", "major", "recovered", T0, at(3)),
        ("streaming", "major", "down", T0, None),
    ]
    states = {s.probe: s.open_incident_id for s in await store.component_states()}
    assert states == {"reachability": None, "transcription": None, "streaming": inc.id}

    # The last one recovers: closed at its first good run.
    await play(store, {("us", "streaming"): "UU"}, start=5)
    [done] = await store.incidents()
    assert done.id == inc.id and done.status == "resolved"
    assert done.closed_at == at(5)
    assert [m.left_at for m in done.components] == [at(3), at(3), at(5)]
    assert [u.body for u in done.updates] == [
        "reachability on us is down: timeout",
        "transcription on us is down too: timeout",
        "streaming on us is down too: timeout",
        "reachability on us has recovered.",
        "transcription on us has recovered.",
        "streaming on us has recovered.",
    ]
    assert [u.status for u in done.updates] == ["investigating"] * 5 + ["resolved"]
    assert await store.incidents(open_only=True) == []


async def test_two_targets_failing_are_two_incidents(store: Store) -> None:
    await play(store, {("us", "reachability"): "DD", ("eu", "streaming"): "DD"})
    by_target = {i.target: i for i in await store.incidents()}
    assert sorted(by_target) == ["eu", "us"]
    assert [m.probe for m in by_target["us"].components] == ["reachability"]
    assert [m.probe for m in by_target["eu"].components] == ["streaming"]
    assert by_target["us"].id != by_target["eu"].id


async def test_a_slow_streak_is_a_minor_incident_that_escalates_when_a_member_goes_down(
    store: Store,
) -> None:
    # degraded_threshold is 3 (the config's default): three slow runs in a row.
    await play(store, {("us", "streaming"): "GG"})
    assert await store.incidents() == []
    await play(store, {("us", "streaming"): "G"}, start=2)
    [inc] = await store.incidents()
    assert inc.impact == "minor" and inc.opened_at == T0  # the first slow run
    assert members(inc) == [("streaming", "minor", "degraded", T0, None)]
    assert inc.error_kinds == () and inc.down_runs == 0

    # Down twice (failure_threshold): the member is down, the incident major.
    await play(store, {("us", "streaming"): "DD"}, start=3)
    [inc] = await store.incidents()
    assert inc.impact == "major"
    assert members(inc) == [("streaming", "major", "down", T0, None)]
    assert inc.error_kinds == ("timeout",) and inc.down_runs == 2

    await play(store, {("us", "streaming"): "UU"}, start=5)
    [done] = await store.incidents()
    assert done.closed_at == at(5) and done.impact == "major"  # never lowered
    assert [(u.status, u.body) for u in done.updates] == [
        ("investigating", "streaming on us is slow: slower than its degraded_after"),
        ("investigating", "Now failing with timeout"),
        ("investigating", "streaming on us is now down: timeout"),
        ("investigating", "Impact raised from minor to major."),
        ("resolved", "streaming on us has recovered."),
    ]


async def test_a_slow_member_joins_a_target_outage_and_leaves_on_up_runs(store: Store) -> None:
    await play(store, {("us", "transcription"): "DDDDUUU", ("us", "streaming"): "GGGGGUU"})
    [inc] = await store.incidents()
    # Streaming was slow from minute 0 (its third slow run confirmed it), so the
    # incident begins then, as transcription's outage does.
    assert members(inc) == [
        ("transcription", "major", "recovered", T0, at(4)),
        ("streaming", "minor", "recovered", T0, at(5)),
    ]
    assert inc.impact == "major" and inc.closed_at == at(5)


async def test_slow_runs_open_nothing_when_degraded_threshold_is_zero(
    database: str, clock: ManualClock
) -> None:
    async with await Store.open(database, degraded_threshold=0, clock=clock) as s:
        await play(s, {("us", "streaming"): "GGGGGG"})
        assert await s.incidents() == []


async def test_a_member_that_fails_again_rejoins_the_open_incident(store: Store) -> None:
    await play(store, {("us", "reachability"): "DDUUDDUU", ("us", "streaming"): "DDDDDDDD"})
    [inc] = await store.incidents()
    assert inc.is_open
    assert members(inc) == [
        ("reachability", "critical", "recovered", T0, at(6)),
        ("streaming", "major", "down", T0, None),
    ]
    bodies = [u.body for u in inc.updates]
    assert "reachability on us has recovered." in bodies
    assert "reachability on us is down again: timeout" in bodies
    # Between its two outages it was out (left_at set, then cleared on rejoining).
    assert bodies.index("reachability on us is down again: timeout") > bodies.index(
        "reachability on us has recovered."
    )


async def test_incidents_by_probe_are_those_it_is_a_member_of(store: Store) -> None:
    await play(store, {("us", "reachability"): "DD", ("us", "streaming"): " DD"})
    [inc] = await store.incidents()
    assert [i.id for i in await store.incidents(probe="streaming")] == [inc.id]
    assert [i.id for i in await store.incidents(probe="reachability")] == [inc.id]
    assert await store.incidents(probe="transcription") == []
    assert [i.id for i in await store.incidents(target="us", probe="streaming")] == [inc.id]
    assert await store.incidents(target="eu") == []
    assert (await store.incident(inc.id)) == inc


async def test_a_slow_period_follows_the_quorum_of_locations(
    database: str, clock: ManualClock
) -> None:
    async with await Store.open(database, quorum=2, clock=clock) as s:
        eu = [make("us", "streaming", at(i), G, latency=3.0) for i in range(3)]
        us = [make("us", "streaming", at(i), U) for i in range(3)]
        for r_eu, r_us in zip(eu, us, strict=True):
            await s.add_result(dataclasses.replace(r_eu, location="eu-west"))
            await s.add_result(dataclasses.replace(r_us, location="us-east"))
        assert await s.incidents() == []  # slow from one location of two: partial
        for i in range(3, 6):
            for loc in ("eu-west", "us-east"):
                r = make("us", "streaming", at(i), G, latency=3.0)
                await s.add_result(dataclasses.replace(r, location=loc))
        [inc] = await s.incidents()
        assert inc.impact == "minor"
        assert sorted(inc.locations) == ["eu-west", "us-east"]
        # us-east's slow run began at minute 3: the quorum was met when it confirmed.
        assert inc.opened_at == at(3)


async def test_two_writers_of_one_target_open_one_incident(
    database: str, clock: ManualClock
) -> None:
    # Two agents (two stores on one database) write different components of one
    # target at the same time: the target's rows are locked, so one incident.
    async with (
        await Store.open(database, clock=clock) as a,
        await Store.open(database, clock=clock) as b,
    ):
        for i in range(3):
            await asyncio.gather(
                a.add_result(make("us", "reachability", at(i), D)),
                b.add_result(make("us", "transcription", at(i), D)),
            )
        [inc] = await a.incidents()
        assert sorted(m.probe for m in inc.components) == ["reachability", "transcription"]


# ---------------------------------------------------------------------------
# Migration m007 / p004: incidents stored before are one-member incidents


def _old_database(database: str) -> None:
    """Bring `database` to the schema before grouping (m005 / p002), nothing in it."""
    if is_postgres_url(database):
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute(
                f"CREATE TABLE {pg.MIGRATIONS_TABLE} (name TEXT PRIMARY KEY,"
                " applied_at BIGINT NOT NULL)"
            )
            for name, sql in (
                ("p001_initial", pg.P001_INITIAL),
                ("p002_locations", pg.P002_LOCATIONS),
            ):
                conn.execute(sql.encode())
                conn.execute(f"INSERT INTO {pg.MIGRATIONS_TABLE} VALUES (%s, 0)", (name,))
        return
    old = Migrations("sttwatch")  # the store's migration set, stopped after m005
    for fn in (m001_initial, m002_alerts, m003_compact_rollups, m004_whole_streaks, m005_locations):
        old(name=fn.__name__)(fn)
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        old.apply(Database(conn))
    finally:
        conn.close()


def _run(database: str, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> list[Any]:
    """Run `statements` (``?`` placeholders) on `database`; return each one's first row."""
    out: list[Any] = []
    if is_postgres_url(database):
        with psycopg.connect(database, autocommit=True) as pconn:
            for sql, args in statements:
                cur = pconn.execute(sql.replace("?", "%s").encode(), args)
                out.append(cur.fetchone() if cur.description else None)
        return out
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        for sql, args in statements:
            cur = conn.execute(sql, args)
            out.append(cur.fetchone())
    finally:
        conn.close()
    return out


def _component(target: str, probe: str, status: int, last: int, run: int, since: int) -> str:
    return (
        "INSERT INTO components (target, probe, last_status, last_started_at, consecutive_down,"
        f" consecutive_good, streak_started_at, status_run, status_since) VALUES ('{target}',"
        f" '{probe}', {status}, {last}, {run if status == 2 else 0}, {0 if status == 2 else run},"
        f" {since}, {run}, {since}) RETURNING id"
    )


async def test_incidents_stored_before_grouping_become_one_member_incidents(
    database: str, clock: ManualClock
) -> None:
    _old_database(database)
    day_ago, now = to_ms(at(-24 * 60)), to_ms(T0)
    [(tx,), (rx,)] = _run(
        database,
        [
            (_component("us", "transcription", 0, day_ago + 600_000, 5, day_ago + 300_000), ()),
            (_component("us", "reachability", 2, now + 120_000, 3, now), ()),
        ],
    )
    incident = (
        "INSERT INTO incidents (component, opened_at, closed_at, status, error_kinds,"
        " first_message, last_message, down_runs, updates, locations)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
    )
    closed_updates = (
        f'[{{"at":{day_ago},"status":"investigating","body":"transcription on us is down:'
        f' server_error: HTTP 503"}},{{"at":{day_ago + 360_000},"status":"resolved",'
        '"body":"transcription on us has recovered."}]'
    )
    open_updates = (
        f'[{{"at":{now},"status":"investigating","body":"reachability on us is down: timeout: a"}}]'
    )
    [(closed_id,), (open_id,), *_] = _run(
        database,
        [
            (incident, (tx, day_ago, day_ago + 300_000, "resolved",
                        '["server_error","job_timeout"]', "server_error: HTTP 503",
                        "job_timeout: still queued", 4, closed_updates, '["local"]')),
            (incident, (rx, now, None, "investigating", '["timeout"]', "timeout: a",
                        "timeout: c", 3, open_updates, '["local"]')),
            ("UPDATE components SET open_incident_id = (SELECT max(id) FROM incidents)"
             " WHERE probe = 'reachability'", ()),
            ("INSERT INTO component_locations (component, location, last_status,"
             " last_started_at, status_run, status_since, good_run, outage_since, streak_kinds,"
             " streak_message) VALUES (?, 'local', 2, ?, 3, ?, 0, ?, '[\"timeout\"]',"
             " 'timeout: a')", (rx, now + 120_000, now, now)),
            ("INSERT INTO component_locations (component, location, last_status,"
             " last_started_at, status_run, status_since, good_run, good_since)"
             " VALUES (?, 'local', 0, ?, 5, ?, 5, ?)",
             (tx, day_ago + 600_000, day_ago + 300_000, day_ago + 300_000)),
        ],
    )  # fmt: skip

    async with await Store.open(database, clock=clock) as s:
        got = {i.id: i for i in await s.incidents()}
        assert sorted(got) == sorted([closed_id, open_id])
        closed, still = got[closed_id], got[open_id]
        # Every old field as stored, and one member that says the same.
        assert (closed.probe, closed.opened_at, closed.closed_at, closed.status) == (
            "transcription",
            at(-24 * 60),
            at(-24 * 60 + 5),
            "resolved",
        )
        assert closed.error_kinds == ("server_error", "job_timeout")
        assert (closed.first_message, closed.last_message, closed.down_runs) == (
            "server_error: HTTP 503",
            "job_timeout: still queued",
            4,
        )
        assert [u.body for u in closed.updates] == [
            "transcription on us is down: server_error: HTTP 503",
            "transcription on us has recovered.",
        ]
        assert closed.locations == ("local",) and closed.impact == "major"
        assert closed.components == (
            IncidentComponent(
                probe="transcription",
                impact="major",
                joined_at=at(-24 * 60),
                left_at=at(-24 * 60 + 5),
                error_kinds=("server_error", "job_timeout"),
                last_message="job_timeout: still queued",
                state="recovered",
            ),
        )
        assert still.is_open and still.impact == "major"
        assert members(still) == [("reachability", "major", "down", T0, None)]
        states = {c.probe: c.open_incident_id for c in await s.component_states()}
        assert states == {"reachability": open_id, "transcription": None}

        # The migrated open incident carries on: transcription joins it, and it closes
        # only when both have recovered.
        await play(s, {("us", "transcription"): "DD"}, start=3)
        await play(s, {("us", "reachability"): "UU"}, start=5)
        [now_open] = await s.incidents(open_only=True)
        assert now_open.id == open_id
        assert [m.probe for m in now_open.components] == ["reachability", "transcription"]
        assert now_open.down_runs == 5
        await play(s, {("us", "transcription"): "UU"}, start=7)
        assert await s.incidents(open_only=True) == []
        done = await s.incident(open_id)
        assert done is not None and done.closed_at == at(7)
        assert members(done) == [
            ("reachability", "major", "recovered", T0, at(5)),
            ("transcription", "major", "recovered", at(3), at(7)),
        ]
        assert len(await s.incidents()) == 2


async def test_retention_prunes_a_closed_incident_with_its_members(
    store: Store, clock: ManualClock
) -> None:
    await play(store, {("us", "reachability"): "DDUU", ("us", "streaming"): "DDUU"})
    [inc] = await store.incidents()
    assert len(inc.components) == 2
    clock.current = T0 + timedelta(days=500)
    await store.prune()
    assert await store.incidents() == []
