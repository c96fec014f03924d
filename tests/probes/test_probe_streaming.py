"""The streaming probe against the simulator: session, pacing, latency, close codes, cleanup."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from monitor.models import ErrorKind, Status
from monitor.probeclip import load_clip
from monitor.providers.assemblyai import streaming
from monitor.providers.assemblyai.specs import StreamingSpec
from tests.support.fixture_types import SimFactory
from tests.support.probes import NOTHING_LEFT, MemoryLedger, context, settle, target_for

SPEC = StreamingSpec(timeout=5, degraded_after=2)
PHASES = ["connect", "begin", "first_transcript", "final", "terminate"]


@pytest.mark.parametrize("auth", ["key", "token"])
async def test_healthy_session_is_up_with_every_phase(make_sim: SimFactory, auth: str) -> None:
    # Strict pacing: audio faster than real time would be closed with 3007.
    handle = await make_sim(streaming={"strict_pacing": True, "pacing_tolerance_ms": 100})
    spec = SPEC.model_copy(update={"auth": auth})
    result = await streaming.run(target_for(handle), spec, context(MemoryLedger()))
    assert result.status is Status.UP, result.message
    expected = ["token", *PHASES] if auth == "token" else PHASES
    assert list(result.phases) == expected
    assert result.details["wer"] == 0.0
    assert result.details["close_code"] == 1000
    assert result.details["first_transcript_s"] == pytest.approx(
        result.phases["first_transcript"], abs=1e-6
    )
    assert await settle(handle) == NOTHING_LEFT
    assert handle.state()["streaming"]["terminated"] == 1


async def test_token_never_appears_in_the_result(make_sim: SimFactory) -> None:
    handle = await make_sim(faults=[{"endpoint": "ws", "action": "refuse", "status": 500}])
    spec = SPEC.model_copy(update={"auth": "token"})
    result = await streaming.run(target_for(handle), spec, context(MemoryLedger()))
    assert result.error_kind is ErrorKind.SERVER_ERROR
    tokens = list(handle.state_obj.tokens)
    assert tokens and not any(tok in str(result.to_json()) for tok in tokens)


@pytest.mark.parametrize("frame_ms", [50, 80, 100])
def test_frames_cover_the_clip_and_the_last_is_at_least_50_ms(frame_ms: int) -> None:
    clip = load_clip()
    chunks = streaming.frames(clip, frame_ms)
    per_ms = clip.bytes_per_ms
    assert all(len(c) == frame_ms * per_ms for c in chunks[:-1])
    assert 50 * per_ms <= len(chunks[-1]) <= frame_ms * per_ms
    # Everything from 50 ms before the first word on, nothing of it reordered.
    sent = b"".join(chunks)
    lead = len(clip.pcm) - len(clip.pcm.lstrip(b"\0"))
    assert lead > streaming.LEAD_MS * per_ms  # the clip itself starts with more silence
    assert sent.startswith(clip.pcm[lead - int(streaming.LEAD_MS * per_ms) :])
    assert len(sent) - len(sent.lstrip(b"\0")) == streaming.LEAD_MS * per_ms


@pytest.mark.timing
@pytest.mark.parametrize("delay_ms", [600, 1200])
async def test_first_transcript_latency_is_measured_from_the_first_frame(
    make_sim: SimFactory, delay_ms: int
) -> None:
    handle = await make_sim(
        faults=[{"endpoint": "ws", "action": "first_turn_delay", "delay_ms": delay_ms}]
    )
    result = await streaming.run(target_for(handle), SPEC, context(MemoryLedger()))
    assert result.status is Status.UP, result.message
    # The simulator holds the first Turn back for delay_ms after the first frame arrives.
    assert result.phases["first_transcript"] == pytest.approx(delay_ms / 1000, abs=0.05)


@pytest.mark.timing
async def test_a_partial_word_is_the_first_transcript(make_sim: SimFactory) -> None:
    # 100 ms after the first frame the simulator's forced Turn holds only the word
    # being spoken, not yet final: `transcript` is "" and `words` has it.
    handle = await make_sim(
        faults=[{"endpoint": "ws", "action": "first_turn_delay", "delay_ms": 100}]
    )
    result = await streaming.run(target_for(handle), SPEC, context(MemoryLedger()))
    assert result.status is Status.UP, result.message
    assert result.phases["first_transcript"] == pytest.approx(0.1, abs=0.05)


async def test_a_turn_without_words_is_not_a_transcript(make_sim: SimFactory) -> None:
    # 10 ms in, only the kept lead of silence has been heard: the forced Turn is empty
    # and the probe waits for the next Turn (the simulator's turn interval, 200 ms).
    handle = await make_sim(
        faults=[{"endpoint": "ws", "action": "first_turn_delay", "delay_ms": 10}]
    )
    result = await streaming.run(target_for(handle), SPEC, context(MemoryLedger()))
    assert result.status is Status.UP, result.message
    assert result.phases["first_transcript"] >= 0.15


async def test_late_first_transcript_is_degraded(make_sim: SimFactory) -> None:
    handle = await make_sim(
        faults=[{"endpoint": "ws", "action": "first_turn_delay", "delay_ms": 900}]
    )
    spec = SPEC.model_copy(update={"degraded_after": 0.5})
    result = await streaming.run(target_for(handle), spec, context(MemoryLedger()))
    assert result.status is Status.DEGRADED, result.message
    assert await settle(handle) == NOTHING_LEFT


@pytest.mark.parametrize("mode", ["close", "refuse"])
async def test_wrong_key_is_auth(make_sim: SimFactory, mode: str) -> None:
    handle = await make_sim(streaming={"auth_failure": mode})
    target = target_for(handle, key="wrong-key")
    result = await streaming.run(target, SPEC, context(MemoryLedger()))
    assert (result.status, result.error_kind) == (Status.DOWN, ErrorKind.AUTH)
    if mode == "close":
        assert result.details["close_code"] == 1008
    else:
        assert result.details["http_status"] == 401
    assert "wrong-key" not in str(result.to_json())
    assert await settle(handle) == NOTHING_LEFT


async def test_hostile_close_reason_is_kept_short_and_printable(make_sim: SimFactory) -> None:
    reason = "Session Cancelled:\n" + "\x07" * 5 + "y" * 300
    handle = await make_sim(
        faults=[{"endpoint": "ws", "action": "close", "code": 3005, "reason": reason}]
    )
    result = await streaming.run(target_for(handle), SPEC, context(MemoryLedger()))
    assert result.error_kind is ErrorKind.SERVER_ERROR
    shown = result.details["close_reason"]
    assert len(shown) <= 123 and shown.isprintable()
    assert result.message.isprintable()


async def test_error_frame_text_is_kept(make_sim: SimFactory) -> None:
    handle = await make_sim(
        faults=[
            {
                "endpoint": "ws",
                "action": "close",
                "code": 3008,
                "reason": "Session Expired: Maximum session duration exceeded",
                "error_frame": True,
                "after_ms": 300,
            }
        ]
    )
    result = await streaming.run(target_for(handle), SPEC, context(MemoryLedger()))
    assert result.error_kind is ErrorKind.STREAM_CLOSED
    assert result.details["close_code"] == 3008
    assert "Maximum session duration" in result.details["error"]


async def test_cancelled_mid_stream_still_terminates(make_sim: SimFactory) -> None:
    handle = await make_sim()
    task = asyncio.create_task(streaming.run(target_for(handle), SPEC, context(MemoryLedger())))
    await asyncio.sleep(0.6)  # Begin received, audio flowing
    assert handle.state()["streaming"]["active"] == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await settle(handle) == NOTHING_LEFT
    assert handle.state()["streaming"]["terminated"] == 1


@pytest.mark.timing
async def test_never_terminating_server_is_cut_off_within_the_grace(
    make_sim: SimFactory,
) -> None:
    handle = await make_sim(faults=[{"endpoint": "ws", "action": "hang_terminate"}])
    spec = SPEC.model_copy(update={"timeout": 3.5})
    result = await streaming.run(target_for(handle), spec, context(MemoryLedger()))
    assert result.error_kind is ErrorKind.TIMEOUT
    assert "Termination" in result.message
    assert result.duration_s < spec.timeout + streaming.CLOSE_GRACE_S
    left: dict[str, Any] = await settle(handle)
    assert left == NOTHING_LEFT
