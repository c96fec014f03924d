"""Screenshot a component's latency history into docs/ (headless Chromium, JavaScript off).

    PYTHONPATH=. python scripts/history-screenshot.py [--out docs]

The page is a real render of a real store: 95 days of synthetic history from
AssemblyAI's demo profile (``monitor.demo.synthetic_history``, one result per
30 minutes). Each window is picked by a click on its label, as a reader with
JavaScript off would. Writes ``history.png`` (1280 px, light, the 90-day
window) and ``history-phone-dark.png`` (320 px, dark, the 7-day window), each
of the streaming component's history only.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.config import parse_config  # noqa: E402
from monitor.demo import synthetic_history  # noqa: E402
from monitor.site import render_site  # noqa: E402
from monitor.store import Store  # noqa: E402
from tests.support.chromium import ARGS, CHROMIUM  # noqa: E402

SHOTS = (("history.png", 1280, "light", "90d"), ("history-phone-dark.png", 320, "dark", "7d"))


async def shoot(out: Path) -> None:
    """Render the site in a temporary directory and write the screenshots to `out`."""
    from playwright.async_api import async_playwright

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cfg = parse_config(
            {
                "database": str(work / "sttwatch.db"),
                "site_dir": str(work / "site"),
                "targets": [{"name": "us", "display_name": "AssemblyAI US", "api_key": "k"}],
            },
            env={},
        )
        now = datetime.now(UTC)
        store = await Store.open(cfg.database)
        try:
            await store.add_results(
                synthetic_history(cfg, now, days=95, step=timedelta(minutes=30))
            )
            await render_site(store, cfg, now=now)
        finally:
            await store.close()
        url = (work / "site" / "index.html").as_uri()
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            for name, width, scheme, window in SHOTS:
                ctx = await browser.new_context(
                    viewport={"width": width, "height": 900},
                    color_scheme=scheme,
                    java_script_enabled=False,
                )
                page = await ctx.new_page()
                await page.goto(url)
                card = page.locator("#component-us-streaming")
                await card.locator(f'label[data-window="{window}"]').click()
                await card.locator(".history").screenshot(path=str(out / name))
                await ctx.close()
                print(out / name)
            await browser.close()


def main() -> int:
    """Parse the arguments and write the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="directory (docs)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(shoot(args.out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
