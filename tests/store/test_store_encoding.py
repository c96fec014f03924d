"""How raw results are encoded on disk (BENCHMARKS.md F5, docs/storage.md "Encoding").

Every result must come back from the database exactly as the probe returned it
(at the store's microsecond precision), whether its row was written in the
compact v2 encoding or by an older sttwatch in v1 or v0, and the realistic mix of the
three probes must take at most 200 bytes per result on disk.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.models import ErrorKind, ProbeResult, Status
from monitor.providers.assemblyai import reachability, streaming, transcription
from monitor.providers.assemblyai.specs import ReachabilitySpec, StreamingSpec, TranscriptionSpec
from monitor.simulator import SimulatorHandle
from monitor.store import Store
from monitor.store.codec import decode_result, encode_result, encode_v0, encode_v1
from monitor.store.dialect import Connection
from monitor.store.records import (
    from_ms,
    to_ms,
)
from tests.support.probes import MemoryLedger, context, target_for

T0 = datetime(2026, 11, 20, 9, 0, 0, 125_000, tzinfo=UTC)

# What `sttwatch once --json` printed for the three probes against the simulator.
REAL: dict[str, dict[str, Any]] = {
    "reachability": {
        "duration_s": 0.018425,
        "message": "API reachable: transcript list answered in 18 ms",
        "phases": {
            "dns": 0.0,
            "connect": 0.006286,
            "ttfb": 0.011222,
            "transfer": 4.8e-05,
            "total": 0.017708,
        },
        "details": {"http_status": 200, "body_bytes": 167},
    },
    "transcription": {
        "duration_s": 0.565357,
        "message": "Transcribed, verified and deleted the probe clip in 508 ms",
        "phases": {
            "upload": 0.052239,
            "submit": 0.004782,
            "queued": 0.502755,
            "processing": 0.0,
            "verify": 0.000283,
            "delete": 0.001956,
            "confirm": 0.000697,
        },
        "details": {
            "http_status": 200,
            "transcript_id": "8f57a8d5-07f5-427e-8736-700a5d0a720b",
            "queue_s": 0.502755,
            "processing_s": 0.0,
            "turnaround_s": 0.508108,
            "speech_model_used": "universal-2",
            "wer": 0.0,
            "text": "The quick brown fox jumps over the lazy dog.",
        },
    },
    "streaming": {
        "duration_s": 2.301773,
        "message": (
            "Streamed the probe clip, verified the text and terminated the session;"
            " first transcript in 402 ms"
        ),
        "phases": {
            "connect": 0.048144,
            "begin": 0.000558,
            "first_transcript": 0.401804,
            "final": 0.000816,
            "terminate": 0.000447,
        },
        "details": {
            "audio_s": 2.2,
            "frames": 44,
            "wer": 0.0,
            "text": "the quick brown fox jumps over the lazy dog",
            "first_transcript_s": 0.401804,
            "session_id": "b3f00098-f2f5-47fe-b79e-7126a9dadac4",
            "close_code": 1000,
            "close_reason": "",
        },
    },
}


def real(template: str, **changes: Any) -> ProbeResult:
    """Return the real result of probe `template`, with `changes` applied."""
    fields: dict[str, Any] = {
        "target": "us",
        "probe": template,
        "started_at": T0,
        "status": Status.UP,
        **REAL[template],
    }
    fields.update(changes)
    return ProbeResult(**fields)


def roundtrip(r: ProbeResult, rid: int = 1) -> ProbeResult:
    """Return `r` after encode_result and decode_result, as a store read gives it."""
    return decode_result((rid, r.target, r.probe, *encode_result(r))).result


def at_store_precision(r: ProbeResult) -> ProbeResult:
    """Return `r` with times and durations at the store's precision (ms, µs)."""
    return ProbeResult(
        target=r.target,
        probe=r.probe,
        started_at=from_ms(to_ms(r.started_at)),
        duration_s=round(r.duration_s * 1_000_000) / 1_000_000,
        status=r.status,
        error_kind=r.error_kind,
        message=r.message,
        phases={k: round(v * 1_000_000) / 1_000_000 for k, v in r.phases.items()},
        details=r.details,
    )


SLOW = "but slow: 2.60 s (degraded above 2 s)"
CASES: list[tuple[str, ProbeResult]] = [
    ("reachability-up", real("reachability")),
    ("transcription-up", real("transcription")),
    ("streaming-up", real("streaming")),
    (
        "reachability-up-over-a-second",
        real(
            "reachability",
            message="API reachable: transcript list answered in 1.25 s",
            phases={**REAL["reachability"]["phases"], "total": 1.250001},
        ),
    ),
    (
        "reachability-degraded",
        real(
            "reachability",
            status=Status.DEGRADED,
            message=f"API reachable: transcript list answered, {SLOW}",
            phases={**REAL["reachability"]["phases"], "total": 2.6},
        ),
    ),
    (
        "reachability-down-503",
        real(
            "reachability",
            status=Status.DOWN,
            error_kind=ErrorKind.SERVER_ERROR,
            message="The API answered 503 Service Unavailable",
            phases={"dns": 0.0001, "connect": 0.002},
            details={"http_status": 503},
        ),
    ),
    (
        "transcription-down-no-phases",
        real(
            "transcription",
            status=Status.DOWN,
            error_kind=ErrorKind.CONNECT,
            message="Connection refused while uploading the probe clip",
            phases={},
            details={},
        ),
    ),
    (
        "transcription-inaccurate",
        real(
            "transcription",
            status=Status.DOWN,
            error_kind=ErrorKind.INACCURATE,
            message="The transcript differs from the reference: WER 0.56 above the limit of 0.25",
            details={**REAL["transcription"]["details"], "wer": 0.5556, "text": "The quick fox."},
        ),
    ),
    (
        "streaming-closed-oddly",
        real(
            "streaming",
            details={**REAL["streaming"]["details"], "close_code": 1011, "close_reason": "bye"},
        ),
    ),
    (
        "streaming-up-without-close",
        real(
            "streaming",
            details={k: v for k, v in REAL["streaming"]["details"].items() if k != "close_code"},
        ),
    ),
    ("up-empty-message", real("reachability", message="")),
    ("up-other-wording", real("reachability", message="Reachable, in its own words")),
    (
        "unknown-phase-and-probe",
        real("reachability", probe="future", phases={"warmup": 0.5, "total": 0.25}),
    ),
    (
        "extra-phase",
        real("reachability", phases={**REAL["reachability"]["phases"], "tls": 0.003}),
    ),
    (
        "queue-detail-without-phase-rounding",
        real("transcription", details={**REAL["transcription"]["details"], "queue_s": 0.5}),
    ),
    (
        "phase-without-its-detail",
        real(
            "transcription",
            details={k: v for k, v in REAL["transcription"]["details"].items() if k != "queue_s"},
        ),
    ),
    ("http-status-as-text", real("reachability", details={"http_status": "200"})),
    (
        "frames-as-float",
        real("streaming", details={**REAL["streaming"]["details"], "frames": 46.0}),
    ),
]


@pytest.mark.parametrize("result", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_result_comes_back_as_the_probe_returned_it(result: ProbeResult) -> None:
    back = roundtrip(result)
    assert back == at_store_precision(result)
    # == ignores key order and takes 46.0 for 46; the JSON /api/v1/results prints doesn't.
    assert list(back.details) == list(result.details)
    assert {k: type(v) for k, v in back.details.items()} == {
        k: type(v) for k, v in result.details.items()
    }


@pytest.mark.parametrize("probe", list(REAL))
def test_up_run_keeps_only_what_cannot_be_rebuilt(probe: str) -> None:
    _, _, _, _, message, phases, details = encode_result(real(probe))
    assert message is None
    assert isinstance(phases, bytes)  # positional µs, no names
    assert not any(name.encode() in phases for name in real(probe).phases)
    for repeated in ("queue_s", "processing_s", "first_transcript_s", "text", "close_code"):
        assert repeated not in (details or "")


@pytest.mark.parametrize("result", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_rows_of_the_v0_encoding_still_decode(result: ProbeResult) -> None:
    enc = encode_result(result)
    row = (7, result.target, result.probe, *enc[:4], *encode_v0(result))
    assert decode_result(row).result == at_store_precision(result)


# v1 wrote v0 for the results it could not hold; those are covered above.
V1_CASES = [c for c in CASES if encode_v1(c[1]) is not None]


@pytest.mark.parametrize("result", [c[1] for c in V1_CASES], ids=[c[0] for c in V1_CASES])
def test_rows_of_the_v1_encoding_still_decode(result: ProbeResult) -> None:
    enc = encode_result(result)
    old = encode_v1(result)
    assert old is not None
    row = (7, result.target, result.probe, *enc[:4], *old)
    assert decode_result(row).result == at_store_precision(result)


def test_a_v1_streaming_row_keeps_the_defaults_of_its_time() -> None:
    """v1 left out `audio_s: 2.281, frames: 46` (the clip before 14df1a5); v2 does not."""
    before = real(
        "streaming", details={**REAL["streaming"]["details"], "audio_s": 2.281, "frames": 46}
    )
    v1 = encode_v1(before)
    assert v1 is not None and "audio_s" not in (v1[2] or "")
    head = encode_result(before)[:4]
    assert decode_result((7, "us", "streaming", *head, *v1)).result == at_store_precision(before)
    v2 = encode_result(before)
    assert '"audio_s":2.281' in v2[6] and decode_result((7, "us", "streaming", *v2)).result == (
        at_store_precision(before)
    )


# Results like the probes make: µs-precise phases, and details drawn from the keys
# the encoder treats specially, with values that sometimes are and sometimes are
# not what it would rebuild.
_PHASE_NAMES = [
    "dns",
    "connect",
    "ttfb",
    "transfer",
    "total",
    "queued",
    "processing",
    "token",
    "begin",
    "first_transcript",
    "final",
    "upload",
    "submit",
    "verify",
    "odd",
]
_us = st.integers(min_value=0, max_value=120_000_000).map(lambda us: us / 1_000_000)
_detail_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-2, 2000),
    st.just(200),
    st.just(1000),
    st.just(46),
    st.just(2.281),
    st.just(""),
    st.just(0.0),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(sorted({t for r in REAL.values() for t in [r["details"].get("text")] if t})),
)
_detail_keys = st.sampled_from(
    [
        "http_status",
        "queue_s",
        "processing_s",
        "first_transcript_s",
        "turnaround_s",
        "wer",
        "text",
        "close_code",
        "close_reason",
        "audio_s",
        "frames",
        "session_id",
        "other",
    ]
)


@st.composite
def results(draw: st.DrawFn) -> ProbeResult:
    probe = draw(st.sampled_from(["reachability", "transcription", "streaming", "other"]))
    status = draw(st.sampled_from(list(Status)))
    phases = draw(st.dictionaries(st.sampled_from(_PHASE_NAMES), _us, max_size=8))
    details: dict[str, Any] = draw(st.dictionaries(_detail_keys, _detail_values, max_size=8))
    for key, phase in (("queue_s", "queued"), ("first_transcript_s", "first_transcript")):
        if phase in phases and draw(st.booleans()):
            details[key] = round(phases[phase], 6)
    if draw(st.booleans()):
        details.update(REAL.get(probe, REAL["streaming"])["details"])
    latency = phases.get("total", phases.get("first_transcript", 0.0))
    message = draw(
        st.sampled_from(
            [
                "",
                "anything at all",
                f"API reachable: transcript list answered in {latency * 1000:.0f} ms",
                "Streamed the probe clip, verified the text and terminated the session;"
                f" first transcript in {latency * 1000:.0f} ms",
            ]
        )
    )
    return ProbeResult(
        target="t",
        probe=probe,
        started_at=T0.replace(microsecond=0),
        duration_s=draw(_us),
        status=status,
        error_kind=ErrorKind.TIMEOUT if status is Status.DOWN else None,
        message=message,
        phases=phases,
        details=details,
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(results())
def test_any_result_round_trips(result: ProbeResult) -> None:
    back = roundtrip(result)
    assert back == result
    assert list(back.details) == list(result.details)


# Real probes against the simulator: their wording and details are what v1 rebuilds,
# so a change in a probe shows up here (the encoder would then store more, not lose).
async def test_real_probe_results_round_trip_compactly(sim: SimulatorHandle) -> None:
    target = target_for(sim)
    ctx = context(MemoryLedger())
    got = await asyncio.gather(
        reachability.run(target, ReachabilitySpec(), ctx),
        transcription.run(target, TranscriptionSpec(poll_interval=0.1), ctx),
        streaming.run(target, StreamingSpec(), ctx),
    )
    for result in got:
        assert result.status is Status.UP, result.message
        _, _, _, _, message, phases, details = encode_result(result)
        assert message is None, (result.probe, result.message)
        assert isinstance(phases, bytes)
        # Nothing every good run of the probe reports is stored again.
        for constant in ("audio_s", "frames", "close_code", "http_status"):
            assert constant not in (details or ""), (result.probe, details)
        back = roundtrip(result)
        assert back == at_store_precision(result)
        assert list(back.details) == list(result.details)


async def test_database_with_rows_of_every_encoding_reads_back(store: Store) -> None:
    """A database written by older sttwatch versions keeps its rows readable after upgrading."""
    v0_row = real("transcription", started_at=T0 - timedelta(minutes=2))
    v1_row = real("transcription", started_at=T0 - timedelta(minutes=1))
    new = real("transcription")
    for r in (v0_row, v1_row, new):
        await store.add_result(r)
    # Rewrite the first rows as the previous releases stored them.
    as_v0, as_v1 = encode_v0(v0_row), encode_v1(v1_row)
    assert as_v1 is not None

    # PostgreSQL keeps the text encodings' phases in a column of their own.
    text = "phases_text" if store.backend == "postgresql" else "phases"

    def rewrite(conn: Connection) -> None:
        for rid, cols in ((1, as_v0), (2, as_v1)):
            conn.execute(
                f"UPDATE results SET message = ?, {text} = ?, details = ? WHERE id = ?",
                (*cols, rid),
            )
            if text != "phases":
                conn.execute("UPDATE results SET phases = NULL WHERE id = ?", (rid,))

    await store.write(lambda db: rewrite(db.conn))
    raw = await store.read(
        lambda c: (
            c.execute(f"SELECT coalesce({text}, '') FROM results ORDER BY id").fetchall()
            if text != "phases"
            else c.execute("SELECT phases FROM results ORDER BY id").fetchall()
        )
    )
    assert [type(p) for (p,) in raw] == [str, str, bytes if text == "phases" else str]
    assert [p[:1] for (p,) in raw[:2]] == ["{", "["]
    assert await store.results("us", "transcription") == [
        at_store_precision(new),
        at_store_precision(v1_row),
        at_store_precision(v0_row),
    ]


def _mixed_day(components: int, rng: random.Random) -> list[ProbeResult]:
    """Return a day of 60 s results for `components` targets × 3 probes, shaped like REAL."""
    out = []
    for minute in range(1440):
        for c in range(components):
            for probe, base in REAL.items():
                at = T0 + timedelta(minutes=minute, milliseconds=rng.randrange(5000))
                if rng.random() < 0.003:
                    out.append(
                        ProbeResult(
                            target=f"target-{c:02d}",
                            probe=probe,
                            started_at=at,
                            duration_s=round(rng.uniform(0.1, 10), 6),
                            status=Status.DOWN,
                            error_kind=ErrorKind.TIMEOUT,
                            message="No answer within 10 s while waiting for the response headers",
                        )
                    )
                    continue
                phases = {
                    k: round(v * rng.uniform(0.5, 3.0) + rng.uniform(0, 0.05), 6)
                    for k, v in base["phases"].items()
                }
                details = dict(base["details"])
                if probe == "reachability":
                    key = phases["total"]
                    what = "API reachable: transcript list answered"
                elif probe == "transcription":
                    key = round(phases["submit"] + phases["queued"] + phases["processing"], 6)
                    details.update(
                        transcript_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        queue_s=phases["queued"],
                        processing_s=phases["processing"],
                        turnaround_s=key,
                    )
                    what = "Transcribed, verified and deleted the probe clip"
                else:
                    key = phases["first_transcript"]
                    details.update(
                        session_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        first_transcript_s=key,
                    )
                    what = (
                        "Streamed the probe clip, verified the text and terminated the"
                        " session; first transcript"
                    )
                shown = f"{key * 1000:.0f} ms" if key < 1 else f"{key:.2f} s"
                out.append(
                    ProbeResult(
                        target=f"target-{c:02d}",
                        probe=probe,
                        started_at=at,
                        duration_s=round(sum(phases.values()) + 0.0004, 6),
                        status=Status.UP,
                        message=f"{what} in {shown}",
                        phases=phases,
                        details=details,
                    )
                )
    return out


async def test_mixed_probes_take_at_most_200_bytes_per_result(tmp_path: Path) -> None:
    """A day of the three probes for 10 targets: ≤ 200 bytes per result after VACUUM (SQLite)."""
    results = _mixed_day(10, random.Random(0))
    async with await Store.open(str(tmp_path / "sttwatch.db")) as store:
        await _sizes_and_reads(store, results, tmp_path / "sttwatch.db")


async def _sizes_and_reads(store: Store, results: list[ProbeResult], path: Path) -> None:
    await store.add_results(results)
    await store.vacuum()
    stored = await store.read(lambda c: c.execute("SELECT count(*) FROM results").fetchone()[0])
    assert stored == len(results)
    size = await asyncio.to_thread(lambda: path.stat().st_size)
    per_row = size / len(results)
    print(f"\n{len(results)} mixed results, {size} bytes after VACUUM: {per_row:.1f} B/result")
    assert per_row <= 200
    sample = await store.results("target-03", limit=1000)
    by_time = {(r.probe, r.started_at): r for r in results if r.target == "target-03"}
    assert sample and all(r == at_store_precision(by_time[(r.probe, r.started_at)]) for r in sample)
