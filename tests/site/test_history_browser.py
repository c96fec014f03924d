"""The latency history in a real headless Chromium, JavaScript off, opened from file://.

A site rendered from 95 days of synthetic history (and a target never checked,
whose charts say "No data"), at 320, 390 and 1280 px, light and dark: one page
load each, then every window picked by a click on its label, and measured from
the boxes Chromium laid out (tests/support/layout.py): each chart shows the
picked window alone, every label of every chart lies inside its SVG and
overlaps no other label, no text leaves the page or its container, and the page
has no sideways scroll.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import parse_config
from monitor.demo import synthetic_history
from monitor.site import render_site
from monitor.site.charts import WINDOWS
from monitor.store import Store
from tests.support.chromium import requires_chromium
from tests.support.layout import layout_problems

pytest.importorskip("playwright.async_api")

pytestmark = [pytest.mark.slow, requires_chromium]

NOW = datetime.now(UTC).replace(minute=7, second=0, microsecond=0)

# Run in the page: the window of each chart on show.
SHOWN = """() => [...document.querySelectorAll('svg.latency-chart')]
  .filter(s => s.getBoundingClientRect().width > 0)
  .map(s => s.closest('figure').dataset.window)"""


async def test_latency_windows_switch_without_script_and_labels_fit_at_every_width(
    tmp_path: Path, store: Store, browser: Any
) -> None:
    cfg = parse_config(
        {
            "database": str(tmp_path / "sttwatch.db"),
            "site_dir": str(tmp_path / "site"),
            "targets": [
                {"name": "us", "display_name": "AssemblyAI US", "api_key": "k1"},
                {"name": "idle", "display_name": "Never checked", "api_key": "k2"},
            ],
        },
        env={},
    )
    history = synthetic_history(cfg, NOW, days=95, step=timedelta(minutes=30))
    await store.add_results(r for r in history if r.target == "us")
    await render_site(store, cfg, now=NOW)
    url = (Path(cfg.site_dir) / "index.html").as_uri()
    html = (Path(cfg.site_dir) / "index.html").read_text()
    assert "<script" not in html
    # A live page (checked within the hour) reloads itself at the probes' interval.
    assert '<meta http-equiv="refresh" content="60">' in html

    keys = [key for key, _, _ in WINDOWS]
    components = 6
    for width in (320, 390, 1280):
        for scheme in ("light", "dark"):
            where = f"{width} px {scheme}"
            ctx = await browser.new_context(
                viewport={"width": width, "height": 900},
                color_scheme=scheme,
                java_script_enabled=False,
            )
            page = await ctx.new_page()
            await page.goto(url)
            assert await page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches") == (
                scheme == "dark"
            )
            for key in keys:
                if key != keys[0]:
                    labels = page.locator(f'.history__tabs label[data-window="{key}"]')
                    assert await labels.count() == components
                    for i in range(components):
                        await labels.nth(i).click()
                shown = await page.evaluate(SHOWN)
                assert shown == [key] * components, f"{where}: {shown}"
                # Every label inside its chart and off the axes, none overlapping, no overflow.
                assert await layout_problems(page) == [], f"{where}, {key}"
            if width == 390:
                await page.screenshot(path=str(tmp_path / f"history-{scheme}.png"))
            await ctx.close()
