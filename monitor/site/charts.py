"""The latency charts of each window: their points from the roll-ups, and their geometry.

Every label's box is estimated from its characters at the largest font the
stylesheet gives chart text (22 user units, on a phone, where the 720-unit
viewBox shrinks to a third), so labels stay inside the viewBox and apart at
any width. Ticks that only fit at the desktop size (11 units) are marked
minor; the stylesheet hides minor labels on a narrow screen.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from monitor.site.format import seconds_text
from monitor.site.model import ChartTick, ChartView
from monitor.store.records import Rollup, histogram_percentile

_CHART_W, _CHART_H = 720, 176
_CHART_R, _CHART_T, _CHART_B = 8, 16, 36
FONT_WIDE, FONT_NARROW = 11.0, 22.0  # chart text size in viewBox units (style.css)
_EM = 0.62  # a generous mean advance of a digit, letter or space, in ems
_GAP = 0.8  # ems of space kept between two labels
_EPOCH = datetime(1970, 1, 5, tzinfo=UTC)  # ticks are whole steps from a Monday's midnight
# Tick spacings, each a multiple of the one before (so every major tick is a tick);
# days double, since a week of phone-sized labels does not fit but two days do.
_STEPS = tuple(timedelta(hours=h) for h in (1, 3, 6, 12, 24, 48, 96, 192, 384, 768))

WINDOWS: tuple[tuple[str, timedelta, str], ...] = (
    ("24h", timedelta(hours=24), "24 h"),
    ("7d", timedelta(days=7), "7 d"),
    ("30d", timedelta(days=30), "30 d"),
    ("90d", timedelta(days=90), "90 d"),
)
"""(key, span, label) of each chart window: hourly roll-ups up to 7 d, daily beyond."""

_WINDOW_WORDS = {"24h": "24 hours", "7d": "7 days", "30d": "30 days", "90d": "90 days"}


def text_width(text: str, font: float) -> float:
    """Return a generous estimate of `text`'s advance at `font` units."""
    return len(text) * _EM * font


def _nice_step(raw: float) -> float:
    """Return the smallest of 1, 2, 2.5, 5 × 10^n that is at least `raw`."""
    if raw <= 0:
        return 1.0
    exp = math.floor(math.log10(raw))
    for mult in (1.0, 2.0, 2.5, 5.0, 10.0):
        step: float = mult * 10.0**exp
        if step >= raw * 0.999:
            return step
    return 10.0 ** (exp + 1)


def _tick_text(value: float) -> str:
    if value == 0:
        return "0"
    return f"{value * 1000:.4g} ms" if value < 1 else f"{value:.4g} s"


def _time_label(t: datetime, step: timedelta) -> str:
    return t.strftime("%H:%M") if step < timedelta(days=1) else f"{t.day} {t:%b}"


def _ticks_at(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """Return the times in [start, end] that are whole multiples of `step` since _EPOCH."""
    n = math.ceil((start - _EPOCH) / step)
    out: list[datetime] = []
    t = _EPOCH + n * step
    while t <= end:
        out.append(t)
        t += step
    return out


@functools.lru_cache(maxsize=64)
def _x_ticks(start: datetime, window: timedelta, left: float, plot_w: float) -> list[ChartTick]:
    """Return the time ticks: every one fits at the desktop font, major ones on a phone too.

    The same for every component of a render whose y labels are as wide: cached.
    """

    def fitting(font: float) -> list[tuple[float, datetime, str]]:
        for step in _STEPS:
            if step > window:
                break
            if step < timedelta(days=1) < window:
                continue  # a week of "00:00" and "12:00" says no day: days have dates
            # Every label of a step has the same length ("06:00", "4 Dec" or "30 Nov").
            widest = text_width("00:00" if step < timedelta(days=1) else "30 Nov", font)
            if plot_w * (step / window) < widest + _GAP * font:
                continue
            ticks = []
            for t in _ticks_at(start, start + window, step):
                x = round(left + (t - start) / window * plot_w, 1)
                half = widest / 2
                # A label that would cross the plot's left edge or the viewBox's right is left out.
                if x - half >= left and x + half <= _CHART_W - 1:
                    ticks.append((x, t, _time_label(t, step)))
            return ticks
        return []

    major = {t for _, t, _ in fitting(FONT_NARROW)}
    return [ChartTick(x, label, t not in major) for x, t, label in fitting(FONT_WIDE)]


def _per(bucket: timedelta) -> str:
    """Return what one point covers, for "Latency per …": "hour", "3 hours", "day"."""
    hours = round(bucket / timedelta(hours=1))
    if hours >= 24:
        return "day"
    return "hour" if hours == 1 else f"{hours} hours"


def build_chart(
    hours: Sequence[tuple[datetime, float | None, float | None]],
    threshold_s: float,
    now: datetime,
    window: timedelta = timedelta(hours=24),
    bucket: timedelta = timedelta(hours=1),
    key: str = "24h",
) -> ChartView:
    """Return the chart of (bucket start, median, p95) points over `window`, threshold drawn.

    The scale fits the data; the threshold line is drawn when it is within three
    times the highest point, else the legend says it is off the scale (a 2 s
    threshold must not flatten a 150 ms line).
    """
    start = now - window
    values = [v for _, m, p in hours for v in (m, p) if v is not None]
    peak = max(values, default=0.0)
    show_threshold = not values or threshold_s <= 3 * peak
    want = max(peak * 1.1, threshold_s * 1.1 if show_threshold else 0.0, 0.001)
    step = _nice_step(want / 4)
    top_value = step * math.ceil(want / step - 1e-9)
    n_ticks = round(top_value / step)
    y_labels = [_tick_text(step * i) for i in range(n_ticks + 1)]
    # The y labels end 6 units left of the plot: room for the widest at a phone's size.
    left = math.ceil(max(text_width(t, FONT_NARROW) for t in y_labels) + 10)
    right = _CHART_W - _CHART_R
    top, bottom = _CHART_T, _CHART_H - _CHART_B
    plot_w, plot_h = right - left, bottom - top

    def y_of(v: float) -> float:
        return round(top + plot_h - min(v, top_value) / top_value * plot_h, 1)

    # Plain floats: the 7-day chart has 168 points per line, and datetime arithmetic
    # per point was most of the charts' cost.
    t0, span_s, step_s = start.timestamp(), window.total_seconds(), bucket.total_seconds()
    x_scale, y_scale = plot_w / span_s, plot_h / top_value
    xs = [at.timestamp() for at, _, _ in hours]

    def path(index: int) -> tuple[str, list[tuple[float, float]]]:
        parts: list[str] = []
        dots: list[tuple[float, float]] = []
        prev: float | None = None
        for ts, (_, median, p95) in zip(xs, hours, strict=True):
            v = median if index == 1 else p95
            if v is None:
                prev = None
                continue
            # Plot each bucket at its middle; a gap of more than one bucket breaks the line.
            x = round(left + min(span_s, max(0.0, ts + step_s / 2 - t0)) * x_scale, 1)
            y = round(bottom - min(v, top_value) * y_scale, 1)
            parts.append(f"{'L' if prev is not None and ts - prev <= step_s else 'M'}{x},{y}")
            dots.append((x, y))
            prev = ts
        return " ".join(parts), dots

    median_path, median_dots = path(1)
    p95_path, _ = path(2)
    # Half a phone label's height apart at least, or every other y label is minor.
    crowded = plot_h / max(n_ticks, 1) < 1.25 * FONT_NARROW
    y_ticks = [
        ChartTick(y_of(step * i), label, crowded and i % 2 == 1) for i, label in enumerate(y_labels)
    ]
    threshold_y = y_of(threshold_s) if show_threshold else None
    # The threshold's label goes above its line, or below it where the line is near the top.
    threshold_below = threshold_y is not None and threshold_y < 1.3 * FONT_NARROW + 6
    medians = [m for _, m, _ in hours if m is not None]
    p95s = [p for _, _, p in hours if p is not None]
    words = _WINDOW_WORDS.get(key, key)
    if medians:
        summary = (
            f"Last {words}: median latency {seconds_text(min(medians))} to "
            f"{seconds_text(max(medians))}, 95th percentile up to "
            f"{seconds_text(max(p95s) if p95s else None)}; degraded above "
            f"{seconds_text(threshold_s)}."
        )
    else:
        summary = f"No latency data in the last {words}."
    return ChartView(
        width=_CHART_W,
        height=_CHART_H,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        median_path=median_path,
        p95_path=p95_path,
        # Dots mark the hours of a day; at a week or more they would only blot the line.
        median_dots=median_dots if window <= timedelta(days=1) else [],
        p95_dots=[],
        threshold_y=threshold_y,
        threshold_label=f"degraded above {_tick_text(threshold_s)}"
        + ("" if show_threshold else " (off the scale)"),
        x_ticks=_x_ticks(start, window, left, plot_w),
        y_ticks=y_ticks,
        points=len(medians),
        summary=summary,
        key=key,
        words=words,
        threshold_below=threshold_below,
        per=_per(bucket),
    )


WEEK_BIN = timedelta(hours=3)
"""The 7-day chart's bucket: three hourly roll-ups merged (56 points, not 168)."""


def latency_history(
    week: Sequence[Rollup], quarter: Sequence[Rollup], degraded_after: float, now: datetime
) -> list[ChartView]:
    """Return the chart of every window (WINDOWS) from 7 d of hourly and 90 d of daily roll-ups."""
    hour, day = timedelta(hours=1), timedelta(days=1)
    rows = sorted(week, key=lambda r: r.bucket_start)
    last_day = now - timedelta(hours=25)
    daily = _points(sorted(quarter, key=lambda r: r.bucket_start))
    out: list[ChartView] = []
    for key, span, _ in WINDOWS:
        if key == "24h":
            points, bucket = _points([r for r in rows if r.bucket_start > last_day]), hour
        elif span <= timedelta(days=7):
            points, bucket = _binned(rows, WEEK_BIN), WEEK_BIN
        else:
            since = now - span - day
            points, bucket = [p for p in daily if p[0] > since], day
        out.append(build_chart(points, degraded_after, now, span, bucket, key))
    return out


Point = tuple[datetime, float | None, float | None]


def _points(rows: Sequence[Rollup]) -> list[Point]:
    """Return (bucket start, median, p95) of the rows (oldest first) that have latency."""
    return [
        (r.bucket_start, r.percentile(0.5), r.percentile(0.95)) for r in rows if r.latency_n > 0
    ]


def _binned(rows: Sequence[Rollup], width: timedelta) -> list[Point]:
    """Return (bin start, median, p95) of the rows (oldest first) merged into bins of `width`.

    Only the latency histograms are summed: `Rollup.merged` also sums phases and
    errors, which a chart does not show, at several times the cost.
    """
    bins: dict[datetime, list[Rollup]] = {}
    step = width.total_seconds()
    for r in rows:
        if r.latency_n > 0:
            ts = r.bucket_start.timestamp()
            start = datetime.fromtimestamp(ts - ts % step, UTC)
            bins.setdefault(start, []).append(r)
    out: list[Point] = []
    for start, group in bins.items():
        hist = [sum(counts) for counts in zip(*(r.histogram for r in group), strict=True)]
        n = sum(r.latency_n for r in group)
        lo = min((r.latency_min for r in group if r.latency_min is not None), default=None)
        hi = max((r.latency_max for r in group if r.latency_max is not None), default=None)
        out.append(
            (
                start,
                histogram_percentile(hist, 0.5, lo, hi, n),
                histogram_percentile(hist, 0.95, lo, hi, n),
            )
        )
    return out
