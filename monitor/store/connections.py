"""How a `Store` reaches its database: the writer thread, the reader threads, the leases.

A SQLite file (`writer.SqliteBackend`: the writer's connection, one read-only
connection per reader thread, WAL between them) or a PostgreSQL server
(`postgres.PgBackend`: the writer's connection, a pool for the readers, and the
async pool of advisory-lock leases). `monitor.store.api` is the same above
either; docs/scaling.md says what differs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar, cast

from monitor.database_url import is_postgres_url
from monitor.models import Clock
from monitor.store import pg_schema
from monitor.store.dialect import Connection, Handle
from monitor.store.schema import MIGRATIONS
from monitor.store.writer import SqliteBackend, Writer

if TYPE_CHECKING:
    from sqlite_utils import Database

    from monitor.store.postgres import Lease, LeasePool, PgBackend, PgConnection

__all__ = ["READ_THREADS", "Connections"]

T = TypeVar("T")

READ_THREADS = 2


class Connections:
    """The writer, the readers and (PostgreSQL) the leases of one store's database."""

    def __init__(self, path: str, *, clock: Clock, busy_timeout_s: float) -> None:
        self._sqlite: SqliteBackend | None = None
        self._pg: PgBackend | None = None
        self._leases: LeasePool | None = None
        if is_postgres_url(path):
            from monitor.store.postgres import LeasePool, PgBackend

            self._pg = PgBackend(path, readers=READ_THREADS)
            self._leases = LeasePool(path)
            self.writer = Writer(self._pg, clock=clock)
        else:
            self._sqlite = SqliteBackend(path, busy_timeout_s=busy_timeout_s)
            self.writer = Writer(self._sqlite, clock=clock)
        self._local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._read_lock = threading.Lock()
        self._readers = ThreadPoolExecutor(READ_THREADS, thread_name_prefix="sttwatch-store-read")

    @property
    def backend(self) -> str:
        """Return which database this is: ``"sqlite"`` or ``"postgresql"``."""
        return "postgresql" if self._pg is not None else "sqlite"

    def database_errors(self) -> tuple[type[Exception], ...]:
        """Return the exceptions that mean the database cannot be read right now."""
        if self._pg is None:
            return (sqlite3.Error,)
        import psycopg

        return (sqlite3.Error, psycopg.Error)

    def migrate(self, db: Handle) -> None:
        """Apply the pending migrations of this database's schema (a non-transactional job)."""
        if self._pg is not None:
            pg_schema.apply(cast("PgConnection", db))
        else:
            MIGRATIONS.apply(cast("Database", db))

    async def read(self, fn: Callable[[Connection], T]) -> T:
        """Return `fn(conn)` run on a reader thread against one consistent snapshot."""
        loop = asyncio.get_running_loop()
        if self._pg is not None:
            return await loop.run_in_executor(self._readers, self._pg.read, fn)
        return await loop.run_in_executor(self._readers, self._in_reader, fn)

    def _in_reader(self, fn: Callable[[Connection], T]) -> T:
        assert self._sqlite is not None
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._sqlite.read_connection()
            self._local.conn = conn
            with self._read_lock:
                self._read_conns.append(conn)
        # One snapshot per call, so a multi-statement read is consistent.
        conn.execute("BEGIN")
        try:
            return fn(cast(Connection, conn))
        finally:
            conn.execute("COMMIT")

    async def try_lease(self, key: int) -> Lease | None:
        """Return a held advisory lock `key` (PostgreSQL), or None while another session has it."""
        if self._leases is None:
            raise NotImplementedError("leases need a PostgreSQL database")
        return await self._leases.try_acquire(key)

    async def close(self) -> None:
        """Finish queued writes, then close every connection and thread."""
        await self.writer.close()
        if self._leases is not None:
            await self._leases.close()
        await asyncio.to_thread(self._readers.shutdown, wait=True)
        if self._pg is not None:
            await asyncio.to_thread(self._pg.close_readers)
        with self._read_lock:
            for conn in self._read_conns:
                conn.close()
            self._read_conns.clear()
