"""`monitor.app.open_runtime`: what it builds, with and without metrics, against a simulator."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from monitor.app import open_runtime
from monitor.config import Config
from monitor.simulator import SimulatorHandle
from tests.support.configs import config_doc, parsed, sim_target

if TYPE_CHECKING:
    from tests.support.fixture_types import SimStarter


@pytest.fixture
async def sim(start_sim: SimStarter) -> SimulatorHandle:
    return await start_sim({"jobs": {"queued_ms": 50, "processing_ms": 100}})


def config(tmp_path: Path, sim: SimulatorHandle) -> Config:
    probes = {"reachability": {"timeout": "5s", "degraded_after": "2s"}}
    return parsed(
        config_doc(tmp_path, [sim_target(sim, probes=probes)], database="rt.db", listen=None)
    )


async def test_the_metrics_see_every_result(tmp_path: Path, sim: SimulatorHandle) -> None:
    async with open_runtime(config(tmp_path, sim)) as rt:
        [result] = await rt.run_once()
        assert rt.sinks == [rt.store_result, rt.metrics.observe]
        runs = rt.metrics.registry.get_sample_value(
            "sttwatch_probe_runs_total",
            {
                "target": "sim",
                "provider": "assemblyai",
                "probe": "reachability",
                "location": "local",
                "status": result.status.value,
            },
        )
    assert runs == 1.0


async def test_without_metrics_results_are_stored_all_the_same(
    tmp_path: Path, sim: SimulatorHandle
) -> None:
    async with open_runtime(config(tmp_path, sim), metrics=False) as rt:
        [result] = await rt.run_once()
        assert result.status.value == "up"
        assert rt.sinks == [rt.store_result]
        with pytest.raises(RuntimeError, match="keeps no metrics"):
            rt.metrics  # noqa: B018
        [stored] = await rt.store.latest()
    # Stored at millisecond precision.
    assert (stored.probe, stored.status) == (result.probe, result.status)
    assert abs((stored.started_at - result.started_at).total_seconds()) < 0.001
