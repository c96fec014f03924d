"""The tests' sttwatch configs: one document builder, parsed in process or written as a file.

``config_doc`` lays out what a running sttwatch needs (database, site, listen
address, targets, alerts) under a test's temporary directory; ``sim_target`` is
a target aimed at a simulator. ``parsed`` validates a document the way
``load_config`` would (with no environment); ``write_config`` writes it where
``sttwatch --config`` reads it, readable by its owner only, as sttwatch wants a
file that holds secrets.

Tests whose configs are of another shape keep their own small builders: the
config tests parse YAML text, and the unit tests of metrics, maintenance, the
scheduler, alert messages and the page build configs with no simulator.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from monitor.config import Config, parse_config
from monitor.database_url import is_postgres_url
from monitor.simulator import SimulatorHandle

SIM_KEY = "sim-key"


def sim_target(
    sim: SimulatorHandle,
    name: str = "sim",
    *,
    key: str = SIM_KEY,
    probes: dict[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Return a target on `sim` (its REST and streaming bases) with `probes` and other fields."""
    target: dict[str, Any] = {
        "name": name,
        "api_base": sim.base_url,
        "streaming_base": sim.ws_base,
        "api_key": key,
    }
    if probes is not None:
        target["probes"] = probes
    return {**target, **fields}


def config_doc(
    tmp_path: Path,
    targets: Iterable[dict[str, Any]],
    *,
    database: str | Path = "sttwatch.db",
    site_dir: str | Path | None = "site",
    listen: str | None = "127.0.0.1:0",
    alerts: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Return a config document with `targets`; its files lie under `tmp_path`.

    `database` (a file, or a PostgreSQL URL taken as it is) and `site_dir` are
    relative to `tmp_path` unless absolute (so is the buffer a run on PostgreSQL
    keeps); sttwatch listens on a free loopback port. None leaves `site_dir` or
    `listen` out.
    """
    where = str(database) if is_postgres_url(str(database)) else str(tmp_path / database)
    doc: dict[str, Any] = {"database": where}
    # Where a run on PostgreSQL buffers results (unused on SQLite): never the checkout.
    doc["buffer"] = str(tmp_path / "sttwatch-buffer.db")
    if site_dir is not None:
        doc["site_dir"] = str(tmp_path / site_dir)
    if listen is not None:
        doc["listen"] = listen
    doc["targets"] = list(targets)
    if alerts is not None:
        doc["alerts"] = alerts
    return {**doc, **extra}


def parsed(doc: dict[str, Any]) -> Config:
    """Return `doc` validated as sttwatch would, with no environment variables set."""
    return parse_config(doc, env={})


def write_config(tmp_path: Path, doc: dict[str, Any], name: str = "sttwatch.yaml") -> Path:
    """Write `doc` as YAML to ``tmp_path/name`` (mode 0600) and return its path."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    path.chmod(0o600)
    return path
