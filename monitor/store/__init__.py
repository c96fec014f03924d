"""sttwatch's SQLite store — the only package that touches the database.

`Store` is the whole public surface; the modules behind it are `schema`
(migrations), `writer` (the one writer thread), `ingest` (write-side logic),
`queries` (read-side SQL) and `records` (typed rows and codecs). See
docs/storage.md.
"""

from __future__ import annotations

from monitor.outcome import Thresholds
from monitor.store.api import Store
from monitor.store.records import (
    LATENCY_BUCKETS,
    ComponentState,
    Incident,
    IncidentComponent,
    IncidentUpdate,
    LocationState,
    Rollup,
    StoredResult,
    StoreHealth,
    key_latency,
)
from monitor.store.schema import MIGRATIONS
from monitor.store.writer import StoreWriteError

__all__ = [
    "LATENCY_BUCKETS",
    "MIGRATIONS",
    "ComponentState",
    "Incident",
    "IncidentComponent",
    "IncidentUpdate",
    "LocationState",
    "Rollup",
    "Store",
    "StoreHealth",
    "StoreWriteError",
    "StoredResult",
    "Thresholds",
    "key_latency",
]
