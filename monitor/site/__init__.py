"""The static status site: a view model read from the store, rendered with jinja2."""

from __future__ import annotations

from monitor.site.view import (
    COMPONENT_NAMES,
    ChartView,
    ComponentView,
    DayCell,
    GroupView,
    IncidentView,
    SiteView,
    build_view,
    render_database,
    render_site,
    site_files,
    template_dir,
    write_site,
)

__all__ = [
    "COMPONENT_NAMES",
    "ChartView",
    "ComponentView",
    "DayCell",
    "GroupView",
    "IncidentView",
    "SiteView",
    "build_view",
    "render_database",
    "render_site",
    "site_files",
    "template_dir",
    "write_site",
]
