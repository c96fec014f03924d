"""Benchmark 1: measurement overhead of one reachability probe, against blackbox_exporter.

A loopback server answers after exactly d ms (d = 0 and 50). Each round, in
a rotating order, three tools probe it once: sttwatch's reachability probe
(its recorded ``phases["total"]``), blackbox_exporter (``probe_duration_seconds``
of ``/probe``), and a bare aiohttp GET on a fresh connection (the floor: a plain
Python client timed around its whole request, its session included, as a
script would time it; sttwatch stamps the connection and the bytes in the
connection's protocol, so it can read below it). Overhead = measured − d.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

from bench.delay_server import API_KEY
from bench.peers import BlackboxExporter
from bench.procs import Proc, python
from bench.stats import median, ratio, summary_ms

TOOLS = ("sttwatch", "blackbox_exporter", "bare_aiohttp")
# Derived from the same runs: the network phases alone (set-up and teardown of the
# client excluded), what each tool would report if its clock ran only around them.
PHASE_SUMS = ("sttwatch_phases_sum", "blackbox_exporter_phases_sum")
NETWORK_PHASES = ("dns", "connect", "ttfb", "transfer")


class _NoLedger:
    """The reachability probe creates no transcript; its ledger is never called."""

    async def record(self, target: str, transcript_id: str) -> None:
        raise AssertionError("reachability recorded a transcript")

    async def mark_deleted(self, target: str, transcript_id: str) -> None:
        raise AssertionError("reachability deleted a transcript")

    async def mark_attempt(self, target: str, transcript_id: str, error: str) -> None:
        raise AssertionError("reachability deleted a transcript")

    async def pending(self, target: str | None = None) -> list[Any]:
        return []


async def _bare(url: str) -> float:
    """Return seconds of one GET on a fresh connector, as the probe makes it."""
    t0 = time.perf_counter()
    connector = aiohttp.TCPConnector(force_close=True, use_dns_cache=False, limit=1)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(url, params={"limit": "1"}, headers={"Authorization": API_KEY}) as resp,
    ):
        body = await resp.read()
        if resp.status != 200 or b'"transcripts"' not in body:
            raise RuntimeError(f"bare GET answered {resp.status}")
    return time.perf_counter() - t0


async def _measure(
    base: str, delay_ms: int, n: int, bb: BlackboxExporter
) -> dict[str, list[float]]:
    from monitor.config import Target
    from monitor.models import ProbeContext, SystemClock
    from monitor.providers.assemblyai import reachability
    from monitor.providers.assemblyai.specs import ReachabilitySpec

    api_base = f"{base}/d{delay_ms}"
    target = Target.model_validate(
        {"name": "bench", "api_base": api_base, "api_key": API_KEY, "probes": {"reachability": {}}}
    )
    spec = ReachabilitySpec()
    ctx = ProbeContext(
        session_factory=aiohttp.ClientSession, clock=SystemClock(), ledger=_NoLedger()
    )
    url = f"{api_base}/v2/transcript"
    bb_target = f"{url}?limit=1"
    loop = asyncio.get_running_loop()

    out: dict[str, list[float]] = {t: [] for t in (*TOOLS, *PHASE_SUMS)}
    d = delay_ms / 1000.0

    async def sttwatch(record: bool) -> None:
        result = await reachability.run(target, spec, ctx)
        if result.status.value == "down":
            raise RuntimeError(f"sttwatch probe down: {result.message}")
        if record:
            out["sttwatch"].append(float(result.phases["total"]) - d)
            phases = sum(float(result.phases.get(p, 0.0)) for p in NETWORK_PHASES)
            out["sttwatch_phases_sum"].append(phases - d)

    async def blackbox(record: bool) -> None:
        ok, seconds, phases = await loop.run_in_executor(None, bb.probe, bb_target)
        if not ok:
            raise RuntimeError("blackbox probe failed")
        if record:
            out["blackbox_exporter"].append(seconds - d)
            out["blackbox_exporter_phases_sum"].append(phases - d)

    async def bare(record: bool) -> None:
        seconds = await _bare(url)
        if record:
            out["bare_aiohttp"].append(seconds - d)

    runners = {"sttwatch": sttwatch, "blackbox_exporter": blackbox, "bare_aiohttp": bare}
    for _ in range(3):  # warm-up: imports, first connections, caches
        for tool in TOOLS:
            await runners[tool](False)
    for i in range(n):
        # Rotate the order so no tool always runs right after another.
        order = TOOLS[i % 3 :] + TOOLS[: i % 3]
        for tool in order:
            await runners[tool](True)
    return out


def run(workdir: Path, *, n: int, delays: tuple[int, ...] = (0, 50)) -> dict[str, Any]:
    """Return per-delay, per-tool overhead summaries and the sttwatch ÷ blackbox ratio."""
    server = Proc([python(), "-m", "bench.delay_server"], log=workdir / "delay_server.log")
    bb = BlackboxExporter(workdir, API_KEY)
    results: dict[str, Any] = {"probes_per_tool": n, "delays": {}}
    with server:
        line = server.wait_log("listening on")
        port = int(line.split("listening on 127.0.0.1:")[1].split()[0])
        base = f"http://127.0.0.1:{port}"
        with bb:
            for d in delays:
                samples = asyncio.run(_measure(base, d, n, bb))
                per_tool = {tool: summary_ms(samples[tool]) for tool in (*TOOLS, *PHASE_SUMS)}
                med = {tool: median(samples[tool]) * 1000 for tool in TOOLS}
                results["delays"][str(d)] = {
                    "tools": per_tool,
                    "ratio_sttwatch_to_blackbox": ratio(med["sttwatch"], med["blackbox_exporter"]),
                    "sttwatch_minus_floor_ms": round(med["sttwatch"] - med["bare_aiohttp"], 3),
                    "ratio_phases_sum_sttwatch_to_blackbox": ratio(
                        median(samples["sttwatch_phases_sum"]),
                        median(samples["blackbox_exporter_phases_sum"]),
                    ),
                }
    return results


async def _cpu_per_probe(base: str, n: int, concurrency: int, reps: int) -> dict[str, Any]:
    """Return CPU ms per reachability run (this process's own, probe and event loop)."""
    from monitor.config import Target
    from monitor.models import ProbeContext, SystemClock
    from monitor.providers.assemblyai import reachability
    from monitor.providers.assemblyai.specs import ReachabilitySpec
    from monitor.runtime import session_factory

    target = Target.model_validate(
        {"name": "bench", "api_base": f"{base}/d0", "api_key": API_KEY, "probes": {}}
    )
    spec = ReachabilitySpec()
    ctx = ProbeContext(session_factory=session_factory(), clock=SystemClock(), ledger=_NoLedger())
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            result = await reachability.run(target, spec, ctx)
        if result.status.value == "down":
            raise RuntimeError(f"sttwatch probe down: {result.message}")

    for _ in range(50):  # warm-up: imports, first connections, caches
        await one()
    per_rep: list[float] = []
    for _ in range(reps):
        gc.collect()
        cpu0 = time.process_time()
        await asyncio.gather(*(one() for _ in range(n)))
        per_rep.append((time.process_time() - cpu0) / n * 1000)
    return {
        "probes": n,
        "concurrency": concurrency,
        "reps": reps,
        "cpu_ms_per_probe_median": round(median(per_rep), 4),
        "cpu_ms_per_probe": [round(x, 4) for x in per_rep],
    }


def cpu_per_probe(
    *, n: int = 2000, concurrencies: tuple[int, ...] = (1, 200), reps: int = 5
) -> list[dict[str, Any]]:
    """Return the reachability probe's own CPU per run against the delay server, d = 0.

    Benchmark 3 counts every CPU second of `sttwatch run`; this isolates the probe's share
    (aiohttp and the event loop included, the store, metrics and status page not).
    """
    with tempfile.TemporaryDirectory() as tmp:
        server = Proc([python(), "-m", "bench.delay_server"], log=Path(tmp) / "delay_server.log")
        with server:
            line = server.wait_log("listening on")
            port = int(line.split("listening on 127.0.0.1:")[1].split()[0])
            return [
                asyncio.run(_cpu_per_probe(f"http://127.0.0.1:{port}", n, c, reps))
                for c in concurrencies
            ]


def main() -> None:
    """``python -m bench.overhead cpu``: print the probe's CPU per run as JSON."""
    parser = argparse.ArgumentParser(description=cpu_per_probe.__doc__)
    parser.add_argument("what", choices=["cpu"])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 200])
    args = parser.parse_args()
    rows = cpu_per_probe(n=args.n, concurrencies=tuple(args.concurrency), reps=args.reps)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
