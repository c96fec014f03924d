"""Fixtures of the multi-agent tests: a PostgreSQL cluster of the test's own, to stop and start.

The session's cluster (``postgres_cluster``) is shared by every PostgreSQL test
of a worker; a test that stops its server needs one nobody else uses.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.postgres import PostgresCluster, start_cluster


@pytest.fixture
def own_cluster(postgres_cluster: PostgresCluster) -> Iterator[PostgresCluster]:
    """Yield a cluster of this test alone (same binaries as the session's), removed afterwards."""
    cluster = start_cluster(postgres_cluster.bin_dir)
    try:
        yield cluster
    finally:
        cluster.stop()
