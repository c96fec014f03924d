"""The jinja2 environment of the site: the one module that renders templates."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from xml.sax.saxutils import escape, quoteattr

import jinja2
from markupsafe import Markup

from monitor.models import iso
from monitor.site import overview
from monitor.site.format import ago_text, duration_text, pct, seconds_text, wer_text, when_text
from monitor.site.model import ChartView, DayCell, IncidentView, SiteView

if TYPE_CHECKING:
    from monitor.site.badge_page import BadgePage


def template_dir() -> Path:
    """Return the directory of the jinja2 templates (installed package data or the checkout)."""
    packaged = resources.files("monitor") / "templates"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "templates"


def _escape(text: str) -> str:
    """Return `text` escaped as markupsafe (and so autoescape) does it, without a Markup."""
    # str.replace finds nothing fast; str.translate with a dict maps every character.
    return (
        text.replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&#34;")
        .replace("'", "&#39;")
    )


def bar_cells(days: Sequence[DayCell]) -> Markup:
    """Return the ``<rect>`` of every day of the uptime bar, one per line, text escaped.

    The bar is 90 cells of five figures each per component: as a template loop it
    was most of the page's rendering time (90,000 cells at a thousand components).
    """
    return Markup(
        "\n".join(
            [
                f'    <rect class="day day--{d.state}" x="{i * 5}" y="0" width="4" height="34" '
                f'rx="1" data-date="{d.day.isoformat()}" data-state="{d.state}">'
                f"<title>{_escape(d.title)}</title></rect>"
                for i, d in enumerate(days)
            ]
        )
    )


def chart_marks(ch: ChartView) -> Markup:
    """Return the grid, axis labels, threshold and lines of a latency chart, text escaped.

    Four windows per component made the chart the page's second template hot spot
    after the bar (benchmark 4): built here as the bar's cells are.
    """
    out: list[str] = []
    for t in ch.y_ticks:
        cls = "y minor" if t.minor else "y"
        out.append(
            f'    <line class="grid" x1="{ch.left}" x2="{ch.right}" y1="{t.pos}" y2="{t.pos}"/>'
            f'<text class="{cls}" x="{ch.left - 6}" y="{t.pos}">{_escape(t.label)}</text>'
        )
    for t in ch.x_ticks:
        cls = "x minor" if t.minor else "x"
        out.append(
            f'    <line class="grid" x1="{t.pos}" x2="{t.pos}" y1="{ch.top}" y2="{ch.bottom}"/>'
            f'<text class="{cls}" x="{t.pos}" y="{ch.bottom + 6}">{_escape(t.label)}</text>'
        )
    out.append(
        f'    <line class="axis" x1="{ch.left}" x2="{ch.left}" y1="{ch.top}" y2="{ch.bottom}"/>'
        f'<line class="axis" x1="{ch.left}" x2="{ch.right}" y1="{ch.bottom}" y2="{ch.bottom}"/>'
    )
    if ch.threshold_y is not None:
        # Above its line, or below it (hanging) where the line is near the top.
        cls, y = (
            ("t below", ch.threshold_y + 4) if ch.threshold_below else ("t", ch.threshold_y - 4)
        )
        out.append(
            f'    <line class="threshold" x1="{ch.left}" x2="{ch.right}" '
            f'y1="{ch.threshold_y}" y2="{ch.threshold_y}"/>'
            f'<text class="{cls}" x="{ch.right - 4}" y="{y}">{_escape(ch.threshold_label)}</text>'
        )
    if ch.p95_path:
        out.append(f'    <path class="p95" d="{ch.p95_path}"/>')
    if ch.median_path:
        out.append(f'    <path class="median" d="{ch.median_path}"/>')
    if ch.median_dots:
        out.append(
            "    "
            + "".join(
                f'<circle class="dot-median" cx="{x}" cy="{y}" r="2"/>' for x, y in ch.median_dots
            )
        )
    if not ch.points:
        out.append(
            f'    <text class="none" x="{(ch.left + ch.right) / 2}" y="{(ch.top + ch.bottom) / 2}">'
            f"No data in the last {_escape(ch.words)}</text>"
        )
    return Markup("\n".join(out))


@functools.lru_cache(maxsize=16)
def state_icon(state: str) -> Markup:
    """Return the icon of a page state (macros.html's ``state_icon``), rendered once per state.

    The overview matrix shows one per cell and per location (120 at 30 components
    from 3 locations): a macro call each cost ~1 ms a render, a cached one nothing.
    """
    return Markup(str(_environment().get_template("macros.html").module.state_icon(state)))  # type: ignore[attr-defined]


class _BytecodeCache(jinja2.FileSystemBytecodeCache):
    """jinja2's cache of compiled templates on disk; one it cannot write is no cache."""

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        """Store `bucket`'s bytecode, or nothing if the directory is not writable."""
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Return the compiled-template cache, or None where no safe directory exists.

    `sttwatch render` is a fresh process each time: compiling index.html and its
    macros cost it ~50 ms (BENCHMARKS.md, benchmark 4). jinja2 keeps the cache in
    a per-user directory of mode 0700 under the temp directory and refuses one
    that someone else could write; the key is the template's source checksum.
    """
    try:
        return _BytecodeCache()
    except (OSError, RuntimeError):
        return None


@functools.lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    # One environment per process: it caches the compiled templates (and checks their
    # mtimes), where a fresh one recompiled index.html and its macros on every render.
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        bytecode_cache=_bytecode_cache(),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = pct
    env.filters["seconds"] = seconds_text
    env.filters["duration"] = duration_text
    env.filters["when"] = when_text
    env.filters["ago"] = ago_text
    env.filters["wer"] = wer_text
    env.filters["iso"] = iso
    env.filters["bar_cells"] = bar_cells
    env.filters["chart_marks"] = chart_marks
    env.filters["state_icon"] = state_icon
    # XML escaping as the badges always had it (the SVG's bytes are unchanged): text
    # escapes & < >, an attribute is quoted with whichever quote it does not contain.
    env.filters["xml_text"] = lambda text: Markup(escape(str(text)))
    env.filters["xml_attr"] = lambda text: Markup(quoteattr(str(text)))
    return env


def render_badge(
    *, label: str, message: str, colour: str, label_width: int, message_width: int
) -> str:
    """Return the SVG badge of templates/badge.svg for these texts, colour and widths."""
    return (
        _environment()
        .get_template("badge.svg")
        .render(
            label=label,
            message=message,
            colour=colour,
            label_width=label_width,
            message_width=message_width,
        )
    )


def render_index(view: SiteView) -> str:
    """Return index.html for `view`."""
    template = _environment().get_template("index.html")
    return template.render(view=view, overview=overview.build(view))


def render_incident_page(view: SiteView, incident: IncidentView) -> bytes:
    """Return incidents/<id>.html of `incident`: its facts, timeline (newest first), postmortem."""
    page = _environment().get_template("incident_page.html").render(view=view, i=incident)
    return page.encode("utf-8")


def write_index(view: SiteView, out: BinaryIO) -> None:
    """Write index.html for `view` to `out`, streamed."""
    # Streamed: the page is ~19 KB per component, and at a thousand components one
    # string of it (plus its encoded copy) was most of a render's peak memory.
    template = _environment().get_template("index.html")
    template.stream(view=view, overview=overview.build(view)).dump(out, encoding="utf-8")


def render_badges_page(view: SiteView, badges: BadgePage) -> str:
    """Return badges.html: every component's badge with its snippets."""
    return _environment().get_template("badges.html").render(view=view, badges=badges)
