"""Two agents, two locations, one store: a failure seen from one alone alerts nobody.

Each agent is a real ``sttwatch run`` process with its own STTWATCH_LOCATION and
its own simulator (its own network path to "the API"), both reading one config
file and writing one database: a SQLite file, then a real PostgreSQL server (the
`database` fixture's two backends). The alerts are counted where a user would
see them: at a real SMTP server, and in the outbox.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from monitor.simulator import SimulatorHandle
from tests.support.chaos import read_rows, wait_for
from tests.support.configs import config_doc, write_config
from tests.support.fixture_types import SimStarter
from tests.support.receivers import SmtpSink

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
SERVING = re.compile(rb"serving on http://127\.0\.0\.1:(\d+)/")
FAULT = [{"endpoint": "transcript.list", "action": "status", "status": 503}]
# A database is a SQLite file's path or a PostgreSQL URL, as `database:` takes it.
StartAgents = Callable[[int], Awaitable[tuple["Agent", "Agent"]]]


class Agent:
    """One ``sttwatch run`` in a location, on its own simulator."""

    def __init__(self, location: str, sim: SimulatorHandle, config: Path, tmp: Path) -> None:
        self.location, self.sim, self.config = location, sim, config
        self.log = tmp / f"{location}.log"
        self.site = tmp / f"site-{location}"
        self.proc: asyncio.subprocess.Process | None = None
        self.port = 0

    async def start(self) -> None:
        env = {
            **os.environ,
            "PYTHONWARNINGS": "ignore",
            "STTWATCH_LOCATION": self.location,
            "SIM_API": self.sim.base_url,
            "SIM_WS": self.sim.ws_base,
            "SITE_DIR": str(self.site),
            # Each agent its own buffer, as on its own machine (docs/agents.md).
            "BUFFER": str(self.site.parent / f"buffer-{self.location}.db"),
        }
        with self.log.open("ab") as sink:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "monitor", "run", "-c", str(self.config),
                cwd=REPO, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=sink, stderr=sink,
            )  # fmt: skip

        async def serving() -> bool:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError(f"{self.location} exited:\n{self.log.read_text()[-3000:]}")
            m = SERVING.search(self.log.read_bytes())
            self.port = int(m.group(1)) if m else 0
            return bool(self.port)

        await wait_for(f"{self.location} to serve", serving, 30.0, every=0.05)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 20)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@pytest.fixture
async def start_agents(
    tmp_path: Path, start_sim: SimStarter, smtp_sink: SmtpSink, database: str
) -> AsyncIterator[StartAgents]:
    """Yield a function starting agents eu-west and us-east with a quorum, sharing `database`.

    It returns once each has stored two good results.
    """
    agents: list[Agent] = []

    async def start(quorum: int) -> tuple[Agent, Agent]:
        target = {
            "name": "aai",
            "api_base": "${SIM_API}",
            "streaming_base": "${SIM_WS}",
            "api_key": "sim-key",
            "probes": {
                "reachability": {"interval": "1s", "timeout": "800ms", "degraded_after": "500ms"}
            },
        }
        doc = config_doc(
            tmp_path,
            [target],
            database=database,
            quorum=quorum,
            alerts={"urls": [smtp_sink.url()], "failure_threshold": 2, "success_threshold": 2},
        )
        doc["site_dir"] = "${SITE_DIR}"
        doc["buffer"] = "${BUFFER}"
        config = write_config(tmp_path, doc)
        agents.extend(
            [
                Agent("eu-west", await start_sim(), config, tmp_path),
                Agent("us-east", await start_sim(), config, tmp_path),
            ]
        )
        for agent in agents:
            await agent.start()
        for agent in agents:
            await runs_after(database, agent.location, 0, 0, 2)
        return agents[0], agents[1]

    try:
        yield start
    finally:
        for agent in agents:
            await agent.stop()


def count(db: str, sql: str) -> int:
    """Return the single number `sql` selects from `db` (0 before its schema exists)."""
    rows = read_rows(db, sql)
    return int(rows[0][0]) if rows else 0


async def runs_after(db: str, location: str, status: int, after_id: int, n: int) -> None:
    """Wait until `location` has stored `n` results of `status` with an id above `after_id`."""
    sql = (
        f"SELECT count(*) FROM results WHERE location = '{location}' AND status = {status}"
        f" AND id > {after_id}"
    )

    async def enough() -> bool:
        return count(db, sql) >= n

    await wait_for(f"{n} results of status {status} from {location}", enough, 60.0)


async def settle(
    db: str, sink: SmtpSink, emails: int, statuses: dict[str, int], after_id: int
) -> None:
    """Wait for `emails` e-mails, then five more results of each location's status."""

    async def arrived() -> bool:
        return len(sink.messages) >= emails

    await wait_for(f"{emails} e-mail(s)", arrived, 60.0)
    for location, status in statuses.items():
        await runs_after(db, location, status, after_id, 5)


def down_alerted_once(db: str, sink: SmtpSink, locations: list[str]) -> None:
    """Assert one incident seen from `locations`, one down alert and one e-mail so far."""
    assert count(db, "SELECT count(*) FROM incidents") == 1
    assert count(db, "SELECT count(*) FROM alerts WHERE kind = 'down'") == 1
    assert len(sink.messages) == 1
    assert "down" in str(sink.messages[0]["Subject"]).lower()
    (seen_from,) = read_rows(db, "SELECT locations FROM incidents")[0]
    assert sorted(json.loads(seen_from)) == locations


def resolved_once(db: str, sink: SmtpSink) -> None:
    """Assert the incident closed with one recovery alert: two e-mails in all, both delivered."""
    assert count(db, "SELECT count(*) FROM incidents WHERE closed_at IS NOT NULL") == 1
    assert count(db, "SELECT count(*) FROM alerts WHERE kind = 'resolved'") == 1
    assert len(sink.messages) == 2
    assert "resolved" in str(sink.messages[1]["Subject"]).lower()
    assert count(db, "SELECT count(*) FROM alert_deliveries WHERE delivered_at IS NOT NULL") == 2


async def test_one_location_failing_alerts_nobody_and_both_alert_once(
    start_agents: StartAgents, database: str, smtp_sink: SmtpSink
) -> None:
    eu, us = await start_agents(2)
    db = database

    # The route from eu-west fails; us-east still reaches the API.
    mark = count(db, "SELECT max(id) FROM results")
    eu.sim.set_faults(FAULT)
    await runs_after(db, "eu-west", 2, mark, 5)
    await runs_after(db, "us-east", 0, mark, 5)
    assert count(db, "SELECT count(*) FROM incidents") == 0
    assert count(db, "SELECT count(*) FROM alerts") == 0
    assert smtp_sink.messages == []
    # The page and the API say where it fails from. On PostgreSQL only the leader
    # writes the page (docs/agents.md), on SQLite each agent does: either one's.
    pages = [agent.site / "index.html" for agent in (eu, us)]

    async def page_says_where() -> bool:
        texts = [page.read_text(encoding="utf-8") for page in pages if page.exists()]
        return any("Down from eu-west" in t and 'data-location="us-east"' in t for t in texts)

    await wait_for("the page to say where it fails from", page_says_where, 30.0)
    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{us.port}"
        async with http.get(f"{base}/api/v1/results?location=eu-west&limit=5") as resp:
            body = await resp.json()
        assert resp.status == 200
        assert {r["location"] for r in body["results"]} == {"eu-west"}
        assert {r["status"] for r in body["results"]} == {"down"}
        for bad, error in [
            ("EU", "location must be a slug of lower-case letters, digits and dashes (eu-west), "
                   "got 'EU'"),
            ("mars", "no results from location 'mars'; locations: eu-west, us-east"),
        ]:  # fmt: skip
            async with http.get(f"{base}/api/v1/results?location={bad}") as resp:
                assert resp.status == 400
                assert (await resp.json()) == {"error": error}

    # Now from both: one incident, one alert, one e-mail.
    mark = count(db, "SELECT max(id) FROM results")
    us.sim.set_faults(FAULT)
    await settle(db, smtp_sink, 1, {"eu-west": 2, "us-east": 2}, mark)
    down_alerted_once(db, smtp_sink, ["eu-west", "us-east"])

    # Back from both: the incident closes, one recovery e-mail.
    mark = count(db, "SELECT max(id) FROM results")
    eu.sim.clear_faults()
    us.sim.clear_faults()
    await settle(db, smtp_sink, 2, {"eu-west": 0, "us-east": 0}, mark)
    resolved_once(db, smtp_sink)


async def test_one_location_failing_with_quorum_one_alerts_once(
    start_agents: StartAgents, database: str, smtp_sink: SmtpSink
) -> None:
    # With quorum 1 one location's outage is the outage: whichever agent sends the
    # alerts, eu-west's failure alone opens the incident and sends one e-mail.
    eu, _us = await start_agents(1)
    db = database

    mark = count(db, "SELECT max(id) FROM results")
    eu.sim.set_faults(FAULT)
    # us-east sees it up throughout.
    await settle(db, smtp_sink, 1, {"eu-west": 2, "us-east": 0}, mark)
    down_alerted_once(db, smtp_sink, ["eu-west"])

    mark = count(db, "SELECT max(id) FROM results")
    eu.sim.clear_faults()
    await settle(db, smtp_sink, 2, {"eu-west": 0, "us-east": 0}, mark)
    resolved_once(db, smtp_sink)
