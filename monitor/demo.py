"""``sttwatch demo``: every simulated provider side by side, with a scripted incident.

The demo runs each provider that has a local simulator (``Provider.simulator``)
and a demo profile (the ``demo`` module beside its descriptor, e.g.
``monitor/providers/assemblyai/demo.py``): one simulator per provider on its
own free loopback port, one target per provider, and a few days of synthetic
history drawn from each profile (so the 90-day bars, the 24 h charts and the
side-by-side comparison have something to show). It writes a config for them
into a temporary directory and runs the real ``sttwatch run`` machinery —
scheduler, store, metrics, status page, web server — with a 5 s interval. A
storyline then drives the simulators' fault APIs in a loop:

1. healthy;
2. the first provider whose profile has a ``SLOWDOWN`` slows past its
   ``degraded_after``: *Degraded performance*;
3. the next provider whose profile has a ``FAILURE`` (the same one when
   there is no other) fails for a few cycles, while the slow one stays slow:
   after ``failure_threshold`` failed runs an incident opens (*Major
   outage*); when the slow and the failing provider differ, the comparison
   then shows the healthy ones, the slow one and the failing one in that
   order (with the shipped profiles they are both AssemblyAI);
4. the faults are cleared: after ``success_threshold`` good runs the
   incident resolves and the page is green again.

Nothing here names a provider or a probe kind: a new provider with a
simulator and a profile joins the demo without an edit here.

This module may import the simulator (docs/design.md §1: only the CLI's
``simulate`` and ``demo`` do).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import random
import socket
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml
from aiohttp import web

from monitor.alerting.console import ConsoleSink
from monitor.app import open_runtime, serve
from monitor.config import Config, load_config
from monitor.models import ProbeResult, Status
from monitor.probes.registry import BUILTIN_PROVIDERS, Provider
from monitor.runtime import Runtime
from monitor.server import bound_port

__all__ = [
    "Chapter",
    "DemoHandle",
    "DemoProvider",
    "default_storyline",
    "demo_config",
    "demo_providers",
    "run_demo",
    "synthetic_history",
]

SIM_KEY = "sim-key"
"""The API key the demo's targets send, unless a profile names its simulator's (``API_KEY``)."""


@dataclass(frozen=True, slots=True)
class DemoProvider:
    """A provider the demo runs: its descriptor, its demo profile and its simulator module."""

    provider: Provider
    profile: ModuleType
    simulator: str  # the module of its simulator (imported only to run it)

    @property
    def name(self) -> str:
        """Return the provider's name (also its demo target's name)."""
        return self.provider.name

    @property
    def api_key(self) -> str:
        """Return the key its simulator accepts."""
        return str(getattr(self.profile, "API_KEY", SIM_KEY))


def demo_providers() -> list[DemoProvider]:
    """Return every built-in provider with a simulator and a demo profile, in registry order."""
    out: list[DemoProvider] = []
    for ref in BUILTIN_PROVIDERS:
        module, _, attr = ref.partition(":")
        found = getattr(importlib.import_module(module), attr)
        profile = f"{module}.demo"
        if not isinstance(found, Provider) or found.simulator is None:
            continue
        if importlib.util.find_spec(profile) is None:
            continue
        out.append(DemoProvider(found, importlib.import_module(profile), found.simulator))
    return out


@dataclass(frozen=True, slots=True)
class DemoHandle:
    """A running demo: the status page URL, the simulators (faults) and the config.

    `sims` holds every provider's simulator by provider name; `sim` is the
    first provider's.
    """

    url: str
    sim: Any
    config: Config
    sims: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chapter:
    """One step of the storyline: what to say, which faults to install where, for how long.

    `faults` maps a provider's name to the faults of its simulator; a provider
    not named has its faults cleared.
    """

    title: str
    seconds: float
    faults: Mapping[str, list[dict[str, Any]]] = field(default_factory=dict)


def _story(profile: ModuleType, name: str) -> tuple[str, list[dict[str, Any]]] | None:
    """Return a profile's (what the storyline says, the faults) of `name`, if it has one."""
    found = getattr(profile, name, None)
    if found is None:
        return None
    title, faults = found
    return str(title), [dict(f) for f in faults]


def default_storyline(providers: Sequence[DemoProvider]) -> tuple[Chapter, ...]:
    """Return the scripted incident for `providers`, repeated until Ctrl-C (~2.5 min a loop)."""
    slow = next((p for p in providers if _story(p.profile, "SLOWDOWN")), None)
    failing = next(
        (p for p in providers if p is not slow and _story(p.profile, "FAILURE")),
        slow if slow is not None and _story(slow.profile, "FAILURE") else None,
    )
    chapters = [Chapter("healthy: every check passes", 30.0)]
    slow_faults: dict[str, list[dict[str, Any]]] = {}
    if slow is not None:
        title, faults = _story(slow.profile, "SLOWDOWN") or ("", [])
        slow_faults = {slow.name: faults}
        chapters.append(Chapter(f"{slow.provider.label} {title}", 40.0, slow_faults))
    if failing is not None:
        title, faults = _story(failing.profile, "FAILURE") or ("", [])
        # The slow provider stays slow beside the failing one, unless they are the same.
        chapters.append(
            Chapter(
                f"{failing.provider.label} {title}",
                30.0,
                {**slow_faults, failing.name: faults},
            )
        )
    chapters.append(
        Chapter("recovery: faults cleared; the incident resolves after two good runs", 60.0)
    )
    return tuple(chapters)


def demo_config(
    workdir: Path,
    sims: Mapping[str, Any],
    *,
    providers: Sequence[DemoProvider] | None = None,
    port: int = 0,
    interval: float = 5.0,
    alert_urls: Sequence[str] = (),
) -> dict[str, Any]:
    """Return the YAML-ready config of the demo: one target per provider on its simulator."""
    providers = demo_providers() if providers is None else providers
    timeout = f"{max(interval - 0.5, 0.5)}s"
    running = [p for p in providers if p.name in sims]
    labels = [p.provider.label for p in running]
    names = ", ".join(labels[:-1]) + f" and {labels[-1]}" if len(labels) > 1 else "".join(labels)
    return {
        "title": f"sttwatch demo: simulated {names}",
        "public_url": f"http://127.0.0.1:{port}/",
        # Alerts travel the real path (outbox, Apprise, HTTP) to a printer on loopback.
        # A target's probes are spread over one interval: its group_wait (docs/alerting.md).
        "alerts": {"urls": list(alert_urls), "group_wait": f"{interval}s"},
        "database": str(workdir / "sttwatch.db"),
        "site_dir": str(workdir / "site"),
        "listen": f"127.0.0.1:{port}",
        "targets": [
            {
                "name": p.name,
                "display_name": f"{p.provider.label} (local simulator)",
                "provider": p.name,
                **({"region": p.profile.REGION} if hasattr(p.profile, "REGION") else {}),
                "api_base": sims[p.name].base_url,
                "streaming_base": sims[p.name].ws_base,
                "api_key": p.api_key,
                "probes": p.profile.probes(interval, timeout),
            }
            for p in running
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
    profiles: Mapping[str, Any] | None = None,
) -> Iterator[ProbeResult]:
    """Yield plausible past results for every configured probe, oldest first.

    Latency follows a daily rhythm with noise; each target's provider's demo
    profile gives its kinds' typical latency and adds a slow hour and a few
    outages, so the bars, charts and incident history all have something to
    show. `profiles` gives the profile of each provider (by default, the demo
    providers'); targets of a provider without one get no history.
    """
    rng = random.Random(seed)
    start = until - timedelta(days=days)
    if profiles is None:
        profiles = {p.name: p.profile for p in demo_providers()}
    drawn = [(t, profiles[t.provider]) for t in config.targets if t.provider in profiles]
    outages = {t.name: [(f, until - f.ago) for f in profile.OUTAGES] for t, profile in drawn}
    slows = {
        t.name: [(p, until - ago, span) for p, ago, span in profile.SLOW] for t, profile in drawn
    }
    t = start
    while t < until:
        hour = t.hour + t.minute / 60
        rhythm = 1.0 + 0.35 * max(0.0, 1 - abs(hour - 15) / 6)  # busier afternoons
        for target, demo_profile in drawn:
            slow = slows[target.name]
            for probe, spec in target.probes.enabled().items():
                base = demo_profile.base_latency(probe) * rhythm
                latency = base * rng.lognormvariate(0, 0.18)
                failing = next(
                    (
                        f
                        for f, s in outages[target.name]
                        if f.probe == probe and s <= t < s + f.span
                    ),
                    None,
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
    sims: Mapping[str, Any],
    chapters: Sequence[Chapter],
    say: Callable[[str], None],
    *,
    loop: bool = True,
) -> None:
    """Drive the simulators (by provider) through `chapters`, forever when `loop`, saying each."""
    while True:
        for chapter in chapters:
            for name, sim in sims.items():
                faults = chapter.faults.get(name)
                if faults:
                    sim.set_faults(faults)
                else:
                    sim.clear_faults()
            now = datetime.now(UTC).strftime("%H:%M:%S")
            say(f"[{now}] {chapter.title}")
            await asyncio.sleep(chapter.seconds)
        if not loop:
            return


async def _start_simulators(
    providers: Sequence[DemoProvider], stack: contextlib.AsyncExitStack
) -> dict[str, Any]:
    """Start one simulator per provider, each on its own free loopback port; closed by `stack`."""
    sims: dict[str, Any] = {}
    for p in providers:
        module = importlib.import_module(p.simulator)
        # A profile may set up its simulator (`scenario()`: the fields of the module's Scenario).
        make = getattr(p.profile, "scenario", None)
        scenario = module.Scenario.model_validate(make()) if make is not None else None
        handle = await module.start_simulator(host="127.0.0.1", port=0, scenario=scenario)
        stack.push_async_callback(handle.close)
        sims[p.name] = handle
    return sims


async def run_demo(
    stop: asyncio.Event,
    *,
    say: Callable[[str], None] = print,
    port: int = 0,
    interval: float = 5.0,
    storyline: Sequence[Chapter] | None = None,
    history_days: float = 4.0,
    workdir: Path | None = None,
    on_ready: Callable[[DemoHandle], Any] | None = None,
    add_sinks: Callable[[Runtime], Any] | None = None,
) -> None:
    """Run the demo until `stop` is set; everything it started is stopped and removed.

    `storyline` defaults to :func:`default_storyline` of every demo provider.
    `on_ready` receives a :class:`DemoHandle` once the server listens. `add_sinks`
    is where alerting joins the demo: it receives the runtime before the
    scheduler starts and may append result sinks (docs/design.md order: store,
    metrics, then alerting).
    """
    providers = demo_providers()
    chapters = default_storyline(providers) if storyline is None else storyline
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(
                stack.enter_context(tempfile.TemporaryDirectory(prefix="sttwatch-demo-"))
            )
        if port == 0:
            # Known before the config is written, so the page and its JSON name the real URL.
            port = _free_port()
        alerts = ConsoleSink(say)
        await alerts.start()
        try:
            async with contextlib.AsyncExitStack() as running:
                sims = await _start_simulators(providers, running)
                await _serve_demo(
                    stop, say, workdir, sims, providers, port, interval, chapters,
                    history_days, alerts, on_ready, add_sinks,
                )  # fmt: skip
        finally:
            await alerts.stop()


async def _serve_demo(
    stop: asyncio.Event,
    say: Callable[[str], None],
    workdir: Path,
    sims: Mapping[str, Any],
    providers: Sequence[DemoProvider],
    port: int,
    interval: float,
    chapters: Sequence[Chapter],
    history_days: float,
    alerts: ConsoleSink,
    on_ready: Callable[[DemoHandle], Any] | None,
    add_sinks: Callable[[Runtime], Any] | None,
) -> None:
    """Write the config for the running `sims`, seed its history, serve it until `stop`."""
    path = workdir / "sttwatch.yaml"
    config_data = demo_config(
        workdir, sims, providers=providers, port=port, interval=interval, alert_urls=[alerts.url]
    )
    path.write_text(yaml.safe_dump(config_data), encoding="utf-8")
    path.chmod(0o600)
    config = load_config(path)
    seeded = await seed_history(config, datetime.now(UTC), history_days)
    story: asyncio.Task[None] | None = None

    async def started(runner: web.AppRunner) -> None:
        nonlocal story
        url = f"http://127.0.0.1:{bound_port(runner)}/"
        for name, sim in sims.items():
            say(f"sttwatch demo: {name} simulator at {sim.base_url}")
        say(f"  config in {path}")
        say(f"  seeded {seeded} results of synthetic history ({history_days:g} days)")
        say(f"  status page: {url}")
        say(f"  providers:   {url}api/v1/providers")
        say(f"  metrics:     {url}metrics")
        say(f"  health:      {url}healthz")
        say(f"  static site: {config.site_dir}/index.html (works from file:// too)")
        say(f"  alerts:      printed here as they arrive (Apprise {alerts.url})")
        say("Press Ctrl-C to stop.")
        if on_ready is not None:
            first = next(iter(sims.values()))
            await _maybe_await(on_ready(DemoHandle(url, first, config, dict(sims))))
        story = asyncio.create_task(play_storyline(sims, chapters, say))

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _maybe_await(value: Any) -> Any:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        return await value
    return value
