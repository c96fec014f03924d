"""The Deepgram fault matrix: every simulator fault → the (probe, status, error_kind) a user sees.

Each case starts a fresh Deepgram simulator with one scripted fault, runs the
probe it affects once with short timeouts, checks the classification, and
then that the probe left no stream open or dropped without ``CloseStream``
(Deepgram keeps no transcript, so streams are all a probe could leave
behind). docs/probes.md has this table in prose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from monitor.models import ErrorKind, ProbeContext, ProbeResult, Status, SystemClock
from monitor.probes.registry import implementation
from monitor.providers.deepgram.specs import ReachabilitySpec, StreamingSpec, TranscriptionSpec
from monitor.simulator.deepgram import SimulatorHandle
from monitor.simulator.deepgram.scenario import ALL_ACTIONS, CALLBACK_ACTIONS
from tests.support.clocks import BurstClock
from tests.support.deepgram import dg_target
from tests.support.polling import eventually
from tests.support.probes import MemoryLedger

DOWN, UP, DEGRADED = Status.DOWN, Status.UP, Status.DEGRADED
K = ErrorKind
R, T, S = "reachability", "transcription", "streaming"
SPECS: dict[str, Any] = {
    R: ReachabilitySpec(timeout=1.5, degraded_after=0.3),
    # degraded_after well above a busy machine's turnaround, so the "up" rows stay up.
    T: TranscriptionSpec(timeout=4, degraded_after=2, request_log_wait=0.5),
    S: StreamingSpec(timeout=4, degraded_after=2, finalize_wait=0.5),
}
NET0000 = "Deepgram did not provide a response message within the timeout window. See https://dpgr.am/net0000"
NET0001 = "Deepgram did not receive audio data or a text message within the timeout window. See https://dpgr.am/net0001"


@dataclass(frozen=True)
class Case:
    """One scripted fault and what the probe must report for it."""

    id: str
    probe: str
    faults: list[dict[str, Any]]
    status: Status
    kind: ErrorKind | None
    spec: dict[str, Any] = field(default_factory=dict)
    burst: bool = False  # audio in one burst: for failures that do not depend on timing
    details: dict[str, Any] = field(default_factory=dict)


def f(endpoint: str, action: str, **params: Any) -> dict[str, Any]:
    return {"endpoint": endpoint, "action": action, **params}


def close(code: int, reason: str = "", **params: Any) -> dict[str, Any]:
    return f("ws", "close", code=code, reason=reason, **params)


CASES = [
    # -- reachability: GET /v1/projects ---------------------------------------------------
    Case("reachability-401", R, [f("projects", "status", status=401)], DOWN, K.AUTH,
         details={"api_error": "Invalid credentials."}),
    Case("reachability-403", R, [f("projects", "status", status=403)], DOWN, K.AUTH),
    Case("reachability-402", R, [f("projects", "status", status=402)], DOWN, K.AUTH),
    Case("reachability-429", R, [f("projects", "status", status=429)], DOWN, K.RATE_LIMITED),
    Case("reachability-429-retry-after", R,
         [f("projects", "status", status=429, headers={"Retry-After": "5"})], DOWN,
         K.RATE_LIMITED, details={"retry_after": 5}),
    Case("reachability-500", R, [f("projects", "status", status=500)], DOWN, K.SERVER_ERROR),
    Case("reachability-503", R, [f("projects", "status", status=503)], DOWN, K.SERVER_ERROR,
         details={"api_error": "Please try again later"}),
    Case("reachability-every-endpoint-502", R, [f("*", "status", status=502)], DOWN,
         K.SERVER_ERROR),
    Case("reachability-404", R, [f("projects", "status", status=404)], DOWN, K.BAD_RESPONSE),
    Case("reachability-html-portal", R, [f("projects", "html")], DOWN, K.BAD_RESPONSE),
    Case("reachability-not-json", R, [f("projects", "malformed", body_kind="not_json")], DOWN,
         K.BAD_RESPONSE),
    Case("reachability-truncated", R, [f("projects", "malformed", body_kind="truncated")], DOWN,
         K.BAD_RESPONSE),
    Case("reachability-wrong-shape", R, [f("projects", "malformed", body_kind="wrong_shape")],
         DOWN, K.BAD_RESPONSE),
    Case("reachability-hang", R, [f("projects", "hang")], DOWN, K.TIMEOUT),
    Case("reachability-slow", R, [f("projects", "delay", delay_ms=400)], DEGRADED, None),
    # -- transcription: POST /v1/listen, then the request log ----------------------------
    Case("transcription-400", T, [f("listen", "status", status=400)], DOWN, K.BAD_RESPONSE),
    Case("transcription-401", T, [f("listen", "status", status=401)], DOWN, K.AUTH),
    Case("transcription-402", T, [f("listen", "status", status=402)], DOWN, K.AUTH),
    Case("transcription-403-model", T, [f("listen", "status", status=403)], DOWN, K.AUTH,
         details={"api_error": "Project does not have access to the requested model."}),
    Case("transcription-429", T, [f("listen", "status", status=429)], DOWN, K.RATE_LIMITED),
    Case("transcription-500", T, [f("listen", "status", status=500)], DOWN, K.SERVER_ERROR),
    Case("transcription-504-empty", T, [f("listen", "status", status=504)], DOWN,
         K.SERVER_ERROR),
    Case("transcription-html-portal", T, [f("listen", "html")], DOWN, K.BAD_RESPONSE),
    Case("transcription-not-json", T, [f("listen", "malformed", body_kind="not_json")], DOWN,
         K.BAD_RESPONSE),
    Case("transcription-truncated", T, [f("listen", "malformed", body_kind="truncated")], DOWN,
         K.BAD_RESPONSE),
    Case("transcription-wrong-shape", T, [f("listen", "malformed", body_kind="wrong_shape")],
         DOWN, K.BAD_RESPONSE),
    Case("transcription-hang", T, [f("listen", "hang")], DOWN, K.TIMEOUT),
    Case("transcription-slow-processing", T, [f("listen", "delay", delay_ms=2200)], DEGRADED,
         None),
    Case("transcription-wrong-text", T,
         [f("listen", "wrong_text", text="A completely different sentence.")], DOWN,
         K.INACCURATE),
    Case("transcription-empty-transcript", T, [f("listen", "wrong_text", text="")], DOWN,
         K.INACCURATE),
    # The opt-out cannot be read back: noted in the details, not a failure of the probe.
    Case("transcription-request-log-500", T, [f("requests", "status", status=500)], UP, None,
         details={"mip_opt_out": "requested; request log unreadable (HTTP 500)"}),
    Case("transcription-request-log-hang", T, [f("requests", "hang")], UP, None,
         details={"mip_opt_out": "requested; not in the request log within 0.5 s"}),
    Case("transcription-request-log-403", T, [f("requests", "status", status=403)], UP, None,
         details={"mip_opt_out": "requested; request log unreadable (HTTP 403)"}),
    # -- streaming: upgrade, audio, Results, Finalize, CloseStream, Metadata -------------
    Case("streaming-refuse-401", S, [f("ws", "refuse", status=401)], DOWN, K.AUTH,
         details={"api_error": "Invalid credentials."}),
    Case("streaming-refuse-402", S, [f("ws", "refuse", status=402)], DOWN, K.AUTH),
    Case("streaming-refuse-403", S, [f("ws", "refuse", status=403)], DOWN, K.AUTH),
    Case("streaming-refuse-429", S, [f("ws", "refuse", status=429)], DOWN, K.RATE_LIMITED),
    Case("streaming-refuse-400", S, [f("ws", "refuse", status=400)], DOWN, K.BAD_RESPONSE),
    Case("streaming-refuse-405", S, [f("ws", "refuse", status=405)], DOWN, K.BAD_RESPONSE),
    Case("streaming-refuse-503", S, [f("ws", "refuse", status=503)], DOWN, K.SERVER_ERROR),
    Case("streaming-1011-net0000", S, [close(1011, NET0000)], DOWN, K.SERVER_ERROR,
         burst=True),
    Case("streaming-1011-net0000-code", S, [close(1011, "NET-0000")], DOWN, K.SERVER_ERROR,
         burst=True),
    Case("streaming-1011-net0001", S, [close(1011, NET0001)], DOWN, K.STREAM_CLOSED,
         burst=True),
    Case("streaming-1011-net0001-code", S, [close(1011, "NET-0001")], DOWN, K.STREAM_CLOSED,
         burst=True),
    Case("streaming-1011-error-frame", S, [close(1011, "NET-0000", error_frame=True)], DOWN,
         K.SERVER_ERROR, burst=True, details={"error": "NET-0000"}),
    Case("streaming-1008-data0000", S, [close(1008, "DATA-0000")], DOWN, K.BAD_RESPONSE,
         burst=True),
    Case("streaming-1002-data0000", S, [close(1002, "DATA-0000")], DOWN, K.BAD_RESPONSE,
         burst=True),
    Case("streaming-1013-try-later", S, [close(1013, "Try Again Later")], DOWN,
         K.SERVER_ERROR, burst=True),
    Case("streaming-close-1000-early", S, [close(1000)], DOWN, K.STREAM_CLOSED, burst=True),
    Case("streaming-close-4000-unknown", S, [close(4000, "something else")], DOWN,
         K.STREAM_CLOSED, burst=True),
    Case("streaming-close-mid-stream", S, [close(1011, NET0000, after_ms=800)], DOWN,
         K.SERVER_ERROR),
    Case("streaming-no-results", S, [f("ws", "no_results")], DOWN, K.STREAM_NO_TRANSCRIPT,
         burst=True),
    Case("streaming-no-metadata", S, [f("ws", "no_metadata")], DOWN, K.STREAM_CLOSED,
         burst=True),
    Case("streaming-hang-close", S, [f("ws", "hang_close")], DOWN, K.TIMEOUT, burst=True,
         spec={"timeout": 1.5}),
    Case("streaming-wrong-text", S, [f("ws", "wrong_text", text="completely other words")],
         DOWN, K.INACCURATE, burst=True),
    Case("streaming-first-result-late", S, [f("ws", "first_result_delay", delay_ms=1200)],
         DEGRADED, None, spec={"degraded_after": 1.0}),
    Case("streaming-first-result-after-timeout", S,
         [f("ws", "first_result_delay", delay_ms=5000)], DOWN, K.STREAM_NO_TRANSCRIPT,
         burst=True, spec={"timeout": 1.5}),
]  # fmt: skip


async def _nothing_left(handle: SimulatorHandle) -> dict[str, int]:
    """Return the streams left open or dropped, once every socket the probe used has closed."""
    await eventually(lambda: handle.state()["streaming"]["active"] == 0, "streams to close", 3)
    streaming = handle.state()["streaming"]
    return {"dropped": streaming["dropped"], "active": streaming["active"]}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_fault(case: Case, make_dg: Any) -> None:
    handle = await make_dg(faults=case.faults)
    spec = SPECS[case.probe].model_copy(update=case.spec)
    ctx = ProbeContext(
        session_factory=aiohttp.ClientSession,
        clock=BurstClock() if case.burst else SystemClock(),
        ledger=MemoryLedger(),
    )
    run = implementation("deepgram", case.probe)
    result: ProbeResult = await run(dg_target(handle), spec, ctx)

    assert (result.probe, result.status, result.error_kind) == (
        case.probe,
        case.status,
        case.kind,
    ), result.message
    assert {k: result.details.get(k) for k in case.details} == case.details
    assert result.message and "sim-key" not in str(result.to_json())
    # Within its timeout plus the close grace (and the clip's 2.2 s a burst clock skips).
    assert result.duration_s < spec.timeout + 4
    assert handle.state()["faults_applied"], "the fault never fired"
    assert await _nothing_left(handle) == {"dropped": 0, "active": 0}


def test_every_simulator_fault_action_is_in_the_matrix() -> None:
    used = {fault["action"] for case in CASES for fault in case.faults}
    # No probe asks for callbacks, so the callback-only actions have no row.
    assert used == ALL_ACTIONS - CALLBACK_ACTIONS


def test_every_error_kind_of_the_kinds_is_in_the_matrix() -> None:
    from monitor.providers.deepgram import PROVIDER

    possible = set().union(*(kind.error_kinds for kind in PROVIDER.probes))
    network_only = {K.DNS, K.CONNECT, K.TLS, K.INTERNAL}  # test_probes.py and the scheduler
    assert {c.kind for c in CASES} - {None} == possible - network_only
