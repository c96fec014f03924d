"""The local buffer: results kept in order in a file and written once, after a restart too."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from monitor.models import ProbeResult, Status, SystemClock
from monitor.store import Store
from monitor.store.spool import BufferedResults, ResultSpool
from tests.support import results
from tests.support.polling import eventually


def batch(n: int) -> list[ProbeResult]:
    return [
        results.make(
            at=results.T0 + timedelta(seconds=i),
            status=Status.DOWN if i % 2 else Status.UP,
            message="connect timed out" if i % 2 else "",
        )
        for i in range(n)
    ]


def test_the_spool_keeps_results_whole_and_in_order_across_a_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "buffer.db")
    spool = ResultSpool(path)
    kept = batch(4)
    for r in kept:
        spool.append(r)
    spool.close()  # the agent was killed here
    again = ResultSpool(path)
    # Whole as the store keeps them: JSON's ms starts and µs phases are the columns' units.
    assert [r.to_json() for _, r in again.head(10)] == [r.to_json() for r in kept]
    first_two = again.head(2)
    again.drop(first_two[-1][0])
    assert [r.to_json() for _, r in again.head(10)] == [r.to_json() for r in kept[2:]]
    assert again.count() == 2
    again.close()


async def test_what_a_killed_agent_buffered_is_written_at_the_next_start(
    tmp_path: Path, postgres_url: str
) -> None:
    path = str(tmp_path / "buffer.db")
    left = ResultSpool(path)
    kept = batch(5)
    for r in kept:
        left.append(r)
    left.close()
    store = await Store.open(postgres_url)
    try:
        # One of them had reached the database before the agent died.
        assert await store.add_results_once(kept[:1]) == 1
        buffer = BufferedResults(store, path, clock=SystemClock(), flush_every=0.05)
        await buffer.start()
        assert buffer.buffered == 5
        await eventually(lambda: buffer.buffered == 0, "the buffer written", 10.0)
        await buffer.stop()
        assert (buffer.flushed, buffer.duplicates) == (4, 1)
        stored = await store.results(limit=100)
        assert sorted(r.started_at for r in stored) == [r.started_at for r in kept]
    finally:
        await store.close()
    assert ResultSpool(path).count() == 0
