"""Incidents with words from an operator: the SQL of ``sttwatch incident`` (docs/incidents.md).

An operator opens an incident of a target (one the probes do not see), posts
updates to any incident (probe-opened ones too), resolves the ones they
opened, and adds a postmortem to a resolved one. Their updates live in
`incident_updates`, apart from the timeline the incident machine keeps in
`incidents.updates` (monitor/store/incidents.py rewrites that one while the
incident is open): an update written by another process while ``sttwatch run``
ingests is never overwritten. The read side merges both into one timeline.

Each write runs in one transaction of the store's writer; a rule broken
(a resolved incident updated, a probe incident resolved by hand) raises
`IncidentError` before anything is written.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from monitor.models import INCIDENT_IMPACTS, OPEN_INCIDENT_STATUSES
from monitor.store.dialect import Connection
from monitor.store.records import IncidentUpdate, from_ms

__all__ = [
    "OPEN_STATUSES",
    "IncidentError",
    "current_status",
    "open_incident",
    "post_update",
    "posted_updates",
    "resolve",
    "revision",
    "set_postmortem",
    "timeline",
]

OPEN_STATUSES = OPEN_INCIDENT_STATUSES
"""The statuses an operator may give an incident that is not resolved (Statuspage's)."""
IMPACTS = INCIDENT_IMPACTS


class IncidentError(ValueError):
    """An operator's write that breaks a rule of incidents; nothing was written."""


def posted_updates(conn: Connection, ids: Sequence[object]) -> dict[int, list[IncidentUpdate]]:
    """Return the operator's updates of the incidents `ids`, oldest first, by incident id."""
    wanted = {i for i in ids if isinstance(i, int)}
    if not wanted:
        return {}
    # The table holds a few rows per operator incident: one indexed range from the
    # oldest incident asked for, filtered here, instead of a parameter per id.
    out: dict[int, list[IncidentUpdate]] = {}
    for iid, uid, at, status, body in conn.execute(
        "SELECT incident, id, at, status, body FROM incident_updates WHERE incident >= ?"
        " ORDER BY id",
        (min(wanted),),
    ):
        if iid in wanted:
            out.setdefault(iid, []).append(
                IncidentUpdate(from_ms(at), status, body, source="operator", id=f"{iid}-op{uid}")
            )
    return out


def timeline(
    written: Sequence[IncidentUpdate], posted: Sequence[IncidentUpdate]
) -> tuple[IncidentUpdate, ...]:
    """Return the incident machine's and the operator's updates as one timeline, oldest first.

    Once the operator has given a status (identified, monitoring), the machine's
    later updates of an open incident ("Now failing with …") keep it rather than
    setting it back to investigating: only the operator moves an incident
    through Statuspage's statuses, only the outage's end resolves it.
    """
    if not posted:
        return tuple(written)
    merged = sorted(
        [
            *((u.at, 0, n, u) for n, u in enumerate(written)),
            *((u.at, 1, n, u) for n, u in enumerate(posted)),
        ],
        key=lambda t: t[:3],
    )
    out: list[IncidentUpdate] = []
    said: str | None = None
    for _, _, _, u in merged:
        if u.source == "operator":
            said = u.status
        elif said is not None and u.status != "resolved":
            u = IncidentUpdate(u.at, said, u.body, u.source, u.id)
        out.append(u)
    return tuple(out)


def current_status(updates: Sequence[IncidentUpdate], closed: bool, stored: str) -> str:
    """Return an incident's Statuspage status: its newest update's while open, else resolved."""
    if closed:
        return "resolved"
    for u in reversed(updates):
        if u.status != "resolved":
            return u.status
    return stored


def revision(conn: Connection) -> tuple[Any, ...]:
    """Return a token that changes whenever an operator writes (an update, a postmortem)."""
    row = conn.execute(
        "SELECT (SELECT max(id) FROM incident_updates),"
        " (SELECT max(postmortem_at) FROM incidents WHERE postmortem_at IS NOT NULL),"
        " (SELECT count(*) FROM incidents WHERE postmortem IS NOT NULL)"
    ).fetchone()
    return tuple(row)


def _component(conn: Connection, target: str, probe: str) -> int:
    conn.execute(
        "INSERT INTO components (target, probe) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (target, probe),
    )
    cid: int = conn.execute(
        "SELECT id FROM components WHERE target = ? AND probe = ?", (target, probe)
    ).fetchone()[0]
    return cid


def _post(conn: Connection, iid: int, at: int, status: str, body: str) -> int:
    uid: int = conn.execute(
        "INSERT INTO incident_updates (incident, at, status, body) VALUES (?, ?, ?, ?)"
        " RETURNING id",
        (iid, at, status, body),
    ).fetchone()[0]
    return uid


def open_incident(
    conn: Connection,
    *,
    target: str,
    kinds: Sequence[str],
    title: str,
    message: str,
    status: str,
    impact: str,
    at: int,
) -> int:
    """Insert an operator incident of `target`'s `kinds` with its first update; return its id."""
    if status not in OPEN_STATUSES:
        raise IncidentError(f"status {status!r} is not one of {', '.join(OPEN_STATUSES)}")
    if impact not in IMPACTS:
        raise IncidentError(f"impact {impact!r} is not one of {', '.join(IMPACTS)}")
    if not kinds:
        raise IncidentError(f"an incident of {target} names at least one probe kind")
    # The incident hangs off its first kind's component, as a probe incident does; the
    # incident machine never touches it (it is no component's open incident).
    cid = _component(conn, target, kinds[0])
    iid: int = conn.execute(
        "INSERT INTO incidents (component, opened_at, closed_at, status, error_kinds,"
        " first_message, last_message, down_runs, updates, locations, source, title,"
        " affected, impact)"
        " VALUES (?, ?, NULL, ?, '[]', ?, ?, 0, '[]', '[]', 'operator', ?, ?, ?) RETURNING id",
        (cid, at, status, message, message, title, json.dumps(list(kinds)), impact),
    ).fetchone()[0]
    _post(conn, iid, at, status, message)
    return iid


def _locked(conn: Connection, iid: int) -> tuple[str, int | None, int]:
    """Return (source, closed_at, component) of incident `iid`, its component row locked."""
    row = conn.execute("SELECT component FROM incidents WHERE id = ?", (iid,)).fetchone()
    if row is None:
        raise IncidentError(f"no incident {iid}")
    if conn.dialect.row_locks:
        # Ingest locks the component row before it steps (and may close) its incident:
        # taking the same lock first, the check below still holds when this commits.
        conn.execute("SELECT id FROM components WHERE id = ? FOR UPDATE", (row[0],)).fetchall()
    source, closed = conn.execute(
        "SELECT source, closed_at FROM incidents WHERE id = ?", (iid,)
    ).fetchone()
    return str(source), closed, row[0]


def post_update(conn: Connection, iid: int, *, status: str, body: str, at: int) -> int:
    """Append the operator's update to incident `iid` (open, of any source); return its row id."""
    if status not in OPEN_STATUSES:
        raise IncidentError(
            f"status {status!r} is not one of {', '.join(OPEN_STATUSES)}"
            " (resolve an incident with `sttwatch incident resolve`)"
        )
    _, closed, _ = _locked(conn, iid)
    if closed is not None:
        raise IncidentError(
            f"incident {iid} is resolved; a resolved incident takes only a postmortem"
            f" (`sttwatch incident update {iid} --postmortem TEXT`)"
        )
    return _post(conn, iid, at, status, body)


def resolve(conn: Connection, iid: int, *, body: str, at: int) -> None:
    """Resolve operator incident `iid` at `at` with `body` as its last update."""
    source, closed, cid = _locked(conn, iid)
    if closed is not None:
        raise IncidentError(f"incident {iid} is already resolved")
    if source != "operator":
        target, probe = conn.execute(
            "SELECT target, probe FROM components WHERE id = ?", (cid,)
        ).fetchone()
        raise IncidentError(
            f"incident {iid} was opened by the {probe} probes of {target} and they still"
            f" confirm the outage: it resolves itself when they see the API good again"
            f" (alerts.success_threshold good runs in a row). Post an update instead:"
            f" `sttwatch incident update {iid} --status monitoring --message TEXT`"
        )
    _post(conn, iid, at, "resolved", body)
    conn.execute(
        "UPDATE incidents SET closed_at = ?, status = 'resolved', last_message = ? WHERE id = ?",
        (at, body, iid),
    )


def set_postmortem(conn: Connection, iid: int, *, text: str, at: int) -> None:
    """Set (or replace) the postmortem of resolved incident `iid`, posted at `at`."""
    _, closed, _ = _locked(conn, iid)
    if closed is None:
        raise IncidentError(
            f"incident {iid} is not resolved yet; a postmortem follows the resolution"
        )
    conn.execute(
        "UPDATE incidents SET postmortem = ?, postmortem_at = ? WHERE id = ?", (text, at, iid)
    )
