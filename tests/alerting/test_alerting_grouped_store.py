"""The alerter's groups on the real store, SQLite and PostgreSQL: held, restarted, sent once.

The clock is a ManualClock and the alerter is not started where a test wants the
batch held: its group loop would sleep the clock forward to the batch's time.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from monitor.alerting import Alerter, Backoff
from monitor.config import AlertsConfig, Config, ConfigError
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.store import Store
from tests.support.alerts import T0, make_config
from tests.support.clocks import ManualClock
from tests.support.receivers import Webhook, wait_until

PROBES = ("reachability", "transcription", "streaming")
LABELS = {"reachability": "REST API", "transcription": "Transcription", "streaming": "Streaming"}


def result(probe: str, status: Status, minute: float) -> ProbeResult:
    down = status is Status.DOWN
    return ProbeResult(
        target="aai-us",
        probe=probe,
        started_at=T0 + timedelta(minutes=minute),
        duration_s=1.5,
        status=status,
        error_kind=ErrorKind.SERVER_ERROR if down else None,
        message=f"{probe} answered 503" if down else "",
        details={"http_status": 503} if down else {},
    )


async def feed(alerter: Alerter, clock: ManualClock, probes: Any, status: Status, n: int) -> None:
    """Give each of `probes` `n` results of `status`, a minute apart, the clock following."""
    for _ in range(n):
        clock.advance(60)
        minute = (clock.now() - T0).total_seconds() / 60
        for probe in probes:
            await alerter.observe(result(probe, status, minute))


def grouped(**alerts: Any) -> Config:
    return make_config(group_wait="30s", **alerts)


async def titles(store: Store) -> list[str]:
    return [a.title for a in await store.unrouted_alerts()]


async def test_a_held_alert_survives_a_restart_and_goes_out_when_due(
    database: str, webhook: Webhook
) -> None:
    config = grouped(urls=[webhook.url()])
    clock = ManualClock(current=T0)
    store = await Store.open(database)
    try:
        first = Alerter(config, store, clock=clock, destinations=[], backlog_check_every=0)
        await feed(first, clock, ["streaming"], Status.DOWN, 2)
        assert await titles(store) == []  # held, in the store
        (group,) = await store.alert_groups()
        assert group.flush_at == clock.now() + timedelta(seconds=30)
    finally:
        await store.close()  # the process stops while the alert is held

    clock.advance(31)
    store = await Store.open(database)
    second = Alerter(config, store, clock=clock, backoff=Backoff(first=0.05), backlog_check_every=0)
    try:
        await second.start()
        await wait_until(lambda: len(webhook.posts) == 1, what="the held alert")
        await asyncio.wait_for(second.worker.wait_idle(), 5)
        # Alone in its group: the message it would have had without grouping.
        assert webhook.titles() == ["[DOWN] AssemblyAI (US) · Streaming"]
        (group,) = await store.alert_groups()
        assert group.flush_at is None and group.announced_at is not None
    finally:
        await second.stop()
        await store.close()


async def test_group_wait_zero_alerts_each_probe_on_its_own(database: str) -> None:
    clock = ManualClock(current=T0)
    store = await Store.open(database)
    try:
        alerter = Alerter(make_config(group_wait=0), store, clock=clock, destinations=[])
        await feed(alerter, clock, PROBES, Status.DOWN, 2)
        await feed(alerter, clock, PROBES, Status.UP, 2)
        assert await titles(store) == [
            *(f"[DOWN] AssemblyAI (US) · {LABELS[p]}" for p in PROBES),
            *(f"[RESOLVED] AssemblyAI (US) · {LABELS[p]}" for p in PROBES),
        ]
        assert await store.alert_groups() == []
    finally:
        await store.close()


async def test_probes_failing_together_are_one_down_and_one_resolved(database: str) -> None:
    clock = ManualClock(current=T0)
    store = await Store.open(database)
    try:
        alerter = Alerter(grouped(), store, clock=clock, destinations=[])
        await feed(alerter, clock, PROBES, Status.DOWN, 3)
        await feed(alerter, clock, ["reachability"], Status.UP, 2)  # one recovers: silent
        assert len(await titles(store)) == 1
        await feed(alerter, clock, ["transcription", "streaming"], Status.UP, 2)
        down, resolved = await store.unrouted_alerts()
        assert down.title == (
            "[DOWN] AssemblyAI (US): 3 checks down — "
            "REST API (server_error), Transcription (server_error), Streaming (server_error)"
        )
        assert down.probe == "reachability,transcription,streaming"
        assert resolved.title.startswith("[RESOLVED] AssemblyAI (US): 3 checks up again — ")
        assert resolved.kind == "resolved" and resolved.notify_type == "success"
        for probe in PROBES:
            assert f"{probe} answered 503" in down.body
            assert f"- **{LABELS[probe]}** — up again after" in resolved.body
        assert await store.alert_groups() == []
    finally:
        await store.close()


async def test_a_probe_failing_after_the_first_message_is_a_follow_up(database: str) -> None:
    clock = ManualClock(current=T0)
    store = await Store.open(database)
    try:
        alerter = Alerter(grouped(), store, clock=clock, destinations=[])
        await feed(alerter, clock, ["reachability"], Status.DOWN, 2)
        clock.advance(31)
        await alerter.flush_due()
        await feed(alerter, clock, ["streaming"], Status.DOWN, 2)
        assert len(await titles(store)) == 1  # the follow-up is held for its own wait
        clock.advance(31)
        await alerter.flush_due()
        await alerter.flush_due()  # nothing more is due
        assert await titles(store) == [
            "[DOWN] AssemblyAI (US) · REST API",
            "[DOWN] AssemblyAI (US): also failing — Streaming (server_error)",
        ]
        follow_up = (await store.unrouted_alerts())[1]
        assert "Already reported, still open:" in follow_up.body
        assert "- **REST API** — down since" in follow_up.body
    finally:
        await store.close()


async def test_reminders_go_per_group(database: str) -> None:
    clock = ManualClock(current=T0)
    store = await Store.open(database)
    try:
        alerter = Alerter(grouped(reminder_every="5m"), store, clock=clock, destinations=[])
        await feed(alerter, clock, PROBES, Status.DOWN, 9)
        got = await titles(store)
        # DOWN at minute 2; reminders at 7 (one, for all three), nothing before 12.
        assert len(got) == 2, got
        assert got[1].startswith("[STILL DOWN] AssemblyAI (US): 3 checks down — REST API")
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("alerts", "message"),
    [
        ({"group_wait": "11m"}, "alerts.group_wait: at most 10m"),
        ({"group_wait": "-1s"}, "alerts.group_wait: not a duration: '-1s'"),
        (
            {"group_wait": "5m", "reminder_every": "5m"},
            "alerts.group_wait: must be shorter than alerts.reminder_every (5m)",
        ),
    ],
    ids=["too-long", "negative", "not-shorter-than-reminders"],
)
def test_a_bad_group_wait_is_a_config_error(alerts: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        make_config(**alerts)
    assert message in str(err.value)


def test_group_wait_defaults_to_a_minute_and_zero_turns_it_off() -> None:
    assert AlertsConfig().group_wait == 60.0
    assert make_config(group_wait="0").alerts.group_wait == 0.0


async def test_two_alerters_on_one_store_add_to_one_group(database: str) -> None:
    """What each decides for the probes of one target lands in one group: one message."""
    clock = ManualClock(current=T0)
    stores = [await Store.open(database), await Store.open(database)]
    try:
        first, second = (Alerter(grouped(), s, clock=clock, destinations=[]) for s in stores)
        for _ in range(2):
            clock.advance(60)
            minute = (clock.now() - T0).total_seconds() / 60
            await first.observe(result("reachability", Status.DOWN, minute))
            await second.observe(result("transcription", Status.DOWN, minute))
            await second.observe(result("streaming", Status.DOWN, minute))
        (down,) = await stores[0].unrouted_alerts()
        assert down.title.startswith("[DOWN] AssemblyAI (US): 3 checks down — REST API")
    finally:
        for s in stores:
            await s.close()
