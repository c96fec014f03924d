"""Incidents across locations: each location's streak of a component, and the quorum.

Run on the writer thread inside ingest's transaction (monitor/store/ingest.py).
Every location keeps its own streak of a component (`component_locations`, the
outcome machine's `Streak`): it confirms an outage after `failure_threshold`
downs in a row and stops confirming after `success_threshold` good runs. The
component's incident opens when the quorum of its live locations confirms an
outage and closes when they no longer do (`monitor.outcome.combine`); with one
location that is exactly the single agent's streak (docs/storage.md, Incidents).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from monitor.models import ProbeResult, Status
from monitor.outcome import Quorum, Streak, Thresholds, combine, required, step
from monitor.store.dialect import Connection, upsert
from monitor.store.records import CODE_STATUS, STATUS_CODE, compact_json, from_ms, to_ms

__all__ = ["ComponentIncidents", "describe", "load", "save", "step_incident"]


@dataclass(slots=True)
class _Place:
    """One location's view of a component: its own streak, and whether it confirms an outage."""

    location: str
    streak: Streak
    last_started_at: int
    key_latency_us: int | None
    # The start of this location's down streak while it confirms an outage, else None.
    outage_since: int | None
    # The error kinds and first message of this location's current down streak.
    streak_kinds: list[str]
    streak_message: str | None


@dataclass(slots=True)
class _OpenIncident:
    id: int
    error_kinds: list[str]
    last_message: str
    down_runs: int
    updates: list[dict[str, Any]]
    locations: list[str]


@dataclass(slots=True)
class ComponentIncidents:
    """A component's locations and its open incident, loaded once a batch and saved after."""

    id: int
    places: dict[str, _Place] = field(default_factory=dict)
    open: _OpenIncident | None = None

    @property
    def open_incident_id(self) -> int | None:
        """Return the id of the open incident, if any."""
        return self.open.id if self.open is not None else None


def describe(r: ProbeResult) -> str:
    """Return a down result's kind and message, as incidents quote it."""
    kind = r.error_kind.value if r.error_kind else "unknown"
    return f"{kind}: {r.message}" if r.message else kind


def _ms(dt: datetime | None) -> int | None:
    return to_ms(dt) if dt is not None else None


def load(conn: Connection, cid: int, open_incident_id: int | None) -> ComponentIncidents:
    """Return component `cid`'s locations and open incident as stored."""
    comp = ComponentIncidents(cid)
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
    ) in conn.execute(
        "SELECT location, last_status, last_started_at, key_latency_us, status_run,"
        " status_since, good_run, good_since, outage_since, streak_kinds, streak_message"
        " FROM component_locations WHERE component = ?",
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
            loc, streak, last, latency, outage, json.loads(kinds) if kinds else [], message
        )
    if open_incident_id is not None:
        kinds, last, down_runs, updates, locations = conn.execute(
            "SELECT error_kinds, last_message, down_runs, updates, locations FROM incidents"
            " WHERE id = ?",
            (open_incident_id,),
        ).fetchone()
        comp.open = _OpenIncident(
            open_incident_id,
            json.loads(kinds),
            last,
            down_runs,
            json.loads(updates),
            json.loads(locations),
        )
    return comp


def step_incident(
    conn: Connection,
    comp: ComponentIncidents,
    r: ProbeResult,
    started: int,
    latency: float,
    th: Thresholds,
    quorum: Quorum,
    stale_after_ms: int,
) -> None:
    """Step the result's location's streak, update the open incident, open or close it."""
    place = comp.places.get(r.location)
    if place is None:
        place = comp.places[r.location] = _Place(
            r.location, Streak(), started, None, None, [], None
        )
    judged = step(place.streak, r.status, r.started_at, th)
    place.streak = streak = judged.streak
    place.last_started_at = started
    inc = comp.open
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
        if inc is not None:
            inc.down_runs += 1
            inc.last_message = describe(r)
            if kind not in inc.error_kinds:
                inc.error_kinds.append(kind)
                inc.updates.append(
                    {
                        "at": started,
                        "status": "investigating",
                        "body": f"Now failing with {describe(r)}",
                    }
                )
    else:
        place.key_latency_us = round(latency * 1_000_000)
        if streak.good == 1:  # the first good run after a down (or ever)
            place.streak_kinds = []
            place.streak_message = None
        if judged.good and place.outage_since is not None:
            place.outage_since = None
            recovered_at = _ms(streak.good_since)
    if len(comp.places) == 1:
        # One location (every single agent, and bulk seeding): the quorum without the dict.
        live = [place]
        down = place.outage_since is not None and required(quorum, 1) <= 1
    else:
        cutoff = started - stale_after_ms
        live = [p for p in comp.places.values() if p.last_started_at >= cutoff]
        seen = {p.location: Status.UP if p.outage_since is None else Status.DOWN for p in live}
        down = combine(seen, quorum).status is Status.DOWN
    if inc is None and down:
        comp.open = _open(conn, comp.id, r, started, live, required(quorum, len(live)))
    elif inc is not None and not down:
        # Closed when the outage really ended: the first good run of the location whose
        # recovery broke the quorum.
        body = f"{r.probe} on {r.target} has recovered."
        inc.updates.append({"at": started, "status": "resolved", "body": body})
        _write(conn, inc, closed=recovered_at if recovered_at is not None else started)
        comp.open = None
    elif inc is not None and place.outage_since is not None and r.location not in inc.locations:
        inc.locations.append(r.location)


def _open(
    conn: Connection,
    cid: int,
    r: ProbeResult,
    started: int,
    live: list[_Place],
    need: int,
) -> _OpenIncident:
    """Insert and return the incident the quorum of `live` locations confirms."""
    down = sorted(
        ((p.outage_since, p) for p in live if p.outage_since is not None),
        key=lambda sp: (sp[0], sp[1].location),
    )
    # The outage began when the last location the quorum needs began to see it.
    opened = down[need - 1][0]
    places = [p for _, p in down]
    first = places[0].streak_message or describe(r)
    kinds: list[str] = []
    for p in places:
        kinds.extend(k for k in p.streak_kinds if k not in kinds)
    locations = [p.location for p in places]
    body = f"{r.probe} on {r.target} is down: {first}"
    if len(live) > 1:
        body += f" (seen from {', '.join(locations)})"
    updates = [{"at": opened, "status": "investigating", "body": body}]
    down_runs = sum(p.streak.down for p in places)
    new_id: int = conn.execute(
        "INSERT INTO incidents (component, opened_at, closed_at, status, error_kinds,"
        " first_message, last_message, down_runs, updates, locations)"
        " VALUES (?, ?, NULL, 'investigating', ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            cid,
            opened,
            json.dumps(kinds),
            first,
            describe(r),
            down_runs,
            compact_json(updates),
            compact_json(locations),
        ),
    ).fetchone()[0]
    return _OpenIncident(new_id, kinds, describe(r), down_runs, updates, locations)


def _write(conn: Connection, inc: _OpenIncident, *, closed: int | None) -> None:
    conn.execute(
        "UPDATE incidents SET closed_at = ?, status = ?, error_kinds = ?, last_message = ?,"
        " down_runs = ?, updates = ?, locations = ? WHERE id = ?",
        (
            closed,
            "resolved" if closed is not None else "investigating",
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
    )


_PLACE_COLUMNS = (
    "component, location, last_status, last_started_at, key_latency_us, status_run,"
    " status_since, good_run, good_since, outage_since, streak_kinds, streak_message"
)
_PLACE_UPSERT = upsert("component_locations", _PLACE_COLUMNS, key=2)


def save(conn: Connection, comps: Iterable[ComponentIncidents]) -> None:
    """Write back the locations and open incidents of `comps`."""
    comps = list(comps)
    conn.executemany(_PLACE_UPSERT, [_place_row(c.id, p) for c in comps for p in c.places.values()])
    for c in comps:
        if c.open is not None:
            _write(conn, c.open, closed=None)
