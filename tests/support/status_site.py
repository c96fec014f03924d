"""A status site with everything a page can show, rendered from a real store for layout checks.

``render_status_site(workdir, now)`` configures one target per built-in
provider with a demo profile (AssemblyAI twice: US, and EU under a long
label), the test provider of ``tests/support/providers.py`` (the caller
installs it with ``extra_provider``) and a target of it never checked (its
name the longest a slug may be, its label a slug with nowhere to break);
seeds a week of the demo profiles' synthetic history from three locations
(quorum 2; one's name 41 characters long); and scripts "now": two components
of one target failing (one's message 300 characters without a space, the
other's a long URL), a resolved outage whose message is that URL, a component
down from one location only, a slow one, maintenance in progress and one to
come. Then it renders the site and returns its directory.

``hostile=False`` keeps the same story with ordinary words and names (the
screenshots in docs/).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.config import Config, parse_config
from monitor.demo import demo_providers, synthetic_history
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.site import render_site
from monitor.store import Store
from tests.support.providers import SECOND

__all__ = [
    "IDLE",
    "LOCATIONS",
    "LONG_LABEL",
    "NO_SPACES",
    "SLUG_LABEL",
    "URL_MESSAGE",
    "render_status_site",
]

# The third as long as a location's name may be in words (the longest slug is 64 characters).
LOCATIONS = ("eu-west", "us-east", "ap-southeast-2-sydney-availability-zone-b")
CALM_LOCATIONS = ("eu-west", "us-east", "ap-southeast")
IDLE = "second-stt-eu-central-fallback-tenant-that-was-never-checked-yet"
LONG_LABEL = "AssemblyAI EU (data residency Dublin) production tenant of the call-centre pipeline"
# A label as an operator's slug: no space, no hyphen, nowhere to break a line.
SLUG_LABEL = "second_stt_eu_central_fallback_tenant_never_checked"
NO_SPACES = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(5))[:300]
URL_MESSAGE = (
    "HTTP 503 from https://api.eu.assemblyai.com/v2/transcript/6a2f0e1c-9b7d-4f3e-8a21-"
    "0c5d7e9f1b3a?webhook_url=https%3A%2F%2Fhooks.example.com%2Fsttwatch%2Fcallback%3Ftoken"
    "%3Dredacted&speech_model=universal"
)


def _config(workdir: Path, now: datetime, hostile: bool) -> Config:
    """Return the config: every demo provider, AssemblyAI twice, the test provider, an idle one."""
    targets: list[dict[str, Any]] = []
    for p in demo_providers():
        probes = p.profile.probes(60.0, "30s")
        label = "AssemblyAI US" if p.name == "assemblyai" else p.provider.label
        targets.append(
            {"name": p.name, "display_name": label, "provider": p.name, "api_key": "k",
             "probes": probes}
        )  # fmt: skip
        if p.name == "assemblyai":
            label = LONG_LABEL if hostile else "AssemblyAI EU"
            targets.append(
                {"name": "aai-eu", "display_name": label, "provider": p.name, "region": "eu",
                 "api_key": "k", "probes": probes}
            )  # fmt: skip
    targets.append({"name": "second", "provider": SECOND.name, "api_key": "k"})
    targets.append(
        {"name": IDLE, "display_name": SLUG_LABEL if hostile else "Never checked yet",
         "provider": SECOND.name,
         "api_key": "k"}
    )  # fmt: skip
    title = "Upgrade of the EU region's transcription workers to the new model" + (
        " (the long title of a window someone wrote in a hurry)" if hostile else ""
    )
    return parse_config(
        {
            "title": "Speech-to-text APIs",
            "database": str(workdir / "sttwatch.db"),
            "site_dir": str(workdir / "site"),
            "quorum": 2,
            "targets": targets,
            "alerts": {"failure_threshold": 2, "success_threshold": 2},
            "maintenance": [
                {"title": title, "targets": ["second"], "probes": ["transcription"],
                 "start": (now - timedelta(minutes=30)).isoformat(), "duration": "2h"},
                {"title": "Database failover drill", "start": (now + timedelta(days=2)).isoformat(),
                 "duration": "30m"},
            ],
        },
        env={},
    )  # fmt: skip


def _everywhere(results: Iterator[ProbeResult], places: tuple[str, ...]) -> Iterator[ProbeResult]:
    """Yield each result once from every location."""
    for r in results:
        for where in places:
            yield dataclasses.replace(r, location=where)


def _now(
    config: Config, now: datetime, hostile: bool, places: tuple[str, ...]
) -> Iterator[ProbeResult]:
    """Yield the last ten minutes: mostly good runs, and the story the module's doc tells."""
    no_spaces = NO_SPACES if hostile else "Streaming session closed with 1011 (internal error)"
    url = URL_MESSAGE if hostile else "HTTP 503 from the transcript endpoint"
    special: dict[tuple[str, str], Any] = {
        ("aai-eu", "streaming"): (Status.DOWN, ErrorKind.STREAM_CLOSED, no_spaces, places),
        ("aai-eu", "transcription"): (Status.DOWN, ErrorKind.SERVER_ERROR, url, places),
        ("deepgram", "transcription"): (
            Status.DOWN, ErrorKind.SERVER_ERROR, url, places[:1]
        ),
        ("openai", "streaming"): (Status.DEGRADED, None, "", places),
    }  # fmt: skip
    for target in config.targets:
        if target.name == IDLE:
            continue
        for probe, spec in target.probes.enabled().items():
            limit = float(spec.degraded_after)
            for minutes in (8, 5, 2):
                at = now - timedelta(minutes=minutes, seconds=7)
                status, kind, message, where = special.get(
                    (target.name, probe), (Status.UP, None, "", ())
                )
                for loc in places:
                    if loc in where and status is Status.DOWN:
                        yield ProbeResult(
                            target.name, probe, at, 1.0, status, kind, message, location=loc
                        )
                    elif loc in where:
                        yield ProbeResult(
                            target.name, probe, at, limit * 1.4, status, None,
                            f"slower than {limit:g} s", location=loc,
                        )  # fmt: skip
                    else:
                        yield ProbeResult(
                            target.name, probe, at, limit * 0.4, Status.UP, location=loc
                        )


def _resolved(now: datetime, hostile: bool, places: tuple[str, ...]) -> Iterator[ProbeResult]:
    """Yield an outage of AssemblyAI US's REST API three hours ago, over after four runs."""
    message = URL_MESSAGE if hostile else "HTTP 503 from the transcript endpoint"
    for n in range(8):
        at = now - timedelta(hours=3) + timedelta(minutes=n)
        down = n < 4
        for loc in places:
            yield ProbeResult(
                "assemblyai", "reachability", at, 0.3 if not down else 1.0,
                Status.DOWN if down else Status.UP,
                ErrorKind.SERVER_ERROR if down else None, message if down else "", location=loc,
            )  # fmt: skip


def _second_history(now: datetime) -> Iterator[ProbeResult]:
    """Yield two days of hourly good runs of the test provider (it has no demo profile)."""
    for hours in range(48, 0, -1):
        at = now - timedelta(hours=hours, minutes=20)
        for probe, phase, latency in (
            ("reachability", "request", 0.2),
            ("transcription", "transcribe", 1.1),
        ):
            yield ProbeResult(
                "second", probe, at, latency * (1 + (hours % 5) / 10), Status.UP,
                phases={phase: latency}, details={"wer": 0.06} if probe == "transcription" else {},
            )  # fmt: skip


async def render_status_site(workdir: Path, now: datetime, *, hostile: bool = True) -> Path:
    """Seed a store in `workdir` with the module's story, render its site; return site_dir."""
    config = _config(workdir, now, hostile)
    store = await Store.open(
        config.database, failure_threshold=2, success_threshold=2, quorum=config.quorum
    )
    try:
        history = synthetic_history(
            config, now - timedelta(minutes=15), days=7, step=timedelta(hours=1)
        )
        # One stream in time order: incidents open and close as the runs come.
        places = LOCATIONS if hostile else CALM_LOCATIONS
        rows = [*_everywhere(history, places), *_everywhere(_second_history(now), places)]
        rows += [*_resolved(now, hostile, places), *_now(config, now, hostile, places)]
        await store.add_results(sorted(rows, key=lambda r: r.started_at))
        await render_site(store, config, now=now)
    finally:
        await store.close()
    return Path(config.site_dir)
