"""The peers sttwatch is measured against: blackbox_exporter, and Prometheus driving it.

Both are the Debian packages (``/usr/bin/prometheus-blackbox-exporter``,
``/usr/bin/prometheus``), started on loopback ports with configs written to a
temp dir, and stopped with their process group.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Self

import yaml

from bench.procs import Proc, free_port, http_get

BLACKBOX_BIN = "/usr/bin/prometheus-blackbox-exporter"
PROMETHEUS_BIN = "/usr/bin/prometheus"
MODULE = "http_transcript_list"


def version(binary: str) -> str:
    """Return the first line of `binary --version` (or "missing")."""
    if not shutil.which(binary):
        return "missing"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
    return (out.stdout or out.stderr).splitlines()[0].strip()


def blackbox_module(api_key: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """Return the http module equivalent to sttwatch's reachability probe.

    Same request (GET, Authorization header, IPv4, no redirects) and the same
    acceptance test (status 200 and a body naming ``transcripts``), so both tools
    do the same work per probe.
    """
    return {
        "prober": "http",
        "timeout": f"{timeout_s:g}s",
        "http": {
            "method": "GET",
            "preferred_ip_protocol": "ip4",
            "ip_protocol_fallback": False,
            "headers": {"Authorization": api_key},
            "valid_status_codes": [200],
            "follow_redirects": False,
            "fail_if_body_not_matches_regexp": ['"transcripts"'],
        },
    }


class BlackboxExporter(Proc):
    """A running blackbox_exporter with one http module."""

    def __init__(self, workdir: Path, api_key: str) -> None:
        self.port = free_port()
        config = workdir / "blackbox.yml"
        config.write_text(yaml.safe_dump({"modules": {MODULE: blackbox_module(api_key)}}))
        super().__init__(
            [
                BLACKBOX_BIN,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            log=workdir / "blackbox.log",
        )

    @property
    def address(self) -> str:
        """Return HOST:PORT of the exporter."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Start and wait until /metrics answers."""
        super().start()
        self.wait_http(f"http://{self.address}/metrics")
        return self

    def probe(self, target: str) -> tuple[bool, float, float]:
        """Return probe_success, probe_duration_seconds and the sum of its HTTP phases."""
        query = urllib.parse.urlencode({"target": target, "module": MODULE})
        status, body = http_get(f"http://{self.address}/probe?{query}", timeout=30)
        if status != 200:
            raise RuntimeError(f"blackbox /probe answered {status}: {body[:200]!r}")
        text = body.decode()
        phases = sum(
            float(m.group(1))
            for m in re.finditer(r"^probe_http_duration_seconds\{[^}]*\} (\S+)$", text, re.M)
        )
        return (
            _metric(text, "probe_success") == 1.0,
            _metric(text, "probe_duration_seconds"),
            phases,
        )


def _metric(text: str, name: str) -> float:
    m = re.search(rf"^{name}(?:\{{[^}}]*\}})? (\S+)$", text, re.M)
    if not m:
        raise RuntimeError(f"no {name} in the exposition")
    return float(m.group(1))


def _duration(seconds: float) -> str:
    """Return `seconds` as a Prometheus duration (integers only: "4500ms", not "4.5s")."""
    return f"{round(seconds * 1000)}ms"


def blackbox_scrape_config(
    exporter: str, target_url: str, count: int, interval_s: float
) -> dict[str, Any]:
    """Return a Prometheus job probing `target_url` `count` times per interval via blackbox.

    The usual relabeling pattern (target → ``__param_target``, exporter as
    ``__address__``); a distinct ``n`` label per static group makes each of the
    `count` probes of the same URL a target of its own, like sttwatch's
    `count` targets sharing one API base.
    """
    return {
        "job_name": "blackbox",
        "metrics_path": "/probe",
        "params": {"module": [MODULE]},
        "scrape_interval": _duration(interval_s),
        "scrape_timeout": _duration(min(interval_s, 10.0) * 0.9),
        "static_configs": [
            {"targets": [target_url], "labels": {"n": str(i)}} for i in range(count)
        ],
        "relabel_configs": [
            {"source_labels": ["__address__"], "target_label": "__param_target"},
            {"source_labels": ["__param_target"], "target_label": "instance"},
            {"target_label": "__address__", "replacement": exporter},
        ],
    }


class Prometheus(Proc):
    """A running Prometheus with the given scrape configs and a throw-away TSDB."""

    def __init__(self, workdir: Path, scrape_configs: Sequence[dict[str, Any]], interval_s: float):
        self.port = free_port()
        config = workdir / "prometheus.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {
                        "scrape_interval": _duration(interval_s),
                        "evaluation_interval": "1m",
                    },
                    "scrape_configs": list(scrape_configs),
                },
                sort_keys=False,
            )
        )
        tsdb = workdir / "tsdb"
        tsdb.mkdir(exist_ok=True)
        super().__init__(
            [
                PROMETHEUS_BIN,
                f"--config.file={config}",
                f"--storage.tsdb.path={tsdb}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            log=workdir / "prometheus.log",
        )

    @property
    def address(self) -> str:
        """Return HOST:PORT of Prometheus."""
        return f"127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Start and wait until it is ready."""
        super().start()
        self.wait_http(f"http://{self.address}/-/ready", timeout=60)
        return self

    def scrapes_done(self) -> float:
        """Return how many scrapes Prometheus has completed (its own interval-length count)."""
        _, body = http_get(f"http://{self.address}/metrics")
        total = 0.0
        for m in re.finditer(
            r"^prometheus_target_interval_length_seconds_count\{[^}]*\} (\S+)$", body.decode(), re.M
        ):
            total += float(m.group(1))
        return total

    def query(self, promql: str) -> list[dict[str, Any]]:
        """Return the result vector of an instant PromQL query."""
        import json

        q = urllib.parse.urlencode({"query": promql})
        _, body = http_get(f"http://{self.address}/api/v1/query?{q}")
        data = json.loads(body)
        if data.get("status") != "success":
            raise RuntimeError(f"PromQL {promql!r} failed: {data}")
        result: list[dict[str, Any]] = data.get("data", {}).get("result", [])
        return result
