"""Benchmark 4: the status page at 30, 90 and 365 days of history.

For each depth a database is seeded (10 targets × 3 probes; raw 60-s results
within the 30-day retention, roll-ups beyond: `bench.seed`, whose rows have the
real probes' shape — ``monitor.demo.synthetic_history``, which bench.render
seeds with, writes slimmer rows), then:

* ``sttwatch render -c CONFIG`` is run several times; wall time and the
  process's peak RSS (its VmHWM, `bench.procs.run_measured`; not ru_maxrss,
  which would include this process's own size) per run, medians reported,
  and the same wall time as a clean install (numpy hidden, see
  `bench.procs.clean_install_env`), alternating so load hits both alike;
* the peer, on the same database: the day bars computed the way Uptime Kuma
  v1's status pages did, by a GROUP BY over the raw results
  (``bench.render.raw_scan_bars``; raw rows here are the 30 days retention keeps);
* ``sttwatch run`` serves the same database (its targets pointed at a local
  simulator so new results stay healthy); once it serves ``/``, ``GET /`` and
  ``GET /api/v2/summary.json`` are timed on fresh connections, and its VmHWM read.
"""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from bench.procs import (
    Proc,
    byte_compile_sttwatch,
    clean_install_env,
    http_get,
    python,
    run_measured,
    status_kb,
)
from bench.render import raw_scan_bars
from bench.scale import SERVING, Simulator
from bench.seed import Plan, seeded, write_config
from bench.stats import median


def _render_once(cfg: Path, env: dict[str, str] | None = None) -> tuple[float, float]:
    """Return (wall seconds, peak RSS MiB) of one ``sttwatch render -c CONFIG``."""
    wall, peak, code, err = run_measured(
        [python(), "-m", "monitor", "render", "-c", str(cfg)], env=env
    )
    if code != 0:
        raise RuntimeError(f"sttwatch render exited {code}: {err[-800:]}")
    return wall, peak


def _timed_get(url: str) -> float:
    t0 = time.perf_counter()
    status, body = http_get(url, timeout=30)
    if status != 200 or not body:
        raise RuntimeError(f"GET {url} answered {status}")
    return time.perf_counter() - t0


def _serve(workdir: Path, db: Path, targets: int, sim: Simulator, gets: int) -> dict[str, Any]:
    served_db = workdir / "served.db"
    shutil.copyfile(db, served_db)
    cfg = write_config(
        workdir / "serve.yaml",
        served_db,
        workdir / "served-site",
        targets,
        api_base=sim.base_url,
        ws_base=sim.ws_base,
        listen="127.0.0.1:0",
    )
    proc = Proc([python(), "-m", "monitor", "run", "-c", str(cfg)], log=workdir / "serve.log")
    with proc:
        base = f"http://127.0.0.1:{proc.wait_port(SERVING, timeout=120)}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if http_get(f"{base}/api/v2/summary.json", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if not proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sttwatch run never served the page:\n{proc.log_tail()}")
            time.sleep(0.2)
        index = [_timed_get(f"{base}/") for _ in range(gets)]
        summary = [_timed_get(f"{base}/api/v2/summary.json") for _ in range(gets)]
        hwm = status_kb(proc.pid, "VmHWM")
    return {
        "get_index_ms": round(1000 * median(index), 2),
        "get_summary_ms": round(1000 * median(summary), 2),
        "server_peak_rss_mb": round(hwm / 1024.0, 1),
    }


def run(
    workdir: Path,
    *,
    depths: tuple[int, ...],
    renders: int,
    gets: int,
    targets: int = 10,
    raw_days: int = 30,
    serve: bool = True,
    seed_cache: Path | None = None,
) -> dict[str, Any]:
    """Return, per depth, render wall/RSS medians and the served page's timings."""
    out: dict[str, Any] = {"targets": targets, "probes_per_target": 3, "depths": {}}
    clean_env = clean_install_env(workdir)
    byte_compile_sttwatch()  # as installed: pip byte-compiles the wheel's modules
    if seed_cache is not None and len(depths) > 1:
        # Seeding is most of this benchmark's time and one SQLite writer per
        # database: seed the depths side by side, one process per core.
        plans = [Plan(days=days, targets=targets, raw_days=raw_days) for days in depths]
        with ProcessPoolExecutor(max_workers=min(len(plans), os.cpu_count() or 1)) as pool:
            for fut in [pool.submit(seeded, seed_cache, p, workdir / "unused.db") for p in plans]:
                fut.result()
    with Simulator(workdir, "page-simulator") as sim:
        for days in depths:
            d = workdir / f"{days}d"
            d.mkdir()
            plan = Plan(days=days, targets=targets, raw_days=raw_days)
            db, info = seeded(seed_cache, plan, d / "seeded.db")
            cfg = write_config(
                d / "render.yaml",
                db,
                d / "site",
                targets,
                api_base=sim.base_url,
                ws_base=sim.ws_base,
                listen="127.0.0.1:0",
            )
            walls, rss, clean = [], [], []
            for _ in range(renders):
                wall, peak = _render_once(cfg)
                walls.append(wall)
                rss.append(peak)
                clean.append(_render_once(cfg, clean_env)[0])
            entry: dict[str, Any] = {
                "rows": info["rows"],
                "db_mb": round(info["bytes"] / 1e6, 1),
                "seed_s": info["seed_s"],
                "render_ms": round(1000 * median(walls), 1),
                "render_all_ms": [round(1000 * w, 1) for w in walls],
                "render_peak_rss_mb": round(median(rss), 1),
                "render_clean_install_ms": round(1000 * median(clean), 1),
            }
            scan_s, bars = raw_scan_bars(db, days)
            entry["peer_raw_scan_bars_ms"] = round(1000 * scan_s, 1)
            entry["peer_raw_scan_bar_count"] = bars
            if serve:
                try:
                    entry.update(_serve(d, db, targets, sim, gets))
                except (RuntimeError, OSError) as exc:
                    entry["serve_error"] = str(exc)[:2000]
            out["depths"][str(days)] = entry
    depths_done = [str(x) for x in depths]
    if len(depths_done) >= 2:
        first, last = out["depths"][depths_done[0]], out["depths"][depths_done[-1]]
        out["render_growth_last_over_first"] = round(last["render_ms"] / first["render_ms"], 2)
    return out
