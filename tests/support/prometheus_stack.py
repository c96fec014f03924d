"""A real Prometheus scraping a real ``sttwatch run``: the parts the live tests share.

tests/metrics/test_prometheus_scrape.py and tests/metrics/test_grafana_dashboard.py both run
``sttwatch run`` with probe intervals of seconds against a simulator and a
Debian Prometheus on loopback with a temporary TSDB; the configs and the
Prometheus command line are built here, once.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

# Intervals of seconds, so a scrape every second sees fresh results quickly.
REACHABILITY = {"interval": "1s", "timeout": "800ms", "degraded_after": "500ms"}
STREAMING = {"interval": "4s", "timeout": "3900ms", "degraded_after": "3s"}


def free_port() -> int:
    """Return a TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def fast_probes(transcription_degraded_after: str = "1500ms") -> dict[str, Any]:
    """Return the three probes with intervals of seconds (transcription every 2 s)."""
    return {
        "reachability": dict(REACHABILITY),
        "transcription": {
            "interval": "2s",
            "timeout": "1900ms",
            "degraded_after": transcription_degraded_after,
            "poll_interval": "100ms",
            "poll_max_interval": "200ms",
        },
        "streaming": dict(STREAMING),
    }


def sttwatch_config(
    tmp: Path,
    *,
    api_base: str,
    ws_base: str,
    port: int,
    targets: tuple[str, ...],
    probes: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """Return an sttwatch config: every target on the simulator, served on `port`."""
    return {
        "database": str(tmp / "sttwatch.db"),
        "site_dir": str(tmp / "site"),
        "listen": f"127.0.0.1:{port}",
        "targets": [
            {
                "name": name,
                "api_base": api_base,
                "streaming_base": ws_base,
                "api_key": "sim-key",
                "probes": probes,
            }
            for name in targets
        ],
        **extra,
    }


def prometheus_config(scrape_port: int, rule_files: list[str] | None = None) -> dict[str, Any]:
    """Return a Prometheus config scraping sttwatch on `scrape_port` every second."""
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": "sttwatch",
                "scrape_interval": "1s",
                "scrape_timeout": "900ms",
                "static_configs": [{"targets": [f"127.0.0.1:{scrape_port}"]}],
            }
        ],
    }
    if rule_files:
        config["rule_files"] = rule_files
    return config


def prometheus_command(binary: str, config_file: Path, tmp: Path, port: int) -> list[str]:
    """Return the command line of a loopback Prometheus with a throw-away TSDB under `tmp`."""
    return [
        binary,
        f"--config.file={config_file}",
        f"--storage.tsdb.path={tmp / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=1h",
        "--log.level=warn",
    ]
