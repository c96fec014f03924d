"""What start-up imports: sqlite-utils only when a store has migrations to apply, never numpy.

sqlite-utils imports numpy and pandas whenever they are installed, ~0.1-0.3 s
that no probe needs (BENCHMARKS.md F4). A store whose schema is current opens,
writes results and keeps its ledger on plain sqlite3; one with migrations to
apply imports sqlite-utils on its writer thread, with numpy and pandas withheld.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

CHECK = """
import asyncio, sys
{imports}
print("sqlite_utils" in sys.modules)
"""


def loads_sqlite_utils(imports: str) -> bool:
    proc = subprocess.run(
        [sys.executable, "-c", CHECK.format(imports=imports)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout.strip() == "True"


@pytest.mark.parametrize(
    "imports",
    [
        "import monitor.runtime",
        "import monitor.app",
        "import monitor.store",
        "import monitor.server",
        "import monitor.cli",
    ],
    ids=["runtime", "app", "store", "server", "cli"],
)
def test_importing_sttwatch_does_not_import_sqlite_utils(imports: str) -> None:
    assert not loads_sqlite_utils(imports)


def test_opening_a_store_migrates_it_with_sqlite_utils(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    opened = f"""
import sqlite3, threading
from monitor.store import MIGRATIONS, Store

importers = []

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "sqlite_utils":
            importers.append(threading.current_thread().name)

sys.meta_path.insert(0, Watch())

async def main():
    store = await Store.open({str(db)!r})
    await store.close()

asyncio.run(main())
# Imported on the writer thread, so the event loop does not wait on it.
assert importers == ["sttwatch-store-writer"], importers
from sqlite_utils import Database
assert MIGRATIONS.pending(Database(sqlite3.connect({str(db)!r}))) == []
"""
    assert loads_sqlite_utils(opened)


STORE_WORK = """
import sqlite3
from datetime import UTC, datetime
from monitor.models import ProbeResult, Status
from monitor.store import Store

async def main():
    store = await Store.open({db!r})
    await store.record("t", "tx-1")
    await store.add_result(ProbeResult(target="t", probe="reachability",
        started_at=datetime.now(UTC), duration_s=0.1, status=Status.UP, message="ok",
        phases={{"total": 0.1}}))
    await store.mark_deleted("t", "tx-1")
    await store.close()

asyncio.run(main())
"""


def run_python(code: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return proc.stdout


def test_a_current_store_opens_and_writes_without_sqlite_utils(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    work = (
        "import asyncio, sys\n" + STORE_WORK.format(db=db) + 'print("sqlite_utils" in sys.modules)'
    )
    # The first open creates the schema (sqlite-utils applies the migrations) ...
    assert run_python(work).strip() == "True"
    # ... every later one finds it current, and writes through plain sqlite3.
    assert run_python(work).strip() == "False"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM results").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM ledger WHERE deleted_at IS NULL").fetchone() == (
            0,
        )


def test_up_to_date_agrees_with_sqlite_utils(tmp_path: Path) -> None:
    from sqlite_utils import Database

    from monitor.store.schema import MIGRATIONS

    db = tmp_path / "s.db"
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        assert not MIGRATIONS.up_to_date(conn)  # a new file: everything to apply
        MIGRATIONS.apply(Database(conn))
        assert MIGRATIONS.up_to_date(conn)
        assert MIGRATIONS.pending(Database(conn)) == []
        # One record gone (as for a release that adds a migration): pending again.
        last = conn.execute("SELECT max(id) FROM _sqlite_migrations").fetchone()[0]
        row = conn.execute("SELECT * FROM _sqlite_migrations WHERE id = ?", (last,)).fetchone()
        conn.execute("DELETE FROM _sqlite_migrations WHERE id = ?", (last,))
        assert not MIGRATIONS.up_to_date(conn)
        assert [m.name for m in MIGRATIONS.pending(Database(conn))] == [row[2]]
        # Every name recorded but in an old table without the id key sqlite-utils
        # wants: it would rebuild the table, so that is not up to date either.
        conn.execute("ALTER TABLE _sqlite_migrations RENAME TO old")
        conn.execute(
            "CREATE TABLE _sqlite_migrations (migration_set TEXT, name TEXT, applied_at TEXT)"
        )
        conn.execute(
            "INSERT INTO _sqlite_migrations SELECT migration_set, name, applied_at FROM old"
        )
        conn.execute("INSERT INTO _sqlite_migrations VALUES (?, ?, ?)", row[1:])
        assert not MIGRATIONS.up_to_date(conn)
    finally:
        conn.close()


def test_sqlite_utils_is_imported_without_numpy_or_pandas(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    code = f"""
import asyncio, sys
from monitor.store import Store

async def main():
    store = await Store.open({str(tmp_path / "s.db")!r})  # new: migrations to apply
    await store.close()

asyncio.run(main())
import sqlite_utils.db
print("sqlite_utils" in sys.modules, "numpy" in sys.modules, "pandas" in sys.modules)
print(sqlite_utils.db.np is None)
import numpy  # withheld from sqlite-utils only: still importable by anyone else
print(numpy.__name__)
"""
    assert run_python(code).split() == ["True", "False", "False", "True", "numpy"]


def test_numpy_imported_before_sqlite_utils_is_seen_by_it(tmp_path: Path) -> None:
    pytest.importorskip("numpy")
    code = """
import numpy, sys
from monitor.store.writer import import_sqlite_utils
sqlite_utils = import_sqlite_utils()
import sqlite_utils.db
print(sqlite_utils.db.np is numpy)
"""
    assert run_python(code).strip() == "True"


def test_jobs_still_get_a_sqlite_utils_database(tmp_path: Path) -> None:
    code = f"""
import asyncio, sys
from monitor.store import Store

def pragma(db):
    # On the bare connection, before any Database is built on it: as sqlite-utils sets it.
    return db.conn.execute("PRAGMA recursive_triggers").fetchone()[0]

async def main():
    for _ in range(2):  # the second open finds the schema current
        store = await Store.open({str(tmp_path / "s.db")!r})
        try:
            print(await store.write(pragma), end=" ")
            # Any job may use the sqlite-utils API: the Database is built on first use.
            print(await store.write(lambda db: db["ledger"].count), end=" ")
            print("components" in await store.write(lambda db: db.table_names()))
        finally:
            await store.close()

asyncio.run(main())
"""
    assert run_python(code).split() == ["1", "0", "True"] * 2
