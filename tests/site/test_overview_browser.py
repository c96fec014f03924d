"""The overview matrix in a real headless Chromium, JavaScript off, opened from file://.

30 components (10 targets × 3 kinds, two providers) probed from 3 locations, some
down, some down from one location, some slow, at 320, 390 and 1280 px, light and
dark, measured from the boxes Chromium laid out: the page does not scroll
sideways, no text of the matrix leaves its cell, the table or the page, no two
runs of text overlap, text stays at a readable size, each cell names its kind
on a phone (where the table folds into cards), and a cell's link lands on its card.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from monitor.site import render_site
from monitor.store import Store
from tests.support.chromium import requires_chromium
from tests.support.fleet import fleet_config, fleet_results, fleet_store

pytest.importorskip("playwright.async_api")

pytestmark = [pytest.mark.slow, requires_chromium]

NOW = datetime.now(UTC).replace(microsecond=0)
SCRIPT = {
    "ass-1-streaming": "DDU",
    "dee-2-transcription": "DUU",
    "ass-3-reachability": "GGG",
    "dee-4-streaming": "UGD",
    "ass-5-transcription": "DDD",
}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with fleet_store(tmp_path) as s:
        yield s


# Run in the page: every problem of the matrix's text, as words.
MATRIX_CHECK = """() => {
  const bad = [];
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > width) bad.push('the page scrolls sideways');
  const table = document.querySelector('#overview table');
  const tbox = table.getBoundingClientRect();
  if (tbox.left < -0.5 || tbox.right > width + 0.5) bad.push('the table leaves the page');
  const runs = [];
  const walker = document.createTreeWalker(table, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || el.closest('svg, .sr-only, caption')) continue;
    const style = getComputedStyle(el);
    const range = document.createRange();
    range.selectNodeContents(n);
    const rects = [...range.getClientRects()].filter(r => r.width > 0 && r.height > 0);
    if (!rects.length) continue;  // not displayed at this width
    if (parseFloat(style.fontSize) < 11) bad.push(`"${n.textContent.trim()}" is ${style.fontSize}`);
    const cell = el.closest('td, th').getBoundingClientRect();
    for (const r of rects) {
      const what = `"${n.textContent.trim().slice(0, 30)}"`;
      if (r.left < cell.left - 0.5 || r.right > cell.right + 0.5)
        bad.push(`${what} leaves its cell`);
      if (r.left < tbox.left - 0.5 || r.right > tbox.right + 0.5)
        bad.push(`${what} leaves the table`);
      runs.push([what, r]);
    }
  }
  for (let i = 0; i < runs.length; i++) for (let j = i + 1; j < runs.length; j++) {
    const [a, p] = runs[i], [b, q] = runs[j];
    const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
    const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
    if (w > 0.5 && h > 0.5) bad.push(`${a} overlaps ${b}`);
  }
  return [runs.length, bad];
}"""


async def test_matrix_of_30_components_fits_at_every_width_light_and_dark(
    tmp_path: Path, store: Store, browser: Any
) -> None:
    two = [("assemblyai", "AssemblyAI"), ("deepgram", "Deepgram")]
    cfg = fleet_config(tmp_path, targets=10, providers=two)
    await store.add_results(fleet_results(cfg, NOW, days=1, script=SCRIPT))
    await render_site(store, cfg, now=NOW)
    url = (Path(cfg.site_dir) / "index.html").as_uri()
    backgrounds = {}
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
            cells = page.locator("#overview td[data-cell]")
            assert await cells.count() == 30
            runs, bad = await page.evaluate(MATRIX_CHECK)
            assert runs > 200, where  # the matrix's text was measured, not skipped
            assert bad == [], f"{where}: {bad}"
            # On a phone the head is gone and each cell names its kind; on a desktop the reverse.
            kind = cells.first.locator(".ov__kind")
            head = page.locator("#overview thead")
            assert await kind.is_visible() == (width < 600), where
            assert await head.is_visible() == (width >= 600), where
            # Every location's line is shown where they disagree; agreeing ones fold on a phone.
            split = page.locator('#overview td[data-cell="ass-1-streaming"] li[data-location]')
            assert await split.count() == 3 and await split.first.is_visible(), where
            agree = page.locator('#overview td[data-cell="ass-1-reachability"]')
            folded = await agree.locator(".ov__agree").is_visible()
            assert folded == (width < 600), where
            assert await agree.locator("li").first.is_visible() != folded, where
            backgrounds[where] = await page.locator("#overview table").evaluate(
                "t => getComputedStyle(t).backgroundColor"
            )
            if width == 390:
                # A cell's link lands on its card, whose link leads back up.
                await page.locator('td[data-cell="dee-2-transcription"] a').click()
                assert page.url.endswith("#component-dee-2-transcription")
                card = page.locator("#component-dee-2-transcription")
                assert await card.locator(".state__label").inner_text() == "Down from eu-west"
                await card.locator('a[href="#overview"]').click()
                assert page.url.endswith("#overview")
            await ctx.close()
    for width in (320, 390, 1280):
        assert backgrounds[f"{width} px dark"] != backgrounds[f"{width} px light"]


async def test_badges_page_fits_a_phone_and_its_badges_load(
    tmp_path: Path, store: Store, browser: Any
) -> None:
    cfg = fleet_config(tmp_path, targets=3, public_url="https://status.example.com/speech")
    await store.add_results(fleet_results(cfg, NOW, days=1, script=SCRIPT))
    await render_site(store, cfg, now=NOW)
    url = (Path(cfg.site_dir) / "badges.html").as_uri()
    for width, scheme in ((320, "dark"), (1280, "light")):
        ctx = await browser.new_context(
            viewport={"width": width, "height": 900},
            color_scheme=scheme,
            java_script_enabled=False,
        )
        page = await ctx.new_page()
        await page.goto(url)
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        # Every snippet stays inside its card; every badge image loaded from file://.
        outside = await page.evaluate(
            """() => [...document.querySelectorAll('pre.snippet')].filter(p => {
                 const r = p.getBoundingClientRect(), c = p.closest('li').getBoundingClientRect();
                 return r.left < c.left - 0.5 || r.right > c.right + 0.5
                   || p.scrollWidth > p.clientWidth; }).length"""
        )
        assert outside == 0, f"{width} px"
        widths = await page.locator(".badge-entry img").evaluate_all(
            "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)"
        )
        assert len(widths) == 8 and all(w > 0 for w in widths), widths
        await ctx.close()
