"""The headless Chromium the browser tests drive: Debian's binary and one set of launch flags.

The ``browser`` fixture in conftest.py launches it; a test module that needs it
adds ``requires_chromium`` to its ``pytestmark``.
"""

from __future__ import annotations

from pathlib import Path

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
