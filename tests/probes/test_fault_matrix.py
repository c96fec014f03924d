"""The fault matrix: every simulator fault → the (probe, status, error_kind) a user sees.

Each case starts a fresh simulator with one scripted fault, runs the probe it
affects once with short timeouts, and checks the classification. Then it
checks that nothing is left behind: no transcript undeleted, no streaming
session open or unterminated. Where the design makes the janitor responsible
(the probe could not delete: DELETE failed, the job never finished), the case
says so; the fault is cleared, the janitor sweeps the real SQLite ledger, and
the leftovers must be zero. Everywhere else the probe must have cleaned up
by itself, before any sweep.

The table in docs/probes.md is this matrix in prose.
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from monitor import janitor
from monitor.models import ErrorKind, ProbeResult
from monitor.probes import PROBES, probe_type, provider
from monitor.simulator.scenario import WEBHOOK_ACTIONS, Action
from monitor.store import Store
from tests.support.clocks import BurstClock
from tests.support.fault_matrix import CASES, SPECS, Case
from tests.support.fixture_types import SimFactory
from tests.support.probes import NOTHING_LEFT, context, leftovers, settle, target_for
from tests.support.webhooks import running_receiver


def _spec(case: Case) -> Any:
    update = dict(case.spec)
    if case.auth is not None:
        update["auth"] = case.auth
    return SPECS[case.probe].model_copy(update=update)


async def _janitor_cleans_up(handle: Any, store: Store, targets: dict[str, Any]) -> None:
    """Clear the fault, then sweep until the ledger and the simulator are clean (≤ 5 s)."""
    handle.clear_faults()
    loop = asyncio.get_running_loop()
    end = loop.time() + 5
    while True:
        # Entries of stuck jobs are deleted once old enough; "old" is now, in a test.
        await janitor.sweep(targets, context(store), delete_unfinished_after=0)
        if not await store.pending() and not leftovers(handle)["undeleted"]:
            return
        if loop.time() > end:
            return
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_fault(case: Case, make_sim: SimFactory, tmp_path: Path) -> None:
    scenario = dict(case.scenario)
    if case.burst:
        scenario["streaming"] = {"strict_pacing": False}
    handle = await make_sim(faults=case.faults, **scenario)
    target = target_for(handle)
    store = await Store.open(str(tmp_path / "sttwatch.db"))
    try:
        ctx = context(store, BurstClock() if case.burst else None)
        spec = _spec(case)
        async with AsyncExitStack() as stack:
            if probe_type(case.probe).receives_calls:
                ctx.webhooks = (await stack.enter_async_context(running_receiver())).runs
            result: ProbeResult = await PROBES[case.probe](target, spec, ctx)

        assert (result.probe, result.status, result.error_kind) == (
            case.probe,
            case.status,
            case.kind,
        ), result.message
        if case.message is not None:
            assert result.message == case.message
        assert result.message and "sim-key" not in str(result.to_json())
        # Whatever the server did, the run ended within its timeout plus the cleanup grace.
        assert result.duration_s < spec.timeout + 5.5

        left = await settle(handle)
        expected_left = NOTHING_LEFT
        if case.janitor:
            assert left["undeleted"], "the janitor was expected to have work"
            assert [e.transcript_id for e in await store.pending()] == left["undeleted"]
            await _janitor_cleans_up(handle, store, {target.name: target})
            left = leftovers(handle)
            assert await store.pending() == []
        assert left == expected_left
    finally:
        await store.close()


def test_every_simulator_fault_action_is_in_the_matrix() -> None:
    used = {fault["action"] for case in CASES for fault in case.faults}
    assert used == set(Action.__args__)  # type: ignore[attr-defined]
    webhook_rows = {f["action"] for c in CASES for f in c.faults if f["endpoint"] == "webhook"}
    assert webhook_rows >= WEBHOOK_ACTIONS


def test_every_error_kind_a_fault_can_cause_is_in_the_matrix() -> None:
    kinds = {case.kind for case in CASES}
    network_only = {
        ErrorKind.DNS,
        ErrorKind.CONNECT,
        ErrorKind.TLS,
        ErrorKind.INTERNAL,
    }  # tests/probes/test_probe_reachability.py
    # The kinds AssemblyAI's probes declare (other providers have their own matrices).
    declared = {k for kind in provider("assemblyai").probes for k in kind.error_kinds}
    assert kinds | network_only | {None} == {*declared, None}
