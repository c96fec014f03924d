"""The incidents as the site lists them: one per target, each of its components listed.

Built from the store's `Incident` rows (docs/storage.md, Incidents) by
`monitor.site.view.build_view`; the page's incident list, the Statuspage JSON
and the feed read these views.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Literal

from monitor.site import kinds
from monitor.site.model import IncidentMemberView, IncidentView, UpdateView
from monitor.store.records import Incident

__all__ = ["Membership", "incident_view", "memberships"]

Membership = Literal["down", "degraded"] | None
"""How a component is in its target's open incident: a down or a slow member, or not at all."""


def _in_page_words(body: str, row: Incident, target: str) -> str:
    """Return a stored update body with its slugs ("streaming on aai-us") as the page names them.

    The store writes the slugs (it knows no display names, and those may change);
    renaming here fixes the updates of every database, old ones included.
    """
    for probe in dict.fromkeys([row.probe, *(m.probe for m in row.components)]):
        slugs = f"{probe} on {row.target}"
        if body.startswith(slugs):
            return f"{kinds.component_name(probe)} on {target}{body[len(slugs) :]}"
    return body


_IMPACTS: Mapping[str, Literal["minor", "major", "critical"]] = {
    "minor": "minor",
    "major": "major",
    "critical": "critical",
}
_MEMBER_STATES: Mapping[str, Literal["down", "degraded", "recovered"]] = {
    "down": "down",
    "degraded": "degraded",
    "recovered": "recovered",
}


def incident_view(row: Incident, labels: Mapping[str, str], now: datetime) -> IncidentView:
    """Return the page's view of a stored incident: its target's, each member listed."""
    comp_name = kinds.component_name(row.probe)
    target_label = labels.get(row.target, row.target)
    members = [
        IncidentMemberView(
            component_id=f"{row.target}-{m.probe}",
            name=kinds.component_name(m.probe),
            impact=_IMPACTS.get(m.impact, "major"),
            # A resolved incident has no member left in it, whatever a row says.
            state=_MEMBER_STATES.get(m.state, "down") if row.is_open else "recovered",
            joined_at=m.joined_at,
            left_at=m.left_at,
            error_kinds=list(m.error_kinds),
            message=m.last_message,
        )
        for m in row.components
    ]
    if row.source == "operator":
        affected = [(f"{row.target}-{k}", kinds.component_name(k)) for k in row.affected]
    else:
        affected = [(m.component_id, m.name) for m in members]
    affected = affected or [(f"{row.target}-{row.probe}", comp_name)]
    how = "slow" if row.impact == "minor" else "failing"
    return IncidentView(
        id=str(row.id),
        component_id=f"{row.target}-{row.probe}",
        component_name=comp_name,
        target_label=target_label,
        name=row.title or f"{target_label} {_and([n for _, n in affected])} {how}",
        started_at=row.opened_at,
        ended_at=row.closed_at,
        duration_s=max(0.0, row.duration(now).total_seconds()),
        error_kinds=list(row.error_kinds),
        message=row.last_message or row.first_message,
        impact=_IMPACTS.get(row.impact, "major"),
        updates=[
            UpdateView(
                u.at,
                u.status,
                _in_page_words(u.body, row, target_label) if u.source == "sttwatch" else u.body,
                u.source,
                u.id,
            )
            for u in row.updates
        ],
        members=members,
        status=row.status,
        source=row.source,
        title=row.title,
        affected=affected,
        postmortem=row.postmortem,
        postmortem_at=row.postmortem_at,
    )


def _and(names: Sequence[str]) -> str:
    """Return "A", "A and B", "A, B and C"."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def memberships(rows: Sequence[Incident]) -> dict[tuple[str, str], Membership]:
    """Return how each component is in its target's open incident (down beats slow)."""
    found: dict[tuple[str, str], Membership] = {}
    for r in rows:
        if not r.is_open:
            continue
        if not r.components:  # an incident of no member stored: its component's outage
            found[(r.target, r.probe)] = "down"
        for m in r.components:
            key = (r.target, m.probe)
            if m.left_at is None and m.state in ("down", "degraded") and found.get(key) != "down":
                found[key] = "down" if m.state == "down" else "degraded"
    return found
