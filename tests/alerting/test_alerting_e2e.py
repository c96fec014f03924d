"""End to end: the simulator's streaming endpoint fails for 3 cycles; on-call hears exactly twice.

Real simulator, real streaming probe, real store (SQLite in tmp_path), the
runtime's sinks in their order (store, metrics, alerter), real receivers (a
JSON webhook and an SMTP server). The process "restarts" in the middle of the
incident: the alert state comes back from SQLite, nothing is re-sent and the
resolve is not forgotten.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from monitor.alerting import Alerter, Backoff
from monitor.app import build_app
from monitor.config import Config, parse_config
from monitor.models import ProbeResult, Status, SystemClock
from monitor.runtime import Runtime
from monitor.server import ALERTER
from monitor.simulator import SimulatorHandle
from monitor.store import Store
from tests.support.alerts import alerting_runtime
from tests.support.clocks import BurstClock
from tests.support.configs import config_doc, parsed, sim_target
from tests.support.receivers import SmtpSink, Webhook, wait_until

if TYPE_CHECKING:
    from tests.support.fixture_types import SimStarter

SIM_KEY = "sim-key"
STREAM_FAULT = {"endpoint": "ws", "action": "close", "code": 3005, "reason": "Internal error"}


@pytest.fixture
async def sim(start_sim: SimStarter) -> SimulatorHandle:
    # Audio goes out in a burst (BurstClock), so the simulator must not insist on real time.
    return await start_sim(
        {"streaming": {"strict_pacing": False, "turn_interval_ms": 20, "first_turn_delay_ms": 10}}
    )


def make_config(tmp_path: Path, sim: SimulatorHandle, urls: list[str], **extra: Any) -> Config:
    target = sim_target(
        sim,
        key=SIM_KEY,
        display_name="AssemblyAI (sim)",
        probes={"streaming": {"timeout": "10s", "degraded_after": "5s"}},
    )
    doc = config_doc(
        tmp_path,
        [target],
        site_dir=None,
        listen=None,
        alerts={"urls": urls},
        public_url="https://status.example.com/",
        **extra,
    )
    return parsed(doc)


def process(config: Config) -> AbstractAsyncContextManager[tuple[Runtime, Alerter]]:
    """One life of sttwatch: runtime + alerter as the composition root wires them."""
    return alerting_runtime(config, clock=BurstClock())


async def cycle(rt: Runtime) -> ProbeResult:
    (result,) = await rt.run_once()
    return result


async def test_three_failed_cycles_one_down_one_resolved_across_a_restart(
    tmp_path: Path, sim: SimulatorHandle, webhook: Webhook, smtp_sink: SmtpSink
) -> None:
    config = make_config(tmp_path, sim, [webhook.url(), smtp_sink.url()])
    statuses: list[Status] = []

    async with process(config) as (rt, alerter):
        statuses.append((await cycle(rt)).status)  # healthy
        sim.set_faults([STREAM_FAULT])
        statuses.append((await cycle(rt)).status)  # 1st failure: below the threshold
        statuses.append((await cycle(rt)).status)  # 2nd: DOWN alert
        await wait_until(lambda: len(webhook.posts) == 1 and len(smtp_sink.messages) == 1)
        await asyncio.wait_for(alerter.worker.wait_idle(), 5)

    # Restart in the middle of the incident.
    async with process(config) as (rt, alerter):
        statuses.append((await cycle(rt)).status)  # 3rd failure: the alert is already open
        sim.clear_faults()
        statuses.append((await cycle(rt)).status)  # 1st good run
        statuses.append((await cycle(rt)).status)  # 2nd: RESOLVED
        await wait_until(lambda: len(webhook.posts) == 2 and len(smtp_sink.messages) == 2)
        await asyncio.wait_for(alerter.worker.wait_idle(), 5)
        statuses.append((await cycle(rt)).status)  # healthy again: nothing
        await asyncio.wait_for(alerter.worker.wait_idle(), 5)
        sent = rt.metrics.registry.get_sample_value(
            "sttwatch_alerts_sent_total", {"result": "sent"}
        )

    assert statuses == ["up", "down", "down", "down", "up", "up", "up"]
    titles = ["[DOWN] AssemblyAI (sim) · Streaming", "[RESOLVED] AssemblyAI (sim) · Streaming"]
    assert webhook.titles() == titles
    assert [m["Subject"] for m in smtp_sink.messages] == titles
    down_body = webhook.posts[0][1]["message"]
    assert "Error kind: server_error" in down_body
    assert "Close code: 3005" in down_body
    resolved_text = SmtpSink.text(smtp_sink.messages[1])
    assert (
        "is up again after" in resolved_text and "It had failed with server_error" in resolved_text
    )
    assert sent == 2  # the second life delivered the RESOLVED to both
    for _, payload in webhook.posts:
        assert SIM_KEY not in str(payload)


async def test_no_alert_inside_a_maintenance_window(
    tmp_path: Path, sim: SimulatorHandle, webhook: Webhook
) -> None:
    window = {"title": "Upgrade", "start": "2020-01-01T00:00:00Z", "end": "2100-01-01T00:00:00Z"}
    config = make_config(tmp_path, sim, [webhook.url()], maintenance=[window])
    sim.set_faults([STREAM_FAULT])
    async with process(config) as (rt, alerter):
        for _ in range(3):
            assert (await cycle(rt)).status == "down"
        await asyncio.wait_for(alerter.worker.wait_idle(), 5)
        state = alerter.states()[("sim", "streaming")]
    assert webhook.posts == []
    assert state.open_level is None and state.streak.length == 3  # counted, not alerted


async def test_the_server_composition_alerts_through_apprise(
    aiohttp_client: Any, tmp_path: Path, sim: SimulatorHandle, webhook: Webhook
) -> None:
    """`sttwatch run` wires the alerter as the last sink; its alerts reach the webhook."""
    config = parse_config(
        {
            "database": str(tmp_path / "sttwatch.db"),
            "site_dir": str(tmp_path / "site"),
            "listen": "127.0.0.1:0",
            "targets": [
                {
                    "name": "sim",
                    "display_name": "AssemblyAI (sim)",
                    "api_base": sim.base_url,
                    "streaming_base": sim.ws_base,
                    "api_key": SIM_KEY,
                    "probes": {
                        "reachability": {
                            "interval": "1s",
                            "timeout": "800ms",
                            "degraded_after": "500ms",
                        }
                    },
                }
            ],
            "alerts": {"urls": [webhook.url()], "failure_threshold": 1, "success_threshold": 1},
        },
        env={},
    )
    sim.set_faults([{"endpoint": "transcript.list", "action": "status", "status": 503}])
    client = await aiohttp_client(build_app(config, render_min_interval=0.1))
    await wait_until(lambda: len(webhook.posts) >= 1, within=15, what="the DOWN alert")
    sim.clear_faults()
    await wait_until(lambda: len(webhook.posts) >= 2, within=15, what="the RESOLVED alert")
    assert webhook.titles()[:2] == [
        "[DOWN] AssemblyAI (sim) · REST API",
        "[RESOLVED] AssemblyAI (sim) · REST API",
    ]
    assert "Error kind: server_error" in webhook.posts[0][1]["message"]
    alerter = client.app[ALERTER] if client.app is not None else None
    assert alerter is not None and alerter.problems == []


class LaterClock(SystemClock):
    """Real time, two hours on: what the alerter sees when the ledger entry has aged."""

    def now(self) -> datetime:
        return super().now() + timedelta(hours=2)


async def test_deletion_backlog_alerts_once_and_resolves_when_deleted(
    tmp_path: Path, sim: SimulatorHandle, webhook: Webhook
) -> None:
    config = make_config(tmp_path, sim, [webhook.url()])
    store = await Store.open(config.database)
    alerter = Alerter(
        config, store, clock=LaterClock(), backoff=Backoff(first=0.05), backlog_check_every=0
    )
    try:
        await alerter.start()
        await store.record("sim", "tr_undeletable")
        await alerter.check_backlog()
        await alerter.check_backlog()  # still overdue: no second alert
        await wait_until(lambda: len(webhook.posts) == 1, what="the backlog alert")
        await store.mark_deleted("sim", "tr_undeletable")
        await alerter.check_backlog()
        await wait_until(lambda: len(webhook.posts) == 2, what="its resolution")
        await asyncio.wait_for(alerter.worker.wait_idle(), 5)
    finally:
        await alerter.stop()
        await store.close()
    assert webhook.titles() == [
        "[DELETION BACKLOG] AssemblyAI (sim) · transcripts not deleted",
        "[RESOLVED] AssemblyAI (sim) · deletion backlog",
    ]
    assert "Transcripts: tr_undeletable" in webhook.posts[0][1]["message"]
