"""The database stops under a running agent and comes back: no result lost, none doubled.

Issue 17's "database stopped for 60 s and restarted", shortened to a few
seconds (the 60 s run is measured in BENCHMARKS.md): the agent keeps probing
into its local buffer, /healthz says "degraded: database unreachable, N results
buffered" meanwhile, and once the server is back every buffered result is
written, in order, once. Counted: the simulator's requests against the rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.agents import Agent, query, start_agent
from tests.support.configs import config_doc, sim_target, write_config
from tests.support.fixture_types import SimFactory
from tests.support.polling import eventually
from tests.support.postgres import PostgresCluster

pytestmark = pytest.mark.slow

REACHABILITY = {"interval": "1s", "timeout": "900ms", "degraded_after": "800ms"}


async def test_a_stopped_database_loses_no_result_and_health_says_so(
    tmp_path: Path, make_sim: SimFactory, own_cluster: PostgresCluster
) -> None:
    sim = await make_sim()
    url = own_cluster.create_database()
    doc = config_doc(
        tmp_path,
        [
            sim_target(
                sim,
                probes={"reachability": REACHABILITY},
            )
        ],
        buffer=str(tmp_path / "buffer.db"),
    )
    doc["database"] = url
    agent: Agent = await start_agent("solo", write_config(tmp_path, doc), tmp_path / "run.log")
    try:
        health: dict[str, Any] = {}

        async def answers(check: Any) -> bool:
            health.update(await agent.health())
            return bool(check(health))

        await eventually(
            lambda: answers(lambda h: h["status"] == "ok" and h["leadership"]["leading"]),
            "a healthy leading agent",
            20.0,
        )
        own_cluster.pg_ctl("stop", "-m", "fast", "-w")
        await eventually(
            lambda: answers(lambda h: h["database"]["buffered_results"] >= 3),
            "three results buffered",
            15.0,
        )
        assert health["status"] == "degraded"
        reason = f"database unreachable, {health['database']['buffered_results']} results buffered"
        assert reason in health["reasons"], health["reasons"]
        assert health["leadership"]["leading"] is False  # its session went with the server
        # restart: the server starts again with the options it last ran with (postmaster.opts).
        own_cluster.pg_ctl("restart", "-w", "-t", "60", "-l", str(own_cluster.root / "server.log"))
        await eventually(
            lambda: answers(
                lambda h: h["database"]["buffered_results"] == 0 and h["status"] == "ok"
            ),
            "the buffer written and health ok",
            20.0,
        )
        await eventually(agent.leading, "the agent to lead again", 20.0, every=0.2)
        assert await agent.stop() == 0, agent.text()
    finally:
        await agent.kill()

    requests = sim.state()["requests"]["transcript.list"]
    stored = query(
        url,
        "SELECT count(*), count(DISTINCT r.started_at) FROM results r"
        " JOIN components c ON c.id = r.component WHERE c.probe = 'reachability'",
    )
    assert stored == [(requests, requests)], (stored, requests)
    assert requests >= 4  # one before the outage, three buffered at least
    text = agent.text()
    assert "buffering them in" in text and "buffered result(s) written" in text, text
