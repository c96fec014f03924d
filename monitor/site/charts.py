"""The geometry of the 24 h latency chart, computed here so the template only places it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from monitor.site.format import seconds_text
from monitor.site.model import ChartView

_CHART_W, _CHART_H = 720, 160
_CHART_L, _CHART_R, _CHART_T, _CHART_B = 60, 12, 10, 26


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


def build_chart(
    hours: Sequence[tuple[datetime, float | None, float | None]],
    threshold_s: float,
    now: datetime,
    window: timedelta = timedelta(hours=24),
) -> ChartView:
    """Return the chart of (hour start, median, p95) points over `window`, threshold drawn.

    The scale fits the data; the threshold line is drawn when it is within three
    times the highest point, else the legend says it is off the scale (a 2 s
    threshold must not flatten a 150 ms line).
    """
    start = now - window
    plot_w = _CHART_W - _CHART_L - _CHART_R
    plot_h = _CHART_H - _CHART_T - _CHART_B
    values = [v for _, m, p in hours for v in (m, p) if v is not None]
    peak = max(values, default=0.0)
    show_threshold = not values or threshold_s <= 3 * peak
    want = max(peak * 1.1, threshold_s * 1.1 if show_threshold else 0.0, 0.001)
    step = _nice_step(want / 4)
    top = step * math.ceil(want / step - 1e-9)
    ticks = round(top / step)

    def x_of(t: datetime) -> float:
        frac = (t - start).total_seconds() / window.total_seconds()
        return round(_CHART_L + max(0.0, min(1.0, frac)) * plot_w, 1)

    def y_of(v: float) -> float:
        return round(_CHART_T + plot_h - min(v, top) / top * plot_h, 1)

    def path(index: int) -> tuple[str, list[tuple[float, float]]]:
        parts: list[str] = []
        dots: list[tuple[float, float]] = []
        prev_hour: datetime | None = None
        for hour, *vals in hours:
            v = vals[index - 1]
            if v is None:
                prev_hour = None
                continue
            # Plot each hour at its middle; a gap of more than an hour breaks the line.
            pt = (x_of(hour + timedelta(minutes=30)), y_of(v))
            joined = prev_hour is not None and hour - prev_hour <= timedelta(hours=1)
            parts.append(f"{'L' if joined else 'M'}{pt[0]},{pt[1]}")
            dots.append(pt)
            prev_hour = hour
        return " ".join(parts), dots

    median_path, median_dots = path(1)
    p95_path, p95_dots = path(2)
    x_ticks: list[tuple[float, str]] = []
    tick = start.replace(minute=0, second=0, microsecond=0)
    tick += timedelta(hours=(6 - tick.hour % 6) % 6 or (6 if tick < start else 0))
    while tick <= now:
        x_ticks.append((x_of(tick), tick.strftime("%H:%M")))
        tick += timedelta(hours=6)
    y_ticks = [(y_of(step * i), _tick_text(step * i)) for i in range(ticks + 1)]
    medians = [m for _, m, _ in hours if m is not None]
    p95s = [p for _, _, p in hours if p is not None]
    if medians:
        summary = (
            f"Last 24 hours: median latency {seconds_text(min(medians))} to "
            f"{seconds_text(max(medians))}, 95th percentile up to "
            f"{seconds_text(max(p95s) if p95s else None)}; degraded above "
            f"{seconds_text(threshold_s)}."
        )
    else:
        summary = "No latency data in the last 24 hours."
    return ChartView(
        width=_CHART_W,
        height=_CHART_H,
        left=_CHART_L,
        right=_CHART_W - _CHART_R,
        top=_CHART_T,
        bottom=_CHART_H - _CHART_B,
        median_path=median_path,
        p95_path=p95_path,
        median_dots=median_dots,
        p95_dots=p95_dots,
        threshold_y=y_of(threshold_s) if show_threshold else None,
        threshold_label=f"degraded above {_tick_text(threshold_s)}"
        + ("" if show_threshold else " (off the scale)"),
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        points=len(medians),
        summary=summary,
    )
