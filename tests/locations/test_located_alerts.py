"""Alert state shared by agents in two locations: each transition is committed once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerting import Alerter
from monitor.config import Config, parse_config
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.store import Store
from tests.support.clocks import ManualClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def config(location: str) -> Config:
    """Return the shared config as the agent in `location` reads it."""
    doc = {
        "targets": [{"name": "aai-us", "api_key": "k", "probes": {"transcription": None}}],
        "quorum": 2,
        "alerts": {"failure_threshold": 2, "success_threshold": 2},
    }
    return parse_config(doc, env={"STTWATCH_LOCATION": location})


Agent = tuple[Store, Alerter, ManualClock]


@pytest.fixture
async def agents(tmp_path: Path) -> AsyncIterator[list[Agent]]:
    """Yield (store, alerter, clock) of agents eu-west and us-east on one database."""
    out = []
    for location in ("eu-west", "us-east"):
        cfg = config(location)
        clock = ManualClock(current=T0)
        store = await Store.open(
            str(tmp_path / "shared.db"),
            failure_threshold=2,
            success_threshold=2,
            location=cfg.location,
            quorum=cfg.quorum,
            clock=clock,
        )
        out.append((store, Alerter(cfg, store, clock=clock, destinations=[]), clock))
    try:
        yield out
    finally:
        for store, _, _ in out:
            await store.close()


async def alert_kinds(store: Store) -> list[str]:
    """Return the kinds of every alert committed to the outbox, oldest first."""
    rows = await store.read(lambda c: c.execute("SELECT kind FROM alerts ORDER BY id").fetchall())
    return [kind for (kind,) in rows]


async def test_both_agents_see_it_down_and_one_alert_is_committed(agents: list[Agent]) -> None:
    for minute in range(4):
        for store, alerter, clock in agents:
            clock.current = T0 + minute * MINUTE
            r = ProbeResult(
                target="aai-us",
                probe="transcription",
                started_at=clock.current,
                duration_s=1.0,
                status=Status.DOWN,
                error_kind=ErrorKind.SERVER_ERROR,
                message="503",
                location=store.location,
            )
            await store.add_result(r)
            await alerter.observe(r)
    assert await alert_kinds(agents[0][0]) == ["down"]


async def test_a_backlog_left_by_one_agent_alerts_once_and_resolves_once(
    agents: list[Agent],
) -> None:
    (eu_store, eu, eu_clock), (us_store, us, us_clock) = agents
    await eu_store.record("aai-us", "t-1")
    for clock in (eu_clock, us_clock):
        clock.current = T0 + timedelta(hours=2)
    for alerter in (eu, us, eu, us):
        await alerter.check_backlog()
    assert await alert_kinds(eu_store) == ["deletion-backlog"]
    # us-east restarts: it loads the open backlog alert, and its own ledger is empty.
    us = Alerter(config("us-east"), us_store, clock=us_clock, destinations=[])
    await us.check_backlog()
    assert await alert_kinds(eu_store) == ["deletion-backlog"]
    await eu_store.mark_deleted("aai-us", "t-1")
    for alerter in (us, eu, us):
        await alerter.check_backlog()
    assert await alert_kinds(eu_store) == ["deletion-backlog", "resolved"]
