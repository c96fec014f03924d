"""The local buffer: results wait in a small SQLite file while PostgreSQL is unreachable.

An agent on a shared PostgreSQL database that loses it keeps probing. Each
result the database cannot take (`StoreWriteError`) is appended to
`ResultSpool`, a SQLite file on the agent's own disk (``buffer:`` in the
config); from then on every new result goes there too, behind it, so the
order is kept. Every `flush_every` seconds `BufferedResults` tries to move the
oldest batch into the database in one transaction
(`Store.add_results_once`), then deletes it from the file. A batch whose
commit succeeded but whose answer was lost is sent again by the next try, and
the store skips the results it already has: nothing is lost (the file is
committed before the result counts as handled) and nothing is stored twice.
A killed agent finds its file at the next start and flushes it then.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
from pathlib import Path

from monitor.models import Clock, ProbeResult
from monitor.store.api import Store
from monitor.store.writer import StoreWriteError
from monitor.tasks import cancel_and_wait

__all__ = ["BufferedResults", "ResultSpool"]

log = logging.getLogger("sttwatch.store")

FLUSH_EVERY = 1.0
FLUSH_BATCH = 500


class ResultSpool:
    """A SQLite file of results, oldest first (its own connection, used from worker threads)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")  # a buffered result survives a crash
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS spool (seq INTEGER PRIMARY KEY, result TEXT NOT NULL)"
        )

    def append(self, result: ProbeResult) -> None:
        """Append `result` (committed when this returns)."""
        body = json.dumps(result.to_json(), separators=(",", ":"), ensure_ascii=False)
        with self._lock:
            self._conn.execute("INSERT INTO spool (result) VALUES (?)", (body,))

    def head(self, limit: int) -> list[tuple[int, ProbeResult]]:
        """Return up to `limit` of the oldest results with their sequence numbers."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, result FROM spool ORDER BY seq LIMIT ?", (limit,)
            ).fetchall()
        return [(seq, ProbeResult.from_json(json.loads(body))) for seq, body in rows]

    def drop(self, upto: int) -> None:
        """Delete the results up to sequence number `upto` (they are in the database)."""
        with self._lock:
            self._conn.execute("DELETE FROM spool WHERE seq <= ?", (upto,))

    def count(self) -> int:
        """Return how many results wait."""
        with self._lock:
            row = self._conn.execute("SELECT count(*) FROM spool").fetchone()
        return int(row[0])

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()


class BufferedResults:
    """Stores results, through the spool while the database cannot take them (module doc)."""

    def __init__(
        self,
        store: Store,
        path: str,
        *,
        clock: Clock,
        flush_every: float = FLUSH_EVERY,
        batch: int = FLUSH_BATCH,
    ) -> None:
        self._store = store
        self.path = path
        self._clock = clock
        self._flush_every = flush_every
        self._batch = batch
        self._spool: ResultSpool | None = None
        self._lock = asyncio.Lock()
        self._queued = 0  # results waiting for the lock to be appended
        self._task: asyncio.Task[None] | None = None
        self.buffered = 0
        self.spooled = 0
        self.flushed = 0
        self.duplicates = 0

    async def start(self) -> None:
        """Open the spool (what a killed agent left is flushed first), start flushing."""
        self._spool = await asyncio.to_thread(ResultSpool, self.path)
        self.buffered = await asyncio.to_thread(self._spool.count)
        if self.buffered:
            log.warning("%d result(s) buffered in %s from an earlier run", self.buffered, self.path)
        self._task = asyncio.create_task(self._loop(), name="sttwatch-buffer-flush")

    async def stop(self) -> None:
        """Stop flushing after one last try; what is still buffered stays in the file."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        if self._spool is not None:
            await self.flush()
            if self.buffered:
                log.warning(
                    "%d result(s) stay buffered in %s for the next start", self.buffered, self.path
                )
            await asyncio.to_thread(self._spool.close)
            self._spool = None

    async def add(self, result: ProbeResult) -> None:
        """Store `result`, or buffer it when the database cannot take it (or others wait)."""
        if not self.buffered and not self._queued and not self._lock.locked():
            try:
                await self._store.add_result(result)
                return
            except StoreWriteError:
                pass  # the store logs it (rate-limited); the result waits in the spool
        self._queued += 1
        try:
            async with self._lock:
                if not self.buffered:
                    try:
                        await self._store.add_result(result)
                        return
                    except StoreWriteError:
                        pass
                await self._append(result)
        finally:
            self._queued -= 1

    async def _append(self, result: ProbeResult) -> None:
        assert self._spool is not None, "BufferedResults.start() has not run"
        if not self.buffered:
            log.warning(
                "the database cannot take results: buffering them in %s until it is back",
                self.path,
            )
        await asyncio.to_thread(self._spool.append, result)
        self.buffered += 1
        self.spooled += 1

    async def flush(self) -> bool:
        """Move buffered results into the database, oldest first; return True when none is left."""
        spool = self._spool
        if spool is None:
            return True
        while self.buffered:
            async with self._lock:
                batch = await asyncio.to_thread(spool.head, self._batch)
                if not batch:
                    self.buffered = 0
                    break
                try:
                    stored = await self._store.add_results_once([r for _, r in batch])
                except StoreWriteError:
                    return False
                await asyncio.to_thread(spool.drop, batch[-1][0])
                self.flushed += stored
                self.duplicates += len(batch) - stored
                self.buffered = await asyncio.to_thread(spool.count)
                if not self.buffered:
                    log.info(
                        "the database takes results again: %d buffered result(s) written",
                        self.flushed,
                    )
            await asyncio.sleep(0)
        return True

    async def _loop(self) -> None:
        while True:
            if self.buffered:
                try:
                    await self.flush()
                except Exception:  # keep the results; try again at the next round
                    log.exception("flushing buffered results failed")
            await self._clock.sleep(self._flush_every)
