"""The benchmark harness runs end to end and writes its figures (issue 7).

Benchmarks are not tests: nothing here asserts a speed. This proves that
``bench/run`` can start every peer and product piece it measures, and that a
benchmark that cannot run shows up as an error instead of a silent gap.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = ("overhead", "streaming", "scale", "status_page", "storage", "startup")

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


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bench") / "tiny.json"
    done = subprocess.run(
        [str(REPO / "bench" / "run"), "--tiny", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "BENCHMARK" in done.stdout  # the table was printed
    data: dict[str, Any] = json.loads(out.read_text())
    return data


@pytest.mark.timeout(300)
def test_every_benchmark_ran_without_error(report: dict[str, Any]) -> None:
    assert set(report["results"]) == set(BENCHMARKS)
    assert _errors(report["results"]) == []


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "path",
    [
        ("overhead", "delays", "0", "tools", "sttwatch", "median_ms"),
        ("overhead", "delays", "50", "tools", "blackbox_exporter", "median_ms"),
        ("overhead", "delays", "50", "tools", "bare_aiohttp", "median_ms"),
        ("streaming", "delays", "300", "median_ms"),
        ("scale", "points", "60/min@2s", "sttwatch", "cpu_ms_per_probe"),
        ("scale", "points", "60/min@2s", "peer", "cpu_ms_per_probe"),
        ("status_page", "depths", "2", "render_ms"),
        ("status_page", "depths", "2", "get_summary_ms"),
        ("storage", "bytes_per_raw_result"),
        ("startup", "once_time_to_first_probe_ms"),
    ],
    ids=lambda p: ".".join(p),
)
def test_figure_is_a_measured_number(report: dict[str, Any], path: tuple[str, ...]) -> None:
    node: Any = report["results"]
    for key in path:
        node = node[key]
    assert isinstance(node, int | float) and math.isfinite(node)


@pytest.mark.timeout(300)
def test_every_probe_counted_was_a_success(report: dict[str, Any]) -> None:
    # A harness that measured failing probes would report figures of nothing.
    overhead = report["results"]["overhead"]
    for entry in overhead["delays"].values():
        assert {tool["n"] for tool in entry["tools"].values()} == {overhead["probes_per_tool"]}
    peer = report["results"]["scale"]["points"]["60/min@2s"]["peer"]
    assert peer["probes"] > 0 and peer["probes_succeeded"] == peer["probes"]
    assert report["results"]["startup"]["once_statuses"] == {
        "reachability": "up",
        "transcription": "up",
        "streaming": "up",
    }


@pytest.mark.timeout(300)
def test_goal_table_covers_every_benchmark(report: dict[str, Any]) -> None:
    benches = {row["benchmark"].split()[0] for row in report["goals"]}
    assert benches == {"1", "2", "3", "4", "5", "6"}
