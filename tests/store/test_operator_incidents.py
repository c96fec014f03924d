"""The store's half of ``sttwatch incident``: operator incidents, updates, postmortems.

On both databases (`store` is open on the `database` fixture): one timeline of
the incident machine's and the operator's updates, the incident's status from
it, the rules that refuse a write with nothing written, an update that survives
the machine rewriting its incident, pruning, and migration m006 / p003 on a
database that already holds an incident.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from monitor.config import Retention
from monitor.models import ErrorKind, Status
from monitor.store import Store
from monitor.store.operator_incidents import IncidentError
from monitor.store.schema import (
    m001_initial,
    m002_alerts,
    m003_compact_rollups,
    m004_whole_streaks,
    m005_locations,
)
from tests.support.clocks import ManualClock
from tests.support.results import make


async def _outage(store: Store, clock: ManualClock, minutes: int = 2) -> int:
    """Store `minutes` down runs of us/reachability (thresholds 2/2: an incident); return its id."""
    for m in range(minutes):
        await store.add_result(make(at=clock.now() + timedelta(minutes=m), status=Status.DOWN))
    [incident] = await store.incidents(open_only=True)
    return incident.id


async def test_operator_updates_merge_into_the_probe_timeline_and_set_the_status(
    store: Store, clock: ManualClock
) -> None:
    start = clock.now()
    iid = await _outage(store, clock)
    clock.advance(150)
    await store.post_incident_update(iid, status="identified", message="Upstream provider")
    # A new error kind while identified: the machine's update keeps the operator's status.
    await store.add_result(
        make(at=start + timedelta(minutes=4), status=Status.DOWN, kind=ErrorKind.SERVER_ERROR)
    )
    inc = await store.incident(iid)
    assert inc is not None and inc.status == "identified" and inc.source == "probe"
    assert [(u.source, u.status) for u in inc.updates] == [
        ("sttwatch", "investigating"),
        ("operator", "identified"),
        ("sttwatch", "identified"),  # "Now failing with server_error"
    ]
    assert inc.updates[1].body == "Upstream provider"
    assert len({u.id for u in inc.updates}) == 3
    # Recovery closes it: resolved, the operator's words kept in place.
    for m in (5, 6):
        await store.add_result(make(at=start + timedelta(minutes=m)))
    inc = await store.incident(iid)
    assert inc is not None and inc.status == "resolved" and not inc.is_open
    assert [u.status for u in inc.updates][-1] == "resolved"
    assert "Upstream provider" in [u.body for u in inc.updates]


async def test_an_operator_incident_opens_resolves_and_takes_a_postmortem(
    store: Store, clock: ManualClock
) -> None:
    iid = await store.open_operator_incident(
        "us",
        ["transcription", "streaming"],
        title="Slow uploads",
        message="Looking",
        impact="major",
    )
    inc = await store.incident(iid)
    assert inc is not None
    assert (inc.source, inc.title, inc.affected, inc.impact, inc.status) == (
        "operator",
        "Slow uploads",
        ("transcription", "streaming"),
        "major",
        "investigating",
    )
    clock.advance(60)
    await store.post_incident_update(iid, status="monitoring", message="A fix is out")
    assert (await store.incident(iid)).status == "monitoring"  # type: ignore[union-attr]
    clock.advance(60)
    await store.resolve_incident(iid, message="Fixed")
    clock.advance(60)
    await store.set_postmortem(iid, "What happened")
    inc = await store.incident(iid)
    assert inc is not None and inc.status == "resolved"
    assert inc.closed_at == clock.now() - timedelta(seconds=60)
    assert (inc.postmortem, inc.postmortem_at) == ("What happened", clock.now())
    assert [u.status for u in inc.updates] == ["investigating", "monitoring", "resolved"]
    # The probes of the component it hangs off never see it as theirs.
    await store.add_result(make("us", "transcription", at=clock.now(), status=Status.DOWN))
    [state] = [s for s in await store.component_states() if s.probe == "transcription"]
    assert state.open_incident_id is None


async def test_the_probes_never_join_an_operator_incident_of_their_target(
    store: Store, clock: ManualClock
) -> None:
    # An operator's incident of us/reachability is open; the probes then see it down:
    # they open their own incident (one member), and the operator's keeps none.
    mine = await store.open_operator_incident(
        "us", ["reachability"], title="Heads up", message="Provider warns", impact="minor"
    )
    for m in range(2):
        await store.add_result(make(at=clock.now() + timedelta(minutes=m), status=Status.DOWN))
    by_id = {i.id: i for i in await store.incidents(open_only=True)}
    [theirs] = set(by_id) - {mine}
    assert (by_id[mine].source, by_id[mine].impact, by_id[mine].components) == (
        "operator",
        "minor",
        (),
    )
    assert by_id[theirs].source == "probe"
    assert [m.probe for m in by_id[theirs].components] == ["reachability"]
    # Recovery closes the probes' incident only; the operator resolves theirs.
    start = clock.now()
    for m in (3, 4):
        await store.add_result(make(at=start + timedelta(minutes=m)))
    assert [i.id for i in await store.incidents(open_only=True)] == [mine]
    # Asked for one probe kind, the operator's incident that names it is listed too.
    assert {i.id for i in await store.incidents(probe="reachability")} == {mine, theirs}
    assert [i.id for i in await store.incidents(probe="streaming")] == []


@pytest.mark.parametrize(
    "write, error",
    [
        ("resolve_probe", r"opened by the reachability probes of us and they still confirm"),
        ("update_resolved", r"is resolved; a resolved incident takes only a postmortem"),
        ("postmortem_open", r"is not resolved yet"),
        ("unknown_id", r"no incident 999"),
        ("bad_status", r"status 'resolved' is not one of investigating, identified, monitoring"),
    ],
    ids=["resolve-probe-incident", "update-resolved", "postmortem-open", "unknown-id", "status"],
)
async def test_a_broken_rule_writes_nothing(
    store: Store, clock: ManualClock, write: str, error: str
) -> None:
    probe_iid = await _outage(store, clock)
    said = await store.open_operator_incident("us", ["streaming"], title="T", message="M")
    await store.resolve_incident(said, message="done")
    before = (await store.incidents(), await store.incident_revision())
    attempt = {
        "resolve_probe": lambda: store.resolve_incident(probe_iid, message="x"),
        "update_resolved": lambda: store.post_incident_update(
            said, status="monitoring", message="x"
        ),
        "postmortem_open": lambda: store.set_postmortem(probe_iid, "x"),
        "unknown_id": lambda: store.post_incident_update(999, status="identified", message="x"),
        "bad_status": lambda: store.post_incident_update(probe_iid, status="resolved", message="x"),
    }[write]
    with pytest.raises(IncidentError, match=error):
        await attempt()
    assert (await store.incidents(), await store.incident_revision()) == before


async def test_the_revision_changes_with_every_operator_write(
    store: Store, clock: ManualClock
) -> None:
    seen = [await store.incident_revision()]
    iid = await store.open_operator_incident("us", ["streaming"], title="T", message="M")
    seen.append(await store.incident_revision())
    await store.post_incident_update(iid, status="identified", message="x")
    seen.append(await store.incident_revision())
    await store.resolve_incident(iid, message="done")
    seen.append(await store.incident_revision())
    clock.advance(1)
    await store.set_postmortem(iid, "pm")
    seen.append(await store.incident_revision())
    clock.advance(1)
    await store.set_postmortem(iid, "pm, edited")
    seen.append(await store.incident_revision())
    assert len(set(seen)) == len(seen), seen
    # Results alone leave it as it is: it tracks only what another process says.
    await store.add_result(make(at=clock.now()))
    assert await store.incident_revision() == seen[-1]


async def test_pruning_a_resolved_incident_takes_its_updates(database: str) -> None:
    clock = ManualClock()
    retention = Retention(raw=86400, hourly=86400, daily=86400)
    async with await Store.open(database, clock=clock, retention=retention) as store:
        old = await store.open_operator_incident("us", ["streaming"], title="Old", message="M")
        await store.resolve_incident(old, message="done")
        clock.advance(2 * 86400)
        kept = await store.open_operator_incident("us", ["streaming"], title="New", message="M")
        deleted = await store.prune()
        assert deleted["incidents"] == 1
        assert [i.id for i in await store.incidents()] == [kept]
        rows = await store.read(
            lambda c: c.execute("SELECT incident FROM incident_updates").fetchall()
        )
        assert [r[0] for r in rows] == [kept]


async def test_m006_keeps_every_stored_incident_and_reads_it_as_the_probes(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "old.db")
    old = Migrations("sttwatch")  # the store's migration set, stopped before m006
    for fn in (m001_initial, m002_alerts, m003_compact_rollups, m004_whole_streaks, m005_locations):
        old(name=fn.__name__)(fn)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        old.apply(Database(conn))
        conn.execute("INSERT INTO components (id, target, probe) VALUES (1, 'us', 'streaming')")
        conn.execute(
            "INSERT INTO incidents (id, component, opened_at, closed_at, status, error_kinds,"
            " first_message, last_message, down_runs, updates)"
            " VALUES (7, 1, 1000, 5000, 'resolved', '[\"timeout\"]', 'timeout: x', 'timeout: x',"
            """ 3, '[{"at": 1000, "status": "investigating", "body": "down"},"""
            """ {"at": 5000, "status": "resolved", "body": "up"}]')"""
        )
    finally:
        conn.close()
    async with await Store.open(path) as store:
        [inc] = await store.incidents()
        assert (inc.id, inc.source, inc.title, inc.status, inc.postmortem) == (
            7,
            "probe",
            None,
            "resolved",
            None,
        )
        assert [u.body for u in inc.updates] == ["down", "up"]
        # The new columns and table work on the upgraded file.
        await store.set_postmortem(7, "What happened")
        iid = await store.open_operator_incident("us", ["streaming"], title="T", message="M")
        assert iid == 8
        assert (await store.incident(7)).postmortem == "What happened"  # type: ignore[union-attr]


async def test_p003_keeps_every_stored_incident(postgres_url: str) -> None:
    import psycopg

    from monitor.store.pg_schema import PG_MIGRATIONS, apply
    from monitor.store.postgres import PgConnection

    names = [name for name, _ in PG_MIGRATIONS]
    assert names.index("p003_operator_incidents") == names.index("p002_locations") + 1
    with psycopg.connect(postgres_url, autocommit=True) as raw:
        conn = PgConnection(raw)
        conn.execute("BEGIN")
        for name, sql in PG_MIGRATIONS[: names.index("p003_operator_incidents")]:
            raw.execute(sql.encode())
            conn.execute(
                "CREATE TABLE IF NOT EXISTS _sttwatch_migrations"
                " (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)"
            )
            conn.execute("INSERT INTO _sttwatch_migrations VALUES (?, 0)", (name,))
        conn.execute("INSERT INTO components (id, target, probe) VALUES (1, 'us', 'streaming')")
        conn.execute(
            "INSERT INTO incidents (id, component, opened_at, status, error_kinds,"
            " first_message, last_message, down_runs, updates)"
            " VALUES (7, 1, 1000, 'investigating', '[]', 'm', 'm', 2,"
            """ '[{"at": 1000, "status": "investigating", "body": "down"}]')"""
        )
        conn.execute("COMMIT")
        assert apply(conn) == names[names.index("p003_operator_incidents") :]
    async with await Store.open(postgres_url) as store:
        [inc] = await store.incidents()
        assert (inc.id, inc.source, inc.status, inc.is_open) == (7, "probe", "investigating", True)
        # p004 made it an incident of its one component.
        assert [m.probe for m in inc.components] == ["streaming"]
        await store.post_incident_update(7, status="identified", message="Upstream")
        assert (await store.incident(7)).status == "identified"  # type: ignore[union-attr]
