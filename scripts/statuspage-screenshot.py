"""Screenshot the top of the status page into docs/ (headless Chromium, JavaScript off).

    PYTHONPATH=. python scripts/statuspage-screenshot.py [--out docs]

The page is a real render of a real store: the site the layout tests check
(``tests.support.status_site``, in ordinary words): every provider with a
demo profile plus the test provider of ``tests/support/providers.py``, a
week of synthetic history from three locations, an open incident, a resolved
one, a component down from one location, maintenance. Before it shoots, it
measures the page with the layout checker (``tests.support.layout``) and
stops if anything overflows or overlaps. Writes ``statuspage-desktop.png``
(1280 px, light) and ``statuspage-phone-dark.png`` (390 px, dark), each the
top of the page.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.chromium import launched_chromium  # noqa: E402
from tests.support.layout import every_state_problems  # noqa: E402
from tests.support.providers import extra_provider  # noqa: E402
from tests.support.status_site import render_status_site  # noqa: E402

# name, viewport width and height (the shot is the viewport: the top of the page), scheme
SHOTS: tuple[tuple[str, int, int, Literal["light", "dark"]], ...] = (
    ("statuspage-desktop.png", 1280, 1600, "light"),
    ("statuspage-phone-dark.png", 390, 1800, "dark"),
)


async def shoot(out: Path) -> list[Path]:
    """Render the site in a temporary directory and write the screenshots to `out`."""
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="sttwatch-shot-") as tmp:
        work = Path(tmp)
        with extra_provider(work / "provider"):
            site = await render_status_site(
                work, datetime.now(UTC).replace(microsecond=0), hostile=False
            )
        async with launched_chromium() as browser:
            for name, width, height, scheme in SHOTS:
                ctx = await browser.new_context(
                    viewport={"width": width, "height": height},
                    color_scheme=scheme,
                    java_script_enabled=False,
                )
                page = await ctx.new_page()
                await page.goto((site / "index.html").as_uri())
                problems = await every_state_problems(page)
                if problems:
                    raise SystemExit(f"{name}: the layout is broken:\n" + "\n".join(problems))
                await page.screenshot(path=str(out / name))
                written.append(out / name)
                await ctx.close()
    return written


def main() -> int:
    """Parse the arguments and write the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="directory (docs)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for path in asyncio.run(shoot(args.out)):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
