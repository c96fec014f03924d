"""Benchmark 6: start-up — ``sttwatch --help`` and ``sttwatch once`` time to first probe.

Measured twice: as this machine is (numpy installed for other software, which
sqlite-utils then imports) and as a clean install such as sttwatch's Docker
image (numpy hidden: `bench.procs.clean_install_env`).

Time to first probe = the earliest ``started_at`` that ``once --json`` prints
(stamped by the probe itself, wall clock, ms precision) minus the wall clock
read just before the process was spawned. It covers interpreter start,
imports, config load and store open, and none of the probes' own time.
``python -X importtime`` of the same command names where the import time goes.

The machine is shared, so before each timed ``once`` the floor under it runs
too: an interpreter importing only what ``once`` cannot start a probe without
(asyncio, aiohttp, yaml, pydantic's BaseModel). The median of the per-pair differences,
what sttwatch itself adds, is the figure load moves least.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bench.procs import byte_compile_sttwatch, clean_install_env, python
from bench.scale import SIM_KEY, Simulator
from bench.stats import median


def sttwatch_argv() -> list[str]:
    """Return how a user starts sttwatch: the console script if installed, else ``-m``."""
    exe = shutil.which("sttwatch")
    return [exe] if exe else [python(), "-m", "monitor"]


def _wall(
    argv: list[str], timeout: float = 60.0, env: dict[str, str] | None = None
) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env={**os.environ, **(env or {})}
    )
    return time.perf_counter() - t0, done


def _write_config(workdir: Path, sim: Simulator) -> Path:
    cfg = {
        "database": str(workdir / "once.db"),
        "site_dir": str(workdir / "site"),
        "targets": [
            {
                "name": "sim",
                "api_base": sim.base_url,
                "streaming_base": sim.ws_base,
                "api_key": SIM_KEY,
            }
        ],
    }
    path = workdir / "once.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    path.chmod(0o600)
    return path


# What `once` must import before its first probe whatever sttwatch does.
# (`import pydantic` alone is lazy: BaseModel is what the config models need.)
ONCE_DEPS = "import asyncio, aiohttp, yaml; from pydantic import BaseModel"


def import_breakdown(argv: list[str], top: int = 12) -> list[dict[str, Any]]:
    """Return the `top` imports by cumulative time under ``-X importtime`` (ms)."""
    done = subprocess.run(
        [python(), "-X", "importtime", *argv], capture_output=True, text=True, timeout=120
    )
    rows = []
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if m:
            rows.append((int(m.group(2)), len(m.group(3)), m.group(4)))
    # Top-level entries (least indented) carry the whole cost of what they pulled in.
    least = min((r[1] for r in rows), default=0)
    tops = sorted((r for r in rows if r[1] <= least + 2), reverse=True)[:top]
    return [{"module": name, "cumulative_ms": round(us / 1000, 1)} for us, _, name in tops]


def run(workdir: Path, *, n: int) -> dict[str, Any]:
    """Return median wall times of --help, of a bare interpreter, and once's time to first probe."""
    argv = sttwatch_argv()
    byte_compile_sttwatch()  # as installed: pip byte-compiles the wheel's modules
    bare = [_wall([python(), "-c", "pass"])[0] for _ in range(n)]
    helps = []
    for _ in range(n):
        secs, done = _wall([*argv, "--help"])
        if done.returncode != 0:
            raise RuntimeError(f"--help exited {done.returncode}: {done.stderr[-500:]}")
        helps.append(secs)
    # What the dependencies alone cost to import here: a floor no trimming in
    # sttwatch can go below (measured as a clean install, like `once` below).
    floors = {}
    for name, code in (
        ("import_aiohttp_ms", "import asyncio, aiohttp"),
        (
            "import_aiohttp_pydantic_sqlite_utils_ms",
            "import asyncio, aiohttp, pydantic, sqlite_utils",
        ),
    ):
        clean = clean_install_env(workdir)
        floors[name] = round(
            1000 * median([_wall([python(), "-c", code], env=clean)[0] for _ in range(n)]), 1
        )
    out: dict[str, Any] = {
        "command": " ".join(Path(a).name if i == 0 else a for i, a in enumerate(argv)),
        "runs": n,
        "python_bare_ms": round(1000 * median(bare), 1),
        **floors,
        "help_ms": round(1000 * median(helps), 1),
        "help_import_top": import_breakdown(["-m", "monitor", "--help"]),
    }
    with Simulator(workdir, "once-simulator") as sim:
        cfg = _write_config(workdir, sim)
        variants = {"": None, "_clean_install": clean_install_env(workdir)}
        for suffix, env in variants.items():
            firsts, walls, after, deps = [], [], [], []
            # The first run creates the database; the timed ones find it, as a
            # periodic `once` (cron, CI) does.
            for leftover in workdir.glob("once.db*"):  # the -wal and -shm too
                leftover.unlink()
            _wall([*argv, "once", "-c", str(cfg)], 120, env)
            for i in range(n):
                deps.append(_wall([python(), "-c", ONCE_DEPS], env=env)[0])
                spawned = time.time()
                secs, done = _wall([*argv, "once", "-c", str(cfg), "--json"], 120, env)
                lines = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
                if not lines:
                    raise RuntimeError(
                        f"once printed no result (exit {done.returncode}): {done.stderr[-800:]}"
                    )
                if i == 0 and not suffix:
                    out["once_statuses"] = {f"{r['probe']}": r["status"] for r in lines}
                    out["once_exit_code"] = done.returncode
                starts = [
                    datetime.fromisoformat(r["started_at"].replace("Z", "+00:00")).timestamp()
                    for r in lines
                ]
                ends = [s + float(r["duration_s"]) for s, r in zip(starts, lines, strict=True)]
                firsts.append(min(starts) - spawned)
                walls.append(secs)
                after.append(spawned + secs - max(ends))
            out[f"once_time_to_first_probe{suffix}_ms"] = round(1000 * median(firsts), 1)
            out[f"once_time_to_first_probe{suffix}_all_ms"] = [round(1000 * f, 1) for f in firsts]
            out[f"import_once_deps{suffix}_ms"] = round(1000 * median(deps), 1)
            out[f"once_above_deps{suffix}_ms"] = round(
                1000 * median([f - d for f, d in zip(firsts, deps, strict=True)]), 1
            )
            out[f"once_wall{suffix}_ms"] = round(1000 * median(walls), 1)
            out[f"once_after_last_probe{suffix}_ms"] = round(1000 * median(after), 1)
        out["once_import_top"] = import_breakdown(["-m", "monitor", "once", "-c", str(cfg)])
    return out
