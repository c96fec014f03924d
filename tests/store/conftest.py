"""The store tests run on both databases: ``store`` is open on the root conftest's
``database`` (a SQLite file or a fresh PostgreSQL database, parameter ``backend``).

Tests of what only SQLite has (its file, pragmas, old file formats) open a
file in ``tmp_path`` themselves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from monitor.store import Store
from tests.support.clocks import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def store(database: str, clock: ManualClock) -> AsyncIterator[Store]:
    """Yield a store open on `database` with the test's manual clock, closed afterwards."""
    s = await Store.open(database, clock=clock)
    try:
        yield s
    finally:
        await s.close()
