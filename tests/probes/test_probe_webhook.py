"""The webhook probe against the simulator and its own receiver (each fault: the fault matrix)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from monitor.models import ErrorKind, ProbeResult, Status
from monitor.providers.assemblyai import webhook
from monitor.providers.assemblyai.specs import WebhookSpec
from monitor.simulator import SimulatorHandle
from tests.support.probes import NOTHING_LEFT, context, leftovers, target_for
from tests.support.webhooks import ReceiverHandle, running_receiver

SPEC = WebhookSpec(
    timeout=3,
    degraded_after=1,
    poll_interval=0.05,
    poll_max_interval=0.1,
    duplicate_window=0.5,
)


@pytest.fixture
async def receiver() -> AsyncIterator[ReceiverHandle]:
    async with running_receiver() as handle:
        yield handle


async def probe(
    sim: SimulatorHandle, receiver: ReceiverHandle, ledger: Any, spec: WebhookSpec = SPEC
) -> ProbeResult:
    ctx = context(ledger)
    ctx.webhooks = receiver.runs
    return await webhook.run(target_for(sim), spec, ctx)


async def test_healthy_delivery_is_up_with_a_delivery_delay(
    sim: SimulatorHandle, receiver: ReceiverHandle, ledger: Any
) -> None:
    result = await probe(sim, receiver, ledger)
    assert result.status is Status.UP, result.message
    assert list(result.phases) == ["upload", "submit", "completed", "delivery", "delete", "confirm"]
    d = result.details
    assert d["delivery_s"] == pytest.approx(result.phases["delivery"], abs=1e-6)
    assert 0 <= d["delivery_s"] <= SPEC.degraded_after
    assert d["webhook_calls"] == 1
    assert result.phases["completed"] > 0
    # The simulator was answered 200, and nothing is left anywhere.
    assert sim.state()["webhooks"]["delivered"] == 1
    assert await ledger.pending() == []
    assert leftovers(sim) == NOTHING_LEFT
    assert receiver.runs.live == 0
    assert sum(receiver.runs.refused.values()) == 0


async def test_a_late_webhook_is_degraded_with_its_delay(
    sim: SimulatorHandle, receiver: ReceiverHandle, ledger: Any
) -> None:
    sim.set_faults([{"endpoint": "webhook", "action": "delay", "delay_ms": 1500}])
    result = await probe(sim, receiver, ledger)
    assert result.status is Status.DEGRADED, result.message
    assert result.error_kind is None
    # The polls bound the job's end: the injected delay lies between the two figures,
    # which are at most a poll interval (and the time a GET takes) apart.
    d = result.details
    assert d["delivery_s"] <= 1.5 + 0.1 and d["delivery_max_s"] >= 1.5
    assert d["delivery_max_s"] - d["delivery_s"] <= SPEC.poll_max_interval + 0.2
    assert "degraded above 1 s" in result.message
    assert leftovers(sim) == NOTHING_LEFT


async def test_an_early_webhook_names_the_status_it_saw(
    sim: SimulatorHandle, receiver: ReceiverHandle, ledger: Any
) -> None:
    sim.set_faults([{"endpoint": "webhook", "action": "early"}])
    result = await probe(sim, receiver, ledger)
    assert result.error_kind is ErrorKind.WEBHOOK_EARLY
    assert result.details["status_at_delivery"] in ("queued", "processing")
    assert "still read" in result.message


async def test_a_duplicate_after_the_window_is_refused_as_ended_not_reported(
    sim: SimulatorHandle, receiver: ReceiverHandle, ledger: Any, http: aiohttp.ClientSession
) -> None:
    result = await probe(sim, receiver, ledger)
    assert result.status is Status.UP, result.message
    # The run's URL, replayed after the run: refused and counted, the result stays as it is.
    (token,) = receiver.runs.ended_tokens()
    async with http.post(f"{receiver.base_url}/webhooks/{token}", json={}) as resp:
        assert resp.status == 404
    assert receiver.runs.refused["ended_run"] == 1
