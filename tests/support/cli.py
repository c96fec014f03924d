"""Running ``sttwatch`` as a user does: a subprocess of this Python, its output collected."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping


async def run_sttwatch(
    *args: str, env: Mapping[str, str] | None = None, limit: float = 60.0
) -> tuple[int, str, str]:
    """Run ``python -m monitor ARGS``; return (exit code, stdout, stderr); killed after `limit`."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
