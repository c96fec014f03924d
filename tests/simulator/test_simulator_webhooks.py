"""Webhooks: the simulator POSTs to ``webhook_url`` when a job ends, retries, and misbehaves on cue.

A local aiohttp receiver (tests/support/outbound_peer.py) sees every delivery; each
transcript the tests read back is validated against the OpenAPI spec.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from monitor.simulator import Scenario, SimulatorHandle
from tests.support.clocks import ManualClock
from tests.support.fixture_types import SimFactory
from tests.support.outbound_peer import Delivery, Hosted, OutboundPeer
from tests.support.simulator import Api, wait_for

# Retries a test can wait out: 20 ms apart, each answer due within 300 ms.
QUICK = {"retry_interval_ms": 20, "timeout_ms": 300}
SECRET = {"webhook_auth_header_name": "X-Hook-Secret", "webhook_auth_header_value": "s3cret"}


async def _start(
    make_sim: SimFactory,
    http: aiohttp.ClientSession,
    faults: list[dict[str, Any]] | None = None,
    **webhooks: Any,
) -> tuple[SimulatorHandle, Api]:
    sim = await make_sim({"webhooks": {**QUICK, **webhooks}, "faults": faults or []})
    return sim, Api(http, sim.base_url)


async def _settled(sim: SimulatorHandle) -> dict[str, int]:
    """Return the webhook counters once no delivery is in flight any more."""
    await wait_for(lambda: sim.state_obj.outbound.pending == 0)
    counts: dict[str, int] = sim.state()["webhooks"]
    return counts


async def test_completion_is_posted_with_the_auth_header_and_its_status_recorded(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    sim, api = await _start(make_sim, http)
    done = await api.transcribe(webhook_url=peer.url("/hooks/aai"), **SECRET)
    [delivery] = await peer.wait_deliveries(1)
    assert delivery.path == "/hooks/aai"
    assert delivery.body == {"transcript_id": done["id"], "status": "completed"}
    assert delivery.headers["X-Hook-Secret"] == "s3cret"
    assert delivery.headers["Content-Type"].startswith("application/json")
    assert await _settled(sim) == {
        "scheduled": 1,
        "dropped": 0,
        "attempts": 1,
        "delivered": 1,
        "failed": 0,
    }
    shown = (await api.get(done["id"])).json
    assert shown["webhook_status_code"] == 200
    assert shown["webhook_auth"] is True
    assert shown["webhook_auth_header_name"] == "X-Hook-Secret"
    assert "webhook_auth_header_value" not in shown  # the secret is never echoed


async def test_a_failed_job_is_posted_as_error(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    _, api = await _start(make_sim, http)
    failed = await api.transcribe(b"\0" * 100, webhook_url=peer.url())
    assert failed["status"] == "error"
    [delivery] = await peer.wait_deliveries(1)
    assert delivery.body == {"transcript_id": failed["id"], "status": "error"}
    assert "X-Hook-Secret" not in delivery.headers  # no custom header unless asked


async def test_no_webhook_url_no_delivery(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    sim, api = await _start(make_sim, http)
    await api.transcribe()
    assert (await _settled(sim))["scheduled"] == 0
    assert peer.deliveries == []


async def test_the_delivery_waits_for_the_job(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    sim, api = await _start(make_sim, http)
    clock = ManualClock()
    sim.state_obj.set_clock(clock)
    created = await api.create(await api.upload(), webhook_url=peer.url())
    clock.advance(0.05)  # processing: nothing may be sent yet
    assert (await api.get(created["id"])).json["status"] == "processing"
    await asyncio.sleep(0.1)  # several of the delivery task's looks at the job
    assert peer.deliveries == []
    clock.advance(0.05)
    [delivery] = await peer.wait_deliveries(1)
    assert delivery.body["status"] == "completed"


@pytest.mark.parametrize(
    ("answers", "attempts", "recorded", "outcome"),
    [
        pytest.param([500, 503, 200], 3, 200, "delivered", id="5xx-retried-until-2xx"),
        pytest.param([204], 1, 204, "delivered", id="any-2xx-is-delivered"),
        pytest.param([410, 200], 1, 410, "failed", id="4xx-is-final"),
        pytest.param([302, 200], 2, 200, "delivered", id="3xx-is-retried"),
        pytest.param([500], 4, 500, "failed", id="gives-up-after-the-attempts"),
    ],
)
async def test_retries_as_documented(
    make_sim: SimFactory,
    http: aiohttp.ClientSession,
    peer: OutboundPeer,
    answers: list[int],
    attempts: int,
    recorded: int,
    outcome: str,
) -> None:
    sim, api = await _start(make_sim, http, attempts=4)
    peer.answers = answers
    done = await api.transcribe(webhook_url=peer.url())
    counts = await _settled(sim)
    assert len(peer.deliveries) == attempts == counts["attempts"]
    assert counts[outcome] == 1
    assert all(
        d.body == {"transcript_id": done["id"], "status": "completed"} for d in peer.deliveries
    )
    assert (await api.get(done["id"])).json["webhook_status_code"] == recorded


async def test_a_receiver_slower_than_the_timeout_is_retried(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    sim, api = await _start(make_sim, http, attempts=2, timeout_ms=100)
    peer.hold_s = 0.4
    done = await api.transcribe(webhook_url=peer.url())
    counts = await _settled(sim)
    assert len(peer.deliveries) == 2 and counts["failed"] == 1
    # No answer arrived in time, so there is no status to record.
    assert (await api.get(done["id"])).json["webhook_status_code"] is None


async def test_an_unreachable_receiver_is_retried(
    make_sim: SimFactory, http: aiohttp.ClientSession, refused_port: int
) -> None:
    sim, api = await _start(make_sim, http, attempts=3)
    done = await api.transcribe(webhook_url=f"http://127.0.0.1:{refused_port}/hook")
    assert await _settled(sim) == {
        "scheduled": 1,
        "dropped": 0,
        "attempts": 3,
        "delivered": 0,
        "failed": 1,
    }
    assert (await api.get(done["id"])).json["webhook_status_code"] is None


# -- faults --------------------------------------------------------------------


async def test_drop_never_sends(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    sim, api = await _start(make_sim, http, [{"endpoint": "webhook", "action": "drop", "count": 1}])
    dropped = await api.transcribe(webhook_url=peer.url())
    kept = await api.transcribe(webhook_url=peer.url())
    # The second job's delivery shows the receiver works; the first never came.
    [delivery] = await peer.wait_deliveries(1)
    assert delivery.body["transcript_id"] == kept["id"]
    counts = await _settled(sim)
    assert counts["scheduled"] == 2 and counts["dropped"] == 1 and counts["delivered"] == 1
    assert len(peer.deliveries) == 1
    assert (await api.get(dropped["id"])).json["webhook_status_code"] is None
    assert sim.state()["faults_applied"] == {"drop": 1}


async def test_duplicate_sends_twice(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    sim, api = await _start(make_sim, http, [{"endpoint": "webhook", "action": "duplicate"}])
    done = await api.transcribe(webhook_url=peer.url(), **SECRET)
    first, second = await peer.wait_deliveries(2)
    assert first.body == second.body == {"transcript_id": done["id"], "status": "completed"}
    assert first.headers["X-Hook-Secret"] == second.headers["X-Hook-Secret"] == "s3cret"
    assert (await _settled(sim))["delivered"] == 2


async def test_wrong_auth_spoils_the_header_value(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    _, api = await _start(make_sim, http, [{"endpoint": "webhook", "action": "wrong_auth"}])
    await api.transcribe(webhook_url=peer.url(), **SECRET)
    [delivery] = await peer.wait_deliveries(1)
    assert delivery.headers["X-Hook-Secret"] not in {"s3cret", ""}


async def test_delay_holds_the_delivery_back(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    sim, api = await _start(
        make_sim, http, [{"endpoint": "webhook", "action": "delay", "delay_ms": 300}]
    )
    clock = ManualClock()
    sim.state_obj.set_clock(clock)
    created = await api.create(await api.upload(), webhook_url=peer.url())
    loop = asyncio.get_running_loop()
    clock.advance(1.0)  # the job is completed from here on
    finished_at = loop.time()
    assert (await api.get(created["id"])).json["status"] == "completed"
    [delivery] = await peer.wait_deliveries(1)
    # A lower bound only (a sleep never ends early), so load cannot make it flaky.
    assert loop.time() - finished_at >= 0.29
    assert delivery.body["status"] == "completed"


async def test_early_arrives_while_the_transcript_still_reads_processing(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    sim, api = await _start(make_sim, http, [{"endpoint": "webhook", "action": "early"}])
    clock = ManualClock()
    sim.state_obj.set_clock(clock)

    async def look(delivery: Delivery) -> None:
        reply = await api.get(delivery.body["transcript_id"])
        delivery.seen_status = reply.json["status"]

    peer.on_post = look
    created = await api.create(await api.upload(), webhook_url=peer.url())
    [delivery] = await peer.wait_deliveries(1)
    # Told "completed" while a GET still says it is not: the race a receiver must handle.
    assert delivery.body == {"transcript_id": created["id"], "status": "completed"}
    assert delivery.seen_status == "queued"
    clock.advance(1.0)
    # The outcome announced is the outcome the job then has.
    assert (await api.get(created["id"])).json["status"] == "completed"


async def test_early_announces_a_doomed_job_as_error(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    _, api = await _start(make_sim, http, [{"endpoint": "webhook", "action": "early"}])
    created = await api.create(await api.upload(b"\0" * 100), webhook_url=peer.url())
    [delivery] = await peer.wait_deliveries(1)
    assert delivery.body == {"transcript_id": created["id"], "status": "error"}
    assert (await api.wait_terminal(created["id"]))["status"] == "error"


async def test_a_star_delay_does_not_hold_webhooks(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:
    sim, api = await _start(make_sim, http, [{"endpoint": "*", "action": "delay", "delay_ms": 1}])
    await api.transcribe(webhook_url=peer.url())
    await peer.wait_deliveries(1)
    await _settled(sim)
    state = sim.state()
    # One delay per API request; none for the delivery.
    assert state["faults_applied"]["delay"] == sum(state["requests"].values())


def test_webhook_faults_name_their_endpoint() -> None:
    with pytest.raises(ValidationError, match=r"does not apply to endpoint 'transcript\.get'"):
        Scenario.model_validate({"faults": [{"endpoint": "transcript.get", "action": "drop"}]})
    with pytest.raises(ValidationError, match=r"endpoint '\*' only takes HTTP actions"):
        Scenario.model_validate({"faults": [{"endpoint": "*", "action": "duplicate"}]})


async def test_early_waits_for_a_download_to_know_the_outcome(
    make_sim: SimFactory, http: aiohttp.ClientSession, peer: OutboundPeer
) -> None:

    peer.files["/page.wav"] = Hosted(b"<html>login</html>", "text/html", hold_s=0.2)
    sim, api = await _start(make_sim, http, [{"endpoint": "webhook", "action": "early"}])
    clock = ManualClock()
    sim.state_obj.set_clock(clock)
    created = await api.create(peer.url("/page.wav"), webhook_url=peer.url("/hook"))
    deliveries = await peer.wait_deliveries(1)
    # Announced early, but truthfully: the download turned up a web page.
    assert [d.body for d in deliveries] == [{"transcript_id": created["id"], "status": "error"}]
    assert (await api.get(created["id"])).json["status"] == "queued"
    clock.advance(1.0)
    assert (await api.get(created["id"])).json["status"] == "error"
