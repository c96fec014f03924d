"""The webhook receiver: mounted on run's server; a forged call changes nothing but a counter."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor.app import build_app
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.providers.assemblyai import webhook
from monitor.providers.assemblyai.specs import WebhookSpec
from monitor.server import RUNTIME
from monitor.simulator import SimulatorHandle
from monitor.webhook_receiver import MAX_BODY_BYTES, RUNS
from monitor.webhook_runs import ENDED_KEPT, HEADER, REFUSALS, LiveRuns
from tests.support.configs import config_doc, parsed, sim_target
from tests.support.fixture_types import SimFactory
from tests.support.polling import eventually
from tests.support.probes import KEY, NOTHING_LEFT, MemoryLedger, context, leftovers, target_for
from tests.support.webhooks import ReceiverHandle, running_receiver

# Slow enough jobs that the forged calls all land while the run waits.
SPEC = WebhookSpec(
    timeout=6, degraded_after=2, poll_interval=0.05, poll_max_interval=0.1, duplicate_window=0.3
)


@pytest.fixture
async def receiver() -> AsyncIterator[ReceiverHandle]:
    async with running_receiver() as handle:
        yield handle


async def post(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> int | None:
    """Return the status the receiver answered `url` with (None if it cut the upload off)."""
    try:
        async with http.post(url, **kwargs) as resp:
            await resp.read()
            return resp.status
    except (aiohttp.ClientError, OSError):
        return None  # refused mid-upload: the connection was closed on the sender


async def run_with(
    sim: SimulatorHandle,
    receiver: ReceiverHandle,
    forge: Any,
    spec: WebhookSpec = SPEC,
) -> ProbeResult:
    """Return the probe's result with `forge(token, secret)` sent while the run waits."""
    ctx = context(MemoryLedger())
    ctx.webhooks = receiver.runs
    task = asyncio.create_task(webhook.run(target_for(sim), spec, ctx))

    async def waiting() -> bool:
        return receiver.runs.live == 1

    await eventually(waiting, "the run waiting for its webhook", 5.0, every=0.01)
    (token,) = receiver.runs.tokens()
    inbox = receiver.runs.get(token)
    assert inbox is not None
    await forge(token, inbox.secret)
    return await task


async def test_the_receiver_is_mounted_on_runs_server_and_the_probe_is_up_through_it(
    aiohttp_client: Any, tmp_path: Path, start_sim: Any
) -> None:
    sim = await start_sim({"jobs": {"queued_ms": 100, "processing_ms": 200}})
    probes = {
        "webhook": {
            "interval": "60s",
            "timeout": "5s",
            "degraded_after": "2s",
            "poll_interval": "50ms",
            "poll_max_interval": "100ms",
            "duplicate_window": "300ms",
        }
    }
    doc = config_doc(
        tmp_path,
        [sim_target(sim, probes=probes)],
        webhook_base_url="https://placeholder.invalid",
    )
    client = await aiohttp_client(build_app(parsed(doc), render_min_interval=0.1))
    assert client.app is not None
    # The test server's port is known only now; in production it is the configured URL.
    client.app[RUNS].base_url = str(client.make_url("")).rstrip("/")
    store = client.app[RUNTIME].store

    async def stored() -> list[Any]:
        return await store.results(probe="webhook")

    await eventually(stored, "a stored webhook result", 10.0, every=0.05)
    (result,) = await stored()
    assert result.status is Status.UP, result.message
    assert "delivery" in result.phases
    metrics = await (await client.get("/metrics")).text()
    (delivery,) = [
        line
        for line in metrics.splitlines()
        if line.startswith("sttwatch_probe_phase_seconds{") and 'phase="delivery"' in line
    ]
    assert 'probe="webhook"' in delivery and 'target="sim"' in delivery
    for reason in REFUSALS:
        assert f'sttwatch_webhook_refused_total{{reason="{reason}"}} 0.0' in metrics
    resp = await client.post("/webhooks/nobody", json={"transcript_id": "x", "status": "completed"})
    assert resp.status == 404
    metrics = await (await client.get("/metrics")).text()
    assert 'sttwatch_webhook_refused_total{reason="unknown_run"} 1.0' in metrics


async def healthy_result(sim: SimulatorHandle, receiver: ReceiverHandle) -> ProbeResult:
    async def nothing(token: str, secret: str) -> None:
        del token, secret

    return await run_with(sim, receiver, nothing)


def shape(result: ProbeResult) -> tuple[Any, ...]:
    """Return what a forged call must not change: status, kind, phases, detail keys and counts."""
    d = result.details
    return (result.status, result.error_kind, list(result.phases), sorted(d), d["webhook_calls"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("no_secret", {"no_secret": 1}),
        ("wrong_secret", {"wrong_secret": 1}),
        ("foreign_transcript", {"wrong_secret": 1, "unknown_run": 1}),
        ("too_large_declared", {"too_large": 1}),
        ("too_large_with_secret", {"too_large": 1}),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
async def test_a_forged_call_changes_no_result_and_is_only_counted(
    sim: SimulatorHandle,
    receiver: ReceiverHandle,
    http: aiohttp.ClientSession,
    name: str,
    expected: dict[str, int],
) -> None:
    clean = await healthy_result(sim, receiver)
    base = receiver.base_url
    foreign = {"transcript_id": "00000000-0000-0000-0000-000000000000", "status": "completed"}
    answers: list[int | None] = []
    used: list[str] = []

    async def forge(token: str, secret: str) -> None:
        used.extend((token, secret))
        url = f"{base}/webhooks/{token}"
        if name == "no_secret":
            answers.append(await post(http, url, json=foreign))
        elif name == "wrong_secret":
            answers.append(await post(http, url, json=foreign, headers={HEADER: "guess"}))
        elif name == "foreign_transcript":
            answers.append(await post(http, url, json=foreign, headers={HEADER: secret[:-1]}))
            answers.append(await post(http, f"{base}/webhooks/{token[:-2]}xx", json=foreign))
        elif name == "too_large_declared":
            answers.append(await post(http, url, data=b"x" * 10_000_000))
        else:
            # With the secret, sent chunked (no length declared): cut off at the limit.
            async def chunks() -> AsyncIterator[bytes]:
                for _ in range(10 * 16):
                    yield b"{" * 65536

            answers.append(await post(http, url, data=chunks(), headers={HEADER: secret}))

    result = await run_with(sim, receiver, forge)
    assert result.status is Status.UP, result.message
    assert shape(result) == shape(clean)
    # Neither the run's token nor its secret is in what is stored and shown.
    shown = json.dumps(result.to_json())
    assert all(value not in shown for value in used)
    assert all(a in (401, 404, 413, None) for a in answers), answers
    assert dict(receiver.runs.refused) == expected
    assert leftovers(sim) == NOTHING_LEFT
    assert receiver.runs.live == 0


async def test_a_thousand_calls_in_a_second_change_nothing_and_keep_nothing(
    make_sim: SimFactory, receiver: ReceiverHandle
) -> None:
    # A job long enough that the whole flood lands while the run waits.
    sim = await make_sim(jobs={"queued_ms": 100, "processing_ms": 2500})
    clean = await healthy_result(sim, receiver)
    kept: list[int] = []

    async def flood(token: str, secret: str) -> None:
        del secret
        inbox = receiver.runs.get(token)
        assert inbox is not None
        base = receiver.base_url
        urls = [
            f"{base}/webhooks/{token}",  # the live run, no secret
            f"{base}/webhooks/guessed-{token[:8]}",  # no such run
        ]
        body = {"transcript_id": "forged", "status": "completed"}
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as http:
            answers = await asyncio.gather(
                *(post(http, urls[i % 2], json=body) for i in range(1000))
            )
        assert set(answers) <= {401, 404, None}
        assert receiver.runs.live == 1, "the flood outlasted the run"
        kept.append(len(inbox.calls))

    result = await run_with(sim, receiver, flood)
    assert result.status is Status.UP, result.message
    assert shape(result) == shape(clean)
    assert kept == [0], "a forged call was handed to the run"
    refused = receiver.runs.refused
    assert set(refused) <= set(REFUSALS)
    assert refused["no_secret"] + refused["unknown_run"] == 1000
    # What the registry holds is bounded whatever arrives: the ended runs' tokens.
    assert receiver.runs.live == 0
    assert len(receiver.runs.ended_tokens()) <= ENDED_KEPT


async def test_authenticated_calls_beyond_the_runs_bucket_are_rate_limited(
    sim: SimulatorHandle, receiver: ReceiverHandle, http: aiohttp.ClientSession
) -> None:
    answers: list[int | None] = []

    async def burst(token: str, secret: str) -> None:
        url = f"{receiver.base_url}/webhooks/{token}"
        body = {"transcript_id": "not-this-job", "status": "completed"}
        for _ in range(10):
            answers.append(await post(http, url, json=body, headers={HEADER: secret}))

    result = await run_with(sim, receiver, burst)
    # The real call came after the burst used the bucket up: refused, so the run saw no good
    # call, only the burst's wrong id: what an API flooding its own webhook looks like.
    assert answers.count(200) == 4 and answers.count(429) == 6, answers
    assert receiver.runs.refused["rate_limited"] >= 6
    assert result.status is Status.DOWN


@pytest.mark.parametrize(
    "status",
    [["completed"], {"completed": True}, 1],
    ids=["list", "object", "number"],
)
async def test_a_call_with_the_secret_and_a_status_that_is_no_string_is_set_aside(
    sim: SimulatorHandle, receiver: ReceiverHandle, http: aiohttp.ClientSession, status: Any
) -> None:
    # What a broken API might send: this job's id, but a status of another JSON type.
    async def odd_status(token: str, secret: str) -> None:
        def submitted() -> bool:
            return bool(sim.state()["transcripts"]["undeleted_ids"])

        await eventually(submitted, "the run's transcript", 5.0, every=0.01)
        (transcript_id,) = sim.state()["transcripts"]["undeleted_ids"]
        body = {"transcript_id": transcript_id, "status": status}
        url = f"{receiver.base_url}/webhooks/{token}"
        assert await post(http, url, json=body, headers={HEADER: secret}) == 200

    result = await run_with(sim, receiver, odd_status)
    # Set aside like any call that does not announce the job; the real call then decides.
    assert result.status is Status.UP, result.message
    assert result.details["webhook_calls"] == 2
    assert leftovers(sim) == NOTHING_LEFT


async def test_a_duplicate_after_the_deletion_within_the_window_is_the_runs(
    sim: SimulatorHandle, receiver: ReceiverHandle, http: aiohttp.ClientSession
) -> None:
    spec = SPEC.model_copy(update={"duplicate_window": 1.0})
    answers: list[int | None] = []

    async def late_duplicate(token: str, secret: str) -> None:
        inbox = receiver.runs.get(token)
        assert inbox is not None

        def delivered_and_deleted() -> bool:
            return bool(inbox.calls) and not sim.state()["transcripts"]["undeleted_ids"]

        await eventually(delivered_and_deleted, "the call and the deletion", 5.0, every=0.01)
        # The deletion is over but the window is not: the run still waits for this one.
        await asyncio.sleep(0.3)
        url = f"{receiver.base_url}/webhooks/{token}"
        answers.append(await post(http, url, json=inbox.calls[0].body, headers={HEADER: secret}))

    result = await run_with(sim, receiver, late_duplicate, spec)
    assert answers == [200]
    assert result.error_kind is ErrorKind.WEBHOOK_DUPLICATE, result.message
    assert result.details["duplicates"] == 1


async def test_a_call_announcing_error_for_a_job_that_completed_is_malformed(
    sim: SimulatorHandle, receiver: ReceiverHandle, http: aiohttp.ClientSession
) -> None:
    # The real call is held back, so the first call with the secret is the wrong one.
    sim.set_faults([{"endpoint": "webhook", "action": "delay", "delay_ms": 1500}])

    async def wrong_status(token: str, secret: str) -> None:
        def submitted() -> bool:
            return bool(sim.state()["transcripts"]["undeleted_ids"])

        await eventually(submitted, "the run's transcript", 5.0, every=0.01)
        (transcript_id,) = sim.state()["transcripts"]["undeleted_ids"]

        async def completed() -> bool:
            url = f"{sim.base_url}/v2/transcript/{transcript_id}"
            async with http.get(url, headers={"Authorization": KEY}) as resp:
                return bool((await resp.json())["status"] == "completed")

        await eventually(completed, "the job's end", 5.0, every=0.02)
        body = {"transcript_id": transcript_id, "status": "error"}
        url = f"{receiver.base_url}/webhooks/{token}"
        assert await post(http, url, json=body, headers={HEADER: secret}) == 200

    result = await run_with(sim, receiver, wrong_status)
    assert result.error_kind is ErrorKind.WEBHOOK_MALFORMED, result.message
    assert "announced 'error' but the transcript reads 'completed'" in result.message
    assert leftovers(sim) == NOTHING_LEFT


def test_each_run_gets_its_own_token_and_secret() -> None:
    runs = LiveRuns("https://status.example.com")
    seen: list[tuple[str, str, str]] = []
    for _ in range(2):
        with runs.open(lambda: 0.0) as inbox:
            seen.append((inbox.token, inbox.secret, inbox.url))
    (token_a, secret_a, url_a), (token_b, secret_b, url_b) = seen
    assert url_b.endswith(token_b)
    assert token_a != token_b and secret_a != secret_b
    assert url_a == f"https://status.example.com/webhooks/{token_a}"
    assert min(len(token_a), len(secret_a)) >= 32  # unguessable: at least 24 random bytes


@pytest.mark.parametrize(
    ("path", "body"),
    [("/webhooks/nobody", b"{}"), ("/webhooks/nobody", b"x" * (MAX_BODY_BYTES + 1))],
    ids=["unknown-run", "too-large"],
)
async def test_a_refusal_closes_the_connection_so_no_body_is_drained(
    receiver: ReceiverHandle, http: aiohttp.ClientSession, path: str, body: bytes
) -> None:
    async with http.post(receiver.base_url + path, data=body) as resp:
        assert resp.status in (404, 413)
        assert resp.headers.get("Connection", "").lower() == "close"


def test_the_body_limit_is_small() -> None:
    # A webhook body is tens of bytes; the limit leaves room without buffering megabytes.
    assert 1024 <= MAX_BODY_BYTES <= 64 * 1024
