"""Deepgram's demo profile: its probes block is a valid config, its slowdown does what it says."""

from __future__ import annotations

from typing import Any

import aiohttp

from monitor.config import parse_config
from monitor.models import ProbeContext, Status, SystemClock
from monitor.probes.registry import implementation
from monitor.providers.deepgram import demo
from monitor.simulator.deepgram import parse_faults
from tests.support.deepgram import dg_target
from tests.support.probes import MemoryLedger

# What the demo runs with: a 5 s interval, each probe's timeout half a second shorter.
INTERVAL, TIMEOUT = 5.0, "4.5s"


def test_the_probes_block_is_a_valid_deepgram_target() -> None:
    cfg = parse_config(
        {
            "targets": [
                {
                    "name": "dg",
                    "provider": "deepgram",
                    "api_key": "k",
                    "probes": demo.probes(INTERVAL, TIMEOUT),
                }
            ]
        },
        env={},
    )
    assert set(cfg.targets[0].probes) == {"reachability", "transcription", "streaming"}
    # Every kind has a synthetic past to draw.
    assert all(demo.phases(kind, 0.5) for kind in cfg.targets[0].probes)


async def run_profile_probe(kind: str, make_dg: Any, faults: list[dict[str, Any]]) -> Status:
    handle = await make_dg(streaming={"interim_interval_ms": 1000})
    handle.set_faults(faults)
    cfg = parse_config(
        {
            "targets": [
                {
                    "name": "dg",
                    "provider": "deepgram",
                    "api_key": "sim-key",
                    "api_base": handle.base_url,
                    "streaming_base": handle.ws_base,
                    "probes": demo.probes(INTERVAL, TIMEOUT),
                }
            ]
        },
        env={},
    )
    ctx = ProbeContext(
        session_factory=aiohttp.ClientSession, clock=SystemClock(), ledger=MemoryLedger()
    )
    spec = cfg.targets[0].probes[kind]
    result = await implementation("deepgram", kind)(dg_target(handle), spec, ctx)
    return result.status


async def test_the_slowdown_chapter_degrades_streaming(make_dg: Any) -> None:
    _, faults = demo.SLOWDOWN
    assert parse_faults(faults)
    assert await run_profile_probe("streaming", make_dg, faults) is Status.DEGRADED
