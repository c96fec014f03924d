"""``sttwatch run`` agents as child processes: started, asked for /healthz, killed or stopped.

Several agents in several "locations" share one PostgreSQL database in the
multi-agent tests; each is a real process (so ``kill -9`` is a real death: its
sockets close, the server ends its sessions). The port each listens on (the
config says ``127.0.0.1:0``) is read from its log line ``serving on http://...``.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.polling import eventually

__all__ = ["Agent", "query", "start_agent"]

ROOT = Path(__file__).resolve().parents[2]
STOP_S = 30.0
SERVING = re.compile(r"serving on http://(?P<host>[\d.]+):(?P<port>\d+)/")


@dataclass
class Agent:
    """One running ``sttwatch run``: its process, log and (once serving) port."""

    name: str
    process: asyncio.subprocess.Process
    log: Path
    port: int = 0

    def text(self) -> str:
        """Return its log so far ("" before it wrote anything)."""
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    async def health(self) -> dict[str, Any]:
        """Return the JSON body of its /healthz (whatever the HTTP status)."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.port}/healthz") as resp,
        ):
            body: dict[str, Any] = await resp.json()
            return body

    async def leading(self) -> bool:
        """Return whether it says it leads."""
        return bool((await self.health())["leadership"]["leading"])

    async def metrics(self) -> str:
        """Return its /metrics exposition."""
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{self.port}/metrics") as resp,
        ):
            return await resp.text()

    async def kill(self) -> None:
        """Kill it with SIGKILL (no cleanup of any kind) and reap it."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> int:
        """Stop it with SIGTERM; return its exit code (within STOP_S)."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(STOP_S):
            return await self.process.wait()


def query(url: str, sql: str) -> list[tuple[Any, ...]]:
    """Return the rows of `sql` on the agents' database (read as an operator would)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


async def start_agent(
    name: str, config: Path, log: Path, *, env: dict[str, str] | None = None
) -> Agent:
    """Start ``sttwatch run -c config`` (its output to `log`); return it once it serves."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})}
    with log.open("ab") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            "run",
            "-c",
            str(config),
            cwd=ROOT,
            stdout=sink,
            stderr=sink,
            env=environment,
        )
    agent = Agent(name, process, log)

    async def serving() -> bool:
        if process.returncode is not None:
            raise AssertionError(f"agent {name} exited {process.returncode}:\n{agent.text()}")
        found = SERVING.search(agent.text())
        if found:
            agent.port = int(found["port"])
        return found is not None

    await eventually(serving, f"agent {name} serving", 30.0, every=0.1)
    return agent
