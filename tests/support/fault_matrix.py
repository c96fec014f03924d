"""The fault matrix's table: every simulator fault and the (probe, status, error_kind) it causes.

tests/probes/test_fault_matrix.py runs each case against a fresh simulator;
tests/metrics/test_metrics.py checks every error kind in it is pre-initialised.
The table in docs/probes.md is this matrix in prose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitor.models import ErrorKind, Status
from monitor.providers.assemblyai.specs import (
    ReachabilitySpec,
    StreamingSpec,
    TranscriptionSpec,
    WebhookSpec,
)

DOWN, UP, DEGRADED = Status.DOWN, Status.UP, Status.DEGRADED
K = ErrorKind

SPECS: dict[str, Any] = {
    "reachability": ReachabilitySpec(timeout=1.5, degraded_after=0.3),
    "transcription": TranscriptionSpec(
        timeout=3, degraded_after=2, poll_interval=0.05, poll_max_interval=0.2
    ),
    "streaming": StreamingSpec(timeout=3.5, degraded_after=2),
    # Its call comes to sttwatch's own receiver on loopback (the test starts one).
    "webhook": WebhookSpec(
        timeout=3,
        degraded_after=1,
        poll_interval=0.05,
        poll_max_interval=0.1,
        duplicate_window=0.5,
    ),
}
UNAUTHORIZED = "Unauthorized Connection: Missing Authorization header"
TOO_MANY = "Unauthorized Connection: Too many concurrent sessions"


@dataclass(frozen=True)
class Case:
    """One scripted fault and what the probe must report for it."""

    id: str
    probe: str
    faults: list[dict[str, Any]]
    status: Status
    kind: ErrorKind | None
    scenario: dict[str, Any] = field(default_factory=dict)
    spec: dict[str, Any] = field(default_factory=dict)
    auth: str | None = None
    # The probe cannot delete by itself; the janitor must (after the fault is cleared).
    janitor: bool = False
    # Audio in one burst (timing-independent streaming failures), simulator pacing off.
    burst: bool = False
    message: str | None = None


def f(endpoint: str, action: str, **params: Any) -> dict[str, Any]:
    return {"endpoint": endpoint, "action": action, **params}


def ws_close(code: int, reason: str = "", **params: Any) -> dict[str, Any]:
    return f("ws", "close", code=code, reason=reason, **params)


R, T, S, W = "reachability", "transcription", "streaming", "webhook"

CASES = [
    # -- reachability: GET /v2/transcript?limit=1 --------------------------------------
    Case("reachability-401", R, [f("transcript.list", "status", status=401)], DOWN, K.AUTH,
         message="API reachable, credentials rejected (HTTP 401)"),
    Case("reachability-403", R, [f("transcript.list", "status", status=403)], DOWN, K.AUTH),
    Case("reachability-429", R, [f("transcript.list", "status", status=429)], DOWN,
         K.RATE_LIMITED),
    Case("reachability-500", R, [f("transcript.list", "status", status=500)], DOWN,
         K.SERVER_ERROR),
    Case("reachability-503-no-body", R, [f("transcript.list", "status", status=503, body="")],
         DOWN, K.SERVER_ERROR),
    Case("reachability-404", R, [f("transcript.list", "status", status=404)], DOWN,
         K.BAD_RESPONSE),
    Case("reachability-every-endpoint-502", R, [f("*", "status", status=502)], DOWN,
         K.SERVER_ERROR),
    Case("reachability-html-portal", R, [f("transcript.list", "html")], DOWN, K.BAD_RESPONSE),
    Case("reachability-not-json", R, [f("transcript.list", "malformed", body_kind="not_json")],
         DOWN, K.BAD_RESPONSE),
    Case("reachability-truncated", R,
         [f("transcript.list", "malformed", body_kind="truncated")], DOWN, K.BAD_RESPONSE),
    Case("reachability-wrong-shape", R,
         [f("transcript.list", "malformed", body_kind="wrong_shape")], DOWN, K.BAD_RESPONSE),
    Case("reachability-hang", R, [f("transcript.list", "hang")], DOWN, K.TIMEOUT),
    Case("reachability-slow", R, [f("transcript.list", "delay", delay_ms=400)], DEGRADED, None),
    # -- transcription: upload, submit, poll, verify, delete, confirm ---------------------
    Case("transcription-upload-500", T, [f("upload", "status", status=500)], DOWN,
         K.SERVER_ERROR),
    Case("transcription-upload-hang", T, [f("upload", "hang")], DOWN, K.TIMEOUT,
         spec={"timeout": 2}),
    Case("transcription-submit-401", T, [f("transcript.create", "status", status=401)], DOWN,
         K.AUTH),
    Case("transcription-submit-429", T, [f("transcript.create", "status", status=429)], DOWN,
         K.RATE_LIMITED),
    Case("transcription-submit-400-model", T,
         [f("transcript.create", "status", status=400,
            body={"error": "\"speech_models\" must be a non-empty list"})],
         DOWN, K.BAD_RESPONSE),
    # The job is created, but its id is lost in a mangled answer: found by upload URL.
    Case("transcription-submit-not-json", T,
         [f("transcript.create", "malformed", body_kind="not_json")], DOWN, K.BAD_RESPONSE),
    Case("transcription-submit-wrong-shape", T,
         [f("transcript.create", "malformed", body_kind="wrong_shape")], DOWN, K.BAD_RESPONSE),
    Case("transcription-poll-500", T, [f("transcript.get", "status", status=500)], DOWN,
         K.SERVER_ERROR, janitor=True),
    Case("transcription-poll-404", T, [f("transcript.get", "status", status=404, count=1)],
         DOWN, K.BAD_RESPONSE),
    Case("transcription-poll-truncated", T,
         [f("transcript.get", "malformed", body_kind="truncated", count=1)], DOWN,
         K.BAD_RESPONSE),
    Case("transcription-poll-hang", T, [f("transcript.get", "hang")], DOWN, K.TIMEOUT,
         janitor=True, spec={"timeout": 2}),
    Case("transcription-stuck-queued", T, [f("transcript.create", "stuck", stage="queued")],
         DOWN, K.JOB_TIMEOUT, scenario={"jobs": {"delete_in_progress": "allow"}}, janitor=True),
    Case("transcription-stuck-processing", T,
         [f("transcript.get", "stuck", stage="processing")], DOWN, K.JOB_TIMEOUT,
         scenario={"jobs": {"delete_in_progress": "allow"}}, janitor=True),
    Case("transcription-fail-job", T,
         [f("transcript.create", "fail_job", error="Audio duration is too short.")], DOWN,
         K.TRANSCRIPTION_FAILED,
         message="The transcription job failed: Audio duration is too short."),
    Case("transcription-wrong-text", T,
         [f("transcript.create", "wrong_text", text="A completely different sentence.")], DOWN,
         K.INACCURATE),
    Case("transcription-delete-500", T, [f("transcript.delete", "status", status=500)], DOWN,
         K.DELETION_FAILED, janitor=True),
    Case("transcription-delete-hang", T, [f("transcript.delete", "hang")], DOWN,
         K.DELETION_FAILED, janitor=True, spec={"timeout": 2}),
    Case("transcription-ignore-delete", T, [f("transcript.delete", "ignore_delete")], DOWN,
         K.DELETION_FAILED, janitor=True),
    Case("transcription-slow-job", T, [], DEGRADED, None,
         scenario={"jobs": {"queued_ms": 500, "processing_ms": 200}},
         spec={"degraded_after": 0.5}),
    Case("transcription-slow-polls", T, [f("transcript.get", "delay", delay_ms=300)], DEGRADED,
         None, spec={"degraded_after": 0.5}),
    # -- streaming: token, upgrade, Begin, audio, Turns, Terminate -------------------------
    Case("streaming-refuse-401", S, [f("ws", "refuse", status=401)], DOWN, K.AUTH),
    Case("streaming-refuse-429", S, [f("ws", "refuse", status=429)], DOWN, K.RATE_LIMITED),
    Case("streaming-refuse-503", S, [f("ws", "refuse", status=503)], DOWN, K.SERVER_ERROR),
    Case("streaming-1008-unauthorized", S, [ws_close(1008, UNAUTHORIZED)], DOWN, K.AUTH,
         burst=True),
    Case("streaming-1008-too-many", S, [ws_close(1008, TOO_MANY)], DOWN, K.RATE_LIMITED,
         burst=True),
    Case("streaming-close-3005", S, [ws_close(3005, "Session Cancelled: An error occurred")],
         DOWN, K.SERVER_ERROR, burst=True),
    Case("streaming-close-3006", S, [ws_close(3006, "Invalid Message Type: Foo")], DOWN,
         K.BAD_RESPONSE, burst=True),
    Case("streaming-close-3007", S,
         [ws_close(3007, "Input duration violation: 20 ms. Expected between 50 and 1000 ms")],
         DOWN, K.BAD_RESPONSE, burst=True),
    Case("streaming-close-3008", S,
         [ws_close(3008, "Session Expired: Maximum session duration exceeded",
                   error_frame=True)], DOWN, K.STREAM_CLOSED, burst=True),
    Case("streaming-close-3009", S, [ws_close(3009, TOO_MANY)], DOWN, K.RATE_LIMITED,
         burst=True),
    Case("streaming-close-4000-unknown", S, [ws_close(4000, "something else")], DOWN,
         K.STREAM_CLOSED, burst=True),
    Case("streaming-close-1000-early", S, [ws_close(1000)], DOWN, K.STREAM_CLOSED, burst=True),
    Case("streaming-no-begin", S, [f("ws", "no_begin")], DOWN, K.TIMEOUT, burst=True,
         spec={"timeout": 1.5}),
    Case("streaming-no-turn", S, [f("ws", "no_turn")], DOWN, K.STREAM_NO_TRANSCRIPT,
         burst=True),
    Case("streaming-first-turn-late", S, [f("ws", "first_turn_delay", delay_ms=1200)],
         DEGRADED, None, spec={"degraded_after": 1.0}),
    # The first Turn would come after the deadline (the simulator holds Terminate for it).
    Case("streaming-first-turn-after-timeout", S,
         [f("ws", "first_turn_delay", delay_ms=2500)], DOWN, K.STREAM_NO_TRANSCRIPT,
         burst=True, spec={"timeout": 1.5}),
    Case("streaming-hang-terminate", S, [f("ws", "hang_terminate")], DOWN, K.TIMEOUT,
         burst=True, spec={"timeout": 1.5}),
    Case("streaming-token-401", S, [f("token", "status", status=401)], DOWN, K.AUTH,
         auth="token"),
    Case("streaming-token-hang", S, [f("token", "hang")], DOWN, K.TIMEOUT, auth="token",
         spec={"timeout": 1.5}),
    Case("streaming-token-not-json", S, [f("token", "malformed", body_kind="not_json")], DOWN,
         K.BAD_RESPONSE, auth="token"),
    # -- webhook: the job's call to sttwatch's receiver ----------------------------------
    Case("webhook-late", W, [f("webhook", "delay", delay_ms=1500)], DEGRADED, None),
    Case("webhook-drop", W, [f("webhook", "drop")], DOWN, K.WEBHOOK_MISSING),
    Case("webhook-delay-past-deadline", W, [f("webhook", "delay", delay_ms=5000)], DOWN,
         K.WEBHOOK_MISSING),
    Case("webhook-duplicate", W, [f("webhook", "duplicate")], DOWN, K.WEBHOOK_DUPLICATE,
         message="The webhook came 2 times within 0.5 s"),
    Case("webhook-wrong-auth", W, [f("webhook", "wrong_auth")], DOWN,
         K.WEBHOOK_UNAUTHENTICATED,
         message="The webhook came without the run's secret header (1 call(s), refused)"),
    Case("webhook-no-auth", W, [f("webhook", "no_auth")], DOWN, K.WEBHOOK_UNAUTHENTICATED),
    Case("webhook-early", W, [f("webhook", "early")], DOWN, K.WEBHOOK_EARLY),
    Case("webhook-wrong-id", W, [f("webhook", "wrong_id")], DOWN, K.WEBHOOK_MALFORMED,
         message="The webhook carried a transcript_id that is not this run's"),
    Case("webhook-not-json", W, [f("webhook", "malformed", body_kind="not_json")], DOWN,
         K.WEBHOOK_MALFORMED, message="The webhook carried a body that is not a JSON object"),
    Case("webhook-truncated", W, [f("webhook", "malformed", body_kind="truncated")], DOWN,
         K.WEBHOOK_MALFORMED),
    Case("webhook-wrong-shape", W, [f("webhook", "malformed", body_kind="wrong_shape")], DOWN,
         K.WEBHOOK_MALFORMED),
    Case("webhook-job-failed", W, [f("transcript.create", "fail_job", error="No audio.")],
         DOWN, K.TRANSCRIPTION_FAILED, message="The transcription job failed: No audio."),
    Case("webhook-job-stuck", W, [f("transcript.create", "stuck", stage="processing")], DOWN,
         K.JOB_TIMEOUT, scenario={"jobs": {"delete_in_progress": "allow"}}, janitor=True),
]  # fmt: skip
