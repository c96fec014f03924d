"""The side-by-side table in a real headless Chromium: a 320 px phone in dark mode, a desktop.

A rendered site of two providers (AssemblyAI and one registered for the test),
opened from file://: no sideways scrolling at 320 px, every cell labelled with
its probe kind when the table folds into cards, dark colours in dark mode, and
no script.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import parse_config
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.site import render_site
from monitor.store import Store
from tests.support.chromium import requires_chromium
from tests.support.providers import extra_provider

pytest.importorskip("playwright.async_api")

pytestmark = [pytest.mark.slow, requires_chromium]

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def second(tmp_path: Path) -> Iterator[None]:
    with extra_provider(tmp_path / "second"):
        yield


def results() -> list[ProbeResult]:
    out = []
    for i in range(20):
        at = NOW - timedelta(minutes=20 - i)
        for target, probe, phases, details in (
            ("aai", "reachability", {"total": 0.1}, {}),
            ("aai", "transcription", {"queued": 0.4, "processing": 1.0}, {"wer": 0.05}),
            ("aai", "streaming", {"first_transcript": 0.5}, {"wer": 0.04}),
            ("two", "reachability", {"request": 0.2}, {}),
            ("two", "transcription", {"transcribe": 0.9}, {"wer": 0.07}),
        ):
            latency = sum(phases.values())
            out.append(
                ProbeResult(target, probe, at, latency, Status.UP, None, "", phases, details)
            )
    down = [
        ProbeResult("aai", "streaming", NOW - timedelta(seconds=s), 1.0, Status.DOWN,
                    ErrorKind.STREAM_CLOSED, "closed with 3005")
        for s in (30, 10)
    ]  # fmt: skip
    return out + down


@pytest.mark.usefixtures("second")
async def test_compare_view_on_a_phone_in_dark_mode_and_on_a_desktop(
    tmp_path: Path, store: Store, browser: Any
) -> None:
    cfg = parse_config(
        {
            "database": str(tmp_path / "sttwatch.db"),
            "site_dir": str(tmp_path / "site"),
            "targets": [
                {"name": "aai", "display_name": "AssemblyAI US", "api_key": "k1"},
                {"name": "two", "provider": "second", "api_key": "k2"},
            ],
        },
        env={},
    )
    await store.add_results(results())
    await render_site(store, cfg, now=NOW)
    url = (Path(cfg.site_dir) / "index.html").as_uri()
    backgrounds = {}
    for width, scheme in ((320, "dark"), (1000, "light")):
        ctx = await browser.new_context(
            viewport={"width": width, "height": 800}, color_scheme=scheme
        )
        page = await ctx.new_page()
        await page.goto(url)
        table = page.locator("#compare table")
        await table.wait_for(state="visible")
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        box = await table.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
        ranks = await page.locator("tr.compare__provider").evaluate_all(
            "rows => rows.map(r => [r.dataset.provider, r.dataset.health])"
        )
        # AssemblyAI's streaming is down: the second provider ranks first.
        assert ranks == [["second", "healthy"], ["assemblyai", "unavailable"]]
        kind_labels = page.locator("tr.compare__provider >> nth=0 >> .compare__kind")
        if width == 320:  # folded into cards: each cell says which kind it is
            assert await kind_labels.first.is_visible()
        else:
            assert not await kind_labels.first.is_visible()
        missing = page.locator('tr[data-provider="second"] td[data-probe="streaming"]')
        assert "not checked" in await missing.inner_text()
        backgrounds[scheme] = await table.evaluate("t => getComputedStyle(t).backgroundColor")
        assert await page.locator("script").count() == 0
        await ctx.close()
    assert backgrounds["dark"] != backgrounds["light"]
