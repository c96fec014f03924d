"""The static status site: a view model read from the store, rendered with jinja2.

:func:`build_view` reads nothing but the store and the config (so
``sttwatch render`` can rebuild the site from a database copy), and
:func:`write_site` turns the view into files:
``index.html``, the Atlassian Statuspage-shaped ``api/v2/*.json``,
``feed.atom``, per-component badges and ``api/sttwatch.json`` (the figures
the page shows, for scripts and tests). The site is written into a fresh
directory beside ``site_dir`` and swapped in with one rename, so a web
server never serves half a page.

Remote text (error messages, transcripts, close reasons) reaches the page
only through autoescaped templates, ``json.dumps`` and ElementTree, never
through ``|safe``.

The package, one job a module:

- ``model``: the view model's types; ``view``: building it from the store;
- ``kinds``: what the page says about each probe kind;
- ``format``, ``charts``: figures as words, the latency charts (points and geometry);
- ``compare``: the providers side by side, ranked "healthy now, fastest first";
- ``documents``, ``feed``, ``badges``: the JSON, Atom and badge files;
- ``templates``: the jinja2 environment (the only module that renders templates);
- ``publish``: every file of the site, written and swapped in atomically.
"""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from typing import TYPE_CHECKING

from monitor.site.kinds import COMPONENT_NAMES
from monitor.site.model import (
    ChartTick,
    ChartView,
    ComponentView,
    DayCell,
    GroupView,
    IncidentMemberView,
    IncidentView,
    SiteView,
)
from monitor.site.publish import site_files, write_site
from monitor.site.templates import template_dir
from monitor.site.view import StatusSource, build_view

if TYPE_CHECKING:
    from monitor.config import Config

__all__ = [
    "COMPONENT_NAMES",
    "ChartTick",
    "ChartView",
    "ComponentView",
    "DayCell",
    "GroupView",
    "IncidentMemberView",
    "IncidentView",
    "SiteView",
    "StatusSource",
    "build_view",
    "render_site",
    "site_files",
    "template_dir",
    "write_site",
]


async def render_site(
    store: StatusSource,
    config: Config,
    site_dir: str | os.PathLike[str] | None = None,
    *,
    now: datetime | None = None,
) -> SiteView:
    """Build the view from `store` and write the site (in a worker thread); return the view."""
    view = await build_view(store, config, now)
    await asyncio.to_thread(write_site, view, site_dir or config.site_dir)
    return view
