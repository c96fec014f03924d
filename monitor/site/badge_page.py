"""The badges page (``badges.html``): every component's badge with snippets to paste.

Each component has a shields-style SVG (``badges/{id}.svg``) and a shields.io
endpoint document (``badges/{id}.json``), written by :mod:`monitor.site.publish`.
The snippets link the badge to the component's card. Their URLs are absolute,
under the config's ``public_url``, when it is set (a README elsewhere needs
them); else relative to the site's root, and the page says so. The shields.io
snippet needs a public URL (shields.io fetches the JSON), so it is left out
without one.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import quote

from monitor.site.badges import badge_label
from monitor.site.model import SiteView

__all__ = ["BadgeEntry", "BadgePage", "build", "markdown_text"]

SHIELDS_ENDPOINT = "https://img.shields.io/endpoint?url="


@dataclass(frozen=True, slots=True)
class BadgeEntry:
    """One component's badge: its files and the snippets that show it elsewhere."""

    id: str
    label: str  # "AssemblyAI US Transcription", the badge's own label
    svg: str  # the SVG's path in the site ("badges/aai-us-transcription.svg")
    json: str  # the endpoint document's path in the site
    card: str  # the component's card, relative to the site ("index.html#component-…")
    markdown: str
    html: str
    shields: str | None  # a shields.io endpoint badge in Markdown (with a public URL only)


@dataclass(frozen=True, slots=True)
class BadgePage:
    """Every badge of the site, and how its snippets' URLs are written."""

    base: str  # the URLs' prefix: the public URL with a trailing slash, or ""
    entries: list[BadgeEntry]

    @property
    def absolute(self) -> bool:
        """Return True when the snippets' URLs are absolute (a public URL is configured)."""
        return bool(self.base)


def markdown_text(text: str) -> str:
    """Return `text` safe as a Markdown link's or image's text: backslashes and brackets escaped."""
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def build(view: SiteView) -> BadgePage:
    """Return every component's badge with its Markdown and HTML snippets, in page order."""
    base = view.public_url or ""
    if base and not base.endswith("/"):
        base += "/"
    entries: list[BadgeEntry] = []
    for g in view.groups:
        for c in g.components:
            label = badge_label(g, c)
            svg = f"badges/{quote(c.id)}.svg"
            doc = f"badges/{quote(c.id)}.json"
            card = f"index.html#component-{quote(c.id)}"
            alt = markdown_text(label)
            shields = None
            if base:
                endpoint = SHIELDS_ENDPOINT + quote(base + doc, safe="")
                shields = f"[![{alt}]({endpoint})]({base}{card})"
            entries.append(
                BadgeEntry(
                    id=c.id,
                    label=label,
                    svg=svg,
                    json=doc,
                    card=card,
                    markdown=f"[![{alt}]({base}{svg})]({base}{card})",
                    html=(
                        f'<a href="{escape(base + card)}">'
                        f'<img src="{escape(base + svg)}" alt="{escape(label)}"></a>'
                    ),
                    shields=shields,
                )
            )
    return BadgePage(base=base, entries=entries)
