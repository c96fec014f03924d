"""PostgreSQL as the store's database: psycopg 3 connections shaped like sqlite3's.

The store's logic is synchronous functions of a connection run in one
transaction (ingest, queries, alerts), so it is written once: `PgConnection`
gives psycopg's connection sqlite3's ``execute``/``executemany`` with ``?``
placeholders, and `PgBackend` plugs it into the same writer thread and reader
threads SQLite uses. Where the store meets the event loop directly — a
session held for as long as an agent leads (`Lease`, a PostgreSQL advisory
lock) — it uses psycopg's async connections from an `AsyncConnectionPool`.
See docs/scaling.md.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from monitor.database_url import masked_database
from monitor.store.dialect import POSTGRESQL, Cursor, Dialect, Handle

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import AsyncConnectionPool, ConnectionPool

__all__ = ["Lease", "PgBackend", "PgConnection"]

T = TypeVar("T")

# How long opening a connection may take before the write (or read) fails.
CONNECT_TIMEOUT_S = 10


@functools.lru_cache(maxsize=512)
def _translate(sql: str) -> str:
    """Return `sql` with sqlite3's ``?`` placeholders as psycopg's ``%s`` (and ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


class PgConnection:
    """A psycopg connection as the store's SQL uses it (`monitor.store.dialect.Connection`)."""

    __slots__ = ("raw",)

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    @property
    def dialect(self) -> Dialect:
        """Return PostgreSQL's dialect."""
        return POSTGRESQL

    @property
    def conn(self) -> PgConnection:
        """Return itself: a write job's handle and its connection are one object here."""
        return self

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        """Run one statement; return its cursor (rows fetched as tuples)."""
        if not parameters:
            return self.raw.execute(sql)  # no parameters: psycopg reads no placeholders
        return self.raw.execute(_translate(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> psycopg.Cursor[Any]:
        """Run one statement for each parameter row (psycopg pipelines them)."""
        cur = self.raw.cursor()
        rows = list(parameters)
        if rows:
            cur.executemany(_translate(sql), rows)
        return cur


def _connect_kwargs() -> dict[str, Any]:
    # autocommit: transactions are begun explicitly (BEGIN ... COMMIT), as on SQLite.
    return {"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S}


class PgBackend:
    """The writer's and readers' side of a PostgreSQL database (`monitor.store.writer.Backend`)."""

    def __init__(self, url: str, *, readers: int) -> None:
        self.url = url
        self.label = masked_database(url)
        self._readers = readers
        self._pool: ConnectionPool[Any] | None = None
        self._pool_lock = threading.Lock()

    # ------------------------------------------------------------------ writer

    def open_writer(self) -> Handle:
        """Return a new connection for the writer thread."""
        import psycopg

        return PgConnection(psycopg.connect(self.url, **_connect_kwargs()))

    def begin(self, handle: Handle) -> None:
        """Begin a transaction (READ COMMITTED: the writer is this process's only one)."""
        handle.conn.execute("BEGIN")

    def commit(self, handle: Handle) -> None:
        """Commit."""
        handle.conn.execute("COMMIT")

    def rollback(self, handle: Handle) -> None:
        """Roll back whatever is open (nothing, after a lost connection)."""
        raw = cast(PgConnection, handle).raw
        if not raw.closed and not raw.broken:
            with contextlib.suppress(Exception):
                raw.execute("ROLLBACK")

    def close_writer(self, handle: Handle) -> None:
        """Close the writer's connection."""
        cast(PgConnection, handle).raw.close()

    def failure(self, exc: BaseException) -> str | None:
        """Return "" when `exc` means the server cannot take writes now, None for a bug's error.

        Unwritable: the connection (refused, lost, server shutting down), the
        server out of disk or connections (all ``OperationalError``), or a
        server that became a read-only standby.
        """
        import psycopg

        if isinstance(exc, psycopg.OperationalError | psycopg.errors.ReadOnlySqlTransaction):
            return ""
        # A closed connection that psycopg noticed before sending.
        if isinstance(exc, psycopg.InterfaceError):
            return ""
        return None

    def broken(self, handle: Handle) -> bool:
        """Return True when the writer's connection is lost (it is opened again next job)."""
        raw = cast(PgConnection, handle).raw
        return bool(raw.closed or raw.broken)

    # ----------------------------------------------------------------- readers

    def _readers_pool(self) -> ConnectionPool[Any]:
        with self._pool_lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                pool: ConnectionPool[Any] = ConnectionPool(
                    self.url,
                    min_size=1,
                    max_size=self._readers,
                    kwargs=_connect_kwargs(),
                    timeout=CONNECT_TIMEOUT_S,
                    # A connection the server dropped (a restart) is replaced, not handed out.
                    check=ConnectionPool.check_connection,
                    open=False,
                    name="sttwatch-store-read",
                )
                pool.open(wait=False)
                self._pool = pool
            return self._pool

    def read(self, fn: Callable[[PgConnection], T]) -> T:
        """Return `fn(conn)` in one read-only snapshot (REPEATABLE READ), on a pooled connection."""
        with self._readers_pool().connection() as raw:
            conn = PgConnection(raw)
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                return fn(conn)
            finally:
                if not raw.broken:
                    conn.execute("COMMIT")

    def close_readers(self) -> None:
        """Close the readers' pool."""
        with self._pool_lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None


class Lease:
    """A PostgreSQL session advisory lock, held on its own connection until released.

    What makes one agent of several the one that delivers alerts, renders and
    prunes: the server releases the lock when the session ends, so an agent
    that dies (or loses the database) lets another take over. `alive` checks
    the session; an agent that finds it dead has lost the lease.
    """

    def __init__(
        self, pool: AsyncConnectionPool[Any], conn: psycopg.AsyncConnection[Any], key: int
    ) -> None:
        self.key = key
        self._pool = pool
        self._conn: psycopg.AsyncConnection[Any] | None = conn

    @property
    def held(self) -> bool:
        """Return True until released or found lost."""
        return self._conn is not None

    async def alive(self) -> bool:
        """Return True while the session holding the lock still answers."""
        if self._conn is None:
            return False
        try:
            await self._conn.execute("SELECT 1")
        except Exception:  # any failure of the session: the lock is gone with it
            await self._drop()
            return False
        return True

    async def lose(self) -> None:
        """End the session without unlocking: the server releases the lock with it."""
        await self._drop()

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
            with contextlib.suppress(Exception):
                await self._pool.putconn(conn)

    async def release(self) -> None:
        """Unlock and return the session to the pool."""
        conn = self._conn
        if conn is None:
            return
        try:
            await conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        except Exception:  # the session is lost, and the lock with it
            await self._drop()
            return
        self._conn = None
        await self._pool.putconn(conn)


class LeasePool:
    """The async pool the leases' sessions come from, opened on first use on the caller's loop."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._pool: AsyncConnectionPool[Any] | None = None
        self._leases: list[Lease] = []

    async def try_acquire(self, key: int) -> Lease | None:
        """Return a `Lease` on advisory lock `key` if no other session holds it, else None."""
        from psycopg_pool import AsyncConnectionPool

        if self._pool is None:
            self._pool = AsyncConnectionPool(
                self._url,
                min_size=0,
                max_size=4,
                kwargs=_connect_kwargs(),
                timeout=CONNECT_TIMEOUT_S,
                open=False,
                name="sttwatch-store-lease",
            )
            await self._pool.open()
        conn = await self._pool.getconn()
        try:
            cur = await conn.execute("SELECT pg_try_advisory_lock(%s)", (key,))
            row = await cur.fetchone()
        except BaseException:
            await self._pool.putconn(conn)
            raise
        if row is None or not row[0]:
            await self._pool.putconn(conn)
            return None
        lease = Lease(self._pool, conn, key)
        self._leases = [held for held in self._leases if held.held]
        self._leases.append(lease)
        return lease

    async def close(self) -> None:
        """End every lease's session (the server releases their locks), then close the pool."""
        for lease in self._leases:
            await lease.lose()
        self._leases.clear()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
