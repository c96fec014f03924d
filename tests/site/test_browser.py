"""The status page in a real headless Chromium, served by sttwatch and opened from file://.

The page is the demo's: a real simulator, scheduler, store and server, with
seeded history, driven into an incident through the simulator's fault API.
The browser checks what a reader sees — the banner, the components, 90 bar
cells, the SVG chart — that a hostile error message from the API is shown as
text and runs nothing, and that the page fetches nothing beyond loopback (or
beyond its own directory, from file://). Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor.demo import DemoHandle
from tests.support.chromium import requires_chromium
from tests.support.polling import eventually

pytest.importorskip("playwright.async_api")

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"
COMPONENTS = ("reachability", "transcription", "streaming")

pytestmark = [
    pytest.mark.slow,
    requires_chromium,
]


class Watch:
    """What a page did: requests, dialogs, console errors."""

    def __init__(self, page: Any) -> None:
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self._dismissals: list[asyncio.Future[Any]] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("dialog", self._dialog)
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        # A dialog left open would block the page; dismiss it, and remember the task.
        self._dismissals.append(asyncio.ensure_future(dialog.dismiss()))


async def new_page(browser: Any, **context: Any) -> tuple[Any, Any, Watch]:
    ctx = await browser.new_context(**context)

    async def only_local(route: Any) -> None:
        url = route.request.url
        if url.startswith(("http://127.0.0.1:", "file://")):
            await route.continue_()
        else:
            await route.abort()

    await ctx.route("**/*", only_local)
    page = await ctx.new_page()
    return ctx, page, Watch(page)


async def check_page(page: Any, banner: str) -> None:
    """Assert what every reader must see, however the page was opened."""
    assert (await page.locator("#overall").inner_text()).strip() == banner
    for probe in COMPONENTS:
        card = page.locator(f"#component-assemblyai-{probe}")
        await card.wait_for(state="visible")
        assert await card.locator(".state__label").inner_text()
        cells = card.locator("svg.uptime-bar rect.day")
        assert await cells.count() == 90
        chart = card.locator('.chart[data-window="24h"] svg.latency-chart')
        box = await chart.bounding_box()
        assert box is not None and box["width"] > 200 and box["height"] > 40
        median = chart.locator("path.median")
        assert await median.count() == 1
        assert (await median.bounding_box() or {"width": 0})["width"] > 50
    # The stylesheet loaded (relative link): the banner has a coloured background.
    background = await page.eval_on_selector(
        "#overall", "el => getComputedStyle(el).backgroundColor"
    )
    assert background not in ("rgba(0, 0, 0, 0)", "transparent")
    assert await page.locator("script").count() == 0


async def test_status_page_in_chromium_served_and_from_file(
    demo: tuple[DemoHandle, list[str]], browser: Any
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    handle, _ = demo
    sim, url = handle.sim, handle.url
    async with aiohttp.ClientSession() as session:

        async def figures() -> dict[str, dict[str, Any]]:
            async with session.get(f"{url}api/sttwatch.json") as resp:
                doc = await resp.json()
            return {c["probe"]: c for c in doc["targets"][0]["components"]}

        async def banner() -> str:
            async with session.get(f"{url}api/v2/status.json") as resp:
                return str((await resp.json())["status"]["description"])

        # The demo's incident: slow transcription, failing streaming.
        sim.set_faults(
            [
                {"endpoint": "transcript.create", "action": "delay", "delay_ms": 1500},
                {"endpoint": "ws", "action": "close", "code": 3005, "reason": "Internal error"},
            ]
        )

        async def incident() -> bool:
            f = await figures()
            states = (f["streaming"]["state"], f["transcription"]["state"])
            return states == ("major_outage", "degraded_performance")

        await eventually(incident, "the demo incident", 40, every=0.2)

        ctx, page, watch = await new_page(browser, viewport={"width": 1200, "height": 1500})
        await page.goto(url)
        await check_page(page, "Partial System Outage")
        assert await page.locator("#component-assemblyai-streaming .state__label").inner_text() == (
            "Major outage"
        )
        assert "Ongoing incidents" in await page.locator("main").inner_text()
        await page.screenshot(path=str(ARTIFACTS / "screenshot.png"))
        await page.screenshot(path=str(ARTIFACTS / "status-page-full.png"), full_page=True)
        assert watch.dialogs == [] and watch.errors == []
        assert watch.requests and all(r.startswith(url) for r in watch.requests), watch.requests
        await ctx.close()

        # A hostile error message from the API: a failed job whose error is markup.
        # Streaming stays down, so the page settles once transcription's incident opens.
        sim.set_faults(
            [
                {"endpoint": "transcript.get", "action": "fail_job", "error": XSS},
                {"endpoint": "ws", "action": "close", "code": 3005, "reason": "Internal error"},
            ]
        )

        async def hostile() -> bool:
            f = (await figures())["transcription"]
            return f["state"] == "major_outage" and XSS in f["message"]

        await eventually(hostile, "the failed job's message on the page", 30, every=0.2)
        expected = await banner()
        assert expected == "Partial System Outage"
        site = Path(handle.config.site_dir)

        for where in (url, (site / "index.html").as_uri()):
            ctx, page, watch = await new_page(browser, viewport={"width": 1200, "height": 1500})
            await page.goto(where)
            await check_page(page, expected)
            message = page.locator("#component-assemblyai-transcription .message")
            assert XSS in await message.inner_text()
            assert await page.locator("img").count() == 0
            await page.wait_for_timeout(300)  # an onerror handler would have fired by now
            assert watch.dialogs == []
            assert watch.errors == []
            prefix = url if where == url else site.as_uri()
            assert all(r.startswith(prefix) for r in watch.requests), watch.requests
            name = "served" if where == url else "file"
            await page.screenshot(path=str(ARTIFACTS / f"status-page-xss-{name}.png"))
            await ctx.close()

    # Phone, dark: nothing wider than the screen.
    ctx, page, watch = await new_page(
        browser, viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True
    )
    await page.goto(url)
    await check_page(page, expected)
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    dark = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert dark == "rgb(13, 17, 23)"
    await page.screenshot(path=str(ARTIFACTS / "status-page-phone-dark.png"), full_page=True)
    assert watch.dialogs == []
    await ctx.close()
    json.dumps(watch.requests)  # keep the record serialisable for debugging
