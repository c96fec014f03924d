"""What the site knows about each probe kind: its component name, incident impact, facts.

The one place of the site that names probe kinds; the probe registry's
descriptors can take its place.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from monitor.models import ProbeKind, ProbeResult
from monitor.site.format import seconds_text, wer_text
from monitor.site.model import Fact
from monitor.store.records import Rollup

COMPONENT_NAMES: Mapping[str, str] = {
    ProbeKind.REACHABILITY: "REST API",
    ProbeKind.TRANSCRIPTION: "Transcription",
    ProbeKind.STREAMING: "Streaming",
}
"""The component each probe is shown as."""


def component_name(probe: str) -> str:
    """Return the component name `probe` is shown as (the kind's name if it has none)."""
    return COMPONENT_NAMES.get(probe, probe)


def incident_impact(probe: str) -> Literal["major", "critical"]:
    """Return the Statuspage impact of an incident of `probe`."""
    # The REST API failing means nothing works; a failing transcription or streaming
    # path leaves the rest of the API usable.
    return "critical" if probe == ProbeKind.REACHABILITY else "major"


def tracks_deletions(probes: Iterable[str]) -> bool:
    """Return True when one of `probes` uploads test data that must be deleted."""
    return ProbeKind.TRANSCRIPTION in probes


def facts(probe: str, last24h: Rollup | None, latest: ProbeResult | None) -> list[Fact]:
    """Return the probe-specific figures of a component: its last 24 h means."""
    found: list[Fact] = []
    wer = last24h.wer_mean if last24h else None
    if probe == ProbeKind.TRANSCRIPTION:
        queue = last24h.phase_mean("queued") if last24h else None
        processing = last24h.phase_mean("processing") if last24h else None
        found.append(Fact("Queue, 24 h mean", seconds_text(queue), "queue"))
        found.append(Fact("Processing, 24 h mean", seconds_text(processing), "processing"))
        found.append(Fact("Word error rate, 24 h", wer_text(wer), "wer"))
    elif probe == ProbeKind.STREAMING:
        first = last24h.phase_mean("first_transcript") if last24h else None
        found.append(Fact("First transcript, 24 h mean", seconds_text(first), "first_transcript"))
        found.append(Fact("Word error rate, 24 h", wer_text(wer), "wer"))
    elif probe == ProbeKind.REACHABILITY and last24h is not None:
        found.append(Fact("Median, 24 h", seconds_text(last24h.percentile(0.5)), "median"))
    del latest
    return found
