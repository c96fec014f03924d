"""Screenshot the status page's overview matrix into docs/ (headless Chromium, Playwright).

    PYTHONPATH=. python scripts/overview-screenshot.py [--out docs]

The page is a real render of a real store: 10 targets of the built-in providers
(taking turns: AssemblyAI, Deepgram, OpenAI-compatible; 27 components, OpenAI's
streaming not configured) probed from eu-west, us-east and ap-south
(``tests.support.fleet``), two days of hourly checks, then a last check per
location scripted: one streaming component down from two locations (an outage
by the quorum of 2), one transcription down from eu-west alone ("Down from
eu-west"), one REST API slow everywhere, one transcription slow from one place.

Writes ``overview.png`` (1280 px, light, the whole ``#overview`` section) and
``overview-phone-dark.png`` (320 px, dark, its first 1,400 px).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.site import render_site  # noqa: E402
from tests.support.chromium import ARGS, CHROMIUM  # noqa: E402
from tests.support.fleet import fleet_config, fleet_results, fleet_store  # noqa: E402

SHOTS: tuple[tuple[str, int, Literal["light", "dark"], int | None], ...] = (
    ("overview.png", 1280, "light", None),
    ("overview-phone-dark.png", 320, "dark", 1400),
)
SCRIPT = {
    "ass-1-streaming": "DDU",
    "dee-2-transcription": "DUU",
    "ope-3-reachability": "GGG",
    "ass-4-transcription": "UUG",
}


async def render(workdir: Path) -> Path:
    """Seed a store, render the site into `workdir`; return its page."""
    config = fleet_config(workdir, targets=10)
    now = datetime.now(UTC).replace(microsecond=0)
    latency = {"ass-1-transcription": 2.14, "dee-5-streaming": 0.41, "ope-9-transcription": 1.3}
    async with fleet_store(workdir) as store:
        await store.add_results(fleet_results(config, now, script=SCRIPT, latency=latency))
        await render_site(store, config, now=now)
    return Path(config.site_dir) / "index.html"


async def shoot(page_path: Path, out: Path) -> list[Path]:
    """Screenshot the ``#overview`` section of `page_path` into `out`; return the files."""
    from playwright.async_api import async_playwright

    written: list[Path] = []
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            for name, width, scheme, height in SHOTS:
                ctx = await browser.new_context(
                    viewport={"width": width, "height": 900},
                    color_scheme=scheme,
                    java_script_enabled=False,
                )
                page = await ctx.new_page()
                await page.goto(page_path.as_uri())
                wide = await page.evaluate("document.documentElement.scrollWidth")
                if wide > width:
                    raise SystemExit(f"{name}: the page is {wide} px wide at {width} px")
                section = page.locator("#overview")
                box = await section.bounding_box()
                assert box is not None
                clip = {
                    "x": 0,
                    "y": box["y"],
                    "width": width,
                    "height": min(box["height"], height or box["height"]),
                }
                await page.screenshot(path=str(out / name), clip=clip, full_page=True)
                written.append(out / name)
                await ctx.close()
        finally:
            await browser.close()
    return written


def main() -> int:
    """Render and screenshot; print the files written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sttwatch-overview-shot-") as tmp:
        page = asyncio.run(render(Path(tmp)))
        for path in asyncio.run(shoot(page, args.out)):
            print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
