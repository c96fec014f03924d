"""Per-component badges: a shields.io-style SVG and the shields.io endpoint JSON."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.site.model import ComponentView, GroupView
from monitor.site.templates import render_badge

_BADGE: Mapping[str, tuple[str, str, str]] = {
    # state: (message, svg colour, shields colour)
    "operational": ("operational", "#1a7f37", "brightgreen"),
    "degraded_performance": ("degraded", "#9a6700", "yellow"),
    "partial_outage": ("partial outage", "#bc4c00", "orange"),
    "major_outage": ("major outage", "#cf222e", "red"),
    "under_maintenance": ("maintenance", "#0969da", "blue"),
    "no_data": ("no data", "#6e7781", "lightgrey"),
    "location_outage": ("down somewhere", "#8250df", "blueviolet"),
}


def badge_label(g: GroupView, c: ComponentView) -> str:
    """Return a component's badge label: target and component name ("AssemblyAI US Streaming")."""
    return f"{g.label} {c.name}"


def _text_width(text: str) -> int:
    # Verdana 11px averages ~6.5 px a character; badges need only be close.
    return int(len(text) * 6.5) + 10


def badge_svg(label: str, state: str) -> str:
    """Return a shields.io-style flat SVG badge for `label` in `state` (text XML-escaped)."""
    message, colour, _ = _BADGE[state]
    return render_badge(
        label=label,
        message=message,
        colour=colour,
        label_width=_text_width(label),
        message_width=_text_width(message),
    )


def badge_endpoint(label: str, state: str) -> dict[str, Any]:
    """Return the shields.io endpoint JSON for a component."""
    message, _, colour = _BADGE[state]
    return {"schemaVersion": 1, "label": label, "message": message, "color": colour}
