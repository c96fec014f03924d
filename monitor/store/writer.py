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
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from monitor.models import Clock
from monitor.store.dialect import Handle, SqliteConnection
from monitor.store.records import StoreHealth

if TYPE_CHECKING:  # imported on the writer thread, and only when needed: see import_sqlite_utils
    from sqlite_utils import Database

__all__ = [
    "Backend",
    "SqliteBackend",
    "StoreWriteError",
    "Writer",
    "connect",
    "import_sqlite_utils",
]

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


# sqlite-utils imports these whenever they are importable; sttwatch uses neither.
_WITHHELD = frozenset({"numpy", "pandas"})


class _Withhold:
    """A meta path finder that makes numpy and pandas uninstalled for one thread's imports.

    Raising from ``find_spec`` aborts that import (the import system reference,
    "The meta path"); a failed import is not cached, so any other import of
    numpy, in any thread, then or later, finds it as usual. The finder stays on
    ``sys.meta_path`` once installed: removing an entry while another thread
    walks the list could make that thread skip a finder.
    """

    def __init__(self) -> None:
        self.state = threading.local()

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> None:
        """Refuse numpy and pandas while this thread imports sqlite-utils; defer otherwise."""
        if getattr(self.state, "active", False) and fullname.partition(".")[0] in _WITHHELD:
            raise ModuleNotFoundError(
                f"{fullname} is withheld from sqlite-utils by sttwatch", name=fullname
            )


_withhold = _Withhold()
_withhold_installed = threading.Lock()


def import_sqlite_utils() -> ModuleType:
    """Return the sqlite_utils module, imported without numpy and pandas if not yet loaded.

    sqlite-utils imports numpy and pandas at import whenever they are installed,
    for column types sttwatch never uses: with numpy 2.4 and pandas 3.1 beside it,
    importing sqlite-utils took 437 ms (median of 20, ``-X importtime``) against
    68 ms withheld, paid by every start that migrates. The Docker image has
    neither (BENCHMARKS.md F4). If some other part of the process has already
    imported them, sqlite-utils sees them as usual.
    """
    import sys

    with _withhold_installed:
        if _withhold not in sys.meta_path:
            sys.meta_path.insert(0, _withhold)
    _withhold.state.active = True
    try:
        import sqlite_utils
    finally:
        _withhold.state.active = False
    return sqlite_utils


class _LazyDatabase:
    """The writer's connection as jobs see it: a sqlite-utils `Database`, built on demand.

    Every write on the probe path uses ``db.conn`` alone, so a command whose
    schema is current never imports sqlite-utils (~0.05 s, ~0.15 s with numpy:
    BENCHMARKS.md F4). Any other attribute builds the real `Database` on the
    same connection, once, and delegates to it.
    """

    __slots__ = ("_db", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._db: Database | None = None

    def database(self) -> Database:
        """Return the sqlite-utils `Database` on this connection (imported at the first call)."""
        if self._db is None:
            # execute_plugins=False: no sqlite-utils plugin may touch our connection.
            self._db = import_sqlite_utils().Database(self.conn, execute_plugins=False)
        return self._db

    def __getattr__(self, name: str) -> Any:
        return getattr(self.database(), name)

    def __getitem__(self, name: str) -> Any:
        return self.database()[name]


def connect(path: str, *, busy_timeout_s: float, readonly: bool = False) -> sqlite3.Connection:
    """Return a connection to `path` with the pragmas every sttwatch connection uses."""
    # isolation_level=None: transactions are begun explicitly (BEGIN IMMEDIATE for
    # the writer), never implicitly by the sqlite3 module.
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, factory=SqliteConnection
    )
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
        _enter_wal(conn)
        # In WAL mode NORMAL syncs at checkpoints, not at every commit: a committed
        # transaction survives the process being killed (what the deletion ledger
        # needs), and only an OS crash or power cut can lose the last few commits —
        # never corrupt the file. FULL would fsync on every probe result.
        conn.execute("PRAGMA synchronous = NORMAL")
        # After a bulk seed the WAL file is truncated back to this size on checkpoint.
        conn.execute("PRAGMA journal_size_limit = 67108864")


def _enter_wal(conn: sqlite3.Connection) -> None:
    # Switching a new file to WAL needs it alone; a second process creating the same
    # file at that moment gets "database is locked" at once, without the busy
    # timeout. A file already in WAL (every open but the first) needs no lock.
    for attempt in range(_WAL_ATTEMPTS):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == _WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.02 * (attempt + 1))


_WAL_ATTEMPTS = 20  # ~4 s against another process creating the same file


class Backend(Protocol):
    """One kind of database as the writer drives it (SQLite here, PostgreSQL in `postgres`)."""

    # What log lines and errors call the database: a path, or a URL with its password masked.
    label: str

    def open_writer(self) -> Handle:
        """Return a new write connection, as write jobs see it."""

    def begin(self, handle: Handle) -> None:
        """Begin a write transaction."""

    def commit(self, handle: Handle) -> None:
        """Commit it."""

    def rollback(self, handle: Handle) -> None:
        """Roll it back, if one is open."""

    def close_writer(self, handle: Handle) -> None:
        """Close the write connection (the store is closing)."""

    def failure(self, exc: BaseException) -> str | None:
        """Return why `exc` means the database cannot take writes now, or None (a bug's error).

        The text is added to the error (e.g. "the file system is full"); "" if
        nothing more is known.
        """

    def broken(self, handle: Handle) -> bool:
        """Return True when the write connection is lost and must be opened again."""


class SqliteBackend:
    """The embedded database: one file, WAL, the pragmas of `connect`."""

    def __init__(self, path: str, *, busy_timeout_s: float) -> None:
        self.label = path
        self._path = path
        self._busy_timeout_s = busy_timeout_s

    def open_writer(self) -> Handle:
        """Return the write connection as a lazily built sqlite-utils `Database`."""
        conn = connect(self._path, busy_timeout_s=self._busy_timeout_s)
        try:
            # What sqlite-utils' Database sets on its connection, set here so that
            # jobs see the same connection whether or not it was ever built.
            conn.execute("PRAGMA recursive_triggers = ON")
        except BaseException:
            conn.close()
            raise
        return cast("Handle", _LazyDatabase(conn))

    def _conn(self, handle: Handle) -> sqlite3.Connection:
        return cast("_LazyDatabase", handle).conn

    def begin(self, handle: Handle) -> None:
        """Begin, taking the write lock at once (no upgrade deadlock with other processes)."""
        self._conn(handle).execute("BEGIN IMMEDIATE")

    def commit(self, handle: Handle) -> None:
        """Commit."""
        self._conn(handle).execute("COMMIT")

    def rollback(self, handle: Handle) -> None:
        """Roll back when a transaction is open."""
        conn = self._conn(handle)
        if conn.in_transaction:
            conn.rollback()

    def close_writer(self, handle: Handle) -> None:
        """Let SQLite refresh its statistics, then close."""
        conn = self._conn(handle)
        with contextlib.suppress(sqlite3.Error):
            conn.execute("PRAGMA optimize")
        conn.close()

    def failure(self, exc: BaseException) -> str | None:
        """Return the cause of an unwritable database (full disk, read-only), None for bugs."""
        if not isinstance(exc, sqlite3.Error) or isinstance(exc, _BUG_ERRORS):
            return None
        return diagnose(self._path)

    def broken(self, handle: Handle) -> bool:
        """A SQLite connection does not break: the next job tries the same file again."""
        return False

    def read_connection(self) -> sqlite3.Connection:
        """Return a new read-only connection (one per reader thread)."""
        return connect(self._path, busy_timeout_s=self._busy_timeout_s, readonly=True)


@dataclass(slots=True)
class _Job:
    fn: Callable[[Any], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    transactional: bool


class Writer:
    """The writer thread and its queue; see the module docstring."""

    def __init__(self, backend: Backend, *, clock: Clock) -> None:
        self._backend = backend
        self._clock = clock
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sttwatch-store-writer", daemon=True)
        self._db: Handle | None = None
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

    async def submit(self, fn: Callable[[Any], T], *, transactional: bool = True) -> T:
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
                self._backend.close_writer(self._db)

    def _connection(self) -> Handle:
        if self._db is None:
            self._db = self._backend.open_writer()
        return self._db

    def _begin(self, db: Handle) -> Handle:
        """Begin on `db`; on a connection found lost (a server restarted), once on a new one.

        Nothing of the job has run yet, so beginning again loses nothing.
        """
        try:
            self._backend.begin(db)
        except Exception:
            if not self._backend.broken(db):
                raise
            with contextlib.suppress(Exception):
                self._backend.close_writer(db)
            self._db = None
            db = self._connection()
            self._backend.begin(db)
        return db

    def _execute(self, job: _Job) -> None:
        backend = self._backend
        try:
            db = self._connection()
            if job.transactional:
                db = self._begin(db)
                try:
                    value = job.fn(db)
                    backend.commit(db)
                except BaseException:
                    backend.rollback(db)
                    raise
            else:
                value = job.fn(db)
        except BaseException as exc:
            self._failed()
            cause = backend.failure(exc)
            if self._db is not None and backend.broken(self._db):
                # A lost server connection: the next job connects again.
                with contextlib.suppress(Exception):
                    backend.close_writer(self._db)
                self._db = None
            if cause is None:  # a bug in a job or a statement: hand it to its caller, keep serving
                self._deliver(job, exc, error=True)
            else:
                self._record_failure(exc, cause)
                err = StoreWriteError(f"database not writable: {exc}" + f" ({cause})" * bool(cause))
                err.__cause__ = exc
                self._deliver(job, err, error=True)
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

    def _record_failure(self, exc: BaseException, cause: str = "") -> None:
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
            log.error("database %s cannot be written: %s%s", self._backend.label, message, extra)
            self._last_logged = mono
            self._suppressed = 0
        else:
            self._suppressed += 1

    def _record_success(self) -> None:
        h = self._health
        now = self._clock.now()
        if not h.writable:
            log.warning(
                "database %s is writable again (failing since %s)",
                self._backend.label,
                h.failing_since,
            )
            self._last_logged = None
            self._suppressed = 0
        self._health = StoreHealth(
            writable=True, last_error=h.last_error, failing_since=None, last_write_ok=now
        )
