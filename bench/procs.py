"""Subprocesses the benchmarks start, and what /proc says about them.

Every process is started in its own session so that stopping it kills its
whole process group, and every start is paired with a stop in ``finally``
(the `Proc` context manager). CPU time and peak memory come from the kernel's
accounting of the process itself (/proc/PID/stat and /proc/PID/status).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

CLK_TCK = os.sysconf("SC_CLK_TCK")
REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (for peers that need one)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """Return user + system CPU seconds of process `pid` (all its threads) so far."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name may hold spaces and parentheses: fields start after the last ")".
    fields = raw[raw.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) / CLK_TCK


def status_kb(pid: int, key: str) -> int:
    """Return a ``kB`` field of /proc/PID/status (VmHWM = peak RSS, VmRSS = current RSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def run_measured(
    argv: Sequence[str], env: Mapping[str, str] | None = None, timeout: float = 300.0
) -> tuple[float, float, int, str]:
    """Return (wall seconds, peak RSS MiB, exit code, stderr) of running `argv` to completion.

    Peak RSS is the child's own VmHWM, polled from /proc every 2 ms until it
    exits. Not ``ru_maxrss`` from wait4: that one survives exec, and a child
    spawned by fork/vfork inherits its parent's resident size, so it reports
    at least the size of the process that started it (a benchmark that has
    just seeded a database in-process is large).
    """
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    peak_kb = 0
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None:
            with contextlib.suppress(OSError, KeyError, ValueError):
                peak_kb = max(peak_kb, status_kb(proc.pid, "VmHWM"))
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} ran over {timeout}s")
            time.sleep(0.002)
        wall = time.perf_counter() - t0
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stderr:
            proc.stderr.close()
    return wall, peak_kb / 1024.0, int(proc.returncode), err


def python() -> str:
    """Return the interpreter running the benchmarks (sttwatch runs under the same one)."""
    return sys.executable


def byte_compile_sttwatch() -> None:
    """Byte-compile sttwatch's modules (``monitor/__pycache__``), as pip does at install.

    The timed commands run this checkout, and this environment sets
    PYTHONDONTWRITEBYTECODE=1 (so does sttwatch's Dockerfile): without this,
    every timed ``sttwatch`` start compiled its ~50 modules from source, ~50-70 ms
    here, while aiohttp, pydantic and every other installed package load their
    bytecode. No installed sttwatch does that: pip byte-compiles what it
    installs whatever PYTHONDONTWRITEBYTECODE says (and so the Docker image has
    the bytecode). A module edited later is simply compiled from source again.
    """
    import compileall

    compileall.compile_dir(REPO / "monitor", quiet=1)


def clean_install_env(workdir: Path) -> dict[str, str]:
    """Return env vars under which numpy and pandas look uninstalled, as in sttwatch's image.

    sqlite-utils imports numpy and pandas whenever they are importable, and this
    machine has numpy (for other software). sttwatch needs neither and its
    Docker image has neither; a shim package that raises ImportError, first on
    PYTHONPATH, reproduces that install without building a venv.
    """
    shim = workdir / "clean-install-shim"
    for name in ("numpy", "pandas"):
        pkg = shim / name
        pkg.mkdir(parents=True, exist_ok=True)
        (pkg / "__init__.py").write_text(
            f'raise ImportError("{name} hidden: a clean sttwatch install lacks it")\n'
        )
    path = os.environ.get("PYTHONPATH", "")
    return {"PYTHONPATH": os.pathsep.join(p for p in (str(shim), str(REPO), path) if p)}


def http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """Return (status, body) of a GET; a refused connection raises OSError."""
    req = urllib.request.Request(url, headers={"User-Agent": "sttwatch-bench"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


class Proc:
    """A subprocess in its own process group, stopped (group-wide) on exit."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log
        self.env = {**os.environ, **(env or {})}
        self.cwd = cwd
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """Return the process id (the process must be started)."""
        assert self.popen is not None
        return self.popen.pid

    def start(self) -> Self:
        """Start the process with stdout and stderr to the log file; return self."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    def alive(self) -> bool:
        """Return True while the process runs."""
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, n: int = 20) -> str:
        """Return the last `n` lines the process printed."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def wait_http(self, url: str, timeout: float = 30.0) -> None:
        """Wait until `url` answers any HTTP status; raise RuntimeError if it never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.argv[0]} exited early:\n{self.log_tail()}")
            with contextlib.suppress(OSError):
                http_get(url, timeout=2.0)
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self.argv[0]} did not answer {url} in {timeout}s:\n{self.log_tail()}")

    def wait_log(self, needle: str, timeout: float = 30.0) -> str:
        """Wait until the log holds `needle`; return the log text so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            if needle in text:
                return text
            if not self.alive():
                raise RuntimeError(f"{self.argv[0]} exited early:\n{self.log_tail()}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.argv[0]} never printed {needle!r}:\n{self.log_tail()}")

    def wait_port(self, pattern: str, timeout: float = 60.0) -> int:
        """Wait until the log matches `pattern` (one group: the port); return the port.

        For our own servers started on port 0: they print the port they bound,
        so no port is guessed free and then raced for.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
            if m := re.search(pattern, text):
                return int(m.group(1))
            if not self.alive():
                raise RuntimeError(f"{self.argv[0]} exited early:\n{self.log_tail()}")
            time.sleep(0.05)
        raise RuntimeError(f"{self.argv[0]} never printed its port:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        """Signal the process group, wait, escalate to SIGKILL; return the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        # Stragglers of the group (children that outlived the leader).
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        return self.popen.returncode

    def __enter__(self) -> Self:
        if self.popen is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
