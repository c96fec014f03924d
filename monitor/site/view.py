"""The static status site: a view model read from the store, rendered with jinja2.

This is the only module that renders templates. :func:`build_view` reads
nothing but the store and the config (so ``sttwatch render`` can rebuild the
site from a database copy), and :func:`write_site` turns the view into files:
``index.html``, the Atlassian Statuspage-shaped ``api/v2/*.json``,
``feed.atom``, per-component badges and ``api/sttwatch.json`` (the figures
the page shows, for scripts and tests). The site is written into a fresh
directory beside ``site_dir`` and swapped in with one rename, so a web
server never serves half a page.

Remote text (error messages, transcripts, close reasons) reaches the page
only through autoescaped templates, ``json.dumps`` and ElementTree, never
through ``|safe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import functools
import hashlib
import io
import json
import math
import os
import shutil
import stat
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol

import jinja2
from markupsafe import Markup

from monitor import __version__
from monitor.maintenance import active, applies_to, upcoming
from monitor.models import ProbeKind, ProbeResult, Status, iso
from monitor.store.records import Incident, Rollup, key_latency

if TYPE_CHECKING:
    from monitor.config import Config, Target
    from monitor.store.queries import RunCounts

__all__ = [
    "COMPONENT_NAMES",
    "ChartView",
    "ComponentView",
    "DayCell",
    "GroupView",
    "IncidentView",
    "SiteView",
    "build_view",
    "render_site",
    "template_dir",
    "write_site",
]

COMPONENT_NAMES: Mapping[str, str] = {
    ProbeKind.REACHABILITY: "REST API",
    ProbeKind.TRANSCRIPTION: "Transcription",
    ProbeKind.STREAMING: "Streaming",
}
"""The component each probe is shown as."""

UPTIME_WINDOWS: tuple[tuple[str, timedelta], ...] = (
    ("24h", timedelta(hours=24)),
    ("7d", timedelta(days=7)),
    ("30d", timedelta(days=30)),
    ("90d", timedelta(days=90)),
)
BAR_DAYS = 90
HISTORY_DAYS = 14
FEED_INCIDENTS = 50

ComponentStatus = Literal[
    "operational",
    "degraded_performance",
    "partial_outage",
    "major_outage",
    "under_maintenance",
]
# "no_data" is ours: a component never checked yet. The JSON shows it as operational
# with a description, because Statuspage's vocabulary has no "unknown".
PageState = Literal[ComponentStatus, "no_data"]

_STATE_LABEL: Mapping[str, str] = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
    "no_data": "No data yet",
}
_BADGE: Mapping[str, tuple[str, str, str]] = {
    # state: (message, svg colour, shields colour)
    "operational": ("operational", "#1a7f37", "brightgreen"),
    "degraded_performance": ("degraded", "#9a6700", "yellow"),
    "partial_outage": ("partial outage", "#bc4c00", "orange"),
    "major_outage": ("major outage", "#cf222e", "red"),
    "under_maintenance": ("maintenance", "#0969da", "blue"),
    "no_data": ("no data", "#6e7781", "lightgrey"),
}
_IMPACT_RANK = {"none": 0, "minor": 1, "major": 2, "critical": 3}


# ---------------------------------------------------------------------------
# What the view needs from the store (monitor.store.Store satisfies it).


class StatusSource(Protocol):
    """The read-only queries of the store that the status page uses."""

    async def latest(
        self, target: str | None = None, probe: str | None = None
    ) -> list[ProbeResult]: ...

    async def rollups_hourly(
        self, target: str | None, probe: str | None, since: datetime, until: datetime
    ) -> list[Rollup]: ...

    async def rollups_daily(
        self, target: str | None, probe: str | None, since: datetime, until: datetime
    ) -> list[Rollup]: ...

    async def uptime_all(
        self, windows: Sequence[tuple[datetime, datetime]]
    ) -> dict[tuple[str, str], list[float | None]]: ...

    async def daily_counts_all(self, since: datetime, until: datetime) -> list[RunCounts]: ...

    async def incidents(
        self, since: datetime | None = None, open_only: bool = False, limit: int = ...
    ) -> list[Incident]: ...

    async def pending_counts(self) -> dict[str, int]: ...

    async def overdue(self, older_than_s: float) -> list[Any]: ...


# ---------------------------------------------------------------------------
# The view model: plain data, everything the templates and serialisers need.


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
class ChartView:
    """Geometry of the 24 h latency chart, computed here so the template only places it."""

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
    x_ticks: list[tuple[float, str]]
    y_ticks: list[tuple[float, str]]
    points: int
    summary: str


@dataclass(frozen=True, slots=True)
class Fact:
    """One labelled figure in a component card."""

    label: str
    value: str
    key: str


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
    chart: ChartView
    facts: list[Fact]
    created_at: datetime
    updated_at: datetime

    @property
    def api_status(self) -> ComponentStatus:
        """Return the Statuspage status (no data shows as operational, with a description)."""
        return "operational" if self.state == "no_data" else self.state

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


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident as the page, the JSON and the feed show it."""

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
    updates: list[tuple[datetime, str, str]]

    @property
    def open(self) -> bool:
        """Return True while the incident is not resolved."""
        return self.ended_at is None

    @property
    def status(self) -> str:
        """Return the Statuspage incident status."""
        return "investigating" if self.open else "resolved"


@dataclass(frozen=True, slots=True)
class MaintenanceView:
    """A maintenance window in progress or starting within a week."""

    id: str
    title: str
    starts_at: datetime
    ends_at: datetime
    in_progress: bool
    component_ids: list[str]


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

    @property
    def components(self) -> list[ComponentView]:
        """Return every component in page order."""
        return [c for g in self.groups for c in g.components]


# ---------------------------------------------------------------------------
# Formatting used by the templates and the serialisers.


def pct(value: float | None) -> str:
    """Return an uptime ratio as a percentage with two decimals ("99.95%"), or "—"."""
    if value is None:
        return "—"
    # Floor, not round: 99.996% must not read as a perfect 100.00%.
    floored = math.floor(value * 10000) / 100
    return f"{floored:.2f}%"


def seconds_text(value: float | None) -> str:
    """Return a latency as a person reads it ("350 ms", "1.24 s", "2 min 5 s"), or "—"."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 100:
        return f"{value:.2f} s"
    return duration_text(value)


def duration_text(value: float) -> str:
    """Return a duration in words ("42 s", "5 min", "1 h 5 min", "2 d 3 h")."""
    total = round(value)
    if total < 60:
        return f"{total} s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs and minutes < 10 else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def when_text(value: datetime | None) -> str:
    """Return a timestamp as "2026-11-21 08:05 UTC", or "never"."""
    if value is None:
        return "never"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


# ---------------------------------------------------------------------------
# Mapping store rows to states.


def component_state(
    latest: ProbeResult | None, incident_open: bool, maintenance: bool = False
) -> PageState:
    """Return the Statuspage state of a component from its latest result and incidents.

    A component that has failed for ``failure_threshold`` runs (an open incident)
    is a major outage; a single failed run before that is a partial outage.
    """
    if maintenance:
        return "under_maintenance"
    if latest is None:
        return "major_outage" if incident_open else "no_data"
    if latest.status is Status.DOWN:
        return "major_outage" if incident_open else "partial_outage"
    if incident_open:
        # Recovering: good runs, but not yet ``success_threshold`` of them.
        return "partial_outage"
    if latest.status is Status.DEGRADED:
        return "degraded_performance"
    return "operational"


def page_status(
    states: Sequence[PageState],
) -> tuple[Literal["none", "minor", "major", "critical"], str, str]:
    """Return (indicator, description, banner class) for the page, in Statuspage's wording."""
    known = [s for s in states if s != "no_data"]
    if not known:
        return "none", "Waiting for the first checks", "unknown"
    if all(s == "major_outage" for s in known):
        return "critical", "Major System Outage", "critical"
    if "major_outage" in known:
        return "major", "Partial System Outage", "major"
    if "partial_outage" in known:
        return "minor", "Minor Service Outage", "minor"
    if "degraded_performance" in known:
        return "minor", "Partially Degraded Service", "minor"
    if "under_maintenance" in known:
        return "none", "Service Under Maintenance", "maintenance"
    return "none", "All Systems Operational", "none"


# ---------------------------------------------------------------------------
# The latency chart.

_CHART_W, _CHART_H = 720, 160
_CHART_L, _CHART_R, _CHART_T, _CHART_B = 60, 12, 10, 26


def _nice_step(raw: float) -> float:
    """Return the smallest of 1, 2, 2.5, 5 × 10^n that is at least `raw`."""
    if raw <= 0:
        return 1.0
    exp = math.floor(math.log10(raw))
    for mult in (1.0, 2.0, 2.5, 5.0, 10.0):
        step: float = mult * 10.0**exp
        if step >= raw * 0.999:
            return step
    return 10.0 ** (exp + 1)


def _tick_text(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value * 1000:.4g} ms" if value < 1 else f"{value:.4g} s"


def build_chart(
    hours: Sequence[tuple[datetime, float | None, float | None]],
    threshold_s: float,
    now: datetime,
    window: timedelta = timedelta(hours=24),
) -> ChartView:
    """Return the chart of (hour start, median, p95) points over `window`, threshold drawn.

    The scale fits the data; the threshold line is drawn when it is within three
    times the highest point, else the legend says it is off the scale (a 2 s
    threshold must not flatten a 150 ms line).
    """
    start = now - window
    plot_w = _CHART_W - _CHART_L - _CHART_R
    plot_h = _CHART_H - _CHART_T - _CHART_B
    values = [v for _, m, p in hours for v in (m, p) if v is not None]
    peak = max(values, default=0.0)
    show_threshold = not values or threshold_s <= 3 * peak
    want = max(peak * 1.1, threshold_s * 1.1 if show_threshold else 0.0, 0.001)
    step = _nice_step(want / 4)
    top = step * math.ceil(want / step - 1e-9)
    ticks = round(top / step)

    def x_of(t: datetime) -> float:
        frac = (t - start).total_seconds() / window.total_seconds()
        return round(_CHART_L + max(0.0, min(1.0, frac)) * plot_w, 1)

    def y_of(v: float) -> float:
        return round(_CHART_T + plot_h - min(v, top) / top * plot_h, 1)

    def path(index: int) -> tuple[str, list[tuple[float, float]]]:
        parts: list[str] = []
        dots: list[tuple[float, float]] = []
        prev_hour: datetime | None = None
        for hour, *vals in hours:
            v = vals[index - 1]
            if v is None:
                prev_hour = None
                continue
            # Plot each hour at its middle; a gap of more than an hour breaks the line.
            pt = (x_of(hour + timedelta(minutes=30)), y_of(v))
            joined = prev_hour is not None and hour - prev_hour <= timedelta(hours=1)
            parts.append(f"{'L' if joined else 'M'}{pt[0]},{pt[1]}")
            dots.append(pt)
            prev_hour = hour
        return " ".join(parts), dots

    median_path, median_dots = path(1)
    p95_path, p95_dots = path(2)
    x_ticks: list[tuple[float, str]] = []
    tick = start.replace(minute=0, second=0, microsecond=0)
    tick += timedelta(hours=(6 - tick.hour % 6) % 6 or (6 if tick < start else 0))
    while tick <= now:
        x_ticks.append((x_of(tick), tick.strftime("%H:%M")))
        tick += timedelta(hours=6)
    y_ticks = [(y_of(step * i), _tick_text(step * i)) for i in range(ticks + 1)]
    medians = [m for _, m, _ in hours if m is not None]
    p95s = [p for _, _, p in hours if p is not None]
    if medians:
        summary = (
            f"Last 24 hours: median latency {seconds_text(min(medians))} to "
            f"{seconds_text(max(medians))}, 95th percentile up to "
            f"{seconds_text(max(p95s) if p95s else None)}; degraded above "
            f"{seconds_text(threshold_s)}."
        )
    else:
        summary = "No latency data in the last 24 hours."
    return ChartView(
        width=_CHART_W,
        height=_CHART_H,
        left=_CHART_L,
        right=_CHART_W - _CHART_R,
        top=_CHART_T,
        bottom=_CHART_H - _CHART_B,
        median_path=median_path,
        p95_path=p95_path,
        median_dots=median_dots,
        p95_dots=p95_dots,
        threshold_y=y_of(threshold_s) if show_threshold else None,
        threshold_label=f"degraded above {_tick_text(threshold_s)}"
        + ("" if show_threshold else " (off the scale)"),
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        points=len(medians),
        summary=summary,
    )


# ---------------------------------------------------------------------------
# Building the view from the store.


def _utc_midnight(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def page_id(config: Config) -> str:
    """Return a stable page id derived from the title and public URL."""
    seed = f"{config.title}\n{config.public_url or ''}".encode()
    return hashlib.sha256(seed).hexdigest()[:12]


def page_url(config: Config) -> str:
    """Return the page's public URL, or where ``sttwatch run`` serves it."""
    if config.public_url:
        return config.public_url
    host = config.listen_host
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{config.listen_port}/"


def _incident_view(row: Incident, labels: Mapping[str, str], now: datetime) -> IncidentView:
    comp_name = COMPONENT_NAMES.get(row.probe, row.probe)
    target_label = labels.get(row.target, row.target)
    # The REST API failing means nothing works; a failing transcription or streaming
    # path leaves the rest of the API usable.
    impact: Literal["minor", "major", "critical"] = (
        "critical" if row.probe == ProbeKind.REACHABILITY else "major"
    )
    return IncidentView(
        id=str(row.id),
        component_id=f"{row.target}-{row.probe}",
        component_name=comp_name,
        target_label=target_label,
        name=f"{target_label} {comp_name} failing",
        started_at=row.opened_at,
        ended_at=row.closed_at,
        duration_s=max(0.0, row.duration(now).total_seconds()),
        error_kinds=list(row.error_kinds),
        message=row.last_message or row.first_message,
        impact=impact,
        updates=[(u.at, u.status, u.body) for u in row.updates],
    )


async def build_view(store: StatusSource, config: Config, now: datetime | None = None) -> SiteView:
    """Return the view model of the whole site, read from `store` alone."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    labels = {t.name: t.label for t in config.targets}
    latest = {(r.target, r.probe): r for r in await store.latest()}
    history_since = now - timedelta(days=HISTORY_DAYS)
    bar_since = _utc_midnight(now) - timedelta(days=BAR_DAYS - 1)
    rows = list(await store.incidents(since=bar_since, limit=100_000))
    # An incident opened before the bar window but still open must show too.
    seen = {r.id for r in rows}
    rows += [r for r in await store.incidents(open_only=True, limit=10_000) if r.id not in seen]
    open_keys = {(r.target, r.probe) for r in rows if r.is_open}
    pending = await store.pending_counts()
    overdue: dict[str, int] = {}
    for entry in await store.overdue(config.alerts.deletion_backlog_after):
        name = str(getattr(entry, "target", ""))
        overdue[name] = overdue.get(name, 0) + 1

    # Each kind of figure is read once for every component: per-component reads
    # cost a thread hop and several queries each (six per component before).
    daily = await store.daily_counts_all(bar_since, now)
    hourly = await store.rollups_hourly(None, None, now - timedelta(hours=24), now)
    uptimes = await store.uptime_all([(now - span, now) for _, span in UPTIME_WINDOWS])
    data = _ComponentData(daily, hourly, rows)
    # Building the views is a long stretch of pure Python: a worker thread keeps
    # the event loop (probes, /metrics) running beside it.
    groups = await asyncio.to_thread(
        _group_views, config, latest, open_keys, uptimes, data, pending, overdue, now, bar_since
    )

    indicator, description, banner = page_status([c.state for g in groups for c in g.components])
    incidents = sorted(
        (_incident_view(r, labels, now) for r in rows), key=lambda i: i.started_at, reverse=True
    )
    return SiteView(
        title=config.title,
        page_id=page_id(config),
        url=page_url(config),
        generated_at=now,
        indicator=indicator,
        description=description,
        banner=banner,
        groups=groups,
        open_incidents=[i for i in incidents if i.open],
        recent_incidents=[
            i for i in incidents if not i.open and (i.ended_at or now) >= history_since
        ],
        feed_incidents=incidents[:FEED_INCIDENTS],
        maintenances=_maintenances(config, now),
        cadence=cadence_text(config),
    )


class _ComponentData:
    """The store's rows for the page, grouped by (target, probe)."""

    def __init__(
        self, daily: list[RunCounts], hourly: list[Rollup], incidents: list[Incident]
    ) -> None:
        self.daily: dict[tuple[str, str], list[RunCounts]] = {}
        self.hourly: dict[tuple[str, str], list[Rollup]] = {}
        self.incidents: dict[tuple[str, str], list[Incident]] = {}
        for d in daily:
            self.daily.setdefault((d.target, d.probe), []).append(d)
        for h in hourly:
            self.hourly.setdefault((h.target, h.probe), []).append(h)
        for i in incidents:
            self.incidents.setdefault((i.target, i.probe), []).append(i)


def _group_views(
    config: Config,
    latest: Mapping[tuple[str, str], ProbeResult],
    open_keys: set[tuple[str, str]],
    uptimes: Mapping[tuple[str, str], list[float | None]],
    data: _ComponentData,
    pending: Mapping[str, int],
    overdue: Mapping[str, int],
    now: datetime,
    bar_since: datetime,
) -> list[GroupView]:
    """Return the page's groups, built from rows already read."""
    groups: list[GroupView] = []
    position = 0
    no_uptime: list[float | None] = [None] * len(UPTIME_WINDOWS)
    for gi, target in enumerate(config.targets):
        components: list[ComponentView] = []
        for probe, spec in target.probes.enabled().items():
            position += 1
            key = (target.name, probe)
            figures = uptimes.get(key, no_uptime)
            components.append(
                _component_view(
                    config,
                    target,
                    probe,
                    float(spec.degraded_after),
                    latest.get(key),
                    key in open_keys,
                    data.incidents.get(key, []),
                    data.daily.get(key, []),
                    data.hourly.get(key, []),
                    {name: figures[i] for i, (name, _) in enumerate(UPTIME_WINDOWS)},
                    now,
                    bar_since,
                    position,
                )
            )
        has_transcription = ProbeKind.TRANSCRIPTION in target.probes.enabled()
        n_pending = pending.get(target.name, 0) if has_transcription else None
        n_overdue = overdue.get(target.name, 0)
        if n_pending is None:
            deletion_text = ""
        elif n_pending == 0:
            deletion_text = "yes"
        elif n_overdue:
            deletion_text = f"{n_pending} pending ({n_overdue} overdue)"
        else:
            deletion_text = f"{n_pending} pending"
        groups.append(
            GroupView(
                id=target.name,
                name=target.name,
                label=target.label,
                position=gi + 1,
                components=components,
                deletion_pending=n_pending,
                deletion_overdue=n_overdue,
                deletion_text=deletion_text,
            )
        )
    return groups


def cadence_text(config: Config) -> str:
    """Return how often the fastest probe runs, in words ("every minute", "every 5 seconds")."""
    intervals = [float(s.interval) for t in config.targets for s in t.probes.enabled().values()]
    seconds = min(intervals, default=60.0)
    if seconds == 60:
        return "every minute"
    if seconds % 60 == 0:
        return f"every {seconds / 60:g} minutes"
    return f"every {seconds:g} seconds"


def _maintenances(config: Config, now: datetime) -> list[MaintenanceView]:
    out: list[MaintenanceView] = []
    for occ in upcoming(config, now):
        window = occ.window
        ids = [
            f"{t.name}-{p}"
            for t in config.targets
            for p in t.probes.enabled()
            if applies_to(window, t.name, p)
        ]
        key = f"{occ.starts_at.isoformat()}|{occ.title}|{','.join(ids)}"
        out.append(
            MaintenanceView(
                id=hashlib.sha256(key.encode()).hexdigest()[:12],
                title=occ.title,
                starts_at=occ.starts_at,
                ends_at=occ.ends_at,
                in_progress=occ.contains(now),
                component_ids=ids,
            )
        )
    return out


def _component_view(
    config: Config,
    target: Target,
    probe: str,
    degraded_after: float,
    latest: ProbeResult | None,
    incident_open: bool,
    incidents: Sequence[Incident],
    daily: Sequence[RunCounts],
    hourly: Sequence[Rollup],
    uptime: dict[str, float | None],
    now: datetime,
    bar_since: datetime,
    position: int,
) -> ComponentView:
    by_day = {r.bucket_start.date(): r for r in daily}
    days: list[DayCell] = []
    for day_start, day_end, label, no_data in _bar_days(bar_since):
        row = by_day.get(no_data.day)
        n_inc = (
            sum(
                1
                for inc in incidents
                if inc.opened_at < day_end and (inc.closed_at or now) >= day_start
            )
            if incidents
            else 0
        )
        if n_inc == 0 and (row is None or row.runs == 0):
            days.append(no_data)  # the same for every component: shared, not rebuilt
        else:
            days.append(_day_cell(day_start, row, n_inc, label))
    points = [
        (r.bucket_start, r.percentile(0.5), r.percentile(0.95))
        for r in sorted(hourly, key=lambda r: r.bucket_start)
        if r.latency_n > 0
    ]
    chart = build_chart(points, degraded_after, now)
    in_maintenance = active(config, target.name, probe, now) is not None
    state = component_state(latest, incident_open, in_maintenance)
    first_seen = min([d.day for d in days if d.runs] or [now.date()])
    latency = key_latency(latest) if latest is not None and latest.ok else None
    message = latest.message if latest is not None and latest.status is not Status.UP else ""
    return ComponentView(
        id=f"{target.name}-{probe}",
        target=target.name,
        probe=probe,
        name=COMPONENT_NAMES.get(probe, probe),
        group_id=target.name,
        position=position,
        state=state,
        state_label=_STATE_LABEL[state],
        last_checked=latest.started_at if latest else None,
        last_status=latest.status.value if latest else None,
        latency_s=latency,
        degraded_after_s=degraded_after,
        message=message,
        error_kind=latest.error_kind.value if latest and latest.error_kind else None,
        uptime=uptime,
        days=days,
        chart=chart,
        facts=_facts(probe, Rollup.merged(hourly), latest),
        created_at=datetime(first_seen.year, first_seen.month, first_seen.day, tzinfo=UTC),
        updated_at=latest.started_at if latest else now,
    )


@functools.lru_cache(maxsize=4)
def _bar_days(bar_since: datetime) -> tuple[tuple[datetime, datetime, str, DayCell], ...]:
    """Return (start, end, label, cell without data or incidents) of each day of the bar.

    The same for every component; a `DayCell` is immutable, so one without data
    is shared by every component that has none that day.
    """
    out = []
    for i in range(BAR_DAYS):
        day_start = bar_since + timedelta(days=i)
        label = day_start.strftime("%a %d %b %Y")
        no_data = _day_cell(day_start, None, 0, label)
        out.append((day_start, day_start + timedelta(days=1), label, no_data))
    return tuple(out)


def _day_cell(
    day_start: datetime,
    row: Rollup | RunCounts | None,
    incidents: int,
    label: str | None = None,
) -> DayCell:
    """Return one bar cell: its worst state, a failed run during an incident being the worst."""
    label = label or day_start.strftime("%a %d %b %Y")
    state: DayState = "nodata"
    ratio: float | None = None
    runs = 0
    if row is None or row.runs == 0:
        title = f"{label}: no data"
    else:
        runs = row.runs
        ratio = row.uptime
        if row.down:
            # Failed runs that never added up to an incident are a partial outage.
            state = "down" if incidents else "partial"
        elif row.degraded:
            state = "degraded"
        else:
            state = "up"
        title = f"{label}: {pct(ratio)} uptime, {row.runs} checks"
        if row.degraded:
            title += f", {row.degraded} slow"
        if row.down:
            title += f", {row.down} failed"
    if incidents:
        title += f"; {incidents} incident{'s' if incidents > 1 else ''}"
    elif runs:
        title += "; no incidents"
    return DayCell(
        day=day_start.date(), state=state, uptime=ratio, runs=runs, incidents=incidents, title=title
    )


def _facts(probe: str, last24h: Rollup | None, latest: ProbeResult | None) -> list[Fact]:
    """Return the probe-specific figures of a component: its last 24 h means."""
    facts: list[Fact] = []
    wer = last24h.wer_mean if last24h else None
    if probe == ProbeKind.TRANSCRIPTION:
        queue = last24h.phase_mean("queued") if last24h else None
        processing = last24h.phase_mean("processing") if last24h else None
        facts.append(Fact("Queue, 24 h mean", seconds_text(queue), "queue"))
        facts.append(Fact("Processing, 24 h mean", seconds_text(processing), "processing"))
        facts.append(Fact("Word error rate, 24 h", _wer_text(wer), "wer"))
    elif probe == ProbeKind.STREAMING:
        first = last24h.phase_mean("first_transcript") if last24h else None
        facts.append(Fact("First transcript, 24 h mean", seconds_text(first), "first_transcript"))
        facts.append(Fact("Word error rate, 24 h", _wer_text(wer), "wer"))
    elif probe == ProbeKind.REACHABILITY and last24h is not None:
        facts.append(Fact("Median, 24 h", seconds_text(last24h.percentile(0.5)), "median"))
    del latest
    return facts


def _wer_text(wer: float | None) -> str:
    return "—" if wer is None else f"{wer:.1%}"


# ---------------------------------------------------------------------------
# Serialisers: Statuspage JSON, Atom, badges.


def _component_json(view: SiteView, c: ComponentView) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "status": c.api_status,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "position": c.position,
        "description": "No data yet" if c.state == "no_data" else None,
        "showcase": True,
        "start_date": c.created_at.date().isoformat(),
        "group_id": c.group_id,
        "page_id": view.page_id,
        "group": False,
        "only_show_if_degraded": False,
    }


def _group_json(view: SiteView, g: GroupView) -> dict[str, Any]:
    worst = _worst([c.api_status for c in g.components])
    created = min((c.created_at for c in g.components), default=view.generated_at)
    return {
        "id": g.id,
        "name": g.label,
        "status": worst,
        "created_at": iso(created),
        "updated_at": iso(view.generated_at),
        "position": g.position,
        "description": None,
        "showcase": False,
        "start_date": None,
        "group_id": None,
        "page_id": view.page_id,
        "group": True,
        "only_show_if_degraded": False,
        "components": [c.id for c in g.components],
    }


_STATUS_RANK = {
    "operational": 0,
    "under_maintenance": 1,
    "degraded_performance": 2,
    "partial_outage": 3,
    "major_outage": 4,
}


def _worst(states: Sequence[ComponentStatus]) -> ComponentStatus:
    return max(states, key=lambda s: _STATUS_RANK[s], default="operational")


def _incident_json(view: SiteView, i: IncidentView) -> dict[str, Any]:
    name = f"{i.target_label} {i.component_name}"
    timeline = list(i.updates)
    if not timeline:
        # A store without a timeline: say what the page says.
        kinds = ", ".join(i.error_kinds) or "unknown"
        timeline.append((i.started_at, "investigating", f"{name} checks are failing ({kinds})."))
        if i.ended_at is not None:
            timeline.append((i.ended_at, "resolved", f"{name} has recovered."))
    updates: list[dict[str, Any]] = []
    for n, (at, status, body) in enumerate(timeline):
        resolved = status == "resolved"
        updates.append(
            {
                "id": f"{i.id}-{n + 1}",
                "status": status,
                "body": body,
                "incident_id": i.id,
                "created_at": iso(at),
                "updated_at": iso(at),
                "display_at": iso(at),
                "affected_components": [
                    {
                        "code": i.component_id,
                        "name": name,
                        "old_status": "major_outage" if resolved else "operational",
                        "new_status": "operational" if resolved else "major_outage",
                    }
                ],
                "deliver_notifications": True,
                "custom_tweet": None,
                "tweet_id": None,
            }
        )
    updates.reverse()  # Statuspage lists the newest update first.
    return {
        "id": i.id,
        "name": i.name,
        "status": i.status,
        "created_at": iso(i.started_at),
        "updated_at": iso(timeline[-1][0]),
        "monitoring_at": None,
        "resolved_at": iso(i.ended_at) if i.ended_at else None,
        "impact": i.impact,
        "shortlink": f"{view.url.rstrip('/')}/#incident-{i.id}",
        "started_at": iso(i.started_at),
        "page_id": view.page_id,
        "incident_updates": updates,
        "components": [
            {
                "id": i.component_id,
                "name": i.component_name,
                "status": "major_outage" if i.open else "operational",
                "created_at": iso(i.started_at),
                "updated_at": iso(i.ended_at or i.started_at),
                "position": 0,
                "description": None,
                "showcase": True,
                "start_date": None,
                "group_id": i.component_id.rsplit("-", 1)[0],
                "page_id": view.page_id,
                "group": False,
                "only_show_if_degraded": False,
            }
        ],
    }


def _maintenance_json(view: SiteView, m: MaintenanceView) -> dict[str, Any]:
    status = "in_progress" if m.in_progress else "scheduled"
    by_id = {c.id: c for c in view.components}
    body = f"{m.title}: {when_text(m.starts_at)} to {when_text(m.ends_at)}."
    return {
        "id": m.id,
        "name": m.title,
        "status": status,
        "created_at": iso(m.starts_at),
        "updated_at": iso(view.generated_at),
        "monitoring_at": None,
        "resolved_at": None,
        "impact": "maintenance",
        "shortlink": view.url,
        "started_at": iso(m.starts_at),
        "page_id": view.page_id,
        "scheduled_for": iso(m.starts_at),
        "scheduled_until": iso(m.ends_at),
        "incident_updates": [
            {
                "id": f"{m.id}-1",
                "status": status,
                "body": body,
                "incident_id": m.id,
                "created_at": iso(m.starts_at),
                "updated_at": iso(m.starts_at),
                "display_at": iso(m.starts_at),
                "affected_components": [
                    {
                        "code": cid,
                        "name": by_id[cid].name if cid in by_id else cid,
                        "old_status": "operational",
                        "new_status": "under_maintenance",
                    }
                    for cid in m.component_ids
                ],
                "deliver_notifications": False,
                "custom_tweet": None,
                "tweet_id": None,
            }
        ],
        "components": [
            _component_json(view, by_id[cid]) for cid in m.component_ids if cid in by_id
        ],
    }


def statuspage_documents(view: SiteView) -> dict[str, dict[str, Any]]:
    """Return the Statuspage API v2 documents by file name (summary, status, …)."""
    page = {
        "id": view.page_id,
        "name": view.title,
        "url": view.url,
        "time_zone": "Etc/UTC",
        "updated_at": iso(view.generated_at),
    }
    status = {"indicator": view.indicator, "description": view.description}
    components: list[dict[str, Any]] = []
    for g in view.groups:
        components.append(_group_json(view, g))
        components.extend(_component_json(view, c) for c in g.components)
    unresolved = [_incident_json(view, i) for i in view.open_incidents]
    all_incidents = [_incident_json(view, i) for i in view.feed_incidents]
    maintenances = [_maintenance_json(view, m) for m in view.maintenances]
    return {
        "summary.json": {
            "page": page,
            "components": components,
            "incidents": unresolved,
            "scheduled_maintenances": maintenances,
            "status": status,
        },
        "status.json": {"page": page, "status": status},
        "components.json": {"page": page, "components": components},
        "incidents.json": {"page": page, "incidents": all_incidents},
        "incidents/unresolved.json": {"page": page, "incidents": unresolved},
        "scheduled-maintenances.json": {"page": page, "scheduled_maintenances": maintenances},
    }


def sttwatch_document(view: SiteView) -> dict[str, Any]:
    """Return the figures the page shows, as JSON for scripts (``api/sttwatch.json``)."""
    return {**_sttwatch_head(view), "targets": [_sttwatch_target(g) for g in view.groups]}


def _sttwatch_head(view: SiteView) -> dict[str, Any]:
    """Return ``api/sttwatch.json`` up to its targets (which come last)."""
    return {
        "generated_at": iso(view.generated_at),
        "version": view.version,
        "status": {"indicator": view.indicator, "description": view.description},
    }


def _sttwatch_target(g: GroupView) -> dict[str, Any]:
    """Return one target of ``api/sttwatch.json``."""
    return {
        "name": g.name,
        "label": g.label,
        "test_data_deleted": None
        if g.deletion_pending is None
        else {"pending": g.deletion_pending, "overdue": g.deletion_overdue},
        "components": [
            {
                "id": c.id,
                "probe": c.probe,
                "name": c.name,
                "state": c.state,
                "last_checked": iso(c.last_checked) if c.last_checked else None,
                "latency_s": c.latency_s,
                "degraded_after_s": c.degraded_after_s,
                "error_kind": c.error_kind,
                "message": c.message,
                "uptime": c.uptime,
                "facts": {f.key: f.value for f in c.facts},
                "days": [
                    {
                        "date": d.day.isoformat(),
                        "state": d.state,
                        "uptime": d.uptime,
                        "runs": d.runs,
                        "incidents": d.incidents,
                    }
                    for d in c.days
                ],
            }
            for c in g.components
        ],
    }


_ATOM = "http://www.w3.org/2005/Atom"


def atom_feed(view: SiteView) -> bytes:
    """Return the Atom feed of incidents (newest first), serialised by ElementTree."""
    ET.register_namespace("", _ATOM)

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        el = ET.SubElement(parent, f"{{{_ATOM}}}{tag}", attrs)
        if text is not None:
            el.text = text
        return el

    base = view.url.rstrip("/")
    feed = ET.Element(f"{{{_ATOM}}}feed")
    sub(feed, "id", f"tag:sttwatch,2026:{view.page_id}")
    sub(feed, "title", f"{view.title} — incidents")
    updated = max([i.ended_at or i.started_at for i in view.feed_incidents] or [view.generated_at])
    sub(feed, "updated", iso(updated))
    sub(feed, "link", href=f"{base}/", rel="alternate", type="text/html")
    sub(feed, "link", href=f"{base}/feed.atom", rel="self", type="application/atom+xml")
    sub(feed, "generator", "sttwatch", version=view.version)
    author = sub(feed, "author")
    sub(author, "name", "sttwatch")
    for i in view.feed_incidents:
        entry = sub(feed, "entry")
        sub(entry, "id", f"tag:sttwatch,2026:{view.page_id}:incident:{i.id}")
        state = "Resolved" if i.ended_at else "Ongoing"
        sub(entry, "title", f"[{state}] {i.name}")
        sub(entry, "updated", iso(i.ended_at or i.started_at))
        sub(entry, "published", iso(i.started_at))
        sub(entry, "link", href=f"{base}/#incident-{i.id}", rel="alternate", type="text/html")
        lines = [
            f"Component: {i.target_label} {i.component_name}",
            f"Started: {when_text(i.started_at)}",
            f"Ended: {when_text(i.ended_at) if i.ended_at else 'ongoing'}",
            f"Duration: {duration_text(i.duration_s)}",
            f"What failed: {', '.join(i.error_kinds) or 'unknown'}",
        ]
        if i.message:
            lines.append(f"Last error: {i.message}")
        sub(entry, "content", "\n".join(lines), type="text")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


def _text_width(text: str) -> int:
    # Verdana 11px averages ~6.5 px a character; badges need only be close.
    return int(len(text) * 6.5) + 10


def badge_svg(label: str, state: str) -> str:
    """Return a shields.io-style flat SVG badge for `label` in `state` (text XML-escaped)."""
    from xml.sax.saxutils import escape, quoteattr

    message, colour, _ = _BADGE[state]
    lw, mw = _text_width(label), _text_width(message)
    total = lw + mw
    title = escape(f"{label}: {message}")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f"aria-label={quoteattr(f'{label}: {message}')}>"
        f"<title>{title}</title>"
        f'<rect width="{lw}" height="20" fill="#555"/>'
        f'<rect x="{lw}" width="{mw}" height="20" fill="{colour}"/>'
        '<g fill="#fff" text-anchor="middle" '
        'font-family="Verdana,DejaVu Sans,Geneva,sans-serif" font-size="11">'
        f'<text x="{lw / 2:.1f}" y="14">{escape(label)}</text>'
        f'<text x="{lw + mw / 2:.1f}" y="14">{escape(message)}</text>'
        "</g></svg>"
    )


def badge_endpoint(label: str, state: str) -> dict[str, Any]:
    """Return the shields.io endpoint JSON for a component."""
    message, _, colour = _BADGE[state]
    return {"schemaVersion": 1, "label": label, "message": message, "color": colour}


# ---------------------------------------------------------------------------
# Writing the site.


def template_dir() -> Path:
    """Return the directory of the jinja2 templates (installed package data or the checkout)."""
    packaged = resources.files("monitor") / "templates"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "templates"


def _escape(text: str) -> str:
    """Return `text` escaped as markupsafe (and so autoescape) does it, without a Markup."""
    # str.replace finds nothing fast; str.translate with a dict maps every character.
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def bar_cells(days: Sequence[DayCell]) -> Markup:
    """Return the ``<rect>`` of every day of the uptime bar, one per line, text escaped.

    The bar is 90 cells of five figures each per component: as a template loop it
    was most of the page's rendering time (90,000 cells at a thousand components).
    """
    return Markup(
        "\n".join(
            [
                f'    <rect class="day day--{d.state}" x="{i * 5}" y="0" width="4" height="34" '
                f'rx="1" data-date="{d.day.isoformat()}" data-state="{d.state}">'
                f"<title>{_escape(d.title)}</title></rect>"
                for i, d in enumerate(days)
            ]
        )
    )


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """jinja2's cache of compiled templates on disk; one it cannot write is no cache."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        """Store `bucket`'s bytecode, or nothing if the directory is not writable."""
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Return the compiled-template cache, or None where no safe directory exists.

    `sttwatch render` is a fresh process each time: compiling index.html and its
    macros cost it ~50 ms (BENCHMARKS.md, benchmark 4). jinja2 keeps the cache in
    a per-user directory of mode 0700 under the temp directory and refuses one
    that someone else could write; the key is the template's source checksum.
    """
    try:
        return _BytecodeCache()
    except (OSError, RuntimeError):
        return None


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # One environment per process: it caches the compiled templates (and checks their
    # mtimes), where a fresh one recompiled index.html and its macros on every render.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        bytecode_cache=_bytecode_cache(),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = pct
    env.filters["seconds"] = seconds_text
    env.filters["duration"] = duration_text
    env.filters["when"] = when_text
    env.filters["iso"] = iso
    env.filters["bar_cells"] = bar_cells
    return env


def render_index(view: SiteView) -> str:
    """Return index.html for `view`."""
    return _environment().get_template("index.html").render(view=view)


def _dump(data: Any) -> bytes:
    # Compact separators keep json on its C encoder (indent forces the Python one).
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text + "\n").encode()


def _dump_with_list(out: BinaryIO, head: Mapping[str, Any], key: str, items: Iterable[Any]) -> None:
    """Write `head` plus `key`: [items] to `out`, the same bytes as `_dump` of the whole.

    One item is built and encoded at a time: ``api/sttwatch.json`` holds 90 days
    per component, tens of megabytes of dicts at a thousand components.
    """
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    out.write(f"{text[:-1]}{',' if head else ''}{json.dumps(key)}:[".encode())
    for n, item in enumerate(items):
        out.write(b"," if n else b"")
        out.write(
            json.dumps(item, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        )
    out.write(b"]}\n")


def _write_index(view: SiteView, out: BinaryIO) -> None:
    # Streamed: the page is ~19 KB per component, and at a thousand components one
    # string of it (plus its encoded copy) was most of a render's peak memory.
    _environment().get_template("index.html").stream(view=view).dump(out, encoding="utf-8")


def _write_sttwatch(view: SiteView, out: BinaryIO) -> None:
    _dump_with_list(out, _sttwatch_head(view), "targets", map(_sttwatch_target, view.groups))


_STREAMED: Mapping[str, Callable[[SiteView, BinaryIO], None]] = {
    "index.html": _write_index,
    "api/sttwatch.json": _write_sttwatch,
}
"""The large files of the site, written straight to their file rather than built in memory."""


def _small_files(view: SiteView) -> Iterator[tuple[str, bytes]]:
    """Yield (relative path, bytes) of every file of the site but the `_STREAMED` ones."""
    for name, doc in statuspage_documents(view).items():
        yield f"api/v2/{name}", _dump(doc)
    yield "feed.atom", atom_feed(view)
    for g in view.groups:
        for c in g.components:
            label = f"{g.label} {c.name}"
            yield f"badges/{c.id}.svg", badge_svg(label, c.state).encode()
            yield f"badges/{c.id}.json", _dump(badge_endpoint(label, c.state))
    static = template_dir() / "static"
    for path in sorted(static.rglob("*")):
        if path.is_file():
            yield f"static/{path.relative_to(static).as_posix()}", path.read_bytes()


def site_files(view: SiteView) -> dict[str, bytes]:
    """Return every file of the site as relative path → bytes (what `write_site` writes)."""
    files: dict[str, bytes] = {}
    for rel, write in _STREAMED.items():
        buf = io.BytesIO()
        write(view, buf)
        files[rel] = buf.getvalue()
    files.update(_small_files(view))
    return files


def _same_file(path: str, data: bytes) -> bool:
    """Return True if `path` is a regular file (not a symlink) holding exactly `data`."""
    try:
        st = os.lstat(path)
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(data):
            return False
        with open(path, "rb") as f:
            return f.read() == data
    except OSError:
        return False


def _write_files(view: SiteView, root: Path, previous: Path | None) -> None:
    """Write every file of the site under `root`; a file unchanged since `previous` is linked.

    Creating a file costs far more than reading one or adding a link to it
    (0.5 ms of CPU against ~0.02 ms here): at a thousand components the two
    badges each, which change only with a component's state, made most of a
    render's cost. The previous site's files are never written again, so the
    new site sharing them is safe. Paths are plain strings: thousands of
    pathlib joins were a third of what is left.
    """
    made: set[str] = set()
    new_root = os.fspath(root)
    old_root = os.fspath(previous) if previous is not None else None

    def path_of(rel: str) -> str:
        path = os.path.join(new_root, rel)
        parent = os.path.dirname(path)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        return path

    for rel, write in _STREAMED.items():
        with open(path_of(rel), "wb") as out:
            write(view, out)
    for rel, data in _small_files(view):
        path = path_of(rel)
        if old_root is not None:
            old = os.path.join(old_root, rel)
            if _same_file(old, data):
                try:
                    os.link(old, path, follow_symlinks=False)
                    continue
                except OSError:
                    pass  # another file system, links not allowed: write it
        with open(path, "wb") as out:
            out.write(data)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two directories with renameat2(RENAME_EXCHANGE); False if unsupported."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(rc == 0)


def write_site(view: SiteView, site_dir: str | os.PathLike[str]) -> Path:
    """Write the site for `view` into `site_dir`, swapped in atomically; return its path."""
    target = Path(site_dir).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{target.name}.new-", dir=target.parent))
    previous = target if target.is_dir() and not target.is_symlink() else None
    try:
        _write_files(view, fresh, previous)
        # mkdtemp makes 0700; a static host must be able to read the site.
        for dirpath, _, filenames in os.walk(fresh):
            os.chmod(dirpath, 0o755)
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), 0o644)
        if not target.exists() and not target.is_symlink():
            os.rename(fresh, target)
        elif target.is_dir() and not target.is_symlink() and _exchange(fresh, target):
            shutil.rmtree(fresh, ignore_errors=True)
        else:
            # No atomic exchange here: move the old site aside, then the new one in.
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.rmdir(old)
            os.rename(target, old)
            os.rename(fresh, target)
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old, ignore_errors=True)
            else:
                old.unlink(missing_ok=True)
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    return target


async def render_site(
    store: StatusSource,
    config: Config,
    site_dir: str | os.PathLike[str] | None = None,
    *,
    now: datetime | None = None,
) -> SiteView:
    """Build the view from `store` and write the site (in a worker thread); return the view."""
    view = await build_view(store, config, now)
    await asyncio.to_thread(write_site, view, site_dir or config.site_dir)
    return view


async def render_database(
    config: Config, site_dir: str | os.PathLike[str] | None = None
) -> SiteView:
    """Open the config's database, render the site from it, close it; return the view.

    Raises FileNotFoundError when the database does not exist: rendering an
    empty page from a mistyped path would hide the mistake.
    """
    from monitor.store import Store

    if not await asyncio.to_thread(Path(config.database).is_file):
        raise FileNotFoundError(config.database)
    store = await Store.open(
        config.database,
        failure_threshold=config.alerts.failure_threshold,
        success_threshold=config.alerts.success_threshold,
        retention=config.retention,
    )
    try:
        return await render_site(store, config, site_dir)
    finally:
        await store.close()
