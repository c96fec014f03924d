"""Benchmark 2: how exactly sttwatch's streaming probe reports time to first transcript.

The simulator (its own process) holds back the first ``Turn`` until exactly
t ms after the first audio frame it received (fault ``first_turn_delay``);
the probe's ``phases["first_transcript"]`` should read t. Error = phase − t,
one streaming session at a time.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp

from bench.overhead import _NoLedger
from bench.scale import SIM_KEY, Simulator
from bench.stats import median, summary_ms


def _set_faults(sim: Simulator, faults: list[dict[str, Any]]) -> None:
    req = urllib.request.Request(
        f"{sim.base_url}/_sim/faults",
        data=json.dumps(faults).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        if resp.status != 200:
            raise RuntimeError(f"/_sim/faults answered {resp.status}")


async def _sessions(sim: Simulator, n: int) -> tuple[list[float], list[str]]:
    from monitor.config import Target
    from monitor.models import ProbeContext, SystemClock
    from monitor.providers.assemblyai import streaming
    from monitor.providers.assemblyai.specs import StreamingSpec

    target = Target.model_validate(
        {
            "name": "bench",
            "api_base": sim.base_url,
            "streaming_base": sim.ws_base,
            "api_key": SIM_KEY,
            "probes": {"streaming": {}},
        }
    )
    spec = StreamingSpec()
    ctx = ProbeContext(
        session_factory=aiohttp.ClientSession, clock=SystemClock(), ledger=_NoLedger()
    )
    phases: list[float] = []
    problems: list[str] = []
    for _ in range(n):
        result = await streaming.run(target, spec, ctx)
        if "first_transcript" in result.phases:
            phases.append(float(result.phases["first_transcript"]))
        else:
            problems.append(f"{result.status.value} {result.error_kind}: {result.message}")
    return phases, problems


def run(workdir: Path, *, n: int, delays_ms: tuple[int, ...] = (100, 300)) -> dict[str, Any]:
    """Return, per t, the error of ``first_transcript`` against t (median, p99, worst)."""
    out: dict[str, Any] = {"sessions_per_delay": n, "delays": {}}
    with Simulator(workdir, "stream-simulator") as sim:
        for t in delays_ms:
            _set_faults(sim, [{"endpoint": "ws", "action": "first_turn_delay", "delay_ms": t}])
            phases, problems = asyncio.run(_sessions(sim, n))
            errors = [p - t / 1000.0 for p in phases]
            s = summary_ms(errors)
            s["median_abs_error_ms"] = round(median([abs(e) * 1000 for e in errors]), 3)
            s["failed_sessions"] = problems[:5]
            out["delays"][str(t)] = s
        _set_faults(sim, [])
    return out
