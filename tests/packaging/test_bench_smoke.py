"""The benchmark harness runs end to end and writes its figures (issue 7).

Benchmarks are not tests: nothing here asserts a speed. This proves that
``bench/run`` can start every peer and product piece it measures, and that a
benchmark that cannot run shows up as an error instead of a silent gap.

One test function on purpose: the suite runs on several xdist workers, and a
module-scoped fixture shared by several tests would run the harness once per
worker that draws one of them.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = ("overhead", "streaming", "scale", "status_page", "storage", "startup")

# Figures the tiny run must have measured (a path into report["results"]).
FIGURES = (
    ("overhead", "delays", "0", "tools", "sttwatch", "median_ms"),
    ("overhead", "delays", "50", "tools", "blackbox_exporter", "median_ms"),
    ("overhead", "delays", "50", "tools", "bare_aiohttp", "median_ms"),
    ("streaming", "delays", "300", "median_ms"),
    ("scale", "points", "60/min@2s", "sttwatch", "cpu_ms_per_probe"),
    ("scale", "points", "60/min@2s", "sttwatch", "lateness_p99_ms"),
    ("scale", "points", "60/min@2s", "peer", "cpu_ms_per_probe"),
    ("status_page", "depths", "2", "render_ms"),
    ("status_page", "depths", "2", "render_peak_rss_mb"),
    ("status_page", "depths", "2", "get_summary_ms"),
    ("storage", "bytes_per_raw_result"),
    ("storage", "reencoded_bytes_per_result", "plus_positional_phases"),
    ("startup", "help_ms"),
    ("startup", "once_time_to_first_probe_ms"),
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (
            shutil.which("/usr/bin/prometheus")
            and shutil.which("/usr/bin/prometheus-blackbox-exporter")
        ),
        reason="the peers (Debian prometheus, prometheus-blackbox-exporter) are not installed",
    ),
]


def _errors(node: Any, path: str = "") -> list[str]:
    """Return the paths of every "error"/"serve_error" entry anywhere in `node`."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("error", "serve_error"):
                found.append(f"{path}.{key}: {value}")
            else:
                found.extend(_errors(value, f"{path}.{key}"))
    return found


def _missing_figures(results: dict[str, Any]) -> list[str]:
    """Return the FIGURES that are absent or not a finite number."""
    missing = []
    for path in FIGURES:
        node: Any = results
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if not (isinstance(node, int | float) and math.isfinite(node)):
            missing.append(f"{'.'.join(path)} = {node!r}")
    return missing


@pytest.mark.timeout(300)
def test_bench_run_tiny_measures_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "tiny.json"
    done = subprocess.run(
        [str(REPO / "bench" / "run"), "--tiny", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "BENCHMARK" in done.stdout  # the goal table was printed
    report = json.loads(out.read_text())
    results = report["results"]

    assert set(results) == set(BENCHMARKS)
    assert _errors(results) == []
    assert _missing_figures(results) == []
    # A harness that measured failing probes would report figures of nothing.
    overhead = results["overhead"]
    for entry in overhead["delays"].values():
        assert {tool["n"] for tool in entry["tools"].values()} == {overhead["probes_per_tool"]}
    peer = results["scale"]["points"]["60/min@2s"]["peer"]
    assert peer["probes"] > 0 and peer["probes_succeeded"] == peer["probes"]
    assert results["startup"]["once_statuses"] == {
        "reachability": "up",
        "transcription": "up",
        "streaming": "up",
    }
    assert {row["benchmark"].split()[0] for row in report["goals"]} == {
        "1",
        "2",
        "3",
        "4",
        "5",
        "6",
    }
