"""The reachability probe against the simulator and against broken networks."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from monitor.config import Target
from monitor.models import ErrorKind, Status
from monitor.providers.assemblyai import reachability
from monitor.providers.assemblyai.specs import ReachabilitySpec
from monitor.simulator import SimulatorHandle
from tests.support.fixture_types import SimFactory
from tests.support.probes import KEY, MemoryLedger, context, self_signed_cert, target_for

SPEC = ReachabilitySpec(timeout=2, degraded_after=1)
PHASES = {"dns", "connect", "ttfb", "transfer", "total"}
GRACE = 1.0


def target_at(api_base: str, key: str = KEY) -> Target:
    return Target(name="net", api_base=api_base, api_key=SecretStr(key))


async def test_healthy_api_is_up_with_every_phase(sim: SimulatorHandle) -> None:
    result = await reachability.run(target_for(sim), SPEC, context(MemoryLedger()))
    assert result.status is Status.UP, result.message
    assert result.error_kind is None
    assert set(result.phases) == PHASES
    assert all(v >= 0 for v in result.phases.values())
    assert result.phases["total"] >= result.phases["ttfb"]
    assert result.details["http_status"] == 200
    assert (result.target, result.probe) == ("sim", "reachability")
    assert "answered" in result.message


async def test_each_run_opens_a_new_connection(sim: SimulatorHandle) -> None:
    ctx = context(MemoryLedger())
    first = await reachability.run(target_for(sim), SPEC, ctx)
    second = await reachability.run(target_for(sim), SPEC, ctx)
    # A reused keep-alive connection would show no connection set-up at all.
    assert "connect" in first.phases and "connect" in second.phases


async def test_host_name_is_resolved_and_timed(sim: SimulatorHandle) -> None:
    target = target_at(f"http://localhost:{sim.port}")
    result = await reachability.run(target, SPEC, context(MemoryLedger()))
    assert result.status is Status.UP, result.message
    assert result.phases["dns"] > 0


async def test_wrong_key_says_reachable_but_rejected(sim: SimulatorHandle) -> None:
    target = target_for(sim, key="not-the-key")
    result = await reachability.run(target, SPEC, context(MemoryLedger()))
    assert (result.status, result.error_kind) == (Status.DOWN, ErrorKind.AUTH)
    assert result.message == "API reachable, credentials rejected (HTTP 401)"
    assert result.details["http_status"] == 401
    assert "not-the-key" not in str(result.to_json())


async def test_rate_limit_records_retry_after(sim: SimulatorHandle) -> None:
    sim.set_faults(
        [
            {
                "endpoint": "transcript.list",
                "action": "status",
                "status": 429,
                "headers": {"Retry-After": "17"},
            }
        ]
    )
    result = await reachability.run(target_for(sim), SPEC, context(MemoryLedger()))
    assert result.error_kind is ErrorKind.RATE_LIMITED
    assert result.details["retry_after"] == 17
    assert "17" in result.message


async def test_slow_answer_is_degraded(sim: SimulatorHandle) -> None:
    sim.set_faults([{"endpoint": "transcript.list", "action": "delay", "delay_ms": 250}])
    spec = ReachabilitySpec(timeout=2, degraded_after=0.2)
    result = await reachability.run(target_for(sim), spec, context(MemoryLedger()))
    assert result.status is Status.DEGRADED, result.message
    assert result.phases["ttfb"] >= 0.25
    assert "slow" in result.message


async def test_oversized_body_is_not_read_whole(sim: SimulatorHandle) -> None:
    big = "x" * 3_000_000
    sim.set_faults(
        [{"endpoint": "transcript.list", "action": "status", "status": 200, "body": big}]
    )
    spec = ReachabilitySpec(timeout=5, degraded_after=2, max_body_bytes=65536)
    result = await reachability.run(target_for(sim), spec, context(MemoryLedger()))
    assert result.error_kind is ErrorKind.BAD_RESPONSE
    assert "larger than 65536 bytes" in result.message
    assert "body_bytes" not in result.details


async def test_unresolvable_host_is_dns() -> None:
    result = await reachability.run(
        target_at("http://no-such-host.invalid"), SPEC, context(MemoryLedger())
    )
    assert (result.status, result.error_kind) == (Status.DOWN, ErrorKind.DNS)
    # Once, not "did not resolve while resolving the host name".
    assert result.message == "The host name no-such-host.invalid did not resolve"


async def test_refused_port_is_connect() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = await reachability.run(
        target_at(f"http://127.0.0.1:{port}"), SPEC, context(MemoryLedger())
    )
    assert result.error_kind is ErrorKind.CONNECT
    assert str(port) in result.message


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*self_signed_cert(tmp_path))
    return ctx


async def _serve(app: web.Application, ssl_context: ssl.SSLContext | None = None) -> Any:
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context)
    await site.start()
    return runner, runner.addresses[0][1]


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[int]:
    async def listing(_request: web.Request) -> web.Response:
        return web.json_response({"page_details": {}, "transcripts": []})

    app = web.Application()
    app.router.add_get("/v2/transcript", listing)
    runner, port = await _serve(app, _self_signed(tmp_path))
    yield port
    await runner.cleanup()


async def test_untrusted_certificate_is_tls(tls_server: int) -> None:
    result = await reachability.run(
        target_at(f"https://127.0.0.1:{tls_server}"), SPEC, context(MemoryLedger())
    )
    assert (result.status, result.error_kind) == (Status.DOWN, ErrorKind.TLS)
    assert "certificate" in result.message.lower()


@pytest.fixture
async def drip_server() -> AsyncIterator[int]:
    async def drip(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"page_details": {')
        while True:  # one byte every 50 ms, forever
            await asyncio.sleep(0.05)
            await resp.write(b" ")

    app = web.Application()
    app.router.add_get("/v2/transcript", drip)
    runner, port = await _serve(app)
    yield port
    await runner.cleanup()


async def test_slow_drip_body_times_out_within_the_timeout(drip_server: int) -> None:
    spec = ReachabilitySpec(timeout=1, degraded_after=0.5)
    result = await reachability.run(
        target_at(f"http://127.0.0.1:{drip_server}"), spec, context(MemoryLedger())
    )
    assert result.error_kind is ErrorKind.TIMEOUT
    assert "reading the response body" in result.message
    assert result.duration_s < spec.timeout + GRACE


async def test_hanging_server_times_out_within_the_timeout(make_sim: SimFactory) -> None:
    handle = await make_sim(faults=[{"endpoint": "transcript.list", "action": "hang"}])
    spec = ReachabilitySpec(timeout=1, degraded_after=0.5)
    result = await reachability.run(target_for(handle), spec, context(MemoryLedger()))
    assert result.error_kind is ErrorKind.TIMEOUT
    assert "waiting for the response headers" in result.message
    assert result.duration_s < spec.timeout + GRACE
