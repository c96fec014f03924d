"""`sttwatch migrate-db`: a SQLite history copied into an empty PostgreSQL database, whole.

Every table the two schemas share — components, raw results, both roll-ups,
incidents, the deletion ledger, alert state, alerts, deliveries and attempts —
is copied row for row with its ids, in one PostgreSQL transaction: a copy
that fails leaves the target as empty as it was, and can simply be run again.
A target that already holds rows is refused rather than merged into (ids would
collide, and a second copy would count every result twice). Rows are not
re-encoded: a result stored in encoding v0 or v1 stays so (its phases go to
``phases_text``), so what PostgreSQL reads back is what SQLite did.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from monitor.database_url import masked_database
from monitor.store import pg_schema
from monitor.store.schema import MIGRATIONS
from monitor.store.writer import SqliteBackend, connect

if TYPE_CHECKING:
    from sqlite_utils import Database

    from monitor.store.postgres import PgConnection

__all__ = ["TABLES", "CopyError", "CopyReport", "copy_history"]

# In an order that satisfies every foreign key; components' open incident is set last.
TABLES = (
    "components",
    "component_locations",
    "results",
    "rollup_hourly",
    "rollup_daily",
    "incidents",
    "incident_components",
    "incident_updates",
    "ledger",
    "alert_state",
    "alerts",
    "alert_deliveries",
    "alert_attempts",
)
_WITH_IDS = (
    "components",
    "results",
    "incidents",
    "incident_updates",
    "alerts",
    "alert_deliveries",
    "alert_attempts",
)
BATCH = 5_000


class CopyError(Exception):
    """The copy cannot be made (source missing, target not empty); nothing was written."""


@dataclass
class CopyReport:
    """Rows copied per table, and the same counted in the target afterwards."""

    copied: dict[str, int] = field(default_factory=dict)
    in_target: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Return True when the target holds exactly the rows copied, table by table."""
        return self.copied == self.in_target


def _columns_sqlite(conn: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in conn.execute(f'PRAGMA table_info("{table}")')]


def _columns_pg(conn: PgConnection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
        (table,),
    ).fetchall()
    return [r[0] for r in rows]


def _open_source(path: str) -> sqlite3.Connection:
    """Return a connection to the SQLite file at `path`, its schema brought up to date first."""
    if not Path(path).is_file():
        raise CopyError(f"no SQLite database at {path}")
    backend = SqliteBackend(path, busy_timeout_s=5.0)
    handle = backend.open_writer()
    try:
        MIGRATIONS.apply(cast("Database", handle))
    finally:
        backend.close_writer(handle)
    return connect(path, busy_timeout_s=5.0, readonly=True)


def _refuse_non_empty(conn: PgConnection, url: str) -> None:
    held = {}
    for table in TABLES:
        n = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        if n:
            held[table] = n
    if held:
        rows = ", ".join(f"{n} {table}" for table, n in held.items())
        raise CopyError(
            f"{masked_database(url)} already holds a history ({rows}); migrate-db copies into"
            " an empty database only: create a new one (createdb) and point --to at it"
        )


def _copy_table(
    src: sqlite3.Connection,
    dst: PgConnection,
    table: str,
    progress: Callable[[str, int], None],
) -> int:
    source_cols = _columns_sqlite(src, table)
    target_cols = set(_columns_pg(dst, table))
    # The columns both schemas have (a column only one side has keeps its default).
    cols = [c for c in source_cols if c in target_cols]
    select = ", ".join(f'"{c}"' for c in cols)
    out_cols = list(cols)
    split = table == "results" and "phases_text" in target_cols
    if split:
        out_cols.append("phases_text")
    at = cols.index("phases") if split else -1
    if table == "components" and "open_incident_id" in cols:
        oi = cols.index("open_incident_id")
    else:
        oi = -1
    copied = 0
    cur = src.execute(f'SELECT {select} FROM "{table}"')
    with dst.raw.cursor().copy(
        f"COPY {table} ({', '.join(out_cols)}) FROM STDIN"
    ) as copy:  # COPY: several times faster than INSERTs for a long history
        while rows := cur.fetchmany(BATCH):
            for row in rows:
                values: list[Any] = list(row)
                if split:
                    phases = values[at]
                    text = None
                    if phases is not None and not isinstance(phases, bytes):
                        values[at], text = None, phases
                    values.append(text)
                if oi >= 0:
                    values[oi] = None  # set once the incidents are in
                copy.write_row(values)
            copied += len(rows)
            progress(table, copied)
    return copied


def copy_history(
    source: str, target: str, progress: Callable[[str, int], None] = lambda t, n: None
) -> CopyReport:
    """Copy the SQLite history at `source` into the empty PostgreSQL database `target`.

    The target's schema is created (or brought up to date) first; the copy
    itself is one transaction. Raises `CopyError` for a missing source or a
    target that already holds rows; database errors propagate as they are.
    """
    import psycopg

    from monitor.store.postgres import PgConnection

    src = _open_source(source)
    try:
        with psycopg.connect(target, autocommit=True) as raw:
            dst = PgConnection(raw)
            pg_schema.apply(dst)
            report = CopyReport()
            src.execute("BEGIN")  # one snapshot of the source, whatever writes it meanwhile
            dst.execute("BEGIN")
            try:
                _refuse_non_empty(dst, target)
                for table in TABLES:
                    report.copied[table] = _copy_table(src, dst, table, progress)
                pairs = src.execute(
                    "SELECT id, open_incident_id FROM components WHERE open_incident_id IS NOT NULL"
                ).fetchall()
                dst.executemany(
                    "UPDATE components SET open_incident_id = ? WHERE id = ?",
                    [(iid, cid) for cid, iid in pairs],
                )
                for table in _WITH_IDS:
                    # New rows continue after the copied ids.
                    dst.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                        f" coalesce((SELECT max(id) FROM {table}), 0) + 1, false)"
                    )
                for table in TABLES:
                    report.in_target[table] = dst.execute(
                        f"SELECT count(*) FROM {table}"
                    ).fetchone()[0]
                dst.execute("COMMIT")
            except BaseException:
                dst.execute("ROLLBACK")
                raise
            finally:
                src.execute("COMMIT")
    finally:
        src.close()
    return report
