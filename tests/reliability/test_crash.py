"""Promise 2 of RELIABILITY.md: ``kill -9`` at random moments loses nothing and leaks nothing."""

from __future__ import annotations

import asyncio
import random
import re
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from monitor.simulator import Scenario, SimulatorHandle, start_simulator
from tests.support.chaos import (
    SttwatchProcess,
    chaos_scenario,
    final_janitor_sweep,
    integrity_check,
    ledger_pending,
    read_rows,
    sim_leftovers,
    stored_results,
    untracked,
    wait_for,
    write_config,
)
from tests.support.receivers import Webhook

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SEED = 8_2026
KILLS = 32
TARGETS = 3
# A quarter of the kills land in start-up (imports, migrations, the start-up
# sweep, the outbox picking up what the last life left): seconds after the spawn.
# The rest while probes, the janitor, the renderer and the outbox are at work:
# seconds after the process said it was serving.
STARTUP_SHARE = 0.25
KILL_IN_STARTUP_S = (0.2, 2.0)
KILL_WHILE_SERVING_S = (0.0, 3.0)
ALERT_ID = re.compile(r"Alert id: (\d+)\s*$")


@pytest.fixture
async def chaos_sim() -> AsyncIterator[SimulatorHandle]:
    handle = await start_simulator(port=0, scenario=Scenario.model_validate(chaos_scenario(SEED)))
    try:
        yield handle
    finally:
        await handle.close()


def _alerts(db: Path) -> dict[int, tuple[str, str, str]]:
    return {
        i: (t, p, k)
        for i, t, p, k in read_rows(db, "SELECT id, target, probe, kind FROM alerts ORDER BY id")
    }


def _outbox_open(db: Path) -> int:
    unrouted = read_rows(db, "SELECT count(*) FROM alerts WHERE routed_at IS NULL")
    undelivered = read_rows(
        db,
        "SELECT count(*) FROM alert_deliveries WHERE delivered_at IS NULL AND gave_up_at IS NULL",
    )
    return int((unrouted or [(0,)])[0][0]) + int((undelivered or [(0,)])[0][0])


def _foreign_key_violations(db: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db, timeout=5.0)
    try:
        return conn.execute("PRAGMA foreign_key_check").fetchall()
    finally:
        conn.close()


def _overlapping_incidents(db: Path) -> list[tuple[Any, ...]]:
    """Return pairs of incidents of one component whose spans overlap (or two left open)."""
    rows = read_rows(db, "SELECT component, id, opened_at, closed_at FROM incidents ORDER BY id")
    bad: list[tuple[Any, ...]] = []
    last: dict[int, tuple[int, int, int | None]] = {}
    for component, iid, opened, closed in rows:
        prev = last.get(component)
        if prev is not None and (prev[2] is None or opened < prev[2]):
            bad.append((component, prev, (iid, opened, closed)))
        last[component] = (iid, opened, closed)
    return bad


def _alert_sequence_errors(alerts: dict[int, tuple[str, str, str]]) -> list[str]:
    """Return the places where a component's alerts open an alert twice or close none."""
    open_level: dict[tuple[str, str], str | None] = {}
    errors: list[str] = []
    for aid, (target, probe, kind) in sorted(alerts.items()):
        key = (target, probe)
        level = open_level.get(key)
        if kind == "down" and level not in (None, "degraded"):
            errors.append(f"alert {aid}: DOWN for {key} while {level} was open")
        elif kind == "degraded" and level is not None:
            errors.append(f"alert {aid}: DEGRADED for {key} while {level} was open")
        elif kind in ("resolved", "reminder") and level is None:
            errors.append(f"alert {aid}: {kind} for {key} with nothing open")
        if kind in ("down", "degraded"):
            open_level[key] = kind
        elif kind == "resolved":
            open_level[key] = None
    return errors


async def test_kill_9_at_random_moments_loses_no_result_or_alert_and_leaks_nothing(
    tmp_path: Path, chaos_sim: SimulatorHandle, webhook: Webhook
) -> None:
    """Promise 2: crash consistency under ``kill -9`` at 30+ random (seeded) moments.

    A real ``sttwatch run`` child process under the chaos faults is killed
    with SIGKILL at a random moment of each life (a quarter in start-up, the
    rest while probing, sweeping, rendering and delivering alerts) and
    restarted, 32 times. After every kill:
    ``PRAGMA integrity_check`` is ``ok`` and no foreign key dangles; every
    result and alert the database showed just before the kill is still there,
    unchanged. At the end (one more life without faults, then a graceful
    stop): every alert of the outbox reached the local JSON webhook, and after
    deduplication by the ``Alert id`` each message carries, exactly once — no
    message without an id, none for an alert the database does not have; no
    component has two overlapping incidents, and no alert opened twice; every
    transcript is known to the ledger and, after the janitor's sweep, zero are
    left undeleted; no streaming session is left open.
    """
    sim = chaos_sim
    rng = random.Random(SEED)
    config = write_config(tmp_path, sim, targets=TARGETS, alert_urls=[webhook.url("alerts")])
    db = tmp_path / "sttwatch.db"
    log = tmp_path / "run.log"
    acknowledged: dict[int, tuple[Any, ...]] = {}
    alerts_seen: dict[int, tuple[str, str, str]] = {}
    kills_in_startup = 0
    for _ in range(KILLS):
        proc = SttwatchProcess(config, log)
        await proc.start()
        try:
            if rng.random() < STARTUP_SHARE:
                await asyncio.sleep(rng.uniform(*KILL_IN_STARTUP_S))
            else:
                await proc.wait_serving()
                await asyncio.sleep(rng.uniform(*KILL_WHILE_SERVING_S))
            assert proc.alive(), f"sttwatch died on its own:\n{proc.tail()}"
            # Acknowledged: what a reader of the database saw just before the kill.
            for r in stored_results(db):
                acknowledged[r.id] = r.key
            alerts_seen.update(_alerts(db))
            if b"serving on" not in proc.new_log():
                kills_in_startup += 1
        finally:
            await proc.kill9()
        assert proc.proc is not None and proc.proc.returncode == -9
        if not db.exists():
            continue
        assert integrity_check(db) == "ok"
        assert _foreign_key_violations(db) == []
        now = {r.id: r.key for r in stored_results(db)}
        lost = {i: k for i, k in acknowledged.items() if now.get(i) != k}
        assert not lost, f"acknowledged results lost or changed by a kill: {lost}"
        alerts_now = _alerts(db)
        lost_alerts = {i: a for i, a in alerts_seen.items() if alerts_now.get(i) != a}
        assert not lost_alerts, f"alerts lost by a kill: {lost_alerts}"

    killed_state = sim.state()
    # One more life, without faults: the outbox drains, components recover.
    sim.clear_faults()
    before = stored_results(db)
    components = {(r.target, r.probe) for r in before}
    last_id = max((r.id for r in before), default=0)

    async def ran_twice() -> bool:
        runs = Counter((r.target, r.probe) for r in stored_results(db) if r.id > last_id)
        return all(runs[c] >= 2 for c in components)

    proc = SttwatchProcess(config, log)
    await proc.start()
    try:
        await proc.wait_serving()
        # Every probe runs twice or more (the success threshold): open alerts resolve.
        await wait_for("every probe to run twice more", ran_twice, 30.0, every=0.2)

        async def drained() -> bool:
            return _outbox_open(db) == 0

        await wait_for("the outbox to drain", drained, 30.0, every=0.2)
        code = await proc.stop(within=60.0)
    finally:
        if proc.alive():
            await proc.kill9()
    assert code == 0, proc.tail()
    assert integrity_check(db) == "ok"

    results = {r.id: r.key for r in stored_results(db)}
    assert all(results.get(i) == k for i, k in acknowledged.items())
    alerts = _alerts(db)
    assert _outbox_open(db) == 0, "alerts left undelivered in the outbox"
    received: Counter[int] = Counter()
    without_id = []
    for _, payload in webhook.posts:
        m = ALERT_ID.search(str(payload.get("message", "")))
        if m is None:
            without_id.append(payload)
        else:
            received[int(m.group(1))] += 1
    duplicates = {i: n for i, n in received.items() if n > 1}
    left = sim_leftovers(sim)
    leaked = await untracked(sim, left["undeleted_ids"], ledger_pending(db))
    report = await final_janitor_sweep(config)
    after_sweep = sim_leftovers(sim)
    incidents = read_rows(db, "SELECT count(*) FROM incidents")[0][0]
    kinds = Counter(k for _, _, k in alerts.values())
    print(
        f"\ncrash run: {KILLS} kills ({kills_in_startup} during start-up), "
        f"{len(acknowledged)} results acknowledged before kills, {len(results)} stored in all, "
        f"{incidents} incidents"
        f"\n  faults injected: {dict(sorted(killed_state['faults_applied'].items()))}"
        f"\n  alerts: {len(alerts)} in the outbox {dict(kinds)},"
        f" {sum(received.values())} webhook deliveries, {len(received)} distinct, "
        f"{len(duplicates)} repeated after a kill {duplicates}"
        f"\n  streaming sessions dropped by a kill (unterminated): {left['unterminated']}"
        f"\n  transcripts left after the last stop: {left['undeleted']} "
        f"({len(leaked)} unknown to the ledger); janitor an hour later: {report}; "
        f"left: {after_sweep['undeleted']}"
    )

    assert not without_id, without_id[:3]
    assert set(received) == set(alerts), (
        f"never delivered: {sorted(set(alerts) - set(received))}, "
        f"unknown: {sorted(set(received) - set(alerts))}"
    )
    assert alerts, "the chaos run raised no alert: the outbox was not exercised"
    assert _overlapping_incidents(db) == []
    assert _alert_sequence_errors(alerts) == []
    assert not leaked, f"undeleted transcripts the ledger does not know: {leaked}"
    assert after_sweep["undeleted"] == 0, after_sweep
    assert after_sweep["active"] == 0
    # A kill drops the sessions in flight without a Terminate (the process is gone);
    # at most one per streaming target per kill, and none from the graceful lives.
    assert left["unterminated"] <= KILLS * TARGETS
