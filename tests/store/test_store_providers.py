"""Results of a second provider's kinds in the store: stored as given, rolled up by its kinds.

The second provider (tests/support/providers.py) shares AssemblyAI's kind
names but none of their stored forms (``stored=None``) and has other phases
and key phases.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.models import ProbeResult, Status
from monitor.store import Store
from monitor.store.codec import decode_result, encode_result, phases_in_us
from tests.support.providers import extra_provider

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def second(tmp_path: Path) -> Iterator[None]:
    with extra_provider(tmp_path):
        yield


def result(target: str, probe: str, **kw: Any) -> ProbeResult:
    return ProbeResult(target, probe, T0, kw.pop("duration_s", 3.0), Status.UP, None, **kw)


@pytest.mark.usefixtures("second")
@pytest.mark.parametrize(
    "r",
    [
        result(
            "two", "transcription", phases={"post": 0.1, "transcribe": 2.0}, details={"wer": 0.0}
        ),
        # Shaped like AssemblyAI's transcription: written compactly only if it decodes the same.
        result(
            "two",
            "transcription",
            phases={"submit": 0.1, "queued": 0.5, "transcribe": 2.0},
            message="Transcribed, verified and deleted the probe clip in 2.000 s",
            details={"http_status": 200, "queue_s": 0.5, "text": "x", "wer": 0.0},
        ),
        result("two", "reachability", phases={"request": 0.05}, message="GET answered in 50 ms"),
    ],
    ids=["own-phases", "aai-shaped", "reachability"],
)
def test_another_providers_kind_decodes_to_the_result_it_was_given(r: ProbeResult) -> None:
    row = (1, r.target, r.probe, *encode_result(r, phases_in_us(r)))
    assert decode_result(row).result == r


@pytest.mark.usefixtures("second")
async def test_roll_ups_count_the_key_latency_of_each_targets_provider(database: str) -> None:
    store = await Store.open(database, providers={"two": "second", "aai": "assemblyai"})
    try:
        await store.add_results(
            [
                result("two", "transcription", phases={"post": 0.1, "transcribe": 2.0}),
                result("aai", "transcription", phases={"submit": 0.5, "queued": 1.0}),
            ]
        )
        rollups = await store.rollups_hourly(
            None, "transcription", T0 - timedelta(hours=1), T0 + timedelta(hours=1)
        )
    finally:
        await store.close()
    latency = {r.target: r.latency_sum for r in rollups}
    # The second provider's key phase, not the run's 3 s; AssemblyAI's sum of key parts.
    assert latency == {"two": pytest.approx(2.0), "aai": pytest.approx(1.5)}
    assert {r.target: set(r.phases) for r in rollups}["two"] == {"post", "transcribe"}
