"""The overview matrix at the top of the page: targets × probe kinds (× locations).

Built from the page's components alone, so each cell shows what the component's
card below shows (status, the last check's key latency, 90-day uptime) and links
to it. Rows are the targets, grouped by provider when there are several; columns
are the probe kinds configured, in the registry's order; a component probed from
several locations lists each location's last status and latency in its cell.

Every figure is formatted here, once, so the template only places text: the
matrix adds no filter calls or nested loops per cell beyond its locations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from monitor.probes.registry import probe_types
from monitor.site.format import pct, seconds_text
from monitor.site.model import ComponentView, GroupView, PageState, PlaceView, SiteView
from monitor.store.records import LocationState

__all__ = [
    "Overview",
    "OverviewCell",
    "OverviewGroup",
    "OverviewPlace",
    "OverviewRow",
    "build",
    "checked_from",
]

# A location's last status as a page state: its icon and colour (docs/locations.md).
_PLACE_STATE: Mapping[str, PageState] = {
    "up": "operational",
    "degraded": "degraded_performance",
    "down": "major_outage",
}


@dataclass(frozen=True, slots=True)
class OverviewPlace:
    """One location's last check of a component, inside its cell."""

    location: str
    status: str  # up | degraded | down, as the location's last result
    state: PageState  # its icon and colour
    latency: str  # the key latency of its last check ("—" when it failed)


@dataclass(frozen=True, slots=True)
class OverviewCell:
    """One component in the matrix: its status, last latency, 90-day uptime and link."""

    id: str  # the component id ({target}-{probe})
    probe: str
    kind: str  # the kind's component name, the column's heading
    href: str  # its card on the same page
    state: PageState
    state_label: str
    latency: str  # the last check's key latency
    uptime_90d: str
    uptime_ratio: float | None
    places: list[OverviewPlace]
    # "up from all 3 locations" when every location's last check agrees, else "": a
    # phone shows this one line instead of a line per location.
    agree: str = ""


@dataclass(frozen=True, slots=True)
class OverviewRow:
    """One target: a cell per column, None where the target does not run that kind."""

    id: str
    label: str
    region: str | None
    href: str  # its group of cards
    cells: list[OverviewCell | None]


@dataclass(frozen=True, slots=True)
class OverviewGroup:
    """The targets of one provider, in page order."""

    provider: str
    label: str
    rows: list[OverviewRow]


@dataclass(frozen=True, slots=True)
class Overview:
    """The whole matrix."""

    columns: list[tuple[str, str]]  # (probe, component name) of every kind configured
    groups: list[OverviewGroup]
    by_provider: bool  # more than one provider: a heading row per provider
    located: bool  # some component is probed from several locations

    @property
    def size(self) -> int:
        """Return how many components the matrix shows."""
        return sum(1 for g in self.groups for r in g.rows for c in r.cells if c is not None)


def _columns(groups: Sequence[GroupView]) -> list[tuple[str, str]]:
    """Return (probe, name) of every kind some target runs, in the registry's order."""
    order = {name: i for i, name in enumerate(probe_types())}
    seen = {c.probe: c.name for g in groups for c in g.components}
    return [(p, seen[p]) for p in sorted(seen, key=lambda p: (order.get(p, len(order)), p))]


def _cell(c: ComponentView) -> OverviewCell:
    statuses = {p.status for p in c.locations}
    agree = f"{c.locations[0].status} from all {len(c.locations)}" if len(statuses) == 1 else ""
    return OverviewCell(
        id=c.id,
        probe=c.probe,
        kind=c.name,
        href=f"#component-{c.id}",
        state=c.state,
        state_label=c.state_label,
        latency=seconds_text(c.latency_s),
        uptime_90d=pct(c.uptime.get("90d")),
        uptime_ratio=c.uptime.get("90d"),
        places=[
            OverviewPlace(
                location=p.location,
                status=p.status,
                state=_PLACE_STATE.get(p.status, "no_data"),
                latency=seconds_text(p.latency_s),
            )
            for p in c.locations
        ],
        agree=agree,
    )


def build(view: SiteView) -> Overview:
    """Return the overview matrix of `view`'s components."""
    columns = _columns(view.groups)
    groups: dict[str, OverviewGroup] = {}
    for g in view.groups:
        by_probe = {c.probe: c for c in g.components}
        row = OverviewRow(
            id=g.id,
            label=g.label,
            region=g.region,
            href=f"#target-{g.id}",
            cells=[_cell(by_probe[p]) if p in by_probe else None for p, _ in columns],
        )
        group = groups.get(g.provider)
        if group is None:
            group = groups[g.provider] = OverviewGroup(
                g.provider, g.provider_label or g.provider, []
            )
        group.rows.append(row)
    return Overview(
        columns=columns,
        groups=list(groups.values()),
        by_provider=len(groups) > 1,
        located=any(c.locations for c in view.components),
    )


def checked_from(states: Iterable[LocationState]) -> list[PlaceView]:
    """Return each live location with its newest check and how many components it checks."""
    newest: dict[str, datetime] = {}
    count: dict[str, int] = {}
    for s in states:
        if s.location not in newest or s.started_at > newest[s.location]:
            newest[s.location] = s.started_at
        count[s.location] = count.get(s.location, 0) + 1
    return [PlaceView(name, newest[name], count[name]) for name in sorted(newest)]
