"""The OpenAI-compatible demo profile: its probe settings run green on its own scenario."""

from __future__ import annotations

import random

import pytest

from monitor.models import Status
from monitor.probes.registry import provider
from monitor.providers.openai import demo
from tests.support.openai_provider import OpenAISim, openai_target, run_probe

KINDS = {kind.name: kind for kind in provider("openai").probes}


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_demo_probe_settings_pass_against_the_demo_scenario(
    kind: str, openai_sim: OpenAISim
) -> None:
    handle = await openai_sim(**demo.scenario())
    spec = KINDS[kind].spec.model_validate(demo.probes(5.0, "4500ms")[kind])
    result = await run_probe(kind, openai_target(handle), spec)
    assert result.status is Status.UP, result.message
    # The synthetic past draws phases this kind really reports.
    drawn = demo.phases(kind, demo.base_latency(kind))
    assert drawn and set(drawn) <= set(KINDS[kind].phases) | {KINDS[kind].key_phase}


def test_demo_history_names_only_this_providers_kinds_and_errors() -> None:
    for failure in demo.OUTAGES:
        assert failure.kind in KINDS[failure.probe].error_kinds
    assert {probe for probe, _, _ in demo.SLOW} <= set(KINDS)
    assert demo.details("reachability", random.Random(1)) == {}
    assert 0 <= demo.details("transcription", random.Random(1))["wer"] <= 0.08
    assert demo.REGION in provider("openai").regions
