"""A fleet for the overview matrix: targets of the built-in providers, probed from 3 locations.

`fleet_config` names `targets` targets, the providers taking turns (AssemblyAI,
Deepgram, OpenAI-compatible), each with every default probe kind; `fleet_results`
writes a history of hourly checks from each location and a last check a few
seconds before `now`, whose status per location a script sets ("DUU": down from
the first location, up from the others). What the page shows follows from the
real store's rows, as in production.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.config import Config, parse_config
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.probes.registry import probe_types
from monitor.store import Store

__all__ = ["LOCATIONS", "PROVIDERS", "fleet_config", "fleet_results", "fleet_store", "result"]

LOCATIONS = ("eu-west", "us-east", "ap-south")
PROVIDERS = (("assemblyai", "AssemblyAI"), ("deepgram", "Deepgram"), ("openai", "OpenAI"))
_STATUS = {"U": Status.UP, "G": Status.DEGRADED, "D": Status.DOWN}


def fleet_config(
    workdir: Path,
    targets: int = 10,
    providers: Sequence[tuple[str, str]] = PROVIDERS,
    **extra: Any,
) -> Config:
    """Return a config of `targets` targets, `providers` taking turns, site and db in `workdir`."""
    doc: dict[str, Any] = {
        "title": "Speech-to-text APIs",
        "database": str(workdir / "sttwatch.db"),
        "site_dir": str(workdir / "site"),
        "quorum": 2,
        "targets": [
            {
                "name": f"{name[:3]}-{i + 1}",
                "display_name": f"{label} {i + 1}",
                "provider": name,
                "api_key": "k",
            }
            for i in range(targets)
            for name, label in [providers[i % len(providers)]]
        ],
    }
    doc.update(extra)
    return parse_config(doc, env={})


@asynccontextmanager
async def fleet_store(workdir: Path) -> AsyncIterator[Store]:
    """Open the store of `fleet_config(workdir)`: two locations must agree (its quorum)."""
    store = await Store.open(
        str(workdir / "sttwatch.db"), failure_threshold=2, success_threshold=2, quorum=2
    )
    try:
        yield store
    finally:
        await store.close()


def result(
    config: Config,
    target: str,
    probe: str,
    at: datetime,
    letter: str = "U",
    latency: float = 0.3,
    location: str = LOCATIONS[0],
    message: str = "",
) -> ProbeResult:
    """Return one result of `target`'s `probe` (U up, G degraded, D down) with its key phase."""
    status = _STATUS[letter]
    [provider] = [t.provider for t in config.targets if t.name == target]
    kind = probe_types(provider)[probe]
    down = status is Status.DOWN
    return ProbeResult(
        target,
        probe,
        at,
        latency,
        status,
        ErrorKind.SERVER_ERROR if down else None,
        message or ("HTTP 503" if down else "slow" if status is Status.DEGRADED else ""),
        {} if down else {kind.key_phase: latency},
        {} if down or probe == "reachability" else {"wer": 0.04},
        location,
    )


def fleet_results(
    config: Config,
    now: datetime,
    *,
    script: Mapping[str, str] | None = None,
    latency: Mapping[str, float] | None = None,
    days: int = 2,
    locations: Sequence[str] = LOCATIONS,
) -> Iterator[ProbeResult]:
    """Yield `days` of hourly good checks from every location, then each one's last two checks.

    `script` maps a component id to a letter per location for its last two checks
    (default: up everywhere); `latency` a component id to its key latency (0.3 s).
    """
    script = script or {}
    latency = latency or {}
    for target in config.targets:
        for probe in target.probes.enabled():
            cid = f"{target.name}-{probe}"
            seconds = latency.get(cid, 0.3)
            for n, location in enumerate(locations):
                for hour in range(days * 24, 0, -1):
                    at = now - timedelta(hours=hour, seconds=n)
                    yield result(config, target.name, probe, at, "U", seconds, location)
                letter = script.get(cid, "U" * len(locations))[n]
                for ago in (60, 10):
                    at = now - timedelta(seconds=ago + n)
                    yield result(config, target.name, probe, at, letter, seconds, location)
