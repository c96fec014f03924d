"""``python -m bench``: run the six benchmarks, print the table, write the JSON.

``--quick`` runs every benchmark at small sizes (a minute or two, to check the
harness); the default full run takes about 15 minutes on 2 cores. ``--only``
picks benchmarks by name. Results go to ``bench/results/latest.json`` and,
with ``--save``, also to ``bench/results/<UTC time>.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine

RESULTS_DIR = Path(__file__).resolve().parent / "results"
NAMES = ("overhead", "streaming", "scale", "status_page", "storage", "startup")

SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "full": {
        "overhead": {"n": 300},
        "streaming": {"n": 10},
        "scale": {
            # (probes/min, interval s, with the peer); 1,000/min also in production shape.
            "points": (
                (100, 10.0, True),
                (1000, 10.0, True),
                (1000, 60.0, True),
                (3000, 10.0, True),
                (6000, 10.0, False),
                (12000, 10.0, False),
                (24000, 10.0, False),
            ),
            "n_intervals": 2,
            # How much of the CPU per probe is the status page's re-render (Findings).
            "whatif_points": ((1000, 10.0, "--render-min-interval 3600"),),
        },
        "status_page": {"depths": (30, 90, 365), "renders": 4, "gets": 20},
        "storage": {"days": 90},
        "startup": {"n": 8},
    },
    "quick": {
        "overhead": {"n": 20},
        "streaming": {"n": 2},
        "scale": {
            "points": ((120, 5.0, True), (1200, 5.0, True)),
            "n_intervals": 2,
            "whatif_points": ((1200, 5.0, "--render-min-interval 3600"),),
        },
        "status_page": {"depths": (2, 4), "renders": 1, "gets": 3, "raw_days": 1},
        "storage": {"days": 2, "raw_days": 1},
        "startup": {"n": 2},
    },
    # Proves the harness end to end in the test suite (tests/packaging/test_bench_smoke.py).
    "tiny": {
        "overhead": {"n": 3},
        "streaming": {"n": 1, "delays_ms": (300,)},
        "scale": {"points": ((60, 2.0, True),), "n_intervals": 2},
        "status_page": {"depths": (1, 2), "renders": 1, "gets": 2, "raw_days": 1, "targets": 2},
        "storage": {"days": 2, "raw_days": 1, "targets": 2},
        "startup": {"n": 1},
    },
}


def _runner(name: str) -> Callable[..., dict[str, Any]]:
    if name == "overhead":
        from bench import overhead

        return overhead.run
    if name == "streaming":
        from bench import streaming_accuracy

        return streaming_accuracy.run
    if name == "scale":
        from bench import scale

        return scale.run
    if name == "status_page":
        from bench import status_page

        return status_page.run
    if name == "storage":
        from bench import storage

        return storage.run
    from bench import startup

    return startup.run


def _get(data: dict[str, Any], *path: str) -> Any:
    node: Any = data
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return math.nan
        node = node[key]
    return node


def _verdict(value: Any, ok: Callable[[float], bool]) -> str:
    if not isinstance(value, int | float) or math.isnan(value):
        return "n/a"
    return "met" if ok(value) else "MISSED"


def goal_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Return one row per issue-7 goal: figure, sttwatch, peer, goal, verdict."""
    rows: list[dict[str, Any]] = []

    def row(bench: str, figure: str, ours: Any, peer: Any, goal: str, verdict: str) -> None:
        rows.append(
            {
                "benchmark": bench,
                "figure": figure,
                "sttwatch": ours,
                "peer": peer,
                "goal": goal,
                "verdict": verdict,
            }
        )

    o = results.get("overhead", {})
    for d in ("0", "50"):
        tools = _get(o, "delays", d, "tools")
        if not isinstance(tools, dict):
            continue
        ours = _get(tools, "sttwatch", "median_ms")
        bb = _get(tools, "blackbox_exporter", "median_ms")
        floor = _get(tools, "bare_aiohttp", "median_ms")
        r = _get(o, "delays", d, "ratio_sttwatch_to_blackbox")
        row(
            "1 overhead",
            f"d={d} ms: median overhead, ms",
            ours,
            bb,
            "ratio ≤ 1.0",
            _verdict(r, lambda v: v <= 1.0),
        )
        row(
            "1 overhead",
            f"d={d} ms: p99 overhead, ms",
            _get(tools, "sttwatch", "p99_ms"),
            _get(tools, "blackbox_exporter", "p99_ms"),
            "(reported)",
            "",
        )
        row(
            "1 overhead",
            f"d={d} ms: sttwatch − bare floor ({floor} ms), ms",
            _get(o, "delays", d, "sttwatch_minus_floor_ms"),
            "",
            "≤ 1 ms",
            _verdict(_get(o, "delays", d, "sttwatch_minus_floor_ms"), lambda v: v <= 1.0),
        )
    s = results.get("streaming", {})
    for t, entry in (s.get("delays") or {}).items():
        err = _get(entry, "median_ms")
        row(
            "2 streaming",
            f"t={t} ms: median first_transcript error, ms",
            err,
            "",
            "|median| < 5 ms",
            _verdict(err, lambda v: abs(v) < 5.0),
        )
    sc = results.get("scale", {})
    for key, entry in (sc.get("points") or {}).items():
        st = entry.get("sttwatch", {})
        peer = entry.get("peer", {})
        goal_point = key == "1000/min@60s"
        if "error" in entry:
            row("3 scale", key, "error", "", "", "n/a")
            continue
        row(
            "3 scale",
            f"{key} ({entry.get('targets')} targets): CPU ms per probe",
            _get(st, "cpu_ms_per_probe"),
            _get(peer, "cpu_ms_per_probe") if peer else "",
            "ratio ≤ 1.0" if goal_point else "(reported)",
            _verdict(entry.get("ratio_cpu_sttwatch_to_peer", math.nan), lambda v: v <= 1.0)
            if goal_point
            else "",
        )
        row(
            "3 scale",
            f"{key}: lateness p50 / p99, ms",
            f"{_get(st, 'lateness_p50_ms')} / {_get(st, 'lateness_p99_ms')}",
            "",
            "p99 < 100 ms" if goal_point else "p99 < 1 s (breaking point)",
            _verdict(
                _get(st, "lateness_p99_ms"),
                (lambda v: v < 100.0) if goal_point else (lambda v: v < 1000.0),
            ),
        )
        row(
            "3 scale",
            f"{key}: peak RSS, MB",
            _get(st, "peak_rss_mb"),
            f"{_get(peer, 'peak_rss_mb_blackbox')} + {_get(peer, 'peak_rss_mb_prometheus')}"
            if peer
            else "",
            "< 150 MB" if goal_point else "(reported)",
            _verdict(_get(st, "peak_rss_mb"), lambda v: v < 150.0) if goal_point else "",
        )
    for key, entry in (sc.get("whatif") or {}).items():
        st = entry.get("sttwatch", {})
        row(
            "3 scale",
            f"what-if (not shipped) {key}: CPU ms/probe, lateness p99 ms",
            f"{_get(st, 'cpu_ms_per_probe')} / {_get(st, 'lateness_p99_ms')}",
            "",
            "(sizes a finding)",
            "",
        )
    if sc.get("points"):
        broke = sc.get("breaks_at_per_min") or {}
        shapes = sorted({k.split("@")[1] for k in sc["points"]}, key=lambda x: float(x[:-1]))
        for shape in shapes:
            tried = [int(k.split("/")[0]) for k in sc["points"] if k.endswith("@" + shape)]
            row(
                "3 scale",
                f"interval {shape}: lateness p99 passes 1 s at, probes/min",
                broke.get(shape) or f"> {max(tried)} (not reached)",
                "",
                "(reported)",
                "",
            )
    sp = results.get("status_page", {})
    for days, entry in (sp.get("depths") or {}).items():
        row(
            "4 status page",
            f"{days} d: sttwatch render, ms / peak RSS MB",
            f"{entry.get('render_ms')} / {entry.get('render_peak_rss_mb')}",
            f"day bars from raw rows: {entry.get('peer_raw_scan_bars_ms')} ms",
            "< 500 ms and < 150 MB at 365 d",
            _verdict(entry.get("render_ms", math.nan), lambda v: v < 500.0),
        )
        row(
            "4 status page",
            f"{days} d: render as a clean install (no numpy), ms",
            entry.get("render_clean_install_ms"),
            "",
            "(reported)",
            "",
        )
        row(
            "4 status page",
            f"{days} d: GET / and /api/v2/summary.json, ms",
            f"{entry.get('get_index_ms')} / {entry.get('get_summary_ms')}",
            "",
            "(reported)",
            "",
        )
    if "render_growth_last_over_first" in sp:
        g = sp["render_growth_last_over_first"]
        row(
            "4 status page",
            "render time, deepest ÷ shallowest",
            g,
            "",
            "flat (≈ 1.0)",
            _verdict(g, lambda v: v <= 1.25),
        )
    st5 = results.get("storage", {})
    if "bytes_per_raw_result" in st5:
        row(
            "5 storage",
            "bytes per raw result (after VACUUM)",
            st5["bytes_per_raw_result"],
            "",
            "≤ 200",
            _verdict(st5["bytes_per_raw_result"], lambda v: v <= 200.0),
        )
        row(
            "5 storage",
            f"DB after {st5['days']} d × {st5['components']} components, MB",
            st5["db_mb"],
            "",
            "(reported)",
            "",
        )
        row(
            "5 storage",
            "roll-ups, % of the file",
            st5["rollup_share_pct"],
            "",
            "a rounding error",
            _verdict(st5["rollup_share_pct"], lambda v: v < 5.0),
        )
    su = results.get("startup", {})
    if "help_ms" in su:
        row("6 start-up", "sttwatch --help, ms", su["help_ms"], "", "(reported)", "")
        ttfp = su.get("once_time_to_first_probe_ms", math.nan)
        row(
            "6 start-up",
            "sttwatch once: time to first probe, ms",
            ttfp,
            "",
            "< 300 ms",
            _verdict(ttfp, lambda v: v < 300.0),
        )
        clean = su.get("once_time_to_first_probe_clean_install_ms", math.nan)
        row(
            "6 start-up",
            "once: time to first probe, clean install (no numpy), ms",
            clean,
            "",
            "< 300 ms",
            _verdict(clean, lambda v: v < 300.0),
        )
    return rows


def print_table(rows: list[dict[str, Any]], out: Any = sys.stdout) -> None:
    """Print the goal rows as an aligned table."""
    header = {
        "benchmark": "BENCHMARK",
        "figure": "FIGURE",
        "sttwatch": "STTWATCH",
        "peer": "PEER",
        "goal": "GOAL",
        "verdict": "",
    }
    table = [header, *rows]
    keys = list(header)
    widths = {k: max(len(str(r[k])) for r in table) for k in keys}
    for r in table:
        print("  ".join(str(r[k]).ljust(widths[k]) for k in keys).rstrip(), file=out)


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; return 0 unless a benchmark crashed."""
    parser = argparse.ArgumentParser(prog="bench/run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, a quick pass")
    parser.add_argument(
        "--tiny", action="store_true", help="tiny sizes: proves the harness runs (smoke test)"
    )
    parser.add_argument("--only", default=",".join(NAMES), help=f"comma list of {NAMES}")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "latest.json")
    parser.add_argument("--save", action="store_true", help="also keep a dated copy")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(names) - set(NAMES)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    started = datetime.now(UTC)
    report: dict[str, Any] = {
        "mode": mode,
        "started_at": started.isoformat(timespec="seconds"),
        "command": "bench/run"
        + (" --quick" if args.quick else "")
        + (f" --only {args.only}" if args.only != ",".join(NAMES) else ""),
        "machine": machine.describe(),
        "sizes": {n: SIZES[mode][n] for n in names},
        "results": {},
        "elapsed_s": {},
    }
    crashed = False
    # Benchmarks import the working tree's `monitor` and `bench`, and start
    # `python -m monitor` / `-m bench.*` subprocesses that must find them too.
    repo = str(Path(__file__).resolve().parent.parent)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (repo, os.environ.get("PYTHONPATH", "")) if p
    )
    with tempfile.TemporaryDirectory(prefix="sttwatch-bench-") as root:
        for name in names:
            print(f"== {name} ({mode}) ...", file=sys.stderr, flush=True)
            t0 = time.monotonic()
            workdir = Path(root) / name
            workdir.mkdir()
            kwargs = dict(SIZES[mode][name])
            if name in ("status_page", "storage"):
                # Both read the same seeded history: seed each depth once per run.
                kwargs["seed_cache"] = Path(root) / "seeded"
            try:
                report["results"][name] = _runner(name)(workdir, **kwargs)
            except Exception as exc:  # one broken benchmark must not lose the others
                crashed = True
                traceback.print_exc()
                report["results"][name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            report["elapsed_s"][name] = round(time.monotonic() - t0, 1)
            print(f"   {name}: {report['elapsed_s'][name]} s", file=sys.stderr, flush=True)
    finished = datetime.now(UTC)
    report["finished_at"] = finished.isoformat(timespec="seconds")
    report["total_s"] = round((finished - started).total_seconds(), 1)
    report["machine"]["loadavg_end"] = os.getloadavg()
    report["goals"] = goal_rows(report["results"])
    print_table(report["goals"])
    print(f"\ntotal {report['total_s']} s; JSON: {args.out}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, default=str)
    args.out.write_text(text + "\n")
    if args.save:
        stamp = started.strftime("%Y-%m-%dT%H%MZ")
        (args.out.parent / f"{stamp}-{mode}.json").write_text(text + "\n")
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
