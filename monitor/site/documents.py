"""The site's JSON documents: Statuspage API v2 (``api/v2/*.json``) and ``api/sttwatch.json``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, BinaryIO, Literal

from monitor.models import iso
from monitor.site.format import when_text
from monitor.site.model import (
    CompareRow,
    ComponentStatus,
    ComponentView,
    GroupView,
    IncidentMemberView,
    IncidentView,
    KindFigures,
    MaintenanceView,
    SiteView,
    UpdateView,
)

PROVIDERS_RULE = (
    "healthy (every probe kind up), then degraded (some slow, none down, in maintenance or"
    " unchecked), then unavailable; within each, by the 24 h key-latency p50 of the ranking"
    " probe kind, lowest first, rows without it last; then by its p95 the same way; then by name"
)
"""The order of ``api/v1/providers.json`` in one sentence (docs/statuspage.md has the details)."""


def _component_json(view: SiteView, c: ComponentView) -> dict[str, Any]:
    return {
        "id": c.id,
        "name": c.name,
        "status": c.api_status,
        "created_at": iso(c.created_at),
        "updated_at": iso(c.updated_at),
        "position": c.position,
        "description": (
            "No data yet"
            if c.state == "no_data"
            else c.state_label
            if c.state == "location_outage"
            else None
        ),
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
        timeline.append(
            UpdateView(i.started_at, "investigating", f"{name} checks are failing ({kinds}).")
        )
        if i.ended_at is not None:
            timeline.append(UpdateView(i.ended_at, "resolved", f"{name} has recovered."))
    # A slow member was degraded_performance in the incident, a down one major_outage.
    outage: dict[str, ComponentStatus] = {
        m.component_id: "degraded_performance" if m.impact == "minor" else "major_outage"
        for m in i.members
    }

    def affected(resolved: bool) -> list[dict[str, Any]]:
        # What the incident machine's updates did to its components (an operator's
        # words change no component's state: their updates say null, as Statuspage's
        # updates that leave components as they were).
        return [
            {
                "code": cid,
                "name": f"{i.target_label} {cname}",
                "old_status": outage.get(cid, "major_outage") if resolved else "operational",
                "new_status": "operational" if resolved else outage.get(cid, "major_outage"),
            }
            for cid, cname in i.affected
        ]

    updates: list[dict[str, Any]] = []
    for n, u in enumerate(timeline):
        by_machine = u.source == "sttwatch" and i.source == "probe"
        updates.append(
            {
                "id": u.id or f"{i.id}-{n + 1}",
                "status": u.status,
                "body": u.body,
                "incident_id": i.id,
                "created_at": iso(u.at),
                "updated_at": iso(u.at),
                "display_at": iso(u.at),
                "affected_components": affected(u.status == "resolved") if by_machine else None,
                "deliver_notifications": True,
                "custom_tweet": None,
                "tweet_id": None,
            }
        )
    updates.reverse()  # Statuspage lists the newest update first.
    monitoring = next((u.at for u in timeline if u.status == "monitoring"), None)
    if i.source == "probe":
        components = [_incident_component_json(view, i, m, n) for n, m in enumerate(_members(i))]
    else:
        components = [_operator_component_json(view, i, cid, cname) for cid, cname in i.affected]
    return {
        "id": i.id,
        "name": i.name,
        "status": i.status,
        "created_at": iso(i.started_at),
        "updated_at": iso(max(timeline[-1].at, i.postmortem_at or timeline[-1].at)),
        "monitoring_at": iso(monitoring) if monitoring else None,
        "resolved_at": iso(i.ended_at) if i.ended_at else None,
        "impact": i.impact,
        "shortlink": f"{view.url.rstrip('/')}/{i.page}",
        "started_at": iso(i.started_at),
        "page_id": view.page_id,
        "incident_updates": updates,
        "postmortem_body": i.postmortem,
        "postmortem_published_at": iso(i.postmortem_at) if i.postmortem_at else None,
        "components": components,
    }


def _members(i: IncidentView) -> list[IncidentMemberView]:
    """Return the incident's members (its one component, for an incident stored without)."""
    if i.members:
        return i.members
    state: Literal["down", "recovered"] = "down" if i.open else "recovered"
    return [
        IncidentMemberView(
            i.component_id, i.component_name, i.impact, state, i.started_at, i.ended_at, [], ""
        )
    ]


def _affected_component_json(
    view: SiteView, cid: str, name: str, status: str, position: int
) -> dict[str, Any]:
    return {
        "id": cid,
        "name": name,
        "status": status,
        "position": position,
        "description": None,
        "showcase": True,
        "start_date": None,
        "group_id": cid.rsplit("-", 1)[0],
        "page_id": view.page_id,
        "group": False,
        "only_show_if_degraded": False,
    }


def _incident_component_json(
    view: SiteView, i: IncidentView, m: IncidentMemberView, position: int
) -> dict[str, Any]:
    status = m.api_status if i.open else "operational"
    return {
        **_affected_component_json(view, m.component_id, m.name, status, position),
        "created_at": iso(m.joined_at),
        "updated_at": iso(m.left_at or m.joined_at),
    }


def _operator_component_json(
    view: SiteView, i: IncidentView, cid: str, name: str
) -> dict[str, Any]:
    # An operator's incident words a component; its status is what its probes see now.
    now = next((c for c in view.components if c.id == cid), None)
    status = now.api_status if now is not None else "major_outage" if i.open else "operational"
    return {
        **_affected_component_json(view, cid, name, status, now.position if now else 0),
        "created_at": iso(i.started_at),
        "updated_at": iso(i.ended_at or i.started_at),
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
        "locations": view.locations,
        # Every live location (the default "local" too) and its newest check.
        "checked_from": [
            {
                "location": p.location,
                "last_checked": iso(p.last_checked),
                "components": p.components,
            }
            for p in view.checked_from
        ],
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
                # Each location's last run, when several probe it (docs/locations.md).
                "locations": [
                    {
                        "location": where.location,
                        "status": where.status,
                        "latency_s": where.latency_s,
                        "last_checked": iso(where.checked_at),
                    }
                    for where in c.locations
                ],
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


def _figures_json(f: KindFigures) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": f.name,
        "status": f.status,
        "state": f.state,
        "p50_24h_s": f.p50_24h_s,
        "p95_24h_s": f.p95_24h_s,
        "uptime_30d": f.uptime_30d,
        "last_checked": iso(f.last_checked) if f.last_checked else None,
    }
    if f.checks_text:
        out["wer_24h"] = None if f.wer_24h is None else round(f.wer_24h, 4)
    return out


def _row_json(row: CompareRow) -> dict[str, Any]:
    out: dict[str, Any] = {"name": row.name, "label": row.label, "rank": row.rank}
    if not row.targets:
        out["region"] = row.region
    out["health"] = row.health
    out["probes"] = {p: _figures_json(f) for p, f in row.probes.items()}
    if row.targets:
        out["targets"] = [_row_json(t) for t in row.targets]
    return out


def providers_document(view: SiteView) -> dict[str, Any]:
    """Return ``api/v1/providers.json``: every provider and target, healthy now, fastest first."""
    cmp = view.comparison
    return {
        "generated_at": iso(view.generated_at),
        "version": view.version,
        "ranked_by": {
            "probe": cmp.rank_probe if cmp else None,
            "figures": ["p50_24h_s", "p95_24h_s"],
        },
        "rule": PROVIDERS_RULE,
        "order": [p.name for p in cmp.providers] if cmp else [],
        "target_order": list(cmp.target_order) if cmp else [],
        "providers": [_row_json(p) for p in cmp.providers] if cmp else [],
    }


def dump(data: Any) -> bytes:
    # Compact separators keep json on its C encoder (indent forces the Python one).
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return (text + "\n").encode()


def _dump_with_list(out: BinaryIO, head: Mapping[str, Any], key: str, items: Iterable[Any]) -> None:
    """Write `head` plus `key`: [items] to `out`, the same bytes as `dump` of the whole.

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


def write_sttwatch(view: SiteView, out: BinaryIO) -> None:
    _dump_with_list(out, _sttwatch_head(view), "targets", map(_sttwatch_target, view.groups))
