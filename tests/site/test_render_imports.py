"""`sttwatch render` rebuilds the site from the database without loading the HTTP client.

render goes through the composition root like run and once, but it sends nothing:
importing aiohttp there cost about 0.1 s and 10 MB per render (bench/run, status page).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support.configs import write_config

RENDER = """
import sys
from monitor.cli import main
code = main(["render", "-c", {config!r}])
print(code, "aiohttp" in sys.modules)
"""


def test_render_does_not_import_aiohttp(tmp_path: Path) -> None:
    target = {"name": "t", "api_key": "k", "api_base": "http://127.0.0.1:9"}
    config = write_config(
        tmp_path,
        {
            "database": str(tmp_path / "db.sqlite"),
            "site_dir": str(tmp_path / "site"),
            "targets": [target],
        },
    )
    # A database to render from: one made by the store, in another process.
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import asyncio\nfrom monitor.store import Store\n"
            "async def m():\n    s = await Store.open({!r})\n    await s.close()\n"
            "asyncio.run(m())".format(str(tmp_path / "db.sqlite")),
        ],
        check=True,
        timeout=60,
    )
    done = subprocess.run(
        [sys.executable, "-c", RENDER.format(config=str(config))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.split()[-2:] == ["0", "False"], done.stdout + done.stderr
    assert (tmp_path / "site" / "index.html").is_file()
