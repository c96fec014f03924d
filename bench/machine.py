"""What the benchmarks ran on, and how busy the machine was while they ran."""

from __future__ import annotations

import os
import platform
import sqlite3
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.peers import BLACKBOX_BIN, PROMETHEUS_BIN, version

PACKAGES = ("sttwatch", "aiohttp", "pydantic", "sqlite-utils", "jinja2", "prometheus-client")


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _mem_total_gb() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return float("nan")


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=Path(__file__).resolve().parent,
        )
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def system_busy_pct(seconds: float = 1.0) -> float:
    """Return the share of all CPUs busy over the next `seconds` (others' work included)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    if total1 == total0:
        return 0.0
    return round(100.0 * (1 - (idle1 - idle0) / (total1 - total0)), 1)


def describe() -> dict[str, Any]:
    """Return the machine, interpreter, package and peer versions."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return {
        "nproc": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "ram_gb": _mem_total_gb(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
        "peers": {
            "blackbox_exporter": version(BLACKBOX_BIN),
            "prometheus": version(PROMETHEUS_BIN),
        },
        "git_commit": _git_commit(),
        "loadavg_start": os.getloadavg(),
        "cpu_busy_pct_before_start": system_busy_pct(),
    }
