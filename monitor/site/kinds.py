"""What the site knows about each probe kind, read from the probe registry.

A component's name is its kind's label and an incident's impact is its kind's
(the same for every provider's kind of a name); a component's figures and note
are its kind's of the target's provider. No kind is named here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from monitor.models import ProbeResult
from monitor.probes.registry import KindTable, PageFact, ProbeType, probe_types, providers
from monitor.site.format import seconds_text, wer_text
from monitor.site.model import Fact
from monitor.store.records import Rollup

COMPONENT_NAMES: Mapping[str, str] = KindTable(lambda kind: kind.label)
"""The component each probe is shown as."""

_IMPACT: Mapping[str, Literal["major", "critical"]] = KindTable(lambda kind: kind.impact)


def _kind(probe: str, provider: str | None) -> ProbeType[Any] | None:
    """Return `probe` of `provider` (None, or one no longer registered: the first registered)."""
    kinds = probe_types(provider) if provider in providers() else probe_types()
    return kinds.get(probe)


def component_name(probe: str) -> str:
    """Return the component name `probe` is shown as (the kind's name if it has none)."""
    return COMPONENT_NAMES.get(probe, probe)


def incident_impact(probe: str) -> Literal["major", "critical"]:
    """Return the Statuspage impact of an incident of `probe`."""
    impact: Literal["major", "critical"] = _IMPACT.get(probe, "major")
    return impact


def tracks_deletions(probes: Iterable[str], provider: str | None = None) -> bool:
    """Return True when one of `probes` (of `provider`) uploads test data that must be deleted."""
    return any((kind := _kind(p, provider)) is not None and kind.creates_test_data for p in probes)


def page_note(probe: str, provider: str | None = None) -> str:
    """Return the sentence the page shows under the component of `probe` of `provider`."""
    kind = _kind(probe, provider)
    return kind.page_note if kind is not None else ""


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


def facts(
    probe: str, last24h: Rollup | None, latest: ProbeResult | None, provider: str | None = None
) -> list[Fact]:
    """Return the probe-specific figures of a component (of `provider`): its last 24 h means."""
    del latest
    kind = _kind(probe, provider)
    found = [_fact(f, last24h) for f in kind.page_facts] if kind is not None else []
    return [f for f in found if f is not None]
