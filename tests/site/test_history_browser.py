"""The latency history in a real headless Chromium, JavaScript off, opened from file://.

A site rendered from 95 days of synthetic history (and a target never checked,
whose charts say "No data"), at 320, 390 and 1280 px, light and dark: one page
load each, then every window picked by a click on its label, and measured from
the boxes Chromium laid out: each chart shows the picked window alone, every
label of every chart lies inside its SVG and overlaps no other label, no text
leaves the page or its container, and the page has no sideways scroll.
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

pytest.importorskip("playwright.async_api")

pytestmark = [pytest.mark.slow, requires_chromium]

NOW = datetime.now(UTC).replace(minute=7, second=0, microsecond=0)

# Run in the page: every problem with the labels of the charts on show, as words.
CHART_CHECK = """() => {
  const bad = [];
  const shown = [...document.querySelectorAll('svg.latency-chart')]
    .filter(s => s.getBoundingClientRect().width > 0);
  for (const svg of shown) {
    const name = svg.closest('[data-component]').dataset.component + ' '
      + svg.closest('figure').dataset.window;
    const box = svg.getBoundingClientRect();
    const texts = [...svg.querySelectorAll('text')]
      .filter(t => getComputedStyle(t).display !== 'none')
      .map(t => [t.textContent, t.getBoundingClientRect()]);
    if (texts.length < 3) bad.push(`${name}: only ${texts.length} labels`);
    for (const [label, r] of texts) {
      if (r.width <= 0) bad.push(`${name}: "${label}" has no box`);
      if (r.left < box.left - 0.5 || r.right > box.right + 0.5
          || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5)
        bad.push(`${name}: "${label}" outside its chart`);
    }
    for (let i = 0; i < texts.length; i++) for (let j = i + 1; j < texts.length; j++) {
      const [a, p] = texts[i], [b, q] = texts[j];
      const w = Math.min(p.right, q.right) - Math.max(p.left, q.left);
      const h = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
      if (w > 0.5 && h > 0.5) bad.push(`${name}: "${a}" overlaps "${b}"`);
    }
  }
  return [shown.map(s => s.closest('figure').dataset.window), bad];
}"""

# Run in the page: every element whose own text leaves the page or its parent's box.
TEXT_CHECK = """() => {
  const bad = [];
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > width) bad.push('the page scrolls sideways');
  for (const el of document.body.querySelectorAll('*')) {
    if (el.closest('svg, .sr-only, .skip') || el.matches('input')) continue;
    const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
    if (!own) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    const scroller = el.closest('.compare__scroll');
    const parent = el.parentElement.getBoundingClientRect();
    const what = `${el.tagName} "${el.textContent.trim().slice(0, 40)}"`;
    if (r.left < -0.5 || r.right > width + 0.5) bad.push(`${what} leaves the page`);
    else if (!scroller && (r.left < parent.left - 0.5 || r.right > parent.right + 0.5))
      bad.push(`${what} leaves its container`);
  }
  return bad;
}"""


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
                shown, bad = await page.evaluate(CHART_CHECK)
                assert shown == [key] * components, f"{where}: {shown}"
                assert bad == [], f"{where}, {key}: {bad}"
                assert await page.evaluate(TEXT_CHECK) == [], f"{where}, {key}"
            if width == 390:
                await page.screenshot(path=str(tmp_path / f"history-{scheme}.png"))
            await ctx.close()
