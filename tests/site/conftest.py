"""Fixtures of the site tests.

- ``module_browser``: one headless Chromium (tests/support/chromium.py) for a whole
  module, so a module's browser tests share one launch; its tests run in the
  module's event loop (``pytest.mark.asyncio(loop_scope="module")``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from tests.support.chromium import launched_chromium


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def module_browser() -> AsyncIterator[Any]:
    """Yield a headless Chromium (Playwright's Browser) for the module, closed after it."""
    pytest.importorskip("playwright.async_api")
    async with launched_chromium() as launched:
        yield launched
