"""The alert outbox on the real store: retries, per-destination rows and order, restarts.

Receivers are real servers on loopback (aiosmtpd, an aiohttp JSON webhook);
backoff is shortened so retries take milliseconds, not minutes.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from monitor.alerting import Alerter, Backoff
from monitor.config import Config
from monitor.metrics import Metrics
from monitor.store import Store
from tests.support.alerts import down_result, make_config, up_result
from tests.support.receivers import API_KEY, SmtpSink, Webhook, wait_until

FAST = Backoff(first=0.05, factor=2.0, cap=0.2)


async def open_store(tmp_path: Path) -> Store:
    return await Store.open(str(tmp_path / "sttwatch.db"))


def counted(metrics: Metrics, result: str) -> float:
    value = metrics.registry.get_sample_value("sttwatch_alerts_sent_total", {"result": result})
    return value or 0.0


def attempts_in_db(tmp_path: Path) -> list[tuple[str, int, str | None]]:
    """Return (destination label, ok, error) of every recorded attempt, in order."""
    with sqlite3.connect(tmp_path / "sttwatch.db") as conn:
        return conn.execute(
            "SELECT d.destination_label, t.ok, t.error FROM alert_attempts t"
            " JOIN alert_deliveries d ON d.id = t.delivery_id ORDER BY t.id"
        ).fetchall()


@asynccontextmanager
async def running_alerter(
    tmp_path: Path, config: Config, *, start: bool = True
) -> AsyncIterator[tuple[Alerter, Metrics]]:
    store = await open_store(tmp_path)
    metrics = Metrics(config)
    alerter = Alerter(config, store, backoff=FAST, backlog_check_every=0, metrics=metrics)
    try:
        if start:
            await alerter.start()
        yield alerter, metrics
    finally:
        await alerter.stop()
        await store.close()


async def test_smtp_down_then_back_delivers_exactly_once(
    tmp_path: Path, smtp_sink: SmtpSink
) -> None:
    config = make_config([smtp_sink.url()], give_up_after="1h")
    await smtp_sink.stop()  # the mail server is down; its port is kept for its return
    async with running_alerter(tmp_path, config) as (alerter, metrics):
        await alerter.observe(down_result(0))
        await alerter.observe(down_result(1))
        await wait_until(lambda: counted(metrics, "failed") >= 3, what="3 failed attempts")
        assert smtp_sink.messages == []

        await smtp_sink.start()
        await wait_until(lambda: len(smtp_sink.messages) == 1, what="the e-mail")
        await asyncio.wait_for(alerter.worker.wait_idle(), 5)
        # Later results of the same incident send nothing more.
        await alerter.observe(down_result(2))
        await asyncio.wait_for(alerter.worker.wait_idle(), 5)

    assert [m["Subject"] for m in smtp_sink.messages] == ["[DOWN] AssemblyAI (US) · Streaming"]
    assert counted(metrics, "sent") == 1
    rows = attempts_in_db(tmp_path)
    assert [ok for _, ok, _ in rows] == [0] * (len(rows) - 1) + [1]
    assert all("connection" in (err or "").lower() for _, ok, err in rows if not ok)


async def test_a_hung_service_never_delays_a_probe(tmp_path: Path, webhook: Webhook) -> None:
    webhook.gate = asyncio.Event()  # the service accepts the request and never answers
    config = make_config([webhook.url()])
    async with running_alerter(tmp_path, config) as (alerter, _):
        await alerter.observe(down_result(0))
        await alerter.observe(down_result(1))  # the DOWN alert: the worker is now stuck
        await wait_until(lambda: webhook.seen == 1, what="the stuck delivery")
        # The sink keeps up with further results while delivery hangs.
        for i in range(2, 12):
            await alerter.observe(down_result(i) if i < 8 else up_result(i))
        assert webhook.seen == 1 and webhook.posts == []
        webhook.gate.set()
        await wait_until(lambda: len(webhook.posts) == 2, what="both alerts")
    assert webhook.titles() == [
        "[DOWN] AssemblyAI (US) · Streaming",
        "[RESOLVED] AssemblyAI (US) · Streaming",
    ]


async def test_alerts_written_before_a_crash_are_delivered_after_restart(
    tmp_path: Path, webhook: Webhook
) -> None:
    config = make_config([webhook.url()])
    # First life: the sink commits the alert, the process dies before any delivery.
    async with running_alerter(tmp_path, config, start=False) as (alerter, _):
        for i in range(2):
            await alerter.observe(down_result(i))
    assert webhook.posts == []

    # Second life: the worker finds the undelivered alert and sends it, once.
    async with running_alerter(tmp_path, config) as (alerter, _):
        await wait_until(lambda: len(webhook.posts) == 1, what="the delivery after restart")
        await asyncio.wait_for(alerter.worker.wait_idle(), 5)
        await alerter.observe(down_result(2))  # still the same incident: no re-send
        await asyncio.wait_for(alerter.worker.wait_idle(), 5)
    assert webhook.titles() == ["[DOWN] AssemblyAI (US) · Streaming"]


async def test_a_dead_destination_does_not_resend_to_healthy_ones(
    tmp_path: Path, webhook: Webhook, refused_port: int
) -> None:
    dead = f"json://alice:hunter2-secret@127.0.0.1:{refused_port}/dead"
    masked = f"json://alice:****@127.0.0.1:{refused_port}/dead"
    config = make_config([dead, webhook.url()], give_up_after="1s")
    async with running_alerter(tmp_path, config) as (alerter, metrics):
        for i in range(2):
            await alerter.observe(down_result(i))
        await wait_until(lambda: counted(metrics, "gave_up") == 1, what="giving up on the dead one")
        await asyncio.wait_for(alerter.worker.wait_idle(), 5)
    assert webhook.titles() == ["[DOWN] AssemblyAI (US) · Streaming"]
    assert counted(metrics, "sent") == 1 and counted(metrics, "failed") >= 1
    store = await open_store(tmp_path)
    try:
        rows = {r["destination"]: r for r in await store.alert_deliveries()}
    finally:
        await store.close()
    assert rows[masked]["gave_up_at"] is not None and rows[masked]["delivered_at"] is None
    assert rows[masked]["attempts"] >= 2 and "connection" in rows[masked]["last_error"].lower()
    assert rows[webhook.url()]["delivered_at"] is not None and rows[webhook.url()]["attempts"] == 1
    # Neither the alert URL's password nor the API key the probe message echoed is stored.
    with sqlite3.connect(tmp_path / "sttwatch.db") as conn:
        dump = "\n".join(conn.iterdump())
    assert "hunter2-secret" not in dump and API_KEY not in dump
    assert "[DOWN] AssemblyAI (US)" in dump  # the dump does hold the alerts


async def test_a_destination_gets_its_alerts_in_order_despite_retries(
    tmp_path: Path, webhook: Webhook
) -> None:
    webhook.fail_first = 3  # the DOWN alert needs retries; RESOLVED must not overtake it
    config = make_config([webhook.url()])
    async with running_alerter(tmp_path, config) as (alerter, _):
        for r in [down_result(0), down_result(1), up_result(2), up_result(3)]:
            await alerter.observe(r)
        await wait_until(lambda: len(webhook.posts) == 2, what="both alerts")
    assert webhook.titles() == [
        "[DOWN] AssemblyAI (US) · Streaming",
        "[RESOLVED] AssemblyAI (US) · Streaming",
    ]
