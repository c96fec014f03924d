"""Markdown tables for BENCHMARKS.md from a results JSON: ``python -m bench.report FILE``.

Prints the goal table and one table per benchmark, every figure taken from
the file, so the document quotes exactly what the run measured.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _md(rows: list[list[Any]]) -> str:
    head, *body = rows
    lines = ["| " + " | ".join(str(c) for c in head) + " |"]
    lines.append("|" + "|".join(" --- " for _ in head) + "|")
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in body]
    return "\n".join(lines)


def machine(data: dict[str, Any]) -> str:
    """Return the machine table."""
    m = data["machine"]
    rows = [
        ["what", "value"],
        ["CPU", f"{m['nproc']} × {m['cpu_model']}"],
        ["RAM", f"{m['ram_gb']} GB"],
        ["kernel", m["kernel"]],
        ["Python / SQLite", f"{m['python']} / {m['sqlite']}"],
        ["packages", ", ".join(f"{k} {v}" for k, v in m["packages"].items())],
        ["blackbox_exporter", m["peers"]["blackbox_exporter"]],
        ["Prometheus", m["peers"]["prometheus"]],
        ["commit", m["git_commit"]],
        [
            "load",
            f"CPU busy {m['cpu_busy_pct_before_start']} % just before; load average "
            f"{m['loadavg_start'][0]:.2f} at start, {m['loadavg_end'][0]:.2f} at end",
        ],
        ["run", f"{data['started_at']} → {data['finished_at']} ({data['total_s']} s)"],
    ]
    return _md(rows)


def goals(data: dict[str, Any]) -> str:
    """Return the goal-vs-measured table."""
    rows = [["benchmark", "figure", "sttwatch", "peer", "goal", "verdict"]]
    for g in data["goals"]:
        rows.append([g[k] for k in ("benchmark", "figure", "sttwatch", "peer", "goal", "verdict")])
    return _md(rows)


def overhead(r: dict[str, Any]) -> str:
    """Return the overhead table (ms, measured − d)."""
    rows = [["d", "tool", "median", "p90", "p99", "n"]]
    for d, e in r["delays"].items():
        for tool, s in e["tools"].items():
            rows.append([f"{d} ms", tool, s["median_ms"], s["p90_ms"], s["p99_ms"], s["n"]])
        rows.append(
            [
                f"{d} ms",
                "**ratio sttwatch ÷ blackbox**",
                e["ratio_sttwatch_to_blackbox"],
                "",
                "",
                "",
            ]
        )
    return _md(rows)


def streaming(r: dict[str, Any]) -> str:
    """Return the streaming accuracy table (ms)."""
    rows = [["t", "median error", "p90", "p99", "min", "max", "sessions"]]
    for t, s in r["delays"].items():
        rows.append(
            [f"{t} ms", s["median_ms"], s["p90_ms"], s["p99_ms"], s["min_ms"], s["max_ms"], s["n"]]
        )
    return _md(rows)


def scale(r: dict[str, Any]) -> str:
    """Return the scale table."""
    rows = [
        [
            "point",
            "targets",
            "side",
            "probes in window",
            "CPU ms/probe",
            "CPU %",
            "lateness p50 / p99 ms",
            "peak RSS MB",
            "ratio",
        ]
    ]
    for key, e in r["points"].items():
        if "error" in e:
            rows.append([key, "", "error", e["error"][:80], "", "", "", "", ""])
            continue
        st = e["sttwatch"]
        rows.append(
            [
                key,
                e["targets"],
                "sttwatch",
                st["probes"],
                st["cpu_ms_per_probe"],
                st["cpu_util_pct"],
                f"{st['lateness_p50_ms']} / {st['lateness_p99_ms']}",
                st["peak_rss_mb"],
                e.get("ratio_cpu_sttwatch_to_peer", ""),
            ]
        )
        if "peer" in e:
            p = e["peer"]
            rows.append(
                [
                    key,
                    e["targets"],
                    "blackbox + Prometheus",
                    f"{p['probes']} ({p['probes_succeeded']} ok)",
                    p["cpu_ms_per_probe"],
                    round(100 * p["cpu_s"] / p["window_s"], 1),
                    "",
                    f"{p['peak_rss_mb_blackbox']} + {p['peak_rss_mb_prometheus']}",
                    "",
                ]
            )
    for key, e in (r.get("whatif") or {}).items():
        if "error" in e:
            continue
        st = e["sttwatch"]
        rows.append(
            [
                f"what-if: {key}",
                e["targets"],
                "sttwatch, not as shipped",
                st["probes"],
                st["cpu_ms_per_probe"],
                st["cpu_util_pct"],
                f"{st['lateness_p50_ms']} / {st['lateness_p99_ms']}",
                st["peak_rss_mb"],
                "",
            ]
        )
    return _md(rows)


def status_page(r: dict[str, Any]) -> str:
    """Return the status page table."""
    rows = [
        [
            "days",
            "raw / hourly / daily rows",
            "DB MB",
            "render ms",
            "render RSS MB",
            "render, clean install ms",
            "GET / ms",
            "GET summary.json ms",
            "server RSS MB",
            "peer: bars from raw rows ms",
        ]
    ]
    for days, e in r["depths"].items():
        rw = e["rows"]
        rows.append(
            [
                days,
                f"{rw['results']:,} / {rw['rollup_hourly']:,} / {rw['rollup_daily']:,}",
                e["db_mb"],
                e["render_ms"],
                e["render_peak_rss_mb"],
                e["render_clean_install_ms"],
                e.get("get_index_ms", ""),
                e.get("get_summary_ms", ""),
                e.get("server_peak_rss_mb", ""),
                e.get("peer_raw_scan_bars_ms", ""),
            ]
        )
    return _md(rows)


def storage(r: dict[str, Any]) -> str:
    """Return the storage tables."""
    rows = [
        ["figure", "value"],
        ["raw results", f"{r['rows']['results']:,}"],
        ["DB size after VACUUM", f"{r['db_mb']} MB"],
        ["bytes per raw result (file ÷ results)", r["bytes_per_raw_result"]],
        ["results table + index per result", r["results_table_and_index_bytes_per_result"]],
        ["roll-ups, share of the file", f"{r['rollup_share_pct']} %"],
    ]
    if r.get("rollup_share_pct_at_60_runs_per_hour") is not None:
        rows.append(
            [
                "roll-ups, share if every hour held 60 runs",
                f"{r['rollup_share_pct_at_60_runs_per_hour']} %",
            ]
        )
    per_row = r.get("rollup_bytes_per_row") or {}
    for table, size in per_row.items():
        rows.append([f"bytes per {table.removeprefix('rollup_')} roll-up row", size])
    for label, size in (r.get("hourly_rollup_bytes_per_row") or {}).items():
        rows.append([f"bytes per hourly row, {label.replace('_', ' ')}", size])
    cols = [["probe", "rows", "message B", "phases B", "details B"]]
    for probe, c in r["mean_text_columns_by_probe"].items():
        cols.append(
            [probe, f"{c['rows']:,}", c["message_bytes"], c["phases_bytes"], c["details_bytes"]]
        )
    enc = r.get("reencoded_bytes_per_result") or {}
    lean = [["encoding (Findings F5), same rows", "bytes per result"]]
    lean += [[name.replace("_", " "), size] for name, size in enc.items()]
    return _md(rows) + "\n\n" + _md(cols) + ("\n\n" + _md(lean) if enc else "")


def startup(r: dict[str, Any]) -> str:
    """Return the start-up table."""
    rows = [
        ["figure", "ms (median)"],
        ["python -c pass (the interpreter alone)", r["python_bare_ms"]],
        ["python -c 'import asyncio, aiohttp' (clean install)", r.get("import_aiohttp_ms", "")],
        ["… + pydantic, sqlite_utils", r.get("import_aiohttp_pydantic_sqlite_utils_ms", "")],
        ["sttwatch --help", r["help_ms"]],
        ["once: time to first probe", r["once_time_to_first_probe_ms"]],
        [
            "once: time to first probe, clean install",
            r["once_time_to_first_probe_clean_install_ms"],
        ],
        ["once: whole run (3 probes against the simulator)", r["once_wall_ms"]],
        ["once: after the last probe to exit", r["once_after_last_probe_ms"]],
    ]
    imports = [["import (under -X importtime, inflated)", "cumulative ms"]]
    imports += [[i["module"], i["cumulative_ms"]] for i in r["once_import_top"][:8]]
    return _md(rows) + "\n\n" + _md(imports)


def main(argv: list[str] | None = None) -> int:
    """Print every table of the results file."""
    parser = argparse.ArgumentParser(prog="python -m bench.report")
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    data = json.loads(args.file.read_text())
    res = data["results"]
    print("## Machine\n\n" + machine(data) + "\n")
    print("## Goals\n\n" + goals(data) + "\n")
    for name, fn in (
        ("overhead", overhead),
        ("streaming", streaming),
        ("scale", scale),
        ("status_page", status_page),
        ("storage", storage),
        ("startup", startup),
    ):
        if name in res and "error" not in res[name]:
            print(f"## {name}\n\n" + fn(res[name]) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
