"""The README's two set-up commands, as a new user on a stock Debian 12 runs them.

The demo command runs in a copy of the checkout (the files a clone would have) with
`PATH=/usr/bin:/bin`, so Debian's own python3 (externally managed, PEP 668) is the one it
finds, and must end with the status page served.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.support.checkout import checkout_files

ROOT = Path(__file__).resolve().parents[2]


def readme_commands(readme: Path) -> list[str]:
    """Return the commands (comments dropped) of the README's first code block."""
    match = re.search(r"^```sh\n(.*?)^```", readme.read_text(encoding="utf-8"), re.M | re.S)
    assert match, f"{readme}: no ```sh block"
    return [line.split("#", 1)[0].strip() for line in match.group(1).splitlines() if line]


def copy_checkout(dest: Path) -> Path:
    """Copy the files a clone of the checkout would have (tracked and new, not ignored)."""
    for source in checkout_files(ROOT):
        target = dest / source.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)
    return dest


def test_the_readme_has_two_setup_commands_and_ci_runs_the_test_one() -> None:
    demo, test = readme_commands(ROOT / "README.md")
    assert demo == "bash scripts/demo.sh"
    assert test == "bash scripts/test.sh"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert [line for line in ci.splitlines() if "scripts/" in line] == [f"exec {test}"]


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_the_readme_demo_command_serves_the_page_from_a_fresh_copy(
    tmp_path: Path,
) -> None:
    checkout = copy_checkout(tmp_path / "sttwatch")
    demo = readme_commands(checkout / "README.md")[0]
    # A stock machine: Debian's python3 first on PATH, no virtualenv active.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"
    stderr = (tmp_path / "stderr").open("wb")
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        f"{demo} --listen 127.0.0.1:0",  # port 0: the README's default port may be taken
        cwd=checkout,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        start_new_session=True,
    )
    assert proc.stdout is not None
    out: list[str] = []
    try:
        # Making the virtualenv and installing into it is most of this.
        async with asyncio.timeout(240):
            while not any(line.startswith("Press Ctrl-C") for line in out):
                raw = await proc.stdout.readline()
                assert raw, (out, (tmp_path / "stderr").read_text(errors="replace"))
                out.append(raw.decode().rstrip("\n"))
        url = next(line.split(": ", 1)[1] for line in out if "status page:" in line)
        async with aiohttp.ClientSession() as session, session.get(url) as resp:
            assert resp.status == 200
            assert "sttwatch demo" in await resp.text()
        assert (checkout / ".venv" / "bin" / "sttwatch").exists()
    finally:
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGINT)  # the group: bash and the sttwatch it runs
        rest = await asyncio.wait_for(proc.stdout.read(), 30)
        await asyncio.wait_for(proc.wait(), 30)
        stderr.close()
    assert proc.returncode == 0, (tmp_path / "stderr").read_text(errors="replace")
    assert "stopped" in rest.decode()
