"""How exactly the webhook probe reports the delivery delay (not part of ``python -m bench``).

The simulator (its own process) sends each job's webhook t ms after the job
ends (fault ``delay``); the probe, with its default settings (polls from
0.5 s up to 1 s, a 3 s duplicate window), receives it on sttwatch's own
receiver on loopback and reports ``phases["delivery"]``, which should read t.
Error = delivery − t for the reported lower bound, and for the upper bound
``details.delivery_max_s`` (docs/probes.md: the polls bound the job's end).

    python -m bench.webhook_delivery [--runs N] [--delays 0,1000,3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.scale import SIM_KEY, Simulator
from bench.stats import summary_ms
from bench.streaming_accuracy import _set_faults


class _Ledger:
    """An in-memory deletion ledger: the bench measures delivery, not SQLite."""

    def __init__(self) -> None:
        self.pending_ids: set[str] = set()

    async def record(self, target: str, transcript_id: str) -> None:
        self.pending_ids.add(transcript_id)

    async def mark_deleted(self, target: str, transcript_id: str) -> None:
        self.pending_ids.discard(transcript_id)

    async def mark_attempt(self, target: str, transcript_id: str, error: str) -> None:
        pass

    async def pending(self, target: str | None = None) -> list[Any]:
        return []


async def _runs(sim: Simulator, n: int) -> tuple[list[float], list[float], list[str]]:
    from monitor.config import Target
    from monitor.models import ProbeContext, SystemClock
    from monitor.providers.assemblyai import webhook
    from monitor.providers.assemblyai.specs import WebhookSpec
    from monitor.server import bound_port
    from monitor.webhook_receiver import add_receiver
    from monitor.webhook_runs import LiveRuns

    runs = LiveRuns(None)
    app = web.Application()
    add_receiver(app, runs)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    runs.base_url = f"http://127.0.0.1:{bound_port(runner)}"
    target = Target.model_validate(
        {
            "name": "bench",
            "api_base": sim.base_url,
            "streaming_base": sim.ws_base,
            "api_key": SIM_KEY,
            "probes": {"reachability": {}},
        }
    )
    spec = WebhookSpec()
    ctx = ProbeContext(
        session_factory=aiohttp.ClientSession,
        clock=SystemClock(),
        ledger=_Ledger(),
        webhooks=runs,
    )
    delivery: list[float] = []
    bounds: list[float] = []  # the upper bound, delivery_max_s
    problems: list[str] = []
    try:
        for _ in range(n):
            result = await webhook.run(target, spec, ctx)
            if "delivery" in result.phases:
                delivery.append(float(result.phases["delivery"]))
                bound = result.details.get("delivery_max_s")
                if isinstance(bound, float):
                    bounds.append(bound)
            else:
                problems.append(f"{result.status.value} {result.error_kind}: {result.message}")
    finally:
        await runner.cleanup()
    return delivery, bounds, problems


def run(workdir: Path, *, n: int, delays_ms: tuple[int, ...] = (0, 1000, 3000)) -> dict[str, Any]:
    """Return, per injected delay t, the error of the reported delivery against t."""
    out: dict[str, Any] = {"runs_per_delay": n, "delays": {}}
    with Simulator(workdir, "webhook-simulator") as sim:
        for t in delays_ms:
            faults = [{"endpoint": "webhook", "action": "delay", "delay_ms": t}] if t else []
            _set_faults(sim, faults)
            delivery, bounds, problems = asyncio.run(_runs(sim, n))
            s = summary_ms(delivery)
            s["error_median_ms"] = round(s["median_ms"] - t, 3)
            upper = summary_ms(bounds)
            upper["error_median_ms"] = round(upper["median_ms"] - t, 3)
            s["delivery_max"] = upper
            s["failed_runs"] = problems[:5]
            out["delays"][str(t)] = s
        _set_faults(sim, [])
    return out


def main() -> None:
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--delays", default="0,1000,3000", help="injected delays, ms")
    args = parser.parse_args()
    delays = tuple(int(d) for d in args.delays.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(Path(tmp), n=args.runs, delays_ms=delays), indent=2))


if __name__ == "__main__":
    main()
