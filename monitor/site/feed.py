"""The Atom feed of incidents (``feed.atom``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime

from monitor.models import iso
from monitor.site.format import duration_text, when_text
from monitor.site.model import IncidentView, SiteView

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
    updated = max([_updated(i) for i in view.feed_incidents] or [view.generated_at])
    sub(feed, "updated", iso(updated))
    sub(feed, "link", href=f"{base}/", rel="alternate", type="text/html")
    sub(feed, "link", href=f"{base}/feed.atom", rel="self", type="application/atom+xml")
    sub(feed, "generator", "sttwatch", version=view.version)
    author = sub(feed, "author")
    sub(author, "name", "sttwatch")
    for i in view.feed_incidents:
        entry = sub(feed, "entry")
        sub(entry, "id", f"tag:sttwatch,2026:{view.page_id}:incident:{i.id}")
        sub(entry, "title", f"[{i.status.capitalize()}] {i.name}")
        # A new update (the operator's words, the recovery) is a new version of the entry.
        sub(entry, "updated", iso(_updated(i)))
        sub(entry, "published", iso(i.started_at))
        sub(entry, "link", href=f"{base}/{i.page}", rel="alternate", type="text/html")
        lines = [
            f"Component: {i.members_text}",
            f"Status: {i.status}, impact {i.impact}",
            f"Started: {when_text(i.started_at)}",
            f"Ended: {when_text(i.ended_at) if i.ended_at else 'ongoing'}",
            f"Duration: {duration_text(i.duration_s)}",
        ]
        if i.source == "probe":
            lines.append(f"What failed: {', '.join(i.error_kinds) or 'unknown'}")
            if i.message:
                lines.append(f"Last error: {i.message}")
        if i.updates:
            lines += ["", "Updates, newest first:"]
            lines += [
                f"{when_text(u.at)} {u.status.capitalize()}"
                f"{' (operator)' if u.source == 'operator' else ''}: {u.body}"
                for u in reversed(i.updates)
            ]
        if i.postmortem:
            lines += ["", f"Postmortem ({when_text(i.postmortem_at)}):", i.postmortem]
        sub(entry, "content", "\n".join(lines), type="text")
    body: bytes = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return body


def _updated(i: IncidentView) -> datetime:
    """Return when the incident last changed: its newest update, postmortem or end."""
    times = [u.at for u in i.updates] + [i.started_at]
    if i.ended_at is not None:
        times.append(i.ended_at)
    if i.postmortem_at is not None:
        times.append(i.postmortem_at)
    return max(times)
