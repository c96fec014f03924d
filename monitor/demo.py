"""``sttwatch demo``: everything against the local simulator, with a scripted incident.

The demo starts the simulator on a free loopback port, writes a config for
it into a temporary directory, seeds a few days of synthetic history (so the
90-day bars and the 24 h charts have something to show), and runs the real
``sttwatch run`` machinery — scheduler, store, metrics, status page, web
server — with a 5 s interval. A storyline then drives the simulator's fault
API in a loop:

1. healthy;
2. transcription slows past its ``degraded_after`` (job submissions are
   delayed): the Transcription component turns *Degraded performance*;
3. streaming sessions are closed with 3005 for a few cycles: after
   ``failure_threshold`` failed runs an incident opens (*Major outage*);
4. the faults are cleared: after ``success_threshold`` good runs the
   incident resolves and the page is green again.

This module may import the simulator (docs/design.md §1: only the CLI's
``simulate`` and ``demo`` do).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from monitor.alerting.console import ConsoleSink
from monitor.app import open_runtime, serve
from monitor.config import Config, load_config
from monitor.models import ProbeResult, Status
from monitor.providers.assemblyai import demo as demo_profile
from monitor.runtime import Runtime
from monitor.server import bound_port
from monitor.simulator import Scenario, SimulatorHandle, start_simulator

__all__ = [
    "DEFAULT_STORYLINE",
    "Chapter",
    "DemoHandle",
    "demo_config",
    "run_demo",
    "synthetic_history",
]

TARGET = "assemblyai"


@dataclass(frozen=True, slots=True)
class DemoHandle:
    """A running demo: the status page URL, the simulator (faults) and the config."""

    url: str
    sim: SimulatorHandle
    config: Config


@dataclass(frozen=True, slots=True)
class Chapter:
    """One step of the storyline: what to say, which faults to install, for how long."""

    title: str
    seconds: float
    faults: list[dict[str, Any]] = field(default_factory=list)


DEFAULT_STORYLINE: tuple[Chapter, ...] = (
    Chapter("healthy: every check passes", 30.0),
    Chapter(
        "transcription slows down: submitting a job takes 1.5 s more; turnaround passes 2.5 s",
        40.0,
        [{"endpoint": "transcript.create", "action": "delay", "delay_ms": 1500}],
    ),
    Chapter(
        "streaming fails: sessions are closed with 3005 (server error); an incident opens",
        30.0,
        [{"endpoint": "ws", "action": "close", "code": 3005, "reason": "Internal server error"}],
    ),
    Chapter("recovery: faults cleared; the incident resolves after two good runs", 60.0),
)
"""The scripted incident, repeated until Ctrl-C (about 2.5 minutes a loop)."""


def demo_config(
    workdir: Path,
    sim: SimulatorHandle,
    *,
    port: int = 0,
    interval: float = 5.0,
    alert_urls: Sequence[str] = (),
) -> dict[str, Any]:
    """Return the YAML-ready config of the demo: one target, the simulator, `interval`."""
    timeout = f"{max(interval - 0.5, 0.5)}s"
    return {
        "title": "sttwatch demo: simulated AssemblyAI",
        "public_url": f"http://127.0.0.1:{port}/",
        # Alerts travel the real path (outbox, Apprise, HTTP) to a printer on loopback.
        "alerts": {"urls": list(alert_urls)},
        "database": str(workdir / "sttwatch.db"),
        "site_dir": str(workdir / "site"),
        "listen": f"127.0.0.1:{port}",
        "targets": [
            {
                "name": TARGET,
                "display_name": "AssemblyAI (local simulator)",
                "api_base": sim.base_url,
                "streaming_base": sim.ws_base,
                "api_key": "sim-key",
                "probes": demo_profile.probes(interval, timeout),
            }
        ],
    }


# ---------------------------------------------------------------------------
# Synthetic history


def synthetic_history(
    config: Config,
    until: datetime,
    *,
    days: float = 4.0,
    step: timedelta = timedelta(minutes=5),
    seed: int = 2026,
) -> Iterator[ProbeResult]:
    """Yield plausible past results for every configured probe, oldest first.

    Latency follows a daily rhythm with noise; the provider's demo profile adds a
    slow hour and a few outages, so the bars, charts and incident history all have
    something to show.
    """
    rng = random.Random(seed)
    start = until - timedelta(days=days)
    outages = [(f, until - f.ago) for f in demo_profile.OUTAGES]
    slow = [(p, until - ago, span) for p, ago, span in demo_profile.SLOW]
    t = start
    while t < until:
        hour = t.hour + t.minute / 60
        rhythm = 1.0 + 0.35 * max(0.0, 1 - abs(hour - 15) / 6)  # busier afternoons
        for target in config.targets:
            for probe, spec in target.probes.enabled().items():
                base = demo_profile.base_latency(probe) * rhythm
                latency = base * rng.lognormvariate(0, 0.18)
                failing = next(
                    (f for f, s in outages if f.probe == probe and s <= t < s + f.span), None
                )
                if failing is not None:
                    yield ProbeResult(
                        target.name, probe, t, latency, Status.DOWN, failing.kind, failing.message
                    )
                    continue
                if any(p == probe and s <= t < s + span for p, s, span in slow):
                    latency = float(spec.degraded_after) * rng.uniform(1.05, 1.6)
                status = Status.DEGRADED if latency > float(spec.degraded_after) else Status.UP
                yield ProbeResult(
                    target.name,
                    probe,
                    t,
                    latency,
                    status,
                    phases=demo_profile.phases(probe, latency),
                    details=demo_profile.details(probe, rng),
                )
        t += step


async def seed_history(config: Config, until: datetime, days: float = 4.0) -> int:
    """Store `days` of synthetic history in the config's database; return how many results."""
    async with open_runtime(config, metrics=False) as rt:
        return await rt.store.add_results(synthetic_history(config, until, days=days))


# ---------------------------------------------------------------------------
# The storyline and the whole demo


async def play_storyline(
    sim: SimulatorHandle,
    chapters: Sequence[Chapter],
    say: Callable[[str], None],
    *,
    loop: bool = True,
) -> None:
    """Drive the simulator through `chapters` (forever when `loop`), announcing each one."""
    while True:
        for chapter in chapters:
            if chapter.faults:
                sim.set_faults(chapter.faults)
            else:
                sim.clear_faults()
            now = datetime.now(UTC).strftime("%H:%M:%S")
            say(f"[{now}] {chapter.title}")
            await asyncio.sleep(chapter.seconds)
        if not loop:
            return


async def run_demo(
    stop: asyncio.Event,
    *,
    say: Callable[[str], None] = print,
    port: int = 0,
    interval: float = 5.0,
    storyline: Sequence[Chapter] = DEFAULT_STORYLINE,
    history_days: float = 4.0,
    workdir: Path | None = None,
    on_ready: Callable[[DemoHandle], Any] | None = None,
    add_sinks: Callable[[Runtime], Any] | None = None,
) -> None:
    """Run the demo until `stop` is set; everything it started is stopped and removed.

    `on_ready` receives a :class:`DemoHandle` once the server listens. `add_sinks`
    is where alerting joins the demo: it receives the runtime before the
    scheduler starts and may append result sinks (docs/design.md order: store,
    metrics, then alerting).
    """
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="sttwatch-demo-"))
            )
        if port == 0:
            # Known before the config is written, so the page and its JSON name the real URL.
            port = _free_port()
        scenario = Scenario.model_validate({"seed": 7})
        alerts = ConsoleSink(say)
        await alerts.start()
        sim = await start_simulator(port=0, scenario=scenario)
        try:
            path = workdir / "sttwatch.yaml"
            config_data = demo_config(
                workdir, sim, port=port, interval=interval, alert_urls=[alerts.url]
            )
            path.write_text(yaml.safe_dump(config_data), encoding="utf-8")
            path.chmod(0o600)
            config = load_config(path)
            seeded = await seed_history(config, datetime.now(UTC), history_days)
            story: asyncio.Task[None] | None = None

            async def started(runner: web.AppRunner) -> None:
                nonlocal story
                url = f"http://127.0.0.1:{bound_port(runner)}/"
                say(f"sttwatch demo: simulator at {sim.base_url}, config in {path}")
                say(f"  seeded {seeded} results of synthetic history ({history_days:g} days)")
                say(f"  status page: {url}")
                say(f"  metrics:     {url}metrics")
                say(f"  health:      {url}healthz")
                say(f"  static site: {config.site_dir}/index.html (works from file:// too)")
                say(f"  alerts:      printed here as they arrive (Apprise {alerts.url})")
                say("Press Ctrl-C to stop.")
                if on_ready is not None:
                    await _maybe_await(on_ready(DemoHandle(url, sim, config)))
                story = asyncio.create_task(play_storyline(sim, storyline, say))

            async def sinks(rt: Runtime) -> None:
                if add_sinks is not None:
                    await _maybe_await(add_sinks(rt))

            try:
                await serve(config, stop, on_started=started, extra_sinks=sinks)
            finally:
                if story is not None:
                    story.cancel()
                    # wait() neither raises the story's CancelledError nor hides our own.
                    await asyncio.wait([story])
        finally:
            await sim.close()
            await alerts.stop()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value
