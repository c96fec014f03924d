"""Incidents: one per target at a time, its members the components that are down or slow.

Run on the writer thread inside ingest's transaction (monitor/store/ingest.py).
Every location keeps its own streak of a component (`component_locations`, the
outcome machine's `Streak`): it confirms an outage after `failure_threshold`
downs in a row and stops after `success_threshold` good runs; it confirms a
slow period after `degraded_threshold` (> 0) slow runs in a row and stops after
`success_threshold` ups. A component is down (or slow) when the quorum of its
live locations confirms it (`monitor.outcome.combine`); with one location that
is exactly the single agent's streak.

A component that becomes down or slow joins its target's open incident, or
opens one; it leaves when it is neither, and the incident closes when its last
member leaves (docs/storage.md, Incidents). A member that fails again while the
incident is still open rejoins it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from monitor.models import ProbeResult, Status
from monitor.outcome import Quorum, Streak, Thresholds, combine, required, step
from monitor.probes.registry import KindTable
from monitor.store.dialect import Connection, upsert
from monitor.store.records import CODE_STATUS, STATUS_CODE, compact_json, from_ms, to_ms

__all__ = [
    "IMPACT_RANK",
    "ComponentIncidents",
    "TargetIncidents",
    "describe",
    "load",
    "save",
    "step_incident",
]

IMPACT_RANK: Mapping[str, int] = {"minor": 0, "major": 1, "critical": 2}
"""Statuspage's incident impacts, least first: an incident's is the worst of its members'."""

# The impact of a kind's outage (its ProbeType's), as the page has always shown it.
_DOWN_IMPACT: Mapping[str, Literal["major", "critical"]] = KindTable(lambda kind: kind.impact)

Level = Literal["down", "degraded"]


@dataclass(slots=True)
class _Place:
    """One location's view of a component: its own streak, and what it confirms."""

    location: str
    streak: Streak
    last_started_at: int
    key_latency_us: int | None
    # The start of this location's down streak while it confirms an outage, else None.
    outage_since: int | None
    # The error kinds and first message of this location's current down streak.
    streak_kinds: list[str]
    streak_message: str | None
    # The start of this location's slow run while it confirms a slow period, else None.
    slow_since: int | None = None


@dataclass(slots=True)
class _Member:
    """One component of an open incident (a row of `incident_components`)."""

    component: int
    position: int
    impact: str
    state: str  # down | degraded | recovered
    joined_at: int
    left_at: int | None
    error_kinds: list[str]
    last_message: str


@dataclass(slots=True)
class _OpenIncident:
    id: int
    opened_at: int
    impact: str
    error_kinds: list[str]
    last_message: str
    down_runs: int
    updates: list[dict[str, Any]]
    locations: list[str]
    members: dict[int, _Member] = field(default_factory=dict)
    closed_at: int | None = None

    def active(self) -> list[_Member]:
        """Return the members that have not left."""
        return [m for m in self.members.values() if m.left_at is None]

    def note(self, at: int, body: str, status: str = "investigating") -> None:
        """Add an entry to the timeline, written by sttwatch (not an operator)."""
        self.updates.append({"at": at, "status": status, "body": body, "source": "sttwatch"})


class TargetIncidents:
    """The open incidents of the targets in one batch, loaded on first use and saved after.

    Normally a target has at most one; incidents stored before grouping (one per
    component) may leave several open, each closing with its own member, and a
    component that newly fails joins the oldest.
    """

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._by_id: dict[int, _OpenIncident] = {}
        self._of_target: dict[str, list[int]] = {}

    def get(self, iid: int | None) -> _OpenIncident | None:
        """Return open incident `iid` (None for None, or one already closed)."""
        if iid is None:
            return None
        inc = self._by_id.get(iid)
        if inc is None:
            inc = self._by_id[iid] = _load_incident(self._conn, iid)
        return inc if inc.closed_at is None else None

    def of_target(self, target: str) -> _OpenIncident | None:
        """Return the target's open incident (its oldest, if there are several), or None."""
        ids = self._of_target.get(target)
        if ids is None:
            ids = self._of_target[target] = [
                row[0]
                for row in self._conn.execute(
                    "SELECT i.id FROM incidents i JOIN components c ON c.id = i.component"
                    " WHERE c.target = ? AND i.closed_at IS NULL AND i.source = 'probe'"
                    " ORDER BY i.opened_at, i.id",
                    (target,),
                )
            ]
        for iid in ids:
            inc = self.get(iid)
            if inc is not None:
                return inc
        return None

    def add(self, target: str, inc: _OpenIncident) -> None:
        """Remember a newly opened incident of `target`."""
        self._by_id[inc.id] = inc
        self._of_target.setdefault(target, []).append(inc.id)

    def save(self) -> None:
        """Write back every incident loaded or opened in this batch, with its members."""
        rows: list[tuple[Any, ...]] = []
        for inc in self._by_id.values():
            _write(self._conn, inc)
            rows.extend(
                (
                    inc.id,
                    m.component,
                    m.position,
                    m.impact,
                    m.state,
                    m.joined_at,
                    m.left_at,
                    compact_json(m.error_kinds),
                    m.last_message,
                )
                for m in inc.members.values()
            )
        if rows:
            self._conn.executemany(_MEMBER_UPSERT, rows)


_MEMBER_COLUMNS = (
    "incident, component, position, impact, state, joined_at, left_at, error_kinds, last_message"
)
_MEMBER_UPSERT = upsert("incident_components", _MEMBER_COLUMNS, key=2)


@dataclass(slots=True)
class ComponentIncidents:
    """A component's locations and the incident it is a member of, loaded once a batch."""

    id: int
    places: dict[str, _Place] = field(default_factory=dict)
    # The incident this component is in now (`components.open_incident_id`).
    incident_id: int | None = None

    @property
    def open_incident_id(self) -> int | None:
        """Return the id of the incident this component is a member of, if any."""
        return self.incident_id


def describe(r: ProbeResult) -> str:
    """Return a down result's kind and message, as incidents quote it."""
    kind = r.error_kind.value if r.error_kind else "unknown"
    return f"{kind}: {r.message}" if r.message else kind


def _slow(r: ProbeResult) -> str:
    """Return how incidents quote a slow result."""
    return f"slow: {r.message}" if r.message else "slower than its degraded_after"


def _ms(dt: datetime | None) -> int | None:
    return to_ms(dt) if dt is not None else None


def load(conn: Connection, cid: int, open_incident_id: int | None) -> ComponentIncidents:
    """Return component `cid`'s locations and the incident it is in, as stored."""
    comp = ComponentIncidents(cid, incident_id=open_incident_id)
    for (
        loc,
        status,
        last,
        latency,
        run,
        since,
        good,
        good_since,
        outage,
        kinds,
        message,
        slow,
    ) in conn.execute(
        "SELECT location, last_status, last_started_at, key_latency_us, status_run,"
        " status_since, good_run, good_since, outage_since, streak_kinds, streak_message,"
        " slow_since FROM component_locations WHERE component = ?",
        (cid,),
    ):
        streak = Streak(
            CODE_STATUS[status],
            run,
            from_ms(since) if since is not None else None,
            good,
            from_ms(good_since) if good_since is not None else None,
        )
        comp.places[loc] = _Place(
            loc, streak, last, latency, outage, json.loads(kinds) if kinds else [], message, slow
        )
    return comp


def _load_incident(conn: Connection, iid: int) -> _OpenIncident:
    opened, closed, impact, kinds, last, down_runs, updates, locations = conn.execute(
        "SELECT opened_at, closed_at, impact, error_kinds, last_message, down_runs, updates,"
        " locations FROM incidents WHERE id = ?",
        (iid,),
    ).fetchone()
    inc = _OpenIncident(
        iid,
        opened,
        impact,
        json.loads(kinds),
        last,
        down_runs,
        json.loads(updates),
        json.loads(locations),
        closed_at=closed,
    )
    for cid, position, m_impact, state, joined, left, m_kinds, m_last in conn.execute(
        "SELECT component, position, impact, state, joined_at, left_at, error_kinds,"
        " last_message FROM incident_components WHERE incident = ?",
        (iid,),
    ):
        inc.members[cid] = _Member(
            cid, position, m_impact, state, joined, left, json.loads(m_kinds), m_last
        )
    return inc


def _level(place: _Place) -> Status:
    if place.outage_since is not None:
        return Status.DOWN
    return Status.DEGRADED if place.slow_since is not None else Status.UP


def step_incident(
    conn: Connection,
    book: TargetIncidents,
    comp: ComponentIncidents,
    r: ProbeResult,
    started: int,
    latency: float,
    th: Thresholds,
    quorum: Quorum,
    stale_after_ms: int,
) -> None:
    """Step the result's location's streak; join, leave, open or close the target's incident."""
    place = comp.places.get(r.location)
    if place is None:
        place = comp.places[r.location] = _Place(
            r.location, Streak(), started, None, None, [], None
        )
    judged = step(place.streak, r.status, r.started_at, th)
    place.streak = streak = judged.streak
    place.last_started_at = started
    # When this location stopped confirming: the first good (or up) run of its streak.
    recovered_at: int | None = None
    if r.status is Status.DOWN:
        place.key_latency_us = None
        kind = r.error_kind.value if r.error_kind else "internal"
        if streak.length == 1:  # the first down of this location's streak
            place.streak_kinds = []
            place.streak_message = describe(r)
        if kind not in place.streak_kinds:
            place.streak_kinds.append(kind)
        if judged.down and place.outage_since is None:
            since = _ms(streak.since)
            place.outage_since = since if since is not None else started
    else:
        place.key_latency_us = round(latency * 1_000_000)
        if streak.good == 1:  # the first good run after a down (or ever)
            place.streak_kinds = []
            place.streak_message = None
        if judged.good and place.outage_since is not None:
            place.outage_since = None
            recovered_at = _ms(streak.good_since)
        if judged.degraded and place.slow_since is None:
            since = _ms(streak.since)
            place.slow_since = since if since is not None else started
        if judged.up and place.slow_since is not None:
            place.slow_since = None
            if recovered_at is None:
                recovered_at = _ms(streak.since)
    if len(comp.places) == 1:
        # One location (every single agent, and bulk seeding): the quorum without the dict.
        live = [place]
        level = _level(place) if required(quorum, 1) <= 1 else Status.UP
    else:
        cutoff = started - stale_after_ms
        live = [p for p in comp.places.values() if p.last_started_at >= cutoff]
        level = combine({p.location: _level(p) for p in live}, quorum).status
    inc = book.get(comp.incident_id)
    if inc is None:
        comp.incident_id = None
    if level is Status.UP:
        if inc is not None:
            _leave(inc, comp, r, recovered_at if recovered_at is not None else started, started)
            comp.incident_id = None
        return
    state: Level = "down" if level is Status.DOWN else "degraded"
    if inc is None:
        since = _since(live, required(quorum, len(live)), state)
        inc = book.of_target(r.target)
        if inc is None:
            inc = _open(conn, comp.id, r, live, since, state)
            book.add(r.target, inc)
        else:
            _join(inc, comp, r, live, since, state, started)
        comp.incident_id = inc.id
    else:
        member = inc.members[comp.id]
        if member.state != state:
            member.state = state
            if state == "down":
                inc.note(started, f"{r.probe} on {r.target} is now down: {describe(r)}")
            else:
                inc.note(started, f"{r.probe} on {r.target} is no longer down but still slow")
            _raise_impact(inc, member, state, r.probe, started)
        _count(inc, member, r, started)
    inc.locations.extend(
        p.location for p in _confirming(live, state) if p.location not in inc.locations
    )


def _impact(state: Level, probe: str) -> str:
    return "minor" if state == "degraded" else _DOWN_IMPACT.get(probe, "major")


def _raise_impact(inc: _OpenIncident, member: _Member, state: Level, probe: str, at: int) -> None:
    """Raise the member's impact to what `state` means, and the incident's with it."""
    new = _impact(state, probe)
    if IMPACT_RANK[new] > IMPACT_RANK[member.impact]:
        member.impact = new
    if IMPACT_RANK[member.impact] > IMPACT_RANK[inc.impact]:
        inc.note(at, f"Impact raised from {inc.impact} to {member.impact}.")
        inc.impact = member.impact


def _count(inc: _OpenIncident, member: _Member, r: ProbeResult, started: int) -> None:
    """Record a result of a member already in the incident: its kinds and last message."""
    if r.status is Status.DOWN:
        kind = r.error_kind.value if r.error_kind else "internal"
        inc.down_runs += 1
        inc.last_message = member.last_message = describe(r)
        if kind not in member.error_kinds:
            member.error_kinds.append(kind)
        if kind not in inc.error_kinds:
            inc.error_kinds.append(kind)
            inc.note(started, f"Now failing with {describe(r)}")
    elif r.status is Status.DEGRADED:
        member.last_message = _slow(r)
        if inc.impact == "minor":  # a down member's message is the incident's, not a slow one's
            inc.last_message = member.last_message


def _since(live: list[_Place], need: int, state: Level) -> int:
    """Return when the component's problem began: when the last location the quorum needs
    began to see it (its down streak, or its slow run for a slow period)."""
    if state == "down":
        times = sorted(p.outage_since for p in live if p.outage_since is not None)
    else:
        times = sorted(
            min(t for t in (p.outage_since, p.slow_since) if t is not None)
            for p in live
            if _level(p) is not Status.UP
        )
    return times[min(need, len(times)) - 1]


def _confirming(live: list[_Place], state: Level) -> list[_Place]:
    """Return the live locations that see the component as bad as `state`, in order."""
    if state == "down":
        found = [(p.outage_since, p) for p in live if p.outage_since is not None]
    else:
        found = [
            (min(t for t in (p.outage_since, p.slow_since) if t is not None), p)
            for p in live
            if _level(p) is not Status.UP
        ]
    return [p for _, p in sorted(found, key=lambda sp: (sp[0], sp[1].location))]


def _kinds_and_message(
    places: list[_Place], r: ProbeResult, state: Level
) -> tuple[list[str], str, str]:
    """Return (error kinds, first message, last message) of a component's problem streak."""
    kinds: list[str] = []
    for p in places:
        kinds.extend(k for k in p.streak_kinds if k not in kinds)
    if state == "degraded":
        text = _slow(r) if r.status is Status.DEGRADED else "slower than its degraded_after"
        return kinds, text, text
    first = next((p.streak_message for p in places if p.streak_message), None)
    return kinds, first or describe(r), describe(r)


def _open(
    conn: Connection,
    cid: int,
    r: ProbeResult,
    live: list[_Place],
    opened: int,
    state: Level,
) -> _OpenIncident:
    """Insert and return the target's incident, `cid` its first member."""
    places = _confirming(live, state)
    kinds, first, last = _kinds_and_message(places, r, state)
    locations = [p.location for p in places]
    how = "down" if state == "down" else "slow"
    body = f"{r.probe} on {r.target} is {how}: {first}"
    if len(live) > 1:
        body += f" (seen from {', '.join(locations)})"
    impact = _impact(state, r.probe)
    updates = [{"at": opened, "status": "investigating", "body": body, "source": "sttwatch"}]
    down_runs = sum(p.streak.down for p in places)
    new_id: int = conn.execute(
        "INSERT INTO incidents (component, opened_at, closed_at, status, error_kinds,"
        " first_message, last_message, down_runs, updates, locations, impact)"
        " VALUES (?, ?, NULL, 'investigating', ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            cid,
            opened,
            json.dumps(kinds),
            first,
            last,
            down_runs,
            compact_json(updates),
            compact_json(locations),
            impact,
        ),
    ).fetchone()[0]
    inc = _OpenIncident(new_id, opened, impact, kinds, last, down_runs, updates, locations)
    inc.members[cid] = _Member(cid, 0, impact, state, opened, None, list(kinds), last)
    return inc


def _join(
    inc: _OpenIncident,
    comp: ComponentIncidents,
    r: ProbeResult,
    live: list[_Place],
    since: int,
    state: Level,
    started: int,
) -> None:
    """Add `comp` to the target's open incident (again, if it was a member that recovered)."""
    places = _confirming(live, state)
    kinds, first, last = _kinds_and_message(places, r, state)
    how = "down" if state == "down" else "slow"
    member = inc.members.get(comp.id)
    if member is None:
        member = inc.members[comp.id] = _Member(
            comp.id, len(inc.members), "minor", state, since, None, [], last
        )
        inc.note(started, f"{r.probe} on {r.target} is {how} too: {first}")
    else:
        member.left_at = None
        member.state = state
        member.last_message = last
        inc.note(started, f"{r.probe} on {r.target} is {how} again: {first}")
    member.error_kinds.extend(k for k in kinds if k not in member.error_kinds)
    for k in kinds:
        if k not in inc.error_kinds:
            inc.error_kinds.append(k)
    if state == "down":
        inc.down_runs += sum(p.streak.down for p in places)
        inc.last_message = last
    # An incident begins with the earliest problem of its members.
    inc.opened_at = min(inc.opened_at, since)
    _raise_impact(inc, member, state, r.probe, started)


def _leave(
    inc: _OpenIncident, comp: ComponentIncidents, r: ProbeResult, ended: int, started: int
) -> None:
    """Take `comp` out of its incident; close the incident when it was the last member."""
    member = inc.members[comp.id]
    member.left_at = ended
    member.state = "recovered"
    body = f"{r.probe} on {r.target} has recovered."
    if inc.active():
        inc.note(started, body)
        return
    # Closed when the problem really ended: the first good run of the streak that took
    # the last member out (the latest of the members' ends).
    inc.note(started, body, "resolved")
    inc.closed_at = max(m.left_at for m in inc.members.values() if m.left_at is not None)


def _write(conn: Connection, inc: _OpenIncident) -> None:
    conn.execute(
        "UPDATE incidents SET opened_at = ?, closed_at = ?, status = ?, impact = ?,"
        " error_kinds = ?, last_message = ?, down_runs = ?, updates = ?, locations = ?"
        " WHERE id = ?",
        (
            inc.opened_at,
            inc.closed_at,
            "resolved" if inc.closed_at is not None else "investigating",
            inc.impact,
            json.dumps(inc.error_kinds),
            inc.last_message,
            inc.down_runs,
            compact_json(inc.updates),
            compact_json(inc.locations),
            inc.id,
        ),
    )


def _place_row(cid: int, p: _Place) -> tuple[Any, ...]:
    streak = p.streak
    assert streak.status is not None  # a place exists once it has a result
    return (
        cid,
        p.location,
        STATUS_CODE[streak.status],
        p.last_started_at,
        p.key_latency_us,
        streak.length,
        _ms(streak.since),
        streak.good,
        _ms(streak.good_since),
        p.outage_since,
        compact_json(p.streak_kinds) if p.streak_kinds else None,
        p.streak_message,
        p.slow_since,
    )


_PLACE_COLUMNS = (
    "component, location, last_status, last_started_at, key_latency_us, status_run,"
    " status_since, good_run, good_since, outage_since, streak_kinds, streak_message, slow_since"
)
_PLACE_UPSERT = upsert("component_locations", _PLACE_COLUMNS, key=2)


def save(conn: Connection, comps: Iterable[ComponentIncidents], book: TargetIncidents) -> None:
    """Write back the locations of `comps` and the incidents of the batch."""
    comps = list(comps)
    conn.executemany(_PLACE_UPSERT, [_place_row(c.id, p) for c in comps for p in c.places.values()])
    book.save()
