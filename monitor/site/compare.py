"""The providers side by side: each probe kind's status and figures, "healthy now, fastest first".

Built from the page's components alone, so the compare view, ``api/v1/providers.json``
and ``/api/v1/providers`` show the same figures as the component cards. The rule
(docs/statuspage.md, "Side by side"):

1. a provider or target is *healthy* when every probe kind it runs is up,
   *degraded* when none is down, in maintenance or unchecked but one is slow,
   and *unavailable* otherwise; healthy ranks first, unavailable last;
2. within a class, by the 24 h key-latency median of the ranking kind (the
   first kind, in the registry's order, that checks the transcript), lower
   first, rows without that figure after those with it;
3. then by its 24 h 95th percentile, the same way; then by name.

A provider's figures for a kind are those of its worst target: the worst
status, the highest latency and word error rate, the lowest uptime, the
stalest last check. A provider is as good as every endpoint configured for it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from monitor.probes.registry import probe_types, providers
from monitor.site.model import (
    CompareRow,
    Comparison,
    ComponentView,
    GroupView,
    Health,
    KindFigures,
    KindStatus,
    PageState,
)

__all__ = ["build_comparison", "checks_text", "health", "order_key", "ranked"]

_STATUS: Mapping[PageState, KindStatus] = {
    "operational": "up",
    "degraded_performance": "degraded",
    # Recovering (good runs before the incident closes) is still down, as on the page.
    "partial_outage": "down",
    "major_outage": "down",
    "under_maintenance": "maintenance",
    "no_data": "unknown",
    # Down from fewer locations than the quorum: up by the quorum (docs/locations.md).
    "location_outage": "up",
}
# Worse to the right: what a provider shows when its targets differ.
_WORST_STATE: tuple[PageState, ...] = (
    "operational",
    "location_outage",
    "degraded_performance",
    "no_data",
    "under_maintenance",
    "partial_outage",
    "major_outage",
)
_HEALTH_ORDER: tuple[Health, ...] = ("healthy", "degraded", "unavailable")
_UNAVAILABLE: frozenset[KindStatus] = frozenset(("down", "maintenance", "unknown"))


def checks_text(probe: str, provider: str) -> bool:
    """Return True when `provider`'s kind `probe` measures a word error rate (a WER page fact)."""
    # A provider no longer registered (an old database re-rendered): the first registered kind.
    kinds = probe_types(provider) if provider in providers() else probe_types()
    kind = kinds.get(probe)
    return kind is not None and any(f.measure == "wer_mean" for f in kind.page_facts)


def _ms(seconds: float | None) -> float | None:
    # Whole milliseconds: what the JSON shows is what the order compares, and
    # sub-millisecond noise between two providers is no reason to reorder them.
    return None if seconds is None else round(seconds, 3)


def _figures(c: ComponentView) -> KindFigures:
    return KindFigures(
        probe=c.probe,
        name=c.name,
        status=_STATUS[c.state],
        state=c.state,
        state_label=c.state_label,
        p50_24h_s=_ms(c.p50_24h_s),
        p95_24h_s=_ms(c.p95_24h_s),
        uptime_30d=c.uptime.get("30d"),
        wer_24h=c.wer_24h if c.checks_text else None,
        checks_text=c.checks_text,
        last_checked=c.last_checked,
    )


def _highest(values: Iterable[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return max(found) if found else None


def _lowest(values: Iterable[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return min(found) if found else None


def _worst_of(figures: Sequence[KindFigures]) -> KindFigures:
    """Return one kind's figures over several targets: each figure its worst."""
    worst = max(figures, key=lambda f: _WORST_STATE.index(f.state))
    checked = [f.last_checked for f in figures]
    stalest: datetime | None = None
    if all(at is not None for at in checked):
        stalest = min(at for at in checked if at is not None)
    return dataclasses.replace(
        worst,
        p50_24h_s=_highest(f.p50_24h_s for f in figures),
        p95_24h_s=_highest(f.p95_24h_s for f in figures),
        uptime_30d=_lowest(f.uptime_30d for f in figures),
        wer_24h=_highest(f.wer_24h for f in figures),
        checks_text=any(f.checks_text for f in figures),
        last_checked=stalest,
    )


def health(probes: Mapping[str, KindFigures]) -> Health:
    """Return the class of a row: healthy (all up), degraded (some slow), unavailable."""
    statuses = {f.status for f in probes.values()}
    if not statuses or statuses & _UNAVAILABLE:
        return "unavailable"
    return "degraded" if "degraded" in statuses else "healthy"


def order_key(row: CompareRow, rank_probe: str | None) -> tuple[int, bool, float, bool, float, str]:
    """Return the sort key of `row`: class, ranking kind's p50 then p95 (missing last), name."""
    fig = row.probes.get(rank_probe) if rank_probe is not None else None
    p50 = fig.p50_24h_s if fig is not None else None
    p95 = fig.p95_24h_s if fig is not None else None
    return (
        _HEALTH_ORDER.index(row.health),
        p50 is None,
        p50 or 0.0,
        p95 is None,
        p95 or 0.0,
        row.name,
    )


def ranked(rows: Iterable[CompareRow], rank_probe: str | None) -> list[CompareRow]:
    """Return `rows` in rank order, each with its `rank` (1 = send traffic here)."""
    ordered = sorted(rows, key=lambda r: order_key(r, rank_probe))
    return [dataclasses.replace(r, rank=n) for n, r in enumerate(ordered, start=1)]


def _rank_probe(columns: Sequence[str], text_kinds: set[str]) -> str | None:
    """Return the kind whose latency orders a class: the first checking text, else the first."""
    return next((p for p in columns if p in text_kinds), columns[0] if columns else None)


def build_comparison(groups: Sequence[GroupView]) -> Comparison:
    """Return the providers and their targets side by side, ranked."""
    order = {name: i for i, name in enumerate(probe_types())}
    seen = {c.probe: c.name for g in groups for c in g.components}
    columns = sorted(seen, key=lambda p: (order.get(p, len(order)), p))
    text_kinds = {c.probe for g in groups for c in g.components if c.checks_text}
    rank_probe = _rank_probe(columns, text_kinds)

    targets: dict[str, list[CompareRow]] = {}
    labels: dict[str, str] = {}
    for g in groups:
        probes = {c.probe: _figures(c) for c in g.components}
        labels.setdefault(g.provider, g.provider_label or g.provider)
        targets.setdefault(g.provider, []).append(
            CompareRow(
                name=g.name,
                label=g.label,
                health=health(probes),
                rank=0,
                probes=probes,
                region=g.region,
                provider=g.provider,
            )
        )
    providers: list[CompareRow] = []
    for name, rows in targets.items():
        kinds = [p for p in columns if any(p in r.probes for r in rows)]
        probes = {p: _worst_of([r.probes[p] for r in rows if p in r.probes]) for p in kinds}
        providers.append(
            CompareRow(
                name=name,
                label=labels[name],
                health=health(probes),
                rank=0,
                probes=probes,
                provider=name,
                targets=ranked(rows, rank_probe),
            )
        )
    every_target = ranked([t for rows in targets.values() for t in rows], rank_probe)
    return Comparison(
        rank_probe=rank_probe,
        rank_name=seen.get(rank_probe, "") if rank_probe else "",
        columns=[(p, seen[p]) for p in columns],
        providers=ranked(providers, rank_probe),
        target_order=[t.name for t in every_target],
        shown=len(targets) > 1,
    )
