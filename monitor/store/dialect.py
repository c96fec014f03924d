"""What differs between the store's two databases, SQLite and PostgreSQL, in one place.

The store's SQL (ingest, queries, alerts) is written once, in the subset both
speak: ``?`` placeholders (the PostgreSQL connection rewrites them to psycopg's),
``ON CONFLICT`` upserts, ``RETURNING id``, ``count(*) FILTER (WHERE ...)``,
row values. Every function of it takes a `Connection` — a ``sqlite3``
connection of the class below, or `monitor.store.postgres.PgConnection` — and
reads the few remaining differences from its `dialect`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from monitor.store.codec import RESULT_COLUMNS

__all__ = [
    "POSTGRESQL",
    "SQLITE",
    "Connection",
    "Cursor",
    "Dialect",
    "Handle",
    "SqliteConnection",
    "upsert",
]

_MARKS = ", ".join("?" * 9)
_INSERT_HEAD = (
    "INSERT INTO results (component, started_at, status, error_kind, duration_us, message"
)


@dataclass(frozen=True, slots=True)
class Dialect:
    """The SQL that is not the same on both databases.

    `split_phases`: PostgreSQL types its columns, so the raw results' ``phases``
    (a BLOB in encoding v2, JSON text in v0 and v1, docs/storage.md) are two
    columns there: ``phases`` BYTEA and ``phases_text`` TEXT.
    """

    name: str
    # SQLite's CROSS JOIN fixes the loop order (the ranges outside); PostgreSQL
    # plans joins itself and allows no ON after CROSS JOIN.
    join: str
    split_phases: bool
    # Whether a per-row subquery must be spelled LATERAL to be one index seek per row.
    lateral: bool
    # Whether writers of several processes run at once, so a write locks the rows it
    # reads to rewrite (SQLite takes the whole database for one writer at a time).
    row_locks: bool

    @property
    def result_columns(self) -> str:
        """Return the select list `codec.decode_result` reads (``r`` results, ``c`` components)."""
        if self.split_phases:
            return f"{RESULT_COLUMNS}, r.phases_text"
        return RESULT_COLUMNS

    @property
    def insert_result(self) -> str:
        """Return the INSERT of one raw row, its values as `result_row` gives them."""
        if self.split_phases:
            return f"{_INSERT_HEAD}, phases, phases_text, details, location) VALUES ({_MARKS}, ?)"
        return f"{_INSERT_HEAD}, phases, details, location) VALUES ({_MARKS})"

    def result_row(self, component: int, encoded: Sequence[Any], location: str) -> tuple[Any, ...]:
        """Return the values of `insert_result` for `codec.encode_result`'s columns."""
        if not self.split_phases:
            return (component, *encoded, location)
        *head, phases, details = encoded
        if isinstance(phases, bytes):
            return (component, *head, phases, None, details, location)
        return (component, *head, None, phases, details, location)


SQLITE = Dialect(
    name="sqlite", join="CROSS JOIN", split_phases=False, lateral=False, row_locks=False
)
POSTGRESQL = Dialect(
    name="postgresql", join="JOIN", split_phases=True, lateral=True, row_locks=True
)


def upsert(table: str, columns: str, key: int) -> str:
    """Return the INSERT of one row of `columns` that replaces the row its first `key` match.

    SQLite's ``INSERT OR REPLACE`` in the ``ON CONFLICT`` spelling both databases take.
    """
    names = columns.split(", ")
    return (
        f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(names))})"
        f" ON CONFLICT ({', '.join(names[:key])}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in names[key:])
    )


class Cursor(Protocol):
    """What the store reads from an executed statement (sqlite3's and psycopg's cursors)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """The connection every function of the store's SQL takes."""

    @property
    def dialect(self) -> Dialect: ...

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...


class Handle(Protocol):
    """What a write job is given: the writer's connection (and for SQLite, sqlite-utils)."""

    @property
    def conn(self) -> Connection: ...


class SqliteConnection(sqlite3.Connection):
    """A sqlite3 connection that says which SQL it speaks (``sqlite3.connect(factory=...)``)."""

    dialect = SQLITE
