"""The one writer: a thread that owns the write connection, fed by a queue.

Every write in sttwatch is a job — a function of the sqlite-utils `Database` —
run by this thread inside its own ``BEGIN IMMEDIATE`` transaction. Async callers
await a future, so the event loop never waits on disk, and SQLite never sees two
writers from this process. A job that fails because the database cannot be
written (full disk, read-only file, locked too long) is reported to its caller as
`StoreWriteError` and recorded in `WriterHealth`; the thread keeps serving and the
next job simply tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from monitor.models import Clock
from monitor.store.records import StoreHealth

if TYPE_CHECKING:  # imported on the writer thread: see _connection
    from sqlite_utils import Database

__all__ = ["StoreWriteError", "Writer", "connect"]

log = logging.getLogger("sttwatch.store")

T = TypeVar("T")

# A write failure is logged at most this often; the rest are counted.
LOG_EVERY_S = 60.0
# Below this much free space a failed write is put down to a full file system.
LOW_SPACE_BYTES = 1 << 20


class StoreWriteError(Exception):
    """The database could not be written; nothing of this write was stored."""


# SQLite errors that say "the database cannot take this write right now" rather
# than "sttwatch issued a bad statement": those are bugs and propagate as they are.
_BUG_ERRORS = (sqlite3.IntegrityError, sqlite3.ProgrammingError, sqlite3.InterfaceError)


def diagnose(path: str) -> str:
    """Return why the file system holding `path` refuses writes, if the OS can tell ("" if not).

    SQLite says "disk I/O error" for a file system gone read-only and, at
    start-up, for a full one; an operator reading /healthz needs the cause.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        st = os.statvfs(directory)
    except OSError:
        return ""
    if st.f_flag & os.ST_RDONLY:
        return "the file system is read-only"
    free = st.f_bavail * st.f_frsize
    if free < LOW_SPACE_BYTES:
        return f"the file system is full: {free} bytes free"
    tmpfile = getattr(os, "O_TMPFILE", 0)
    if tmpfile:
        # An unnamed file leaves nothing behind; EROFS also catches an emergency
        # read-only remount that statvfs does not report.
        try:
            os.close(os.open(directory, tmpfile | os.O_WRONLY, 0o600))
        except OSError as exc:
            if exc.errno == errno.EROFS:
                return "the file system is read-only"
            if exc.errno == errno.ENOSPC:
                return "the file system is full"
    return ""


def connect(path: str, *, busy_timeout_s: float, readonly: bool = False) -> sqlite3.Connection:
    """Return a connection to `path` with the pragmas every sttwatch connection uses."""
    # isolation_level=None: transactions are begun explicitly (BEGIN IMMEDIATE for
    # the writer), never implicitly by the sqlite3 module.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        _configure(conn, busy_timeout_s=busy_timeout_s, readonly=readonly)
    except BaseException:
        conn.close()
        raise
    return conn


def _configure(conn: sqlite3.Connection, *, busy_timeout_s: float, readonly: bool) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    conn.execute("PRAGMA foreign_keys = ON")
    if readonly:
        conn.execute("PRAGMA query_only = ON")
    else:
        conn.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL syncs at checkpoints, not at every commit: a committed
        # transaction survives the process being killed (what the deletion ledger
        # needs), and only an OS crash or power cut can lose the last few commits —
        # never corrupt the file. FULL would fsync on every probe result.
        conn.execute("PRAGMA synchronous = NORMAL")
        # After a bulk seed the WAL file is truncated back to this size on checkpoint.
        conn.execute("PRAGMA journal_size_limit = 67108864")


@dataclass(slots=True)
class _Job:
    fn: Callable[[Database], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    transactional: bool


class Writer:
    """The writer thread and its queue; see the module docstring."""

    def __init__(self, path: str, *, clock: Clock, busy_timeout_s: float) -> None:
        self._path = path
        self._clock = clock
        self._busy_timeout_s = busy_timeout_s
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sttwatch-store-writer", daemon=True)
        self._db: Database | None = None
        self._health = StoreHealth()
        self._closed = False
        self._on_failure: list[Callable[[], None]] = []
        self._last_logged: float | None = None
        self._suppressed = 0

    @property
    def health(self) -> StoreHealth:
        """Return the latest health snapshot (replaced whole, so reads need no lock)."""
        return self._health

    def on_failure(self, callback: Callable[[], None]) -> None:
        """Run `callback` on the writer thread after any failed job (to drop caches)."""
        self._on_failure.append(callback)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    async def submit(self, fn: Callable[[Database], T], *, transactional: bool = True) -> T:
        """Return what `fn(db)` returns once its transaction is committed.

        Raises `StoreWriteError` if the database cannot be written. If the caller
        is cancelled the job still runs to completion (or failure) on the thread;
        only the answer is dropped.
        """
        if self._closed:
            raise StoreWriteError("the store is closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(fn, future, loop, transactional))
        return await future

    async def close(self) -> None:
        """Finish the queued jobs, then stop the thread and close the connection."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    # ------------------------------------------------------------------ thread

    def _run(self) -> None:
        try:
            while (job := self._queue.get()) is not None:
                self._execute(job)
        finally:
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("PRAGMA optimize")
                self._db.conn.close()

    def _connection(self) -> Database:
        if self._db is None:
            # sqlite-utils imports numpy and pandas whenever they are installed (~0.1 s,
            # and ~0.2 s of its own): importing it here, on the writer thread at its
            # first job, keeps it off the start-up of commands that never write
            # (BENCHMARKS.md F4).
            from sqlite_utils import Database

            conn = connect(self._path, busy_timeout_s=self._busy_timeout_s)
            self._db = Database(conn, execute_plugins=False)
        return self._db

    def _execute(self, job: _Job) -> None:
        try:
            db = self._connection()
            if job.transactional:
                db.execute("BEGIN IMMEDIATE")
                try:
                    value = job.fn(db)
                    db.execute("COMMIT")
                except BaseException:
                    if db.conn.in_transaction:
                        db.conn.rollback()
                    raise
            else:
                value = job.fn(db)
        except sqlite3.Error as exc:
            self._failed()
            if isinstance(exc, _BUG_ERRORS):
                self._deliver(job, exc, error=True)
            else:
                cause = diagnose(self._path)
                self._record_failure(exc, cause)
                err = StoreWriteError(f"database not writable: {exc}" + f" ({cause})" * bool(cause))
                err.__cause__ = exc
                self._deliver(job, err, error=True)
        except BaseException as exc:  # a bug in a job: hand it to its caller, keep serving
            self._failed()
            self._deliver(job, exc, error=True)
        else:
            self._record_success()
            self._deliver(job, value, error=False)

    def _failed(self) -> None:
        for callback in self._on_failure:
            callback()

    def _deliver(self, job: _Job, value: Any, *, error: bool) -> None:
        def settle() -> None:
            if job.future.done():  # the caller was cancelled
                return
            if error:
                job.future.set_exception(value)
            else:
                job.future.set_result(value)

        # RuntimeError: the caller's loop is closed, so nobody is waiting.
        with contextlib.suppress(RuntimeError):
            job.loop.call_soon_threadsafe(settle)

    def _record_failure(self, exc: sqlite3.Error, cause: str = "") -> None:
        now = self._clock.now()
        h = self._health
        message = f"{type(exc).__name__}: {exc}" + f" ({cause})" * bool(cause)
        self._health = StoreHealth(
            writable=False,
            last_error=message,
            failing_since=h.failing_since if not h.writable else now,
            last_write_ok=h.last_write_ok,
        )
        mono = self._clock.monotonic()
        if self._last_logged is None or mono - self._last_logged >= LOG_EVERY_S:
            extra = f" ({self._suppressed} more failures since the last report)" * bool(
                self._suppressed
            )
            log.error("database %s cannot be written: %s%s", self._path, message, extra)
            self._last_logged = mono
            self._suppressed = 0
        else:
            self._suppressed += 1

    def _record_success(self) -> None:
        h = self._health
        now = self._clock.now()
        if not h.writable:
            log.warning(
                "database %s is writable again (failing since %s)", self._path, h.failing_since
            )
            self._last_logged = None
            self._suppressed = 0
        self._health = StoreHealth(
            writable=True, last_error=h.last_error, failing_since=None, last_write_ok=now
        )
