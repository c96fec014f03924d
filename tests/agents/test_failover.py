"""Two agents on one PostgreSQL: the leader is killed during an outage, the other takes over.

Issue 17's "leader kill -9 during an outage": agents in two locations probe the
simulator; the one holding the advisory lock decides and sends the alerts. The
API goes down, the leader's [DOWN] mail is in flight at a mail server that
holds its answer, and the leader is killed (SIGKILL) right then, so the mail
server never says "250" to it. The other agent takes the lock, finds the
delivery still open, sends it — once — and, when the API is back, sends the
[RESOLVED]. Counted at the SMTP server: one of each. The simulator has no
transcript left by either agent.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from monitor.simulator import SimulatorHandle
from tests.support.agents import Agent, query, start_agent
from tests.support.configs import config_doc, sim_target, write_config
from tests.support.fixture_types import SimFactory
from tests.support.polling import eventually
from tests.support.receivers import SmtpSink

pytestmark = pytest.mark.slow

OUTAGE = [{"endpoint": "transcript.list", "action": "status", "status": 503}]


def agent_config(tmp_path: Path, name: str, url: str, sim: SimulatorHandle, smtp: str) -> Path:
    """Write the config of agent `name`: the shared database, its own site and buffer."""
    doc = config_doc(
        tmp_path / name,
        [
            sim_target(
                sim,
                probes={
                    "reachability": {
                        "interval": "1s",
                        "timeout": "900ms",
                        "degraded_after": "800ms",
                    },
                    "transcription": {
                        "interval": "3s",
                        "timeout": "2500ms",
                        "degraded_after": "2s",
                    },
                },
            )
        ],
        alerts={"urls": [smtp], "failure_threshold": 2, "success_threshold": 2, "group_wait": "1s"},
        buffer=str(tmp_path / name / "buffer.db"),
        # The killed leader's last "down" counts towards quorum 1 until its location
        # is stale: short here, so the survivor's recovery resolves the alert.
        location_stale_after="10s",
    )
    doc["database"] = url
    (tmp_path / name).mkdir()
    return write_config(tmp_path / name, doc)


def titles(sink: SmtpSink) -> list[str]:
    return [str(m["Subject"]) for m in sink.messages]


async def test_killed_leader_mid_delivery_is_replaced_and_each_alert_is_sent_once(
    tmp_path: Path, make_sim: SimFactory, smtp_sink: SmtpSink, postgres_url: str
) -> None:
    sim = await make_sim()
    smtp_sink.gate = asyncio.Event()  # the mail server holds every answer until opened
    agents: list[Agent] = []

    async def launch(location: str) -> Agent:
        agent = await start_agent(
            location,
            agent_config(tmp_path, location, postgres_url, sim, smtp_sink.url()),
            tmp_path / f"{location}.log",
            env={"STTWATCH_LOCATION": location},
        )
        agents.append(agent)
        return agent

    try:
        first = await launch("eu-west")
        await eventually(first.leading, "the first agent to lead", 20.0, every=0.2)
        second = await launch("us-east")

        async def probing(agent: Agent) -> bool:
            return int((await agent.health())["scheduler"]["cycles"]) >= 1

        await eventually(lambda: probing(second), "the second agent's first cycle", 20.0)
        assert not await second.leading()
        assert 'sttwatch_leader{location="us-east"} 0.0' in await second.metrics()
        assert 'sttwatch_leader{location="eu-west"} 1.0' in await first.metrics()

        sim.set_faults(OUTAGE)
        # The leader's [DOWN] is at the mail server, unanswered: kill the leader now.
        await eventually(lambda: smtp_sink.waiting == 1, "the leader's [DOWN] in flight", 20.0)
        await first.kill()
        await eventually(lambda: smtp_sink.abandoned == 1, "the mail server to see it gone", 10.0)
        assert smtp_sink.messages == []
        smtp_sink.gate.set()

        await eventually(second.leading, "the second agent to take over", 15.0, every=0.2)
        assert 'sttwatch_leader{location="us-east"} 1.0' in await second.metrics()
        assert (await second.health())["leadership"]["gained"] == 1
        await eventually(
            lambda: any(t.startswith("[DOWN]") for t in titles(smtp_sink)),
            "the [DOWN] sent by the new leader",
            15.0,
        )
        sim.clear_faults()
        await eventually(
            lambda: any(t.startswith("[RESOLVED]") for t in titles(smtp_sink)),
            "the [RESOLVED]",
            30.0,
        )

        def settled() -> bool:
            open_rows = query(
                postgres_url,
                "SELECT count(*) FROM alert_deliveries"
                " WHERE delivered_at IS NULL AND gave_up_at IS NULL",
            )
            return open_rows[0][0] == 0

        await eventually(lambda: asyncio.to_thread(settled), "every delivery recorded", 10.0)
        assert await second.stop() == 0, second.text()
    finally:
        for agent in agents:
            await agent.kill()

    down = [t for t in titles(smtp_sink) if t.startswith("[DOWN]")]
    resolved = [t for t in titles(smtp_sink) if t.startswith("[RESOLVED]")]
    assert (len(down), len(resolved)) == (1, 1), titles(smtp_sink)
    assert down == ["[DOWN] sim · REST API"] and resolved == ["[RESOLVED] sim · REST API"]
    assert len(smtp_sink.messages) == 2, titles(smtp_sink)
    # The dead leader's attempt was never recorded; the new leader's one attempt was.
    attempts = query(
        postgres_url,
        "SELECT a.kind, d.attempts, (SELECT count(*) FROM alert_attempts t"
        " WHERE t.delivery_id = d.id) FROM alert_deliveries d JOIN alerts a"
        " ON a.id = d.alert_id ORDER BY d.id",
    )
    assert attempts == [("down", 1, 1), ("resolved", 1, 1)]
    assert sim.state()["transcripts"]["undeleted"] == 0, sim.state()["transcripts"]
    for agent in agents:
        assert "sim-key" not in agent.text()
