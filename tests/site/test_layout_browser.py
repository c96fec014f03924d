"""Every page of a rendered site, laid out by a real Chromium: no text overflows or overlaps.

The site (tests/support/status_site.py) has every provider with a demo profile,
the test provider, three locations, a long target label, a 300-character
message without a space, a URL as a message, an open and a resolved incident,
maintenance in progress and to come, and a target never checked. Each of its
``.html`` files (pages added later are found by the same glob) is opened from
file:// with JavaScript off at 320, 390 and 1280 px, light and dark, styled
by its stylesheet (linked relatively), and measured by
tests/support/layout.py with every ``<details>`` open and in every latency
window. The checker itself is shown to find each kind of fault on pages made
to have one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from tests.support.chromium import requires_chromium
from tests.support.layout import every_state_problems, layout_problems, site_pages
from tests.support.providers import extra_provider
from tests.support.status_site import (
    IDLE,
    LOCATIONS,
    LONG_LABEL,
    NO_SPACES,
    SLUG_LABEL,
    URL_MESSAGE,
    render_status_site,
)

pytest.importorskip("playwright.async_api")

pytestmark = [pytest.mark.slow, requires_chromium, pytest.mark.asyncio(loop_scope="module")]

NOW = datetime.now(UTC).replace(second=0, microsecond=0)
VIEWPORTS = [(w, s) for w in (320, 390, 1280) for s in ("light", "dark")]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Render the hostile site once for the module; return its directory."""
    work = tmp_path_factory.mktemp("layout")
    with extra_provider(work / "provider"):
        return await render_status_site(work, NOW)


async def test_the_site_shows_the_hostile_data(site: Path) -> None:
    pages = site_pages(site)
    assert site / "index.html" in pages
    html = (site / "index.html").read_text()
    for needle in (LONG_LABEL, NO_SPACES, "eu-west", LOCATIONS[2], "Ongoing incidents",
                   "Scheduled maintenance", SLUG_LABEL, "Second STT",
                   'data-state="location_outage"', 'data-state="under_maintenance"',
                   "incident--resolved"):  # fmt: skip
        assert needle in html, needle
    assert URL_MESSAGE.replace("&", "&amp;") in html
    for probe in ("reachability", "transcription"):
        assert f'data-component="{IDLE}-{probe}" data-state="no_data"' in html


@pytest.mark.parametrize(("width", "scheme"), VIEWPORTS, ids=[f"{w}-{s}" for w, s in VIEWPORTS])
async def test_no_text_overflows_or_overlaps_on_any_page(
    site: Path, module_browser: Any, width: int, scheme: str
) -> None:
    ctx = await module_browser.new_context(
        viewport={"width": width, "height": 900}, color_scheme=scheme, java_script_enabled=False
    )
    try:
        page = await ctx.new_page()
        problems = []
        for path in site_pages(site):
            await page.goto(path.as_uri())
            dark = await page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
            assert dark == (scheme == "dark")
            name = path.relative_to(site).as_posix()
            # Measured as styled: its stylesheet (a relative link) loaded from file://.
            painted = await page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert painted != "rgba(0, 0, 0, 0)", f"{name}: no stylesheet"
            problems += [f"{name}: {p}" for p in await every_state_problems(page)]
        assert problems == [], "\n".join(problems)
    finally:
        await ctx.close()


# Pages with one fault each, and what the checker must say about it.
FAULTS = {
    "overflow": (
        '<div style="width:100px" id="narrow">averyveryverylongwordwithoutanyspaceatall</div>',
        'div#narrow "averyveryverylongwordwithoutanyspaceatall" overflows its container',
    ),
    "box-overflows-parent": (
        '<div style="width:100px"><p style="width:400px" class="wide">short words that run'
        " past the narrow box</p></div>",
        'div > p.wide overflows div: 1 text box outside it, the first div > p.wide "short',
    ),
    "picture": (
        '<div style="width:100px"><svg width="300" height="20" aria-label="a wide badge">'
        "</svg></div><p>text</p>",
        'svg "a wide badge" overflows div',
    ),
    "clipped": (
        '<div style="width:80px;overflow:hidden;white-space:nowrap" id="clip">cut off here, '
        "and here</div>",
        "div#clip clips or scrolls its content sideways",
    ),
    "overlap": (
        '<p>first line</p><p style="margin-top:-1.6em" id="over">second line</p>',
        'p "first line" overlaps p#over "second line"',
    ),
    "sideways": ('<div style="width:2000px">wide</div>', "the page scrolls sideways"),
    "chart-axis": (
        '<svg viewBox="0 0 100 50" width="200"><line class="axis" x1="10" x2="10" y1="0" '
        'y2="40"/><line class="axis" x1="10" x2="100" y1="40" y2="40"/><text x="30" y="20">a'
        '</text><text x="60" y="20">b</text><text x="5" y="20">crossing</text></svg>',
        'svg > text "crossing" crosses an axis of svg',
    ),
    "chart-outside": (
        '<svg viewBox="0 0 100 50" width="200"><text x="95" y="10">outside</text></svg>',
        'svg > text "outside" is cut off by its container svg',
    ),
    "chart-labels-overlap": (
        '<svg viewBox="0 0 100 50" width="200"><text x="10" y="20">left</text>'
        '<text x="14" y="22">right</text></svg>',
        'svg > text "left" overlaps svg > text "right"',
    ),
    "too-few-labels": (
        '<svg viewBox="0 0 100 50" width="200"><line class="axis" x1="10" x2="10" y1="0" '
        'y2="40"/><text x="50" y="20">only</text></svg>',
        "is a chart with 1 labels shown",
    ),
    "second-radio": (
        "<style>.w { display: none } #b:checked ~ .w { display: block }</style>"
        '<input type="radio" name="g" id="a" value="one" checked>'
        '<input type="radio" name="g" id="b" value="two">'
        '<div class="w" style="width:60px" id="win">overflowingonlyinthesecondwindow</div>',
        '[two picked] div#win "overflowingonlyinthesecondwindow" overflows',
    ),
    "in-details": (
        '<details><summary>More</summary><div style="width:60px" id="inner">'
        "hiddenuntilopenedoverflowing</div></details>",
        'div#inner "hiddenuntilopenedoverflowing" overflows',
    ),
    "nothing": ("", "no visible text to measure"),
}

# Hidden on purpose, or fine: nothing to say.
CLEAN = (
    '<a class="skip" href="#m" style="position:absolute;left:-9999px">Skip to content</a>'
    '<span style="position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);'
    'white-space:nowrap">a screen-reader-only sentence much wider than one pixel</span>'
    '<p id="m" style="overflow-wrap:anywhere">averyveryverylongwordthatwrapsbecauseitisallowedto'
    "wrapanywhereinthisparagraph</p><p>Two <b>inline</b> <i>boxes</i> side by side.</p>"
    # Spaces that hang past the end of a line in pre-wrap text draw nothing.
    '<p style="white-space:pre-wrap;width:110px">'
    + " ".join("word"[: 1 + i % 4] + "s" * (i % 7) for i in range(80))
    + "</p>"
)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def phone(module_browser: Any) -> AsyncIterator[Any]:
    """Yield one page at 320 px for the module's pages with faults, closed after."""
    ctx = await module_browser.new_context(viewport={"width": 320, "height": 600})
    try:
        yield await ctx.new_page()
    finally:
        await ctx.close()


@pytest.mark.parametrize("fault", [*FAULTS, "clean"])
async def test_the_checker_reports_each_fault_and_nothing_else(
    tmp_path: Path, phone: Any, fault: str
) -> None:
    body, expected = FAULTS.get(fault, (CLEAN, None))
    path = tmp_path / "page.html"
    path.write_text(
        '<!doctype html><html><head><meta name="viewport" content="width=device-width">'
        f"<style>body {{ margin: 8px; font: 16px/1.5 sans-serif }}</style></head><body>{body}"
        "</body></html>"
    )
    await phone.goto(path.as_uri())
    found = await every_state_problems(phone)
    if expected is None:
        assert found == []
        assert await layout_problems(phone) == []
    else:
        assert any(expected in p for p in found), found
