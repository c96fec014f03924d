"""What the site knows about each probe kind, read from the probe registry.

A component's name is its kind's label, an incident's impact is its kind's,
and a component's figures are its kind's page facts; no kind is named here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Literal

from monitor.models import ProbeResult
from monitor.probes.registry import KindTable, PageFact, probe_types
from monitor.site.format import seconds_text, wer_text
from monitor.site.model import Fact
from monitor.store.records import Rollup

COMPONENT_NAMES: Mapping[str, str] = KindTable(lambda kind: kind.label)
"""The component each probe is shown as."""


def component_name(probe: str) -> str:
    """Return the component name `probe` is shown as (the kind's name if it has none)."""
    return COMPONENT_NAMES.get(probe, probe)


def incident_impact(probe: str) -> Literal["major", "critical"]:
    """Return the Statuspage impact of an incident of `probe`."""
    kind = probe_types().get(probe)
    return kind.impact if kind is not None else "major"


def tracks_deletions(probes: Iterable[str]) -> bool:
    """Return True when one of `probes` uploads test data that must be deleted."""
    kinds = probe_types()
    return any(p in kinds and kinds[p].creates_test_data for p in probes)


def _fact(fact: PageFact, last24h: Rollup | None) -> Fact | None:
    if fact.measure == "median":
        # A percentile of nothing is not "—" but no figure at all.
        if last24h is None:
            return None
        return Fact(fact.label, seconds_text(last24h.percentile(0.5)), fact.key)
    if fact.measure == "wer_mean":
        return Fact(fact.label, wer_text(last24h.wer_mean if last24h else None), fact.key)
    mean = last24h.phase_mean(fact.phase) if last24h and fact.phase else None
    return Fact(fact.label, seconds_text(mean), fact.key)


def facts(probe: str, last24h: Rollup | None, latest: ProbeResult | None) -> list[Fact]:
    """Return the probe-specific figures of a component: its last 24 h means."""
    del latest
    kind = probe_types().get(probe)
    found = [_fact(f, last24h) for f in kind.page_facts] if kind is not None else []
    return [f for f in found if f is not None]
