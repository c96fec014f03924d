"""The view model of the site: plain data, everything the templates and serialisers need."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal, NamedTuple

from monitor import __version__
from monitor.site.format import pct

__all__ = [
    "ChartTick",
    "ChartView",
    "CompareRow",
    "Comparison",
    "ComponentStatus",
    "ComponentView",
    "DayCell",
    "DayState",
    "Fact",
    "GroupView",
    "Health",
    "IncidentMemberView",
    "IncidentView",
    "KindFigures",
    "KindStatus",
    "LocationView",
    "MaintenanceView",
    "PageState",
    "PlaceView",
    "SiteView",
    "UpdateView",
]

ComponentStatus = Literal[
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
]
# "no_data" is ours: a component never checked yet. The JSON shows it as operational
# with a description, because Statuspage's vocabulary has no "unknown".
# "location_outage" is ours too: down (or degraded) from fewer locations than the
# quorum ("Down from eu-west", docs/locations.md); the JSON shows it as a partial outage.
PageState = Literal[ComponentStatus, "no_data", "location_outage"]

DayState = Literal["up", "degraded", "partial", "down", "nodata"]


@dataclass(frozen=True, slots=True)
class DayCell:
    """One day of the 90-day uptime bar."""

    day: date
    state: DayState
    uptime: float | None
    runs: int
    incidents: int
    title: str


@dataclass(frozen=True, slots=True)
class ChartTick:
    """One axis label of a chart: its x (time axis) or y (latency axis), text, and size class."""

    pos: float
    label: str
    minor: bool = False  # fits at the desktop font only: hidden on a narrow screen


@dataclass(frozen=True, slots=True)
class ChartView:
    """Geometry of one window's latency chart, computed so the template only places it."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    median_path: str
    p95_path: str
    median_dots: list[tuple[float, float]]
    p95_dots: list[tuple[float, float]]
    threshold_y: float | None
    threshold_label: str
    x_ticks: list[ChartTick]
    y_ticks: list[ChartTick]
    points: int
    summary: str
    key: str = "24h"  # the window: 24h | 7d | 30d | 90d
    words: str = "24 hours"  # the window in words ("7 days")
    threshold_below: bool = False  # the threshold's label sits under its line (near the top)
    per: str = "hour"  # what one point is: an hour's or a day's roll-up


@dataclass(frozen=True, slots=True)
class Fact:
    """One labelled figure in a component card."""

    label: str
    value: str
    key: str


@dataclass(frozen=True, slots=True)
class LocationView:
    """One location's latest view of a component, shown when several locations probe it."""

    location: str
    status: str  # up | degraded | down
    latency_s: float | None
    checked_at: datetime


@dataclass(frozen=True, slots=True)
class PlaceView:
    """One place the checks run from, and when its newest check started."""

    location: str
    last_checked: datetime
    components: int  # how many components it checks


@dataclass(frozen=True, slots=True)
class ComponentView:
    """One probe of one target, as the page shows it."""

    id: str
    target: str
    probe: str
    name: str
    group_id: str
    position: int
    state: PageState
    state_label: str
    last_checked: datetime | None
    last_status: str | None
    latency_s: float | None
    degraded_after_s: float
    message: str
    error_kind: str | None
    uptime: dict[str, float | None]
    days: list[DayCell]
    chart: ChartView  # the last 24 h (the first of `charts`)
    facts: list[Fact]
    created_at: datetime
    updated_at: datetime
    note: str = ""  # the kind's page note ("nothing to delete"), shown under the component
    # The last 24 h from the hourly roll-ups: key latency percentiles and mean WER.
    p50_24h_s: float | None = None
    p95_24h_s: float | None = None
    wer_24h: float | None = None
    checks_text: bool = False  # its kind measures a word error rate
    # Its locations when more than one probes it (else empty: the card shows none).
    locations: list[LocationView] = field(default_factory=list)
    # Every window's chart, 24 h first (charts.WINDOWS); the page switches between them.
    charts: list[ChartView] = field(default_factory=list)

    @property
    def api_status(self) -> ComponentStatus:
        """Return the Statuspage status (no data shows as operational, with a description)."""
        if self.state == "no_data":
            return "operational"
        if self.state == "location_outage":
            return "partial_outage"
        return self.state

    @property
    def uptime_90d_text(self) -> str:
        """Return the 90-day uptime as the bar's caption shows it."""
        return pct(self.uptime["90d"])


@dataclass(frozen=True, slots=True)
class GroupView:
    """One target: a group of components."""

    id: str
    name: str
    label: str
    position: int
    components: list[ComponentView]
    deletion_pending: int | None
    deletion_overdue: int
    deletion_text: str
    provider: str = ""
    provider_label: str = ""
    region: str | None = None


class UpdateView(NamedTuple):
    """One entry of an incident's timeline: when, its Statuspage status, what it says, by whom."""

    at: datetime
    status: str
    body: str
    source: str = "sttwatch"  # sttwatch (the incident machine) | operator
    id: str = ""  # its Statuspage update id


@dataclass(frozen=True, slots=True)
class IncidentMemberView:
    """One component of a target's incident, as the page, the JSON and the feed list it."""

    component_id: str
    name: str  # the component's name ("Transcription")
    impact: Literal["minor", "major", "critical"]  # the worst it reached
    state: Literal["down", "degraded", "recovered"]
    joined_at: datetime
    left_at: datetime | None
    error_kinds: list[str]
    message: str

    @property
    def api_status(self) -> ComponentStatus:
        """Return the member's Statuspage component status in its open incident."""
        if self.state == "down":
            return "major_outage"
        return "degraded_performance" if self.state == "degraded" else "operational"

    @property
    def state_label(self) -> str:
        """Return the member's state in words ("down", "slow", "recovered")."""
        return "slow" if self.state == "degraded" else self.state


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident as the page, its own page, the JSON and the feed show it.

    A probe incident is one target's, its `members` listed; `component_id` and
    `component_name` are its first member's. An operator's incident has no
    members: `affected` names the components it is about (a probe incident's
    are its members).
    """

    id: str
    component_id: str
    component_name: str
    target_label: str
    name: str
    started_at: datetime
    ended_at: datetime | None
    duration_s: float
    error_kinds: list[str]
    message: str
    impact: Literal["minor", "major", "critical"]
    updates: list[UpdateView]  # oldest first
    members: list[IncidentMemberView] = field(default_factory=list)
    # Statuspage's status: the newest update's while open, resolved once closed.
    status: str = "investigating"
    source: str = "probe"  # probe | operator
    title: str | None = None  # an operator incident's own headline
    # (component id, component name) of every component it affects, never empty
    # (site/incident_views.py falls back to its first component).
    affected: list[tuple[str, str]] = field(default_factory=list)
    postmortem: str | None = None
    postmortem_at: datetime | None = None

    @property
    def members_text(self) -> str:
        """Return its components in words: "AssemblyAI US REST API, Transcription"."""
        return f"{self.target_label} {', '.join(name for _, name in self.affected)}"

    @property
    def open(self) -> bool:
        """Return True while the incident is not resolved."""
        return self.ended_at is None

    @property
    def page(self) -> str:
        """Return the incident page's path, relative to the site's root."""
        return f"incidents/{self.id}.html"

    @property
    def latest_word(self) -> UpdateView | None:
        """Return the operator's newest update, if they posted one."""
        return next((u for u in reversed(self.updates) if u.source == "operator"), None)


@dataclass(frozen=True, slots=True)
class MaintenanceView:
    """A maintenance window in progress or starting within a week."""

    id: str
    title: str
    starts_at: datetime
    ends_at: datetime
    in_progress: bool
    component_ids: list[str]


KindStatus = Literal["up", "degraded", "down", "maintenance", "unknown"]
"""A probe kind's status in the comparison, for a router (the page state, coarser)."""

Health = Literal["healthy", "degraded", "unavailable"]
"""The class a provider or target is ranked in (docs/statuspage.md, "Side by side")."""


@dataclass(frozen=True, slots=True)
class KindFigures:
    """One probe kind of a provider or target in the comparison: its status and figures."""

    probe: str
    name: str
    status: KindStatus
    state: PageState
    state_label: str
    p50_24h_s: float | None
    p95_24h_s: float | None
    uptime_30d: float | None
    wer_24h: float | None
    checks_text: bool
    last_checked: datetime | None


@dataclass(frozen=True, slots=True)
class CompareRow:
    """A provider (its targets below it) or one target, ranked in the comparison."""

    name: str
    label: str
    health: Health
    rank: int
    probes: dict[str, KindFigures]
    region: str | None = None
    provider: str = ""
    targets: list[CompareRow] = field(default_factory=list)

    @property
    def health_label(self) -> str:
        """Return the health class in words."""
        return self.health.capitalize()


@dataclass(frozen=True, slots=True)
class Comparison:
    """The providers side by side, "healthy now, fastest first"."""

    rank_probe: str | None  # the kind whose key latency orders a class
    rank_name: str  # that kind's component name ("Transcription")
    columns: list[tuple[str, str]]  # (probe, component name) of every kind configured
    providers: list[CompareRow]  # in rank order
    target_order: list[str]  # every target, in rank order (the same rule)
    shown: bool  # whether the page shows it (more than one provider configured)


@dataclass(frozen=True, slots=True)
class SiteView:
    """Everything one render of the site shows."""

    title: str
    page_id: str
    url: str
    generated_at: datetime
    indicator: Literal["none", "minor", "major", "critical"]
    description: str
    banner: str
    groups: list[GroupView]
    open_incidents: list[IncidentView]
    recent_incidents: list[IncidentView]
    feed_incidents: list[IncidentView]
    maintenances: list[MaintenanceView] = field(default_factory=list)
    cadence: str = "every minute"
    version: str = __version__
    comparison: Comparison | None = None  # the side-by-side view of the providers
    # Seconds between the page's own reloads (<meta http-equiv="refresh">); None: no reload.
    refresh_s: int | None = None

    @property
    def providers(self) -> list[str]:
        """Return the providers of the targets, in page order, once each."""
        return list(dict.fromkeys(g.provider for g in self.groups))

    # Where the checks run from (the live locations); empty for one agent of no location.
    locations: list[str] = field(default_factory=list)
    # Each live location (the default "local" too) with its newest check, by name.
    checked_from: list[PlaceView] = field(default_factory=list)
    # The config's public `url` (None: not set, and the badges page's snippets are relative).
    public_url: str | None = None

    @property
    def components(self) -> list[ComponentView]:
        """Return every component in page order."""
        return [c for g in self.groups for c in g.components]
