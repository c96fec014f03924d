"""The Atom feed of incidents (``feed.atom``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from monitor.models import iso
from monitor.site.format import duration_text, when_text
from monitor.site.model import SiteView

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
            f"Component: {i.members_text}",
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
