"""Screenshot the status page's side-by-side view into docs/ (headless Chromium, Playwright).

    PYTHONPATH=. python scripts/compare-screenshot.py [--out docs]

The page is a real render of a real store: a few days of synthetic history
from each provider's demo profile (``monitor.demo.synthetic_history``), then
"now" scripted the way the demo's storyline ends its third chapter — the
second provider slow (its profile's slow kind past ``degraded_after``), the
third down (its profile's first outage, twice: an incident) and the first
healthy — so the table shows all three classes in rank order.

The targets are one per provider that has a demo profile, as ``sttwatch
demo`` runs them, when there are three or more. With fewer, they are
AssemblyAI US and EU plus an extra provider registered for the picture
(``tests.support``'s test provider), whose history is drawn from
AssemblyAI's profile; the script says which it used.

Writes ``compare.png`` (1000 px, light) and ``compare-phone-dark.png``
(320 px, dark), each of the ``#compare`` section only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.config import Config, parse_config  # noqa: E402
from monitor.demo import DemoProvider, demo_providers, synthetic_history  # noqa: E402
from monitor.models import ProbeResult, Status  # noqa: E402
from monitor.site import render_site  # noqa: E402
from monitor.store import Store  # noqa: E402
from tests.support.chromium import ARGS, CHROMIUM  # noqa: E402
from tests.support.providers import SECOND, extra_provider  # noqa: E402

SHOTS: tuple[tuple[str, int, Literal["light", "dark"]], ...] = (
    ("compare.png", 1000, "light"),
    ("compare-phone-dark.png", 320, "dark"),
)


def _targets(found: list[DemoProvider]) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """Return the targets, the demo profile per provider and a sentence saying which."""
    if len(found) >= 3:
        targets = [
            {
                "name": p.name,
                "display_name": p.provider.label,
                "provider": p.name,
                "api_key": "sim-key",
                "probes": p.profile.probes(60.0, "30s"),
            }
            for p in found
        ]
        words = ", ".join(p.provider.label for p in found)
        return targets, {p.name: p.profile for p in found}, f"one target per provider: {words}"
    return _fallback_targets(found)


def _fallback_targets(
    found: list[DemoProvider],
) -> tuple[list[dict[str, Any]], dict[str, Any], str]:
    """Return AssemblyAI US and EU plus the registered test provider (fewer than 3 providers)."""
    [aai] = [p for p in found if p.name == "assemblyai"]
    probes = aai.profile.probes(60.0, "30s")
    second = {k: v for k, v in probes.items() if k in {p.name for p in SECOND.probes}}
    targets = [
        {"name": "aai-us", "display_name": "AssemblyAI US", "api_key": "k", "probes": probes},
        {"name": "aai-eu", "display_name": "AssemblyAI EU", "region": "eu", "api_key": "k",
         "probes": probes},
        {"name": SECOND.name, "display_name": SECOND.label, "provider": SECOND.name,
         "api_key": "k", "probes": {k: {"degraded_after": v["degraded_after"]}
                                    for k, v in second.items()}},
    ]  # fmt: skip
    profiles = {"assemblyai": aai.profile, SECOND.name: _SecondProfile(aai.profile)}
    words = (
        f"only {len(found)} provider(s) with a demo profile: AssemblyAI US and EU plus the"
        f" test provider {SECOND.label!r} (tests/support/providers.py), its history drawn"
        " from AssemblyAI's profile"
    )
    return targets, profiles, words


class _SecondProfile:
    """AssemblyAI's demo profile, with the test provider's phase names (it has no profile)."""

    def __init__(self, base: ModuleType) -> None:
        self._base = base
        self.OUTAGES = [f for f in base.OUTAGES if f.probe in {k.name for k in SECOND.probes}]
        self.SLOW = base.SLOW

    def base_latency(self, probe: str) -> float:
        return float(self._base.base_latency(probe)) * 0.85

    def phases(self, probe: str, latency: float) -> dict[str, float]:
        kind = next(k for k in SECOND.probes if k.name == probe)
        return {kind.key_phase: latency}

    def details(self, probe: str, rng: Any) -> dict[str, Any]:
        return dict(self._base.details(probe, rng))


def _now(
    config: Config, profiles: Mapping[str, ModuleType], now: datetime
) -> Iterator[ProbeResult]:
    """Yield "now": the second target's provider slow, the third's down, the first healthy."""
    _, slow, down = config.targets[:3]
    slow_profile, down_profile = profiles[slow.provider], profiles[down.provider]
    probe, _, _ = slow_profile.SLOW[0]
    limit = float(slow.probes.enabled()[probe].degraded_after)
    latency = limit * 1.4
    yield ProbeResult(
        slow.name,
        probe,
        now - timedelta(seconds=20),
        latency,
        Status.DEGRADED,
        phases=slow_profile.phases(probe, latency),
        details={"wer": 0.05},
    )
    outage = down_profile.OUTAGES[0]
    for n in (2, 1):
        at = now - timedelta(seconds=30 * n)
        yield ProbeResult(
            down.name, outage.probe, at, 1.0, Status.DOWN, outage.kind, outage.message
        )


async def render(workdir: Path) -> tuple[Path, str]:
    """Seed a store, render the site into `workdir`; return the page and what it shows."""
    with contextlib.ExitStack() as stack:
        found = demo_providers()
        if len(found) < 3:
            stack.enter_context(extra_provider(workdir / "provider"))
        targets, profiles, words = _targets(found)
        return await _render(workdir, targets, profiles), words


async def _render(
    workdir: Path, targets: list[dict[str, Any]], profiles: Mapping[str, Any]
) -> Path:
    """Render the site of `targets` from synthetic history plus "now"; return its page."""
    config = parse_config(
        {
            "title": "Speech-to-text APIs",
            "database": str(workdir / "sttwatch.db"),
            "site_dir": str(workdir / "site"),
            "targets": targets,
            "alerts": {"failure_threshold": 2},
        },
        env={},
    )
    now = datetime.now(UTC).replace(microsecond=0)
    store = await Store.open(config.database, failure_threshold=2, success_threshold=2)
    try:
        await store.add_results(
            synthetic_history(config, now - timedelta(minutes=2), days=3, profiles=profiles)
        )
        await store.add_results(_now(config, profiles, now))
        await render_site(store, config, now=now)
    finally:
        await store.close()
    return Path(config.site_dir) / "index.html"


async def shoot(page_path: Path, out: Path) -> list[Path]:
    """Screenshot the ``#compare`` section of `page_path` into `out`; return the files."""
    from playwright.async_api import async_playwright

    written: list[Path] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            for name, width, scheme in SHOTS:
                ctx = await browser.new_context(
                    viewport={"width": width, "height": 900}, color_scheme=scheme
                )
                page = await ctx.new_page()
                await page.goto(page_path.as_uri())
                wide = await page.evaluate("document.documentElement.scrollWidth")
                if wide > width:
                    raise SystemExit(f"{name}: the page is {wide} px wide at {width} px")
                await page.locator("#compare").screenshot(path=str(out / name))
                written.append(out / name)
                await ctx.close()
        finally:
            await browser.close()
    return written


async def main(argv: list[str] | None = None) -> int:
    """Render the page and write the screenshots; print what was used."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="where to write them")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="sttwatch-shot-")))
        page, words = await render(workdir)
        for path in await shoot(page, args.out):
            print(f"wrote {path} ({words})")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
