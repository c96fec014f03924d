"""Every fault in the scenario vocabulary, reached from a scenario file and from /_sim/faults."""

from __future__ import annotations

import asyncio
import importlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from pydantic import ValidationError

from monitor.simulator import Scenario, SimulatorHandle
from monitor.simulator.scenario import BaseFault
from tests.support.clocks import ManualClock
from tests.support.fixture_types import SimFactory
from tests.support.simulator import (
    CLIP_TEXT,
    FAST_JOBS,
    Api,
    clip_pcm,
    frames,
    open_stream,
    wait_for,
)

HOSTILE = "<script>alert('pwned')</script> Download error & co"


@dataclass
class Ctx:
    """What a fault check gets: the simulator and clients bound to it."""

    sim: SimulatorHandle
    http: aiohttp.ClientSession
    api: Api


Check = Callable[[Ctx], Awaitable[None]]


async def _install(
    via: str,
    faults: list[dict[str, Any]],
    extra: dict[str, Any],
    make_sim: SimFactory,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> SimulatorHandle:
    """Return a simulator running ``faults``, installed through ``via``."""
    base = {"jobs": FAST_JOBS, **extra}
    if via == "scenario":
        path = tmp_path / "scenario.yaml"
        path.write_text(yaml.safe_dump({**base, "faults": faults}))
        return await make_sim(Scenario.from_yaml_file(path))
    sim = await make_sim(base)
    async with http.post(f"{sim.base_url}/_sim/faults", json=faults) as response:
        assert response.status == 200, await response.text()
    return sim


# -- HTTP faults ---------------------------------------------------------------------


async def check_delay(ctx: Ctx) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    reply = await ctx.api.call("GET", "/v2/transcript")
    assert reply.status == 200
    assert loop.time() - start >= 0.3


async def check_hang(ctx: Ctx) -> None:
    with pytest.raises(TimeoutError):
        await ctx.api.call("POST", "/v2/upload", data=b"x" * 10, limit_s=0.3)
    assert ctx.sim.state()["uploads"]["count"] == 0
    assert ctx.sim.state()["requests"]["upload"] == 1


async def check_status_401(ctx: Ctx) -> None:
    reply = await ctx.api.call("GET", "/v2/transcript/00000000-0000-0000-0000-000000000000")
    assert (reply.status, reply.json) == (
        401,
        {"error": "Authentication error, API token missing/invalid"},
    )


async def check_status_429(ctx: Ctx) -> None:
    reply = await ctx.api.call(
        "POST",
        "/v2/transcript",
        json_body={"audio_url": "https://x.test/a", "speech_models": ["universal-2"]},
    )
    assert (reply.status, reply.json) == (429, {"error": "Too Many Requests"})
    assert reply.headers["Retry-After"] == "5"
    assert ctx.sim.state()["transcripts"]["created"] == 0


async def check_status_500(ctx: Ctx) -> None:
    reply = await ctx.api.call("POST", "/v2/upload", data=b"abc")
    assert (reply.status, reply.json) == (500, {"error": "Internal Server Error"})


async def check_status_503_empty(ctx: Ctx) -> None:
    reply = await ctx.api.call("GET", "/v2/transcript")
    assert (reply.status, reply.raw) == (503, b"")


async def check_status_503_html(ctx: Ctx) -> None:
    reply = await ctx.api.call("GET", "/v2/transcript", validate=False)
    assert reply.status == 503
    assert reply.headers["Content-Type"].startswith("text/html")
    assert reply.raw == b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"


async def check_status_504_token(ctx: Ctx) -> None:
    reply = await ctx.api.call(
        "GET", "/v3/token", query={"expires_in_seconds": "60"}, validate=False
    )
    assert (reply.status, reply.raw) == (504, b"")


async def check_status_custom(ctx: Ctx) -> None:
    reply = await ctx.api.call("DELETE", "/v2/transcript/x", validate=False)
    assert reply.status == 502
    assert reply.json == {"error": HOSTILE, "status": "error"}
    assert reply.headers["X-Upstream"] == "lb-3"


async def check_not_json(ctx: Ctx) -> None:
    reply = await ctx.api.call("GET", "/v2/transcript", validate=False)
    assert reply.status == 200
    with pytest.raises(ValueError):
        json.loads(reply.raw)


async def check_truncated(ctx: Ctx) -> None:
    body = {"audio_url": "https://x.test/a", "speech_models": ["universal-2"]}
    reply = await ctx.api.call("POST", "/v2/transcript", json_body=body, validate=False)
    assert reply.status == 200
    assert reply.raw.startswith(b'{"id": "')
    with pytest.raises(ValueError):
        json.loads(reply.raw)
    # The request went through; only the answer was mangled on the way back.
    assert ctx.sim.state()["transcripts"]["undeleted"] == 1


async def check_wrong_shape(ctx: Ctx) -> None:
    created = await ctx.api.create("https://x.test/a")
    reply = await ctx.api.call("GET", f"/v2/transcript/{created['id']}", validate=False)
    assert reply.status == 200
    assert "status" not in reply.json and isinstance(reply.json, dict)


async def check_html(ctx: Ctx) -> None:
    reply = await ctx.api.call("GET", "/v2/transcript/abc", validate=False)
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    assert reply.raw.lstrip().startswith(b"<!DOCTYPE html>")


async def check_any_endpoint(ctx: Ctx) -> None:
    for method, path, query in [
        ("POST", "/v2/upload", None),
        ("GET", "/v2/transcript", None),
        ("GET", "/v3/token", {"expires_in_seconds": "60"}),
    ]:
        reply = await ctx.api.call(
            method, path, data=b"x" if method == "POST" else None, query=query
        )
        assert reply.status == 500, path
    # Control endpoints are never faulted.
    assert ctx.sim.state()["faults_applied"] == {"status": 3}


async def check_stacked(ctx: Ctx) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    reply = await ctx.api.call("GET", "/v2/transcript")
    assert reply.status == 500
    assert loop.time() - start >= 0.2
    assert ctx.sim.state()["faults_applied"] == {"delay": 1, "status": 1}


# -- job faults ----------------------------------------------------------------------


async def _settled(ctx: Ctx, created: dict[str, Any]) -> dict[str, Any]:
    # Well past the fast job timings: a healthy job would be completed by now.
    await asyncio.sleep(0.2)
    reply = await ctx.api.get(created["id"])
    assert reply.status == 200
    return dict(reply.json)


async def check_stuck_queued(ctx: Ctx) -> None:
    created = await ctx.api.create(await ctx.api.upload())
    assert (await _settled(ctx, created))["status"] == "queued"


async def check_stuck_processing(ctx: Ctx) -> None:
    created = await ctx.api.create(await ctx.api.upload())
    assert (await _settled(ctx, created))["status"] == "processing"
    assert (await _settled(ctx, created))["status"] == "processing"


async def check_fail_job(ctx: Ctx) -> None:
    done = await ctx.api.transcribe()
    assert done["status"] == "error"
    assert done["error"] == HOSTILE
    assert done["text"] is None


async def check_wrong_text(ctx: Ctx) -> None:
    done = await ctx.api.transcribe()
    assert done["status"] == "completed"
    assert done["text"] == "The slow green turtle sleeps."
    assert [w["text"] for w in done["words"]] == ["The", "slow", "green", "turtle", "sleeps."]


async def check_fail_job_on_get(ctx: Ctx) -> None:
    healthy = await ctx.api.transcribe()  # first GET fires: that job fails
    assert healthy["status"] == "error" and healthy["error"] == "Internal server error"
    second = await ctx.api.transcribe()  # count: 1, so the next job is fine
    assert second["text"] == CLIP_TEXT


# -- deletion faults -----------------------------------------------------------------


async def check_delete_fails(ctx: Ctx) -> None:
    done = await ctx.api.transcribe()
    reply = await ctx.api.call("DELETE", f"/v2/transcript/{done['id']}")
    assert (reply.status, reply.json) == (500, {"error": "Internal Server Error"})
    assert (await ctx.api.get(done["id"])).json["text"] == CLIP_TEXT
    assert ctx.sim.state()["transcripts"]["undeleted_ids"] == [done["id"]]


async def check_ignore_delete(ctx: Ctx) -> None:
    done = await ctx.api.transcribe()
    reply = await ctx.api.call("DELETE", f"/v2/transcript/{done['id']}")
    assert reply.status == 200
    assert reply.json["text"] == "Deleted by user."
    assert reply.json["audio_url"] == "http://deleted_by_user"
    after = (await ctx.api.get(done["id"])).json
    assert after["text"] == CLIP_TEXT
    assert after["audio_url"] == done["audio_url"]
    assert ctx.sim.state()["transcripts"]["undeleted_ids"] == [done["id"]]
    assert ctx.sim.state()["faults_applied"] == {"ignore_delete": 1}


# -- streaming faults ----------------------------------------------------------------


async def check_refuse_default(ctx: Ctx) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await open_stream(ctx.http, ctx.sim)
    assert caught.value.status == 503
    assert ctx.sim.state()["streaming"]["opened"] == 0


async def check_refuse_429(ctx: Ctx) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await open_stream(ctx.http, ctx.sim)
    assert caught.value.status == 429
    assert caught.value.headers is not None and caught.value.headers["Retry-After"] == "5"


async def check_close(ctx: Ctx) -> None:
    probe = await open_stream(ctx.http, ctx.sim)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    assert await probe.drain() == []
    assert (probe.closed_code, probe.closed_reason) == (
        3005,
        "Session Cancelled: An error occurred",
    )
    await wait_for(lambda: ctx.sim.state()["streaming"]["active"] == 0)
    assert ctx.sim.state()["streaming"]["terminated"] == 1


async def check_close_error_frame(ctx: Ctx) -> None:
    probe = await open_stream(ctx.http, ctx.sim)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    assert await probe.drain() == [
        {
            "type": "Error",
            "error_code": 3009,
            "error": "Unauthorized Connection: Too many concurrent sessions",
        }
    ]
    assert probe.closed_code == 3009


async def check_no_begin(ctx: Ctx) -> None:
    probe = await open_stream(ctx.http, ctx.sim)
    with pytest.raises(TimeoutError):
        await probe.next(limit_s=0.3)
    assert not probe.ws.closed
    await probe.ws.close()
    await wait_for(lambda: ctx.sim.state()["streaming"]["active"] == 0)
    assert ctx.sim.state()["streaming"]["unterminated"] == 1


async def check_no_turn(ctx: Ctx) -> None:
    probe = await open_stream(ctx.http, ctx.sim)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    for chunk in frames(clip_pcm()):
        await probe.ws.send_bytes(chunk)
    await probe.ws.send_str('{"type": "Terminate"}')
    assert [m["type"] for m in await probe.drain()] == ["Termination"]
    assert probe.ws.close_code == 1000


async def check_first_turn_delay(ctx: Ctx) -> None:
    loop = asyncio.get_running_loop()
    probe = await open_stream(ctx.http, ctx.sim)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    sent_at = loop.time()
    sender = asyncio.create_task(probe.send_paced(frames(clip_pcm())[:10]))
    first = await probe.next()
    waited = loop.time() - sent_at
    await sender
    assert first is not None and first["type"] == "Turn"
    assert waited >= 0.3
    await probe.ws.send_str('{"type": "Terminate"}')
    assert (await probe.drain())[-1]["type"] == "Termination"


async def check_hang_terminate(ctx: Ctx) -> None:
    probe = await open_stream(ctx.http, ctx.sim)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    await probe.ws.send_str('{"type": "Terminate"}')
    with pytest.raises(TimeoutError):
        await probe.next(limit_s=0.3)
    assert not probe.ws.closed
    await probe.ws.close()
    await wait_for(lambda: ctx.sim.state()["streaming"]["active"] == 0)
    # The client did send Terminate: the session counts as terminated.
    assert ctx.sim.state()["streaming"]["terminated"] == 1
    assert ctx.sim.state()["streaming"]["unterminated"] == 0


UNPACED = {"streaming": {"strict_pacing": False}}

FAULT_CASES: list[tuple[str, list[dict[str, Any]], dict[str, Any], Check]] = [
    (
        "delay",
        [{"endpoint": "transcript.list", "action": "delay", "delay_ms": 300}],
        {},
        check_delay,
    ),
    ("hang", [{"endpoint": "upload", "action": "hang"}], {}, check_hang),
    (
        "status-401",
        [{"endpoint": "transcript.get", "action": "status", "status": 401}],
        {},
        check_status_401,
    ),
    (
        "status-429",
        [{"endpoint": "transcript.create", "action": "status", "status": 429}],
        {},
        check_status_429,
    ),
    (
        "status-500",
        [{"endpoint": "upload", "action": "status", "status": 500}],
        {},
        check_status_500,
    ),
    (
        "status-503-empty",
        [{"endpoint": "transcript.list", "action": "status", "status": 503}],
        {},
        check_status_503_empty,
    ),
    (
        "status-503-html",
        [
            {
                "endpoint": "transcript.list",
                "action": "status",
                "status": 503,
                "body": "<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
            }
        ],
        {},
        check_status_503_html,
    ),
    (
        "status-504-token",
        [{"endpoint": "token", "action": "status", "status": 504}],
        {},
        check_status_504_token,
    ),
    (
        "status-custom-body-headers",
        [
            {
                "endpoint": "transcript.delete",
                "action": "status",
                "status": 502,
                "body": {"error": HOSTILE, "status": "error"},
                "headers": {"X-Upstream": "lb-3"},
            }
        ],
        {},
        check_status_custom,
    ),
    (
        "malformed-not-json",
        [{"endpoint": "transcript.list", "action": "malformed", "body_kind": "not_json"}],
        {},
        check_not_json,
    ),
    (
        "malformed-truncated",
        [{"endpoint": "transcript.create", "action": "malformed", "body_kind": "truncated"}],
        {},
        check_truncated,
    ),
    (
        "malformed-wrong-shape",
        [{"endpoint": "transcript.get", "action": "malformed", "body_kind": "wrong_shape"}],
        {},
        check_wrong_shape,
    ),
    ("html", [{"endpoint": "transcript.get", "action": "html"}], {}, check_html),
    (
        "any-endpoint",
        [{"endpoint": "*", "action": "status", "status": 500}],
        {},
        check_any_endpoint,
    ),
    (
        "delay-then-status",
        [
            {"endpoint": "*", "action": "delay", "delay_ms": 200},
            {"endpoint": "transcript.list", "action": "status", "status": 500},
        ],
        {},
        check_stacked,
    ),
    (
        "stuck-queued",
        [{"endpoint": "transcript.create", "action": "stuck", "stage": "queued"}],
        {},
        check_stuck_queued,
    ),
    (
        "stuck-processing",
        [{"endpoint": "transcript.get", "action": "stuck", "stage": "processing"}],
        {"jobs": {"queued_ms": 0, "processing_ms": 100}},
        check_stuck_processing,
    ),
    (
        "fail-job",
        [{"endpoint": "transcript.create", "action": "fail_job", "error": HOSTILE}],
        {},
        check_fail_job,
    ),
    (
        "fail-job-on-get",
        [
            {
                "endpoint": "transcript.get",
                "action": "fail_job",
                "error": "Internal server error",
                "count": 1,
            }
        ],
        {},
        check_fail_job_on_get,
    ),
    (
        "wrong-text",
        [
            {
                "endpoint": "transcript.create",
                "action": "wrong_text",
                "text": "The slow green turtle sleeps.",
            }
        ],
        {},
        check_wrong_text,
    ),
    (
        "delete-fails",
        [{"endpoint": "transcript.delete", "action": "status", "status": 500}],
        {},
        check_delete_fails,
    ),
    (
        "ignore-delete",
        [{"endpoint": "transcript.delete", "action": "ignore_delete"}],
        {},
        check_ignore_delete,
    ),
    ("ws-refuse", [{"endpoint": "ws", "action": "refuse"}], {}, check_refuse_default),
    (
        "ws-refuse-429",
        [{"endpoint": "ws", "action": "refuse", "status": 429}],
        {},
        check_refuse_429,
    ),
    (
        "ws-close",
        [
            {
                "endpoint": "ws",
                "action": "close",
                "code": 3005,
                "reason": "Session Cancelled: An error occurred",
                "after_ms": 100,
            }
        ],
        {},
        check_close,
    ),
    (
        "ws-close-error-frame",
        [
            {
                "endpoint": "ws",
                "action": "close",
                "code": 3009,
                "reason": "Unauthorized Connection: Too many concurrent sessions",
                "error_frame": True,
            }
        ],
        {},
        check_close_error_frame,
    ),
    ("ws-no-begin", [{"endpoint": "ws", "action": "no_begin"}], {}, check_no_begin),
    ("ws-no-turn", [{"endpoint": "ws", "action": "no_turn"}], UNPACED, check_no_turn),
    (
        "ws-first-turn-delay",
        [{"endpoint": "ws", "action": "first_turn_delay", "delay_ms": 300}],
        {},
        check_first_turn_delay,
    ),
    (
        "ws-hang-terminate",
        [{"endpoint": "ws", "action": "hang_terminate"}],
        {},
        check_hang_terminate,
    ),
]


@pytest.mark.parametrize("via", ["scenario", "control"])
@pytest.mark.parametrize(
    ("faults", "extra", "check"),
    [pytest.param(f, e, c, id=name) for name, f, e, c in FAULT_CASES],
)
async def test_fault(
    faults: list[dict[str, Any]],
    extra: dict[str, Any],
    check: Check,
    via: str,
    make_sim: SimFactory,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    sim = await _install(via, faults, extra, make_sim, http, tmp_path)
    await check(Ctx(sim, http, Api(http, sim.base_url)))


def test_every_action_has_a_case() -> None:
    from monitor.simulator.scenario import DELETE_ACTIONS, HTTP_ACTIONS, JOB_ACTIONS, WS_ACTIONS

    covered = {fault["action"] for _, faults, _, _ in FAULT_CASES for fault in faults}
    assert covered == HTTP_ACTIONS | JOB_ACTIONS | DELETE_ACTIONS | WS_ACTIONS


# -- first_turn_delay from the streaming options -------------------------------------


async def test_first_turn_delay_scenario_option(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim({"streaming": {"first_turn_delay_ms": 250}})
    await check_first_turn_delay_at(sim, http, 0.25)


async def check_first_turn_delay_at(
    sim: SimulatorHandle, http: aiohttp.ClientSession, delay_s: float
) -> None:
    loop = asyncio.get_running_loop()
    probe = await open_stream(http, sim)
    assert (await probe.next())["type"] == "Begin"  # type: ignore[index]
    sent_at = loop.time()
    await probe.ws.send_bytes(frames(clip_pcm())[0])
    first = await probe.next()
    assert first is not None and first["type"] == "Turn"
    assert loop.time() - sent_at >= delay_s
    await probe.ws.close()


# -- modifiers: count, window, probability and seed -----------------------------------


async def _statuses(api: Api, n: int, pause_s: float = 0.0) -> list[int]:
    out = []
    for _ in range(n):
        out.append((await api.call("GET", "/v2/transcript")).status)
        if pause_s:
            await asyncio.sleep(pause_s)
    return out


async def test_count_limits_the_first_n_requests(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim(
        {"faults": [{"endpoint": "transcript.list", "action": "status", "status": 500, "count": 2}]}
    )
    assert await _statuses(Api(http, sim.base_url), 4) == [500, 500, 200, 200]
    assert sim.state()["faults_applied"] == {"status": 2}


async def test_time_window(make_sim: SimFactory, http: aiohttp.ClientSession) -> None:
    sim = await make_sim(
        {
            "faults": [
                {
                    "endpoint": "transcript.list",
                    "action": "status",
                    "status": 503,
                    "after_s": 10,
                    "until_s": 20,
                }
            ]
        }
    )
    clock = ManualClock()
    sim.state_obj.set_clock(clock)
    api = Api(http, sim.base_url)
    outcomes = []
    for step in (0, 9.9, 0.1, 9.8, 0.2):  # t = 0, 9.9, 10, 19.8, 20
        clock.advance(step)
        outcomes.extend(await _statuses(api, 1))
    assert outcomes == [200, 200, 503, 503, 200]


async def _pattern(make_sim: SimFactory, http: aiohttp.ClientSession, seed: int) -> list[int]:
    sim = await make_sim(
        {
            "seed": seed,
            "faults": [
                {
                    "endpoint": "transcript.list",
                    "action": "status",
                    "status": 500,
                    "probability": 0.5,
                }
            ],
        }
    )
    return await _statuses(Api(http, sim.base_url), 40)


async def test_probability_is_seeded(make_sim: SimFactory, http: aiohttp.ClientSession) -> None:
    first = await _pattern(make_sim, http, 42)
    again = await _pattern(make_sim, http, 42)
    other = await _pattern(make_sim, http, 43)
    assert first == again
    assert first != other
    assert 8 <= first.count(500) <= 32


async def test_setting_faults_restarts_the_seeded_sequence(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    fault = {"endpoint": "transcript.list", "action": "status", "status": 500, "probability": 0.5}
    sim = await make_sim({"seed": 5})
    api = Api(http, sim.base_url)
    sim.set_faults([fault])
    first = await _statuses(api, 20)
    sim.set_faults([fault])
    assert await _statuses(api, 20) == first


# -- control endpoints ------------------------------------------------------------------


async def test_control_endpoints_replace_and_clear(
    make_sim: SimFactory, http: aiohttp.ClientSession
) -> None:
    sim = await make_sim(
        {"faults": [{"endpoint": "transcript.list", "action": "status", "status": 500}]}
    )
    api = Api(http, sim.base_url)
    assert await _statuses(api, 1) == [500]
    async with http.post(
        f"{sim.base_url}/_sim/faults",
        json={"faults": [{"endpoint": "transcript.list", "action": "status", "status": 429}]},
    ) as response:
        assert response.status == 200
    assert await _statuses(api, 1) == [429]
    async with http.delete(f"{sim.base_url}/_sim/faults") as response:
        assert response.status == 200
    assert await _statuses(api, 1) == [200]
    assert sim.state()["faults_applied"] == {"status": 2}
    # Reset restores the scenario's own faults.
    async with http.post(f"{sim.base_url}/_sim/reset") as response:
        assert response.status == 200
    assert await _statuses(api, 1) == [500]
    sim.clear_faults()
    assert await _statuses(api, 1) == [200]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ([{"endpoint": "upload", "action": "explode"}], "action"),
        ([{"endpoint": "ws", "action": "status", "status": 500}], "does not apply"),
        ([{"endpoint": "upload", "action": "status"}], "needs 'status'"),
        ([{"endpoint": "upload", "action": "delay"}], "needs 'delay_ms'"),
        ([{"endpoint": "upload", "action": "hang", "colour": "red"}], "colour"),
        ([{"endpoint": "transcript.get", "action": "stuck"}], "needs 'stage'"),
        ([{"endpoint": "upload", "action": "hang", "probability": 2}], "probability"),
        ({"not": "a list"}, "expected a JSON list"),
    ],
    ids=[
        "unknown-action",
        "wrong-endpoint",
        "missing-status",
        "missing-delay",
        "unknown-key",
        "missing-stage",
        "bad-probability",
        "not-a-list",
    ],
)
async def test_bad_faults_are_rejected(
    make_sim: SimFactory, http: aiohttp.ClientSession, payload: Any, fragment: str
) -> None:
    sim = await make_sim()
    async with http.post(f"{sim.base_url}/_sim/faults", json=payload) as response:
        assert response.status == 400
        assert fragment in await response.text()


def test_scenario_file_errors_name_the_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("jobs: {queued_ms: -1}\n")
    with pytest.raises(ValueError, match=r"jobs\.queued_ms"):
        Scenario.from_yaml_file(path)


@pytest.mark.parametrize(
    ("module", "fault"),
    [
        ("monitor.simulator.scenario", {"endpoint": "transcript.create", "action": "hang"}),
        ("monitor.simulator.deepgram.scenario", {"endpoint": "listen", "action": "hang"}),
        ("monitor.simulator.openai.scenario", {"endpoint": "transcriptions", "action": "hang"}),
    ],
    ids=["assemblyai", "deepgram", "openai"],
)
def test_every_simulators_fault_shares_the_window_and_http_settings(
    module: str, fault: dict[str, Any]
) -> None:
    found = importlib.import_module(module).Fault
    assert issubclass(found, BaseFault)
    shared = list(BaseFault.model_fields)
    assert list(found.model_fields)[: len(shared)] == shared  # the shared settings come first
    assert found.model_validate({**fault, "after_s": 1, "until_s": 2}).until_s == 2
    with pytest.raises(ValidationError, match="'until_s' must be greater than 'after_s'"):
        found.model_validate({**fault, "after_s": 2, "until_s": 2})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        found.model_validate({**fault, "delay": 5})
