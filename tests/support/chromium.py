"""The headless Chromium the browser tests drive: Debian's binary and one set of launch flags.

``launched_chromium()`` launches it through Playwright for a block (the
``browser`` fixture in conftest.py, tests/site/conftest.py's module-wide
``module_browser`` and the screenshot scripts use it); a test module that needs
it adds ``requires_chromium`` to its ``pytestmark``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")

# Headless in a container, talking to loopback only: no sandbox (root in CI), no GPU,
# no QUIC, and none of the background traffic a desktop profile would start.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

requires_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium not installed"
)


@asynccontextmanager
async def launched_chromium() -> AsyncIterator[Any]:
    """Yield Debian's Chromium launched headless through Playwright (a Browser), closed after."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            await browser.close()
