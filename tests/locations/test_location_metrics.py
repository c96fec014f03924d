"""Every per-target series carries the agent's location; the quorum is exported for the rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.config import parse_config
from monitor.metrics import Metrics
from monitor.models import ProbeResult, Status

TARGET = {"name": "aai-us", "api_key": "k", "probes": {"reachability": None}}


def metrics(**extra: Any) -> Metrics:
    """Return the metrics of a one-target agent configured with `extra`."""
    return Metrics(parse_config({"targets": [TARGET], **extra}, env={}))


def test_every_target_series_carries_the_agents_location() -> None:
    m = metrics(location="eu-west")
    m.record(
        ProbeResult(
            target="aai-us",
            probe="reachability",
            started_at=datetime(2026, 3, 2, tzinfo=UTC),
            duration_s=0.1,
            status=Status.UP,
            phases={"total": 0.1},
            location="eu-west",
        )
    )
    m.observe_lateness("aai-us", "reachability", 0.01)
    m.set_deletions_pending({"aai-us": 0})
    per_target = [
        sample
        for family in m.registry.collect()
        for sample in family.samples
        if "target" in sample.labels
    ]
    assert per_target
    assert {s.labels["location"] for s in per_target} == {"eu-west"}
    where = {"target": "aai-us", "provider": "assemblyai", "probe": "reachability"}
    status = m.registry.get_sample_value("sttwatch_probe_status", {**where, "location": "eu-west"})
    assert status == 0


@pytest.mark.parametrize(("quorum", "exported"), [(1, 1), (3, 3), ("majority", 0)])
def test_the_quorum_is_exported_zero_for_majority(quorum: Any, exported: int) -> None:
    assert metrics(quorum=quorum).registry.get_sample_value("sttwatch_quorum") == exported
