"""Summaries of samples: median, percentiles, and histogram quantiles."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """Return the `q`-th percentile (0-100) of `values`, linearly interpolated."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def median(values: Sequence[float]) -> float:
    """Return the median of `values` (NaN when empty)."""
    return statistics.median(values) if values else math.nan


def summary_ms(values_s: Sequence[float]) -> dict[str, Any]:
    """Return n, median, p90, p99, min and max of `values_s` (seconds) in milliseconds."""
    ms = [v * 1000.0 for v in values_s]
    return {
        "n": len(ms),
        "median_ms": round(median(ms), 3),
        "p90_ms": round(percentile(ms, 90), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "min_ms": round(min(ms), 3) if ms else math.nan,
        "max_ms": round(max(ms), 3) if ms else math.nan,
    }


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Return quantile `q` (0-1) of a cumulative histogram, as Prometheus' histogram_quantile.

    `buckets` are ``(upper_bound, cumulative_count)`` pairs including ``+Inf``.
    Linear interpolation inside the bucket; the highest finite bound when the
    quantile falls in ``+Inf``.
    """
    ordered = sorted(buckets, key=lambda b: b[0])
    if not ordered or ordered[-1][1] <= 0:
        return math.nan
    total = ordered[-1][1]
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in ordered:
        if count >= rank:
            if math.isinf(bound):
                return prev_bound
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_bound


def ratio(a: float, b: float) -> float:
    """Return a ÷ b rounded to 3 places (NaN when b is not positive)."""
    if not b or b <= 0 or math.isnan(a) or math.isnan(b):
        return math.nan
    return round(a / b, 3)
