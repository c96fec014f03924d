"""What start-up imports: sqlite-utils (and numpy, pandas with it) only once a store opens.

sqlite-utils imports numpy and pandas whenever they are installed, ~0.1-0.3 s
that no probe needs (BENCHMARKS.md F4); the store imports it on its writer
thread, at its first job.
"""

from __future__ import annotations

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
        "import monitor.store",
        "import monitor.server",
        "import monitor.cli",
    ],
    ids=["runtime", "store", "server", "cli"],
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
