"""The view model of the site, read from the store and the config alone.

:func:`build_view` reads nothing but the store and the config, so
``sttwatch render`` can rebuild the site from a database copy.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

from monitor.maintenance import active, applies_to, upcoming
from monitor.models import LOCAL, ProbeResult, Status
from monitor.outcome import Verdict, combine
from monitor.probes.registry import provider
from monitor.site import compare, kinds, overview
from monitor.site.charts import latency_history
from monitor.site.format import pct
from monitor.site.incident_views import Membership, incident_view, memberships
from monitor.site.model import (
    ComponentView,
    DayCell,
    DayState,
    GroupView,
    LocationView,
    MaintenanceView,
    PageState,
    SiteView,
)
from monitor.store.records import Incident, LocationState, Rollup, key_latency

if TYPE_CHECKING:
    from monitor.config import Config, Target
    from monitor.store.queries import RunCounts

UPTIME_WINDOWS: tuple[tuple[str, timedelta], ...] = (
    ("24h", timedelta(hours=24)),
    ("7d", timedelta(days=7)),
    ("30d", timedelta(days=30)),
    ("90d", timedelta(days=90)),
)
BAR_DAYS = 90
HISTORY_DAYS = 14
FEED_INCIDENTS = 50

_STATE_LABEL: Mapping[str, str] = {
    "operational": "Operational",
    "degraded_performance": "Degraded performance",
    "partial_outage": "Partial outage",
    "major_outage": "Major outage",
    "under_maintenance": "Under maintenance",
    "no_data": "No data yet",
    "location_outage": "Down from some locations",  # named per component: `_location_label`
}


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

    async def incidents(
        self, since: datetime | None = None, open_only: bool = False, limit: int = ...
    ) -> list[Incident]: ...

    async def pending_counts(self) -> dict[str, int]: ...

    async def location_states(self) -> list[LocationState]: ...

    async def overdue(self, older_than_s: float) -> list[Any]: ...


# ---------------------------------------------------------------------------
# Mapping store rows to states.


def component_state(
    latest: ProbeResult | None, member: Membership, maintenance: bool = False
) -> PageState:
    """Return the Statuspage state of a component from its latest result and its incident.

    A component that has failed for ``failure_threshold`` runs (a down member of
    an incident) is a major outage; a single failed run before that is a
    partial outage; a slow member of an incident is degraded performance.
    """
    return _state(latest.status if latest is not None else None, member, maintenance)


def _state(status: Status | None, member: Membership, maintenance: bool) -> PageState:
    if maintenance:
        return "under_maintenance"
    if member == "degraded":
        return "partial_outage" if status is Status.DOWN else "degraded_performance"
    incident_open = member == "down"
    if status is None:
        return "major_outage" if incident_open else "no_data"
    if status is Status.DOWN:
        return "major_outage" if incident_open else "partial_outage"
    if incident_open:
        # Recovering: good runs, but not yet ``success_threshold`` of them.
        return "partial_outage"
    if status is Status.DEGRADED:
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
    if "degraded_performance" in known or "location_outage" in known:
        return "minor", "Partially Degraded Service", "minor"
    if "under_maintenance" in known:
        return "none", "Service Under Maintenance", "maintenance"
    return "none", "All Systems Operational", "none"


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
    # A component's state is what its probes see: an operator's incident words it, not it.
    open_keys = memberships([r for r in rows if r.source == "probe"])
    pending = await store.pending_counts()
    places: dict[tuple[str, str], list[LocationState]] = {}
    for place in await store.location_states():
        places.setdefault((place.target, place.probe), []).append(place)
    overdue: dict[str, int] = {}
    for entry in await store.overdue(config.alerts.deletion_backlog_after):
        name = str(getattr(entry, "target", ""))
        overdue[name] = overdue.get(name, 0) + 1

    # Each kind of figure is read once for every component: per-component reads
    # cost a thread hop and several queries each (six per component before).
    # The charts: hourly roll-ups for the 24 h and 7 d windows, daily ones for 30 d and 90 d.
    week = await store.rollups_hourly(None, None, now - timedelta(days=7), now)
    day_ago = now - timedelta(hours=24)
    hourly = [r for r in week if r.bucket_start >= day_ago]
    quarter = await store.rollups_daily(None, None, _utc_midnight(now - timedelta(days=90)), now)
    # The bar's days are the same daily rows: one read, not a second of their counts alone.
    daily = [r for r in quarter if r.bucket_start >= bar_since]
    uptimes = await store.uptime_all([(now - span, now) for _, span in UPTIME_WINDOWS])
    probed = [r for r in rows if r.source == "probe"]  # the bar, too, is what probes saw
    data = _ComponentData(daily, hourly, probed, places, week, quarter)
    # Building the views is a long stretch of pure Python: a worker thread keeps
    # the event loop (probes, /metrics) running beside it.
    groups = await asyncio.to_thread(
        _group_views, config, latest, open_keys, uptimes, data, pending, overdue, now, bar_since
    )

    indicator, description, banner = page_status([c.state for g in groups for c in g.components])
    incidents = sorted(
        (incident_view(r, labels, now) for r in rows), key=lambda i: i.started_at, reverse=True
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
        comparison=compare.build_comparison(groups),
        locations=_where(places),
        checked_from=overview.checked_from(p for ps in places.values() for p in ps),
        public_url=config.public_url,
        refresh_s=refresh_interval(config, [r.started_at for r in latest.values()], now),
    )


REFRESH_BOUNDS = (30, 300)
"""The page reloads itself no more often than every 30 s and at least every 5 minutes."""
LIVE_FOR = timedelta(hours=1)
"""A page whose newest check is older than this is an old database's: it never reloads."""


def refresh_interval(config: Config, checked: Sequence[datetime], now: datetime) -> int | None:
    """Return the page's reload interval: the shortest probe interval, within REFRESH_BOUNDS.

    None when nothing was checked within LIVE_FOR of `now` (`sttwatch render` of an
    old copy, opened from file://, has nothing new to show and must not blink).
    """
    if not checked or now - max(checked) > LIVE_FOR:
        return None
    intervals = [float(s.interval) for t in config.targets for s in t.probes.enabled().values()]
    low, high = REFRESH_BOUNDS
    return int(min(high, max(low, math.ceil(min(intervals, default=60.0)))))


def _where(places: Mapping[tuple[str, str], list[LocationState]]) -> list[str]:
    """Return the live locations the checks run from; none for one agent of no location."""
    found = sorted({p.location for ps in places.values() for p in ps})
    return [] if found == [LOCAL] else found


class _ComponentData:
    """The store's rows for the page, grouped by (target, probe)."""

    def __init__(
        self,
        daily: list[Rollup],
        hourly: list[Rollup],
        incidents: list[Incident],
        places: dict[tuple[str, str], list[LocationState]],
        week: list[Rollup],
        quarter: list[Rollup],
    ) -> None:
        self.places = places
        self.week: dict[tuple[str, str], list[Rollup]] = {}
        self.quarter: dict[tuple[str, str], list[Rollup]] = {}
        for r in week:
            self.week.setdefault((r.target, r.probe), []).append(r)
        for r in quarter:
            self.quarter.setdefault((r.target, r.probe), []).append(r)
        self.daily: dict[tuple[str, str], list[Rollup]] = {}
        self.hourly: dict[tuple[str, str], list[Rollup]] = {}
        self.incidents: dict[tuple[str, str], list[Incident]] = {}
        for d in daily:
            self.daily.setdefault((d.target, d.probe), []).append(d)
        for h in hourly:
            self.hourly.setdefault((h.target, h.probe), []).append(h)
        for i in incidents:
            # Each member's bar counts its target's incident.
            for probe in dict.fromkeys([i.probe, *(m.probe for m in i.components)]):
                self.incidents.setdefault((i.target, probe), []).append(i)


def _group_views(
    config: Config,
    latest: Mapping[tuple[str, str], ProbeResult],
    open_keys: Mapping[tuple[str, str], Membership],
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
                    open_keys.get(key),
                    data.incidents.get(key, []),
                    data.daily.get(key, []),
                    data.hourly.get(key, []),
                    {name: figures[i] for i, (name, _) in enumerate(UPTIME_WINDOWS)},
                    now,
                    bar_since,
                    position,
                    data.places.get(key, []),
                    data.week.get(key, []),
                    data.quarter.get(key, []),
                )
            )
        tracked = kinds.tracks_deletions(target.probes.enabled(), target.provider)
        n_pending = pending.get(target.name, 0) if tracked else None
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
                provider=target.provider,
                provider_label=provider(target.provider).label,
                region=target.region or provider(target.provider).default_region,
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
    member: Membership,
    incidents: Sequence[Incident],
    daily: Sequence[Rollup],
    hourly: Sequence[Rollup],
    uptime: dict[str, float | None],
    now: datetime,
    bar_since: datetime,
    position: int,
    places: Sequence[LocationState] = (),
    week: Sequence[Rollup] = (),
    quarter: Sequence[Rollup] = (),
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
    last24h = Rollup.merged(hourly)
    charts = latency_history(week, quarter, degraded_after, now)
    chart = charts[0]
    in_maintenance = active(config, target.name, probe, now) is not None
    state = component_state(latest, member, in_maintenance)
    label = _STATE_LABEL[state]
    located: list[LocationView] = []
    if len(places) > 1:
        verdict = combine({p.location: p.status for p in places}, config.quorum)
        state = located_state(verdict, member, in_maintenance)
        label = _location_label(verdict) if state == "location_outage" else _STATE_LABEL[state]
        located = [
            LocationView(p.location, p.status.value, p.key_latency_s, p.started_at) for p in places
        ]
    first_seen = min([d.day for d in days if d.runs] or [now.date()])
    latency = key_latency(latest, target.provider) if latest is not None and latest.ok else None
    message = latest.message if latest is not None and latest.status is not Status.UP else ""
    return ComponentView(
        id=f"{target.name}-{probe}",
        target=target.name,
        probe=probe,
        name=kinds.component_name(probe),
        group_id=target.name,
        position=position,
        state=state,
        state_label=label,
        last_checked=latest.started_at if latest else None,
        last_status=latest.status.value if latest else None,
        latency_s=latency,
        degraded_after_s=degraded_after,
        message=message,
        error_kind=latest.error_kind.value if latest and latest.error_kind else None,
        uptime=uptime,
        days=days,
        chart=chart,
        facts=kinds.facts(probe, last24h, latest, target.provider),
        created_at=datetime(first_seen.year, first_seen.month, first_seen.day, tzinfo=UTC),
        updated_at=latest.started_at if latest else now,
        p50_24h_s=last24h.percentile(0.5) if last24h else None,
        p95_24h_s=last24h.percentile(0.95) if last24h else None,
        wer_24h=last24h.wer_mean if last24h else None,
        note=kinds.page_note(probe, target.provider),
        checks_text=compare.checks_text(probe, target.provider),
        locations=located,
        charts=charts,
    )


def located_state(verdict: Verdict, member: Membership, maintenance: bool = False) -> PageState:
    """Return the page state of a component probed from several locations, by their quorum.

    As `component_state`, with the quorum's status for the latest result's; a
    status seen from too few locations is the page's own "location_outage".
    """
    state = _state(verdict.status, member, maintenance)
    return "location_outage" if state == "operational" and verdict.partial else state


def _location_label(verdict: Verdict) -> str:
    """Return "Down from eu-west" (or "Degraded from ...") for a status seen from too few."""
    how = "Down" if verdict.partial_status is Status.DOWN else "Degraded"
    return f"{how} from {', '.join(verdict.partial)}"


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
