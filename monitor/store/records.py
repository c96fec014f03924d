"""What the store hands out: typed rows, the latency histogram, and the row codecs.

Times inside the database are integer epoch milliseconds (UTC); durations and
phases of raw results are integer microseconds. Both are smaller on disk than
REAL or ISO text and round-trip exactly at the precision `ProbeResult.to_json`
prints.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.models import LOCAL, ProbeResult, Status
from monitor.probes.registry import KindTable, key_latency

__all__ = [
    "DAY_MS",
    "HOUR_MS",
    "LATENCY_BUCKETS",
    "PHASE_ORDER",
    "ComponentState",
    "Incident",
    "IncidentComponent",
    "IncidentUpdate",
    "LocationState",
    "PhaseSums",
    "Rollup",
    "StoreHealth",
    "StoredResult",
    "compact_json",
    "decode_histogram",
    "decode_phases",
    "encode_histogram",
    "encode_phases",
    "from_ms",
    "histogram_index",
    "key_latency",
    "to_ms",
]

HOUR_MS = 3_600_000
DAY_MS = 86_400_000

# Upper bounds (seconds, inclusive) of the latency histogram kept in every roll-up
# row; one more bucket catches everything above the last bound. Roughly 1.5x apart
# so a percentile read from a roll-up is never more than one bucket off, across the
# range the three probes live in (a loopback GET to a slow transcription).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.005,
    0.01,
    0.02,
    0.035,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    7.5,
    10.0,
    15.0,
    20.0,
    30.0,
    60.0,
)
HISTOGRAM_SIZE = len(LATENCY_BUCKETS) + 1

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)

STATUS_CODE = {Status.UP: 0, Status.DEGRADED: 1, Status.DOWN: 2}
CODE_STATUS = {v: k for k, v in STATUS_CODE.items()}


def to_ms(dt: datetime) -> int:
    """Return `dt` as integer epoch milliseconds (a naive datetime is taken as UTC)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // _MS


def from_ms(ms: int) -> datetime:
    """Return the aware UTC datetime of epoch milliseconds `ms`."""
    return _EPOCH + timedelta(milliseconds=ms)


def histogram_index(seconds: float) -> int:
    """Return the histogram bucket `seconds` falls in (upper bounds are inclusive)."""
    return bisect.bisect_left(LATENCY_BUCKETS, seconds)


# ---------------------------------------------------------------------------
# Raw result codec

# One encoder for every write: json.dumps with non-default arguments builds a new
# encoder per call, which dominates bulk seeding.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=str)


def compact_json(obj: Any) -> str:
    """Return `obj` as JSON without spaces (non-JSON values such as datetimes as str)."""
    return _ENCODER.encode(obj)


# The positional phase order of each kind's v1 rows and of the v1/v2 phase blobs
# (`encode_phases`): part of the stored format, frozen (monitor.probes.StoredForm).
PHASE_ORDER: Mapping[str, tuple[str, ...]] = KindTable(
    lambda kind: kind.stored.phases if kind.stored else None
)


# ---------------------------------------------------------------------------
# Roll-up codec (v2, migration m003_compact_rollups)
#
# A roll-up row keeps its times as integer microseconds — the resolution of the
# raw rows it sums — so sums are exact integers, whatever order runs are added
# in. The histogram and the phase sums are BLOBs of LEB128 varints (most values
# take one to four bytes). The histogram: (gap, count) for each non-empty bucket.
# The phases, over the probe kind's frozen order (`PHASE_ORDER`): a bit mask of
# the phases every good run had, a bit mask of those only some had, then for
# each phase in either mask (in order) its run count if partial and its sum in
# µs (zigzag, so a negative sum survives); phases outside that order follow
# with their names spelled out (length, UTF-8 bytes, count, sum). Like the raw
# codec this is a stored format: a change means a new version.


def _put(out: bytearray, v: int) -> None:
    """Append `v` (≥ 0) to `out` as a LEB128 varint."""
    while v > 0x7F:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)


def _zigzag(v: int) -> int:
    return v << 1 if v >= 0 else ~(v << 1)


def _unzigzag(v: int) -> int:
    return ~(v >> 1) if v & 1 else v >> 1


def _varints(blob: bytes) -> list[int]:
    """Return the values of a BLOB written with `_put`."""
    out: list[int] = []
    v = shift = 0
    for b in blob:
        if b & 0x80:
            v |= (b & 0x7F) << shift
            shift += 7
        else:
            out.append(v | b << shift)
            v = shift = 0
    return out


def encode_histogram(hist: Iterable[int]) -> bytes:
    """Return the BLOB of histogram counts `hist`: (gap, count) per non-empty bucket."""
    out = bytearray()
    last = -1
    for i, c in enumerate(hist):
        if c:
            _put(out, i - last - 1)
            _put(out, c)
            last = i
    return bytes(out)


def decode_histogram(blob: bytes) -> list[int]:
    """Return the HISTOGRAM_SIZE counts of a BLOB written by `encode_histogram`."""
    hist = [0] * HISTOGRAM_SIZE
    values = _varints(blob)
    i = -1
    for k in range(0, len(values), 2):
        i += values[k] + 1
        hist[i] += values[k + 1]
    return hist


def encode_phases(probe: str, good: int, phases: Mapping[str, Sequence[int]]) -> bytes | None:
    """Return the BLOB of {phase: (sum µs, runs)} of a bucket with `good` good runs, or None."""
    if not phases:
        return None
    order = PHASE_ORDER.get(probe, ())
    full = part = 0
    for bit, name in enumerate(order):
        acc = phases.get(name)
        if acc is not None:
            if acc[1] == good:
                full |= 1 << bit
            else:
                part |= 1 << bit
    out = bytearray()
    _put(out, full)
    _put(out, part)
    for bit, name in enumerate(order):
        if (full | part) >> bit & 1:
            s, n = phases[name]
            if part >> bit & 1:
                _put(out, n)
            _put(out, _zigzag(s))
    for name, (s, n) in phases.items():
        if name not in order:
            raw = name.encode()
            _put(out, len(raw))
            for b in raw:
                _put(out, b)
            _put(out, n)
            _put(out, _zigzag(s))
    return bytes(out)


def decode_phases(probe: str, good: int, blob: bytes) -> dict[str, tuple[int, int]]:
    """Return {phase: (sum µs, runs)} of a BLOB written by `encode_phases`."""
    values = _varints(blob)
    full, part = values[0], values[1]
    out: dict[str, tuple[int, int]] = {}
    i = 2
    for bit, name in enumerate(PHASE_ORDER.get(probe, ())):
        if part >> bit & 1:
            out[name] = (_unzigzag(values[i + 1]), values[i])
            i += 2
        elif full >> bit & 1:
            out[name] = (_unzigzag(values[i]), good)
            i += 1
    while i < len(values):
        size = values[i]
        name = bytes(values[i + 1 : i + 1 + size]).decode()
        i += 1 + size
        out[name] = (_unzigzag(values[i + 1]), values[i])
        i += 2
    return out


class _Lazy(Mapping[str, Any]):
    """A read-only mapping decoded from a stored column on first access.

    Roll-up rows are read by the thousand (90 days × every component) and most
    readers only want their counts, so their encoded columns are decoded lazily.
    """

    __slots__ = ("_data",)

    def __init__(self) -> None:
        self._data: dict[str, Any] | None = None

    def _decode(self) -> dict[str, Any]:
        raise NotImplementedError

    def _load(self) -> dict[str, Any]:
        if self._data is None:
            self._data = self._decode()
        return self._data

    def __getitem__(self, key: str) -> Any:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())

    def __repr__(self) -> str:
        return repr(self._load())


class PhaseSums(_Lazy):
    """`Rollup.phases` of a stored row, {phase: (sum seconds, runs)}, decoded on first access."""

    __slots__ = ("_blob", "_good", "_probe")

    def __init__(self, probe: str, good: int, blob: bytes) -> None:
        super().__init__()
        self._probe = probe
        self._good = good
        self._blob = blob

    def _decode(self) -> dict[str, Any]:
        return {
            k: (s / 1_000_000, n)
            for k, (s, n) in decode_phases(self._probe, self._good, self._blob).items()
        }


# ---------------------------------------------------------------------------
# Typed rows


class JSONMapping(_Lazy):
    """A read-only mapping decoded from JSON text on first access (`Rollup.errors`)."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        super().__init__()
        self._text = text

    def _decode(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self._text)
        return data


@dataclass(frozen=True, slots=True)
class StoredResult:
    """A raw result with its row id (the `before_id` cursor of `Store.result_rows`)."""

    id: int
    result: ProbeResult


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """Whether the database can be written; what `/healthz` reports."""

    writable: bool = True
    last_error: str | None = None
    failing_since: datetime | None = None
    last_write_ok: datetime | None = None


@dataclass(frozen=True, slots=True)
class Rollup:
    """One hourly or daily aggregate of a component's results.

    Latency, phase and histogram figures cover the good (up or degraded) runs
    only: a timeout's duration says nothing about how fast the API answers.
    """

    target: str
    probe: str
    bucket_start: datetime
    bucket_s: int
    runs: int
    up: int
    degraded: int
    down: int
    latency_n: int
    latency_sum: float
    latency_min: float | None
    latency_max: float | None
    histogram: tuple[int, ...]
    phases: Mapping[str, tuple[float, int]] = field(default_factory=dict)
    wer_sum: float = 0.0
    wer_n: int = 0
    errors: Mapping[str, int] = field(default_factory=dict)

    @property
    def good(self) -> int:
        """Return the number of up or degraded runs."""
        return self.up + self.degraded

    @property
    def uptime(self) -> float | None:
        """Return the fraction of good runs, or None without runs."""
        return self.good / self.runs if self.runs else None

    @property
    def worst(self) -> Status | None:
        """Return the worst status seen in the bucket, or None without runs."""
        if self.down:
            return Status.DOWN
        if self.degraded:
            return Status.DEGRADED
        return Status.UP if self.up else None

    @property
    def latency_mean(self) -> float | None:
        """Return the mean key latency of good runs, or None."""
        return self.latency_sum / self.latency_n if self.latency_n else None

    @property
    def wer_mean(self) -> float | None:
        """Return the mean word error rate of the runs that measured one, or None."""
        return self.wer_sum / self.wer_n if self.wer_n else None

    def phase_mean(self, name: str) -> float | None:
        """Return the mean seconds of phase `name` over good runs that had it, or None."""
        total, n = self.phases.get(name, (0.0, 0))
        return total / n if n else None

    def percentile(self, q: float) -> float | None:
        """Return the estimated `q`-quantile (0..1) of key latency, or None without data.

        Nearest-rank on the histogram, interpolated inside the bucket and clamped to
        the bucket's observed min/max, so the answer lies in the same bucket as the
        true nearest-rank value.
        """
        return histogram_percentile(
            self.histogram, q, self.latency_min, self.latency_max, self.latency_n
        )

    @classmethod
    def merged(cls, rows: Iterable[Rollup]) -> Rollup | None:
        """Return one roll-up summing `rows` (same component), or None for no rows."""
        rows = list(rows)
        if not rows:
            return None
        first = rows[0]
        hist = [0] * HISTOGRAM_SIZE
        phases: dict[str, tuple[float, int]] = {}
        errors: dict[str, int] = {}
        for r in rows:
            for i, c in enumerate(r.histogram):
                hist[i] += c
            for k, (s, n) in r.phases.items():
                ps, pn = phases.get(k, (0.0, 0))
                phases[k] = (ps + s, pn + n)
            for k, n in r.errors.items():
                errors[k] = errors.get(k, 0) + n
        mins = [r.latency_min for r in rows if r.latency_min is not None]
        maxs = [r.latency_max for r in rows if r.latency_max is not None]
        last = rows[-1]
        return cls(
            target=first.target,
            probe=first.probe,
            bucket_start=min(r.bucket_start for r in rows),
            bucket_s=int(
                (
                    max(r.bucket_start for r in rows) - min(r.bucket_start for r in rows)
                ).total_seconds()
            )
            + last.bucket_s,
            runs=sum(r.runs for r in rows),
            up=sum(r.up for r in rows),
            degraded=sum(r.degraded for r in rows),
            down=sum(r.down for r in rows),
            latency_n=sum(r.latency_n for r in rows),
            latency_sum=sum(r.latency_sum for r in rows),
            latency_min=min(mins) if mins else None,
            latency_max=max(maxs) if maxs else None,
            histogram=tuple(hist),
            phases=phases,
            wer_sum=sum(r.wer_sum for r in rows),
            wer_n=sum(r.wer_n for r in rows),
            errors=errors,
        )


def histogram_percentile(
    hist: Iterable[int], q: float, lo: float | None, hi: float | None, n: int | None = None
) -> float | None:
    """Return the nearest-rank `q`-quantile estimated from histogram counts `hist`."""
    counts = list(hist)
    total = sum(counts) if n is None else n
    if total <= 0 or lo is None or hi is None:
        return None
    q = min(max(q, 0.0), 1.0)
    rank = max(1, math.ceil(q * total))
    cum = 0
    for i, c in enumerate(counts):
        if c and cum + c >= rank:
            lower = LATENCY_BUCKETS[i - 1] if i > 0 else 0.0
            upper = LATENCY_BUCKETS[i] if i < len(LATENCY_BUCKETS) else hi
            lower, upper = max(lower, lo), min(upper, hi)
            if upper < lower:
                return lower
            return lower + (upper - lower) * (rank - cum) / c
        cum += c
    return hi


@dataclass(frozen=True, slots=True)
class IncidentUpdate:
    """One entry of an incident's timeline (Statuspage `incident_updates`).

    `source` is ``"sttwatch"`` for what the incident machine wrote (opened, a new
    error kind, recovered) and ``"operator"`` for ``sttwatch incident`` updates;
    `id` is the update's Statuspage id, unique across the page.
    """

    at: datetime
    status: str
    body: str
    source: str = "sttwatch"
    id: str = ""


@dataclass(frozen=True, slots=True)
class IncidentComponent:
    """One component (probe) of a target's incident: how bad it got, when it joined and left."""

    probe: str
    impact: str  # the worst it reached: "minor" (slow), "major" or "critical" (down)
    joined_at: datetime  # the start of its problem run (its first down, or slow, result)
    left_at: datetime | None  # its first good run once it recovered; None while a member
    error_kinds: tuple[str, ...]
    last_message: str
    state: str = "down"  # "down" | "degraded" while a member, "recovered" once it left


@dataclass(frozen=True, slots=True)
class Incident:
    """A target's incident: opened by its probes, or by an operator (``sttwatch incident open``).

    A probe incident (`source` ``"probe"``) groups the target's components that
    are down or slow (docs/storage.md): `opened_at` is the start of the first
    problem run of its members (the first down, or slow, result), `closed_at`
    the start of the first good run of the streak that took its last member out
    (the real end); `probe` is its first member's, `impact` the worst of its
    members'. An operator incident (`source` ``"operator"``) has no members: it
    opens and resolves when the operator says so and names its `title`, the
    `affected` probe kinds of its target and the `impact` the operator gave.
    `status` is Statuspage's: the newest update's while open (investigating,
    identified, monitoring), ``resolved`` once closed. `updates` is the whole
    timeline, oldest first: sttwatch's and the operator's, merged by time.
    """

    id: int
    target: str
    probe: str
    opened_at: datetime
    closed_at: datetime | None
    status: str
    error_kinds: tuple[str, ...]
    first_message: str
    last_message: str
    down_runs: int
    updates: tuple[IncidentUpdate, ...]
    # The locations that confirmed the outage, in the order they did (docs/storage.md).
    locations: tuple[str, ...] = (LOCAL,)
    impact: str = "major"  # "minor" | "major" | "critical"
    components: tuple[IncidentComponent, ...] = ()  # its members, in the order they joined
    title: str | None = None
    source: str = "probe"
    affected: tuple[str, ...] = ()  # an operator incident's: the probe kinds it names
    postmortem: str | None = None
    postmortem_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        """Return True while the incident has not been resolved."""
        return self.closed_at is None

    def duration(self, now: datetime) -> timedelta:
        """Return how long the outage lasted (until `now` while still open)."""
        return (self.closed_at or now) - self.opened_at


@dataclass(frozen=True, slots=True)
class LocationState:
    """One location's latest view of a component: what the page shows per location."""

    target: str
    probe: str
    location: str
    status: Status  # of its last result
    started_at: datetime  # when its last result started
    key_latency_s: float | None  # the last result's key latency (None when it was down)
    outage: bool  # whether this location confirms an outage (failure_threshold downs)


@dataclass(frozen=True, slots=True)
class ComponentState:
    """The incident state machine's memory for one (target, probe).

    `open_incident_id` is the incident this component is a member of now (None
    once it recovered, even while its target's incident stays open).
    """

    target: str
    probe: str
    last_status: Status | None
    last_started_at: datetime | None
    consecutive_down: int
    consecutive_good: int
    open_incident_id: int | None
