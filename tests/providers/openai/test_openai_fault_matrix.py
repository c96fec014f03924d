"""The OpenAI-compatible fault matrix: every simulator fault → the (probe, status, error_kind).

Each case starts a fresh OpenAI-compatible simulator of one flavour with one
scripted fault, runs the probe it affects once with short timeouts, and checks
the classification (and that no key leaks into the result). The API stores
nothing, so there is nothing left behind to check. docs/probes.md has this
table in prose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from monitor.models import ErrorKind, Status
from monitor.probes.registry import provider
from monitor.providers.openai.specs import ReachabilitySpec, StreamingSpec, TranscriptionSpec
from monitor.simulator.openai.scenario import Action
from tests.support.openai_provider import OpenAISim, openai_target, run_probe

DOWN, UP, DEGRADED = Status.DOWN, Status.UP, Status.DEGRADED
K = ErrorKind
R, T, S = "reachability", "transcription", "streaming"
SPECS: dict[str, Any] = {
    R: ReachabilitySpec(timeout=1.5, degraded_after=0.3),
    T: TranscriptionSpec(timeout=2, degraded_after=0.5),
    S: StreamingSpec(timeout=2, degraded_after=0.5),
}
QUOTA = {
    "error": {
        "message": "You exceeded your current quota, please check your plan.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
}
NOT_FOUND = {
    "error": {
        "message": "The model `whisper-1` does not exist.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }
}
BAD_FORMAT = {"error": {"message": "Invalid file format.", "type": "invalid_request_error",
                        "param": None, "code": None}}  # fmt: skip


@dataclass(frozen=True)
class Case:
    """One scripted fault and what the probe must report for it."""

    id: str
    probe: str
    faults: list[dict[str, Any]]
    status: Status
    kind: ErrorKind | None
    flavour: str = "openai"
    spec: dict[str, Any] = field(default_factory=dict)
    scenario: dict[str, Any] = field(default_factory=dict)
    key: str = "sim-key"


def f(endpoint: str, action: str, **params: Any) -> dict[str, Any]:
    return {"endpoint": endpoint, "action": action, **params}


M, TR = "models.list", "transcriptions"

CASES = [
    # -- reachability: GET /v1/models, and the model in the list ---------------------------
    Case("reachability-401", R, [f(M, "status", status=401)], DOWN, K.AUTH),
    Case("reachability-403", R, [f(M, "status", status=403)], DOWN, K.AUTH),
    Case("reachability-wrong-key", R, [], DOWN, K.AUTH, key="sk-wrong-key-123456"),
    Case("reachability-local-wrong-key-403", R, [], DOWN, K.AUTH, flavour="local",
         scenario={"require_auth": True}, key="wrong"),
    Case("reachability-429", R, [f(M, "status", status=429)], DOWN, K.RATE_LIMITED),
    Case("reachability-429-quota", R, [f(M, "status", status=429, body=QUOTA)], DOWN,
         K.RATE_LIMITED),
    Case("reachability-500", R, [f(M, "status", status=500)], DOWN, K.SERVER_ERROR),
    Case("reachability-503-no-body", R, [f(M, "status", status=503, body="")], DOWN,
         K.SERVER_ERROR),
    Case("reachability-groq-498", R, [f(M, "status", status=498)], DOWN, K.SERVER_ERROR,
         flavour="groq"),
    Case("reachability-every-endpoint-502", R, [f("*", "status", status=502)], DOWN,
         K.SERVER_ERROR),
    Case("reachability-404-wrong-url", R, [f(M, "status", status=404)], DOWN, K.BAD_RESPONSE),
    Case("reachability-model-not-listed", R, [], DOWN, K.MODEL_MISSING,
         spec={"model": "whisper-9"}),
    Case("reachability-groq-model-not-listed", R, [], DOWN, K.MODEL_MISSING, flavour="groq",
         spec={"model": "distil-whisper-large-v3-en"}),
    Case("reachability-html-portal", R, [f(M, "html")], DOWN, K.BAD_RESPONSE),
    Case("reachability-not-json", R, [f(M, "malformed", body_kind="not_json")], DOWN,
         K.BAD_RESPONSE),
    Case("reachability-truncated", R, [f(M, "malformed", body_kind="truncated")], DOWN,
         K.BAD_RESPONSE),
    Case("reachability-wrong-shape", R, [f(M, "malformed", body_kind="wrong_shape")], DOWN,
         K.BAD_RESPONSE),
    Case("reachability-hang", R, [f(M, "hang")], DOWN, K.TIMEOUT),
    Case("reachability-close", R, [f(M, "close")], DOWN, K.CONNECT),
    Case("reachability-slow", R, [f(M, "delay", delay_ms=400)], DEGRADED, None),
    # -- transcription: POST /v1/audio/transcriptions --------------------------------------
    Case("transcription-401", T, [f(TR, "status", status=401)], DOWN, K.AUTH),
    Case("transcription-429", T, [f(TR, "status", status=429)], DOWN, K.RATE_LIMITED),
    Case("transcription-500", T, [f(TR, "status", status=500)], DOWN, K.SERVER_ERROR),
    Case("transcription-400", T, [f(TR, "status", status=400, body=BAD_FORMAT)], DOWN,
         K.BAD_RESPONSE),
    Case("transcription-413", T, [f(TR, "status", status=413)], DOWN, K.BAD_RESPONSE),
    Case("transcription-413-tiny-limit", T, [], DOWN, K.BAD_RESPONSE,
         scenario={"max_upload_bytes": 1024}),
    Case("transcription-404-model", T, [f(TR, "status", status=404, body=NOT_FOUND)], DOWN,
         K.MODEL_MISSING),
    Case("transcription-unknown-model", T, [], DOWN, K.MODEL_MISSING,
         spec={"model": "whisper-9"}),
    Case("transcription-local-unknown-model", T, [], DOWN, K.MODEL_MISSING, flavour="local",
         spec={"model": "Systran/faster-whisper-huge"}),
    Case("transcription-html-portal", T, [f(TR, "html")], DOWN, K.BAD_RESPONSE),
    Case("transcription-not-json", T, [f(TR, "malformed", body_kind="not_json")], DOWN,
         K.BAD_RESPONSE),
    Case("transcription-truncated", T, [f(TR, "malformed", body_kind="truncated")], DOWN,
         K.BAD_RESPONSE),
    Case("transcription-wrong-shape", T, [f(TR, "malformed", body_kind="wrong_shape")], DOWN,
         K.BAD_RESPONSE),
    Case("transcription-hang", T, [f(TR, "hang")], DOWN, K.TIMEOUT),
    Case("transcription-close", T, [f(TR, "close")], DOWN, K.CONNECT),
    Case("transcription-wrong-text", T, [f(TR, "wrong_text", text="Something else entirely.")],
         DOWN, K.INACCURATE),
    Case("transcription-slow-processing", T, [f(TR, "slow_processing", delay_ms=700)],
         DEGRADED, None),
    Case("transcription-processing-past-timeout", T, [f(TR, "slow_processing", delay_ms=3000)],
         DOWN, K.TIMEOUT),
    Case("transcription-slow-answer", T, [f(TR, "delay", delay_ms=700)], DEGRADED, None),
    Case("transcription-groq-verbose", T, [], UP, None, flavour="groq"),
    # -- streaming: stream=true Server-Sent Events (gpt-4o-mini-transcribe) -----------------
    Case("streaming-429", S, [f(TR, "status", status=429)], DOWN, K.RATE_LIMITED),
    Case("streaming-503", S, [f(TR, "status", status=503)], DOWN, K.SERVER_ERROR),
    Case("streaming-hang", S, [f(TR, "hang")], DOWN, K.TIMEOUT),
    Case("streaming-cut-mid-stream", S, [f(TR, "close")], DOWN, K.STREAM_CLOSED),
    Case("streaming-error-event", S, [f(TR, "stream_error", message="boom")], DOWN,
         K.SERVER_ERROR),
    Case("streaming-first-delta-late", S, [f(TR, "first_delta_delay", delay_ms=700)],
         DEGRADED, None),
    Case("streaming-wrong-text", S, [f(TR, "wrong_text", text="Something else entirely.")],
         DOWN, K.INACCURATE),
    Case("streaming-not-json-event", S, [f(TR, "malformed", body_kind="not_json")], DOWN,
         K.BAD_RESPONSE),
    Case("streaming-truncated-event", S, [f(TR, "malformed", body_kind="truncated")], DOWN,
         K.BAD_RESPONSE),
    Case("streaming-wrong-shape-events", S, [f(TR, "malformed", body_kind="wrong_shape")],
         DOWN, K.STREAM_NO_TRANSCRIPT),
    Case("streaming-html-portal", S, [f(TR, "html")], DOWN, K.BAD_RESPONSE),
    Case("streaming-unknown-model", S, [], DOWN, K.MODEL_MISSING,
         spec={"model": "gpt-4o-mini-transcribe", "flavour": "openai"}, flavour="local"),
    Case("streaming-model-that-does-not-stream", S, [], DOWN, K.BAD_RESPONSE,
         spec={"model": "whisper-1"}),
    Case("streaming-local-per-segment", S, [], UP, None, flavour="local"),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_fault(case: Case, openai_sim: OpenAISim) -> None:
    handle = await openai_sim(case.flavour, faults=case.faults, **case.scenario)
    spec = SPECS[case.probe].model_copy(update=case.spec)
    result = await run_probe(case.probe, openai_target(handle, key=case.key), spec)

    assert (result.probe, result.status, result.error_kind) == (
        case.probe,
        case.status,
        case.kind,
    ), result.message
    assert result.message
    # Neither the key nor a piece of it (OpenAI's 401 quotes its ends) is in the result.
    text = str(result.to_json())
    assert case.key not in text and "***" not in text
    assert result.duration_s < spec.timeout + 1
    assert handle.state()["stored"] == 0


def test_every_simulator_fault_action_is_in_the_matrix() -> None:
    used = {fault["action"] for case in CASES for fault in case.faults}
    assert used == set(Action.__args__)  # type: ignore[attr-defined]


def test_every_error_kind_the_probes_declare_is_in_the_matrix() -> None:
    declared = {k for kind in provider("openai").probes for k in kind.error_kinds}
    network_only = {K.DNS, K.TLS, K.INTERNAL}  # no simulator fault can cause these
    assert {c.kind for c in CASES} | network_only | {None} == declared | {None}
