"""`sttwatch migrate-db`: a SQLite history copied into PostgreSQL reads back the same, counted."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from monitor.alert_records import AlertState, NewAlert
from monitor.models import ErrorKind, Status
from monitor.site import build_view
from monitor.store import Store
from monitor.store.codec import encode_v0, encode_v1
from monitor.store.copy import TABLES, CopyError, copy_history
from monitor.store.dialect import Connection
from tests.support.cli import run_sttwatch
from tests.support.clocks import ManualClock
from tests.support.configs import config_doc, parsed
from tests.support.postgres import PostgresCluster
from tests.support.results import T0, history, make

PASSWORD = "s3cret-pg-password"


async def seed(path: Path) -> None:
    """Write a SQLite history with a bit of everything: old encodings, an open incident, alerts."""
    clock = ManualClock()
    clock.current = T0
    async with await Store.open(str(path), clock=clock) as s:
        results = history(seed=5, days=1.5, step_s=600)
        results[10:13] = [
            make(r.target, r.probe, r.started_at, Status.DOWN, kind=ErrorKind.AUTH)
            for r in results[10:13]
        ]
        await s.add_results(results)
        last = results[-1].started_at
        for i in range(3):  # an incident still open when the copy is made
            await s.add_result(make(at=last + timedelta(minutes=i + 1), status=Status.DOWN))
        # An operator's words: an update of that incident, and an incident of their own.
        [probed] = await s.incidents(open_only=True)
        await s.post_incident_update(probed.id, status="identified", message="Upstream")
        said = await s.open_operator_incident("eu", ["transcription"], title="Slow", message="Slow")
        await s.resolve_incident(said, message="Fixed")
        await s.set_postmortem(said, "What happened")
        old = [make(at=T0 - timedelta(minutes=m)) for m in (2, 1)]
        ids = [await s.add_result(r) for r in old]

        def as_older_releases(conn: Connection) -> None:
            for rid, cols in ((ids[0], encode_v0(old[0])), (ids[1], encode_v1(old[1]))):
                assert cols is not None
                conn.execute(
                    "UPDATE results SET message = ?, phases = ?, details = ? WHERE id = ?",
                    (*cols, rid),
                )

        await s.write(lambda db: as_older_releases(db.conn))
        await s.record("us", "t-pending")
        await s.record("us", "t-done")
        await s.mark_deleted("us", "t-done")
        await s.mark_attempt("us", "t-pending", "HTTP 500")
        state = AlertState(target="us", probe="transcription", updated_at=T0)
        new = NewAlert("us", "transcription", "down", "down", "t", "b", "text", "failure", ("x",))
        [aid] = await s.save_alert_state(state, [new])
        await s.route_alert(aid, [("k", "json://hook")], T0)
        [d] = await s.due_deliveries(T0)
        await s.record_delivery_attempt(
            d.id, at=T0, ok=False, error="e", elapsed_s=1, next_attempt_at=T0, gave_up=False
        )


async def everything(store: Store) -> dict[str, object]:
    """Return every read the page, alerting and the janitor make, for comparison."""
    since, until = T0 - timedelta(days=2), T0 + timedelta(days=3)
    return {
        "results": await store.result_rows(limit=1000),
        "latest": await store.latest(),
        "hourly": await store.rollups_hourly(None, None, since, until),
        "daily": await store.rollups_daily(None, None, since, until),
        "uptime": await store.uptime_all([(since, until), (T0, T0 + timedelta(hours=7))]),
        "incidents": await store.incidents(),
        "states": await store.component_states(),
        "pending": await store.pending(),
        "pending_counts": await store.pending_counts(),
        "alert_states": await store.alert_states(),
        "deliveries": await store.alert_deliveries(),
        "due": await store.due_deliveries(T0 + timedelta(days=1)),
    }


async def test_copy_reads_back_the_same_and_refuses_a_second_time(
    tmp_path: Path, postgres_url: str
) -> None:
    source = tmp_path / "history.db"
    await seed(source)
    report = await asyncio.to_thread(copy_history, str(source), postgres_url)
    assert report.complete
    assert set(report.copied) == set(TABLES)
    assert report.copied["results"] == 3 * 216 + 5
    assert all(report.copied[t] > 0 for t in TABLES), report.copied
    config = parsed(config_doc(tmp_path, [{"name": t, "api_key": "k" * 32} for t in ("us", "eu")]))
    page_time = T0 + timedelta(days=2)
    async with await Store.open(str(source)) as a, await Store.open(postgres_url) as b:
        assert await everything(b) == await everything(a)
        # The status page built from either is the same page.
        view = await build_view(b, config, page_time)
        assert view == await build_view(a, config, page_time)
        assert len(view.components) == 6, view.components
        assert view.recent_incidents  # the copied incidents are on it
        # Writes go on after the copied ids, into the copied incident and roll-ups.
        last = (await a.latest("us", "transcription"))[0].started_at
        for s in (a, b):
            await s.add_result(make(at=last + timedelta(minutes=9)))
            await s.add_result(make(at=last + timedelta(minutes=10)))
        assert await everything(b) == await everything(a)
    # A target holding rows is refused, and left as it was.
    with pytest.raises(CopyError, match=r"already holds a history \(\d+ components"):
        await asyncio.to_thread(copy_history, str(source), postgres_url)
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT count(*) FROM results").fetchone() == (3 * 216 + 7,)


async def test_a_missing_source_is_named(tmp_path: Path, postgres_url: str) -> None:
    with pytest.raises(CopyError, match=r"no SQLite database at .*absent\.db"):
        await asyncio.to_thread(copy_history, str(tmp_path / "absent.db"), postgres_url)


async def test_the_command_copies_counts_and_masks_the_password(
    tmp_path: Path, postgres_cluster: PostgresCluster
) -> None:
    source = tmp_path / "history.db"
    await seed(source)
    url = postgres_cluster.create_database("migrate")
    with_password = url.replace("sttwatch@", f"sttwatch:{PASSWORD}@")
    command = ("migrate-db", "--from", str(source), "--to", with_password)
    try:
        code, out, err = await run_sttwatch(*command)
        assert code == 0, err
        assert "results" in out and f"{3 * 216 + 5:>10,} rows" in out
        assert PASSWORD not in out + err and "sttwatch:****@" in out
        code, out, err = await run_sttwatch(*command)
        assert code == 2
        assert "already holds a history" in err and PASSWORD not in out + err
    finally:
        postgres_cluster.drop_database(url)
