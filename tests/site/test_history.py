"""The latency history: its windows, the charts' layout, the page's reload, relative times."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import parse_config
from monitor.models import ProbeResult, Status
from monitor.site import render_site
from monitor.site.charts import FONT_NARROW, FONT_WIDE, WINDOWS, build_chart, text_width
from monitor.site.format import ago_text
from monitor.site.view import refresh_interval
from monitor.store import Store

NOW = datetime(2026, 11, 20, 13, 37, 21, tzinfo=UTC)


def _hours(n: int, step: timedelta, value: float) -> list[tuple[datetime, float, float]]:
    return [(NOW - step * i, value, value * 1.5) for i in range(n, 0, -1)]


@pytest.mark.parametrize(
    ("key", "span", "bucket", "points"),
    [
        ("24h", timedelta(hours=24), timedelta(hours=1), 24),
        ("7d", timedelta(days=7), timedelta(hours=1), 168),
        ("30d", timedelta(days=30), timedelta(days=1), 30),
        ("90d", timedelta(days=90), timedelta(days=1), 90),
    ],
    ids=["24h", "7d", "30d", "90d"],
)
@pytest.mark.parametrize("value", [0.004, 0.25, 12.5, 1234.0], ids=["ms", "sub-s", "s", "ks"])
def test_every_label_fits_the_viewbox_and_its_neighbours_at_both_fonts(
    key: str, span: timedelta, bucket: timedelta, points: int, value: float
) -> None:
    chart = build_chart(_hours(points, bucket, value), 2.0, NOW, span, bucket, key)
    assert chart.points == points and chart.key == key
    for font, ticks in ((FONT_WIDE, chart.x_ticks), (FONT_NARROW, chart.x_ticks)):
        shown = [t for t in ticks if font == FONT_WIDE or not t.minor]
        assert len(shown) >= 2, (font, ticks)
        edges = [(t.pos - text_width(t.label, font) / 2, t.pos + text_width(t.label, font) / 2)
                 for t in shown]  # fmt: skip
        assert edges[0][0] >= chart.left and edges[-1][1] <= chart.width
        assert all(a[1] < b[0] for a, b in itertools.pairwise(edges)), edges
    for t in chart.y_ticks:
        assert chart.left - 6 - text_width(t.label, FONT_NARROW) >= 0, t
    narrow_y = [t.pos for t in chart.y_ticks if not t.minor]
    assert all(a - b >= FONT_NARROW for a, b in itertools.pairwise(narrow_y))


def test_windows_of_days_label_dates_and_the_day_labels_hours() -> None:
    day = build_chart(_hours(24, timedelta(hours=1), 0.2), 2.0, NOW)
    week = build_chart(_hours(168, timedelta(hours=1), 0.2), 2.0, NOW, timedelta(days=7), key="7d")
    assert all(":" in t.label for t in day.x_ticks)
    assert [t.label for t in week.x_ticks if not t.minor][-1] in ("16 Nov", "19 Nov", "20 Nov")
    assert all(":" not in t.label for t in week.x_ticks)
    assert week.median_dots == [] and len(day.median_dots) == 24  # dots for hours only
    assert week.summary.startswith("Last 7 days: median latency")
    assert (day.per, week.per) == ("hour", "hour")
    binned = build_chart([], 2.0, NOW, timedelta(days=7), timedelta(hours=3), "7d")
    assert binned.per == "3 hours" and binned.summary == "No latency data in the last 7 days."


def test_a_gap_of_more_than_one_bucket_breaks_the_line() -> None:
    days = [(NOW - timedelta(days=d), 0.2, 0.3) for d in (10, 9, 5, 4)]
    chart = build_chart(days, 2.0, NOW, timedelta(days=30), timedelta(days=1), "30d")
    assert [part[0] for part in chart.median_path.split()] == ["M", "L", "M", "L"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s ago"), (12, "12 s ago"), (89, "89 s ago"), (300, "5 min ago"),
     (3 * 3600, "3 h ago"), (86400 * 2, "2 days ago"), (86400 * 1.6, "2 days ago")],
    ids=["now", "seconds", "last-second", "minutes", "hours", "days", "rounded"],
)  # fmt: skip
def test_relative_times(seconds: float, text: str) -> None:
    assert ago_text(NOW - timedelta(seconds=seconds), NOW) == text


@pytest.mark.parametrize(
    ("interval", "checked_ago", "refresh"),
    [("60s", 30, 60), ("5s", 30, 30), ("15m", 30, 300), ("60s", 7200, None), ("60s", None, None)],
    ids=["minute", "floor-30s", "ceiling-5min", "old-database", "never-checked"],
)
def test_the_page_reloads_at_the_shortest_interval_while_live(
    interval: str, checked_ago: float | None, refresh: int | None
) -> None:
    cfg = parse_config(
        {
            "targets": [
                {
                    "name": "a",
                    "api_key": "k",
                    "probes": {
                        "reachability": {
                            "interval": interval,
                            "timeout": "2s",
                            "degraded_after": "1s",
                        }
                    },
                }
            ]
        },
        env={},
    )
    checked = [] if checked_ago is None else [NOW - timedelta(seconds=checked_ago)]
    assert refresh_interval(cfg, checked, NOW) == refresh


async def test_the_page_has_every_window_and_its_reload(tmp_path: Path, store: Store) -> None:
    cfg = parse_config(
        {
            "database": str(tmp_path / "sttwatch.db"),
            "site_dir": str(tmp_path / "site"),
            "targets": [{"name": "a", "api_key": "k", "probes": {"reachability": None}}],
        },
        env={},
    )
    await store.add_results(
        ProbeResult("a", "reachability", NOW - timedelta(days=d, seconds=12), 0.2, Status.UP,
                    None, "", {"total": 0.2})
        for d in (40, 3, 0)
    )  # fmt: skip
    await render_site(store, cfg, now=NOW)
    html = (tmp_path / "site" / "index.html").read_text()
    assert '<meta http-equiv="refresh" content="60">' in html
    assert 'title="2026-11-20 13:37 UTC" class="ago">12 s ago</time>' in html
    for key, _, label in WINDOWS:
        assert f'<figure class="chart" data-window="{key}">' in html
        assert f'data-window="{key}">{key}</label>' in html
        assert label
    # Only the 24 h window is picked at first; the others show when their label is.
    assert html.count(" checked>") == 1
    assert "No data in the last 7 days" not in html and "No data in the last 90 days" not in html
