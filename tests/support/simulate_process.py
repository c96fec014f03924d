"""``sttwatch simulate`` as a child process: started on a free port, read from what it prints."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Every provider's simulator prints its streaming URL: the base is what precedes its path.
LISTENING = re.compile(
    r"listening on (?P<base>https?://\S+) \(streaming: (?P<ws>wss?://[^/\s]+)/\S*\)"
)
CERT = re.compile(r"^TLS certificate: (?P<path>\S+)")
READY_S = 20


@dataclass
class SimulateProcess:
    """A running ``sttwatch simulate``: its URLs, certificate and output so far."""

    process: subprocess.Popen[str]
    base_url: str = ""
    ws_base: str = ""
    cert: Path | None = None
    lines: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        """Return the port it listens on."""
        return int(self.base_url.rsplit(":", 1)[1])


def command(*args: str) -> list[str]:
    """Return the argv of ``sttwatch <args>`` run from this checkout."""
    return [sys.executable, "-m", "monitor", *args]


@contextmanager
def simulate(*args: str) -> Iterator[SimulateProcess]:
    """Yield ``sttwatch simulate --listen 127.0.0.1:0 <args>`` once listening; stop it after."""
    process = subprocess.Popen(
        command("simulate", "--listen", "127.0.0.1:0", *args),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    running = SimulateProcess(process)
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            running.lines.append(line.rstrip("\n"))
            if found := LISTENING.search(line):
                running.base_url, running.ws_base = found["base"], found["ws"]
            if found := CERT.search(line):
                running.cert = Path(found["path"])
            if line.startswith("valid API key"):
                ready.set()
        ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        ready.wait(READY_S)
        assert running.base_url, f"simulate did not start: {running.lines}"
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)
