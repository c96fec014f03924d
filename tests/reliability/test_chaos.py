"""Promise 1 of RELIABILITY.md: a chaos run of hundreds of probes leaves sttwatch up and clean."""

from __future__ import annotations

import asyncio
import re
import statistics
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from monitor.isolation import DEFAULT_GRACE
from monitor.simulator import Scenario, SimulatorHandle, start_simulator
from tests.support.chaos import (
    ALL_ACTIONS,
    PROBE_SPECS,
    ProcSample,
    SttwatchProcess,
    chaos_scenario,
    final_janitor_sweep,
    get_json,
    ledger_pending,
    sim_leftovers,
    stored_results,
    untracked,
    write_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SEED = 20261121
MIN_RUNS = 500
RUN_LIMIT_S = 150.0
WINDOW = 100
# "Flat": a leak of one descriptor per run, or of 25 kB per run, would exceed these.
FD_TOLERANCE = 2
RSS_TOLERANCE_KB = 10 * 1024
QUIET = [
    {"endpoint": "*", "action": "status", "status": 503},
    {"endpoint": "ws", "action": "refuse", "status": 503},
]
TIMEOUTS = {name: spec["timeout"] for name, spec in PROBE_SPECS.items()}


@pytest.fixture
async def chaos_sim() -> AsyncIterator[SimulatorHandle]:
    handle = await start_simulator(port=0, scenario=Scenario.model_validate(chaos_scenario(SEED)))
    try:
        yield handle
    finally:
        await handle.close()


def _seconds(duration: str) -> float:
    m = re.fullmatch(r"(\d+)(ms|s)", duration)
    assert m, duration
    return int(m.group(1)) / (1000 if m.group(2) == "ms" else 1)


def _metric(exposition: str, name: str, **labels: str) -> float:
    """Return the sum of the samples of `name` whose labels include `labels`."""
    total = 0.0
    for line in exposition.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _flatness(samples: list[ProcSample], final_runs: int) -> dict[str, float]:
    first = [s for s in samples if s.runs <= WINDOW]
    last = [s for s in samples if s.runs >= final_runs - WINDOW]
    assert first and last, "no samples in the first or last window"
    return {
        "fds_first_min": min(s.fds for s in first),
        "fds_last_min": min(s.fds for s in last),
        "fds_first_median": statistics.median(s.fds for s in first),
        "fds_last_median": statistics.median(s.fds for s in last),
        "fds_first_max": max(s.fds for s in first),
        "fds_last_max": max(s.fds for s in last),
        "rss_first_max_kb": max(s.rss_kb for s in first),
        "rss_last_max_kb": max(s.rss_kb for s in last),
    }


async def test_chaos_run_stays_up_classifies_everything_and_leaks_nothing(
    tmp_path: Path, chaos_sim: SimulatorHandle
) -> None:
    """Promise 1: chaos run (every fault kind, ~30 % of requests, ≥ 500 probe runs).

    A real ``sttwatch run`` child process (four targets, all three probes,
    1–4 s intervals, 0.8–3.5 s timeouts) against the simulator with seeded
    random faults, plus one of each fault for sure. Checks: the process stays
    up and exits 0 on SIGTERM; every stored result has a status, and a down
    one an ``error_kind`` other than ``internal`` (no traceback in the log);
    no run lasted longer than its timeout + the scheduler's grace, and the
    scheduler never had to cancel one (each probe kept its own deadline); the
    scheduler's, the metrics' and the database's run counts agree; after the
    faults clear and the janitor sweeps, the simulator has no unterminated or
    open streaming session, every transcript still there is known to the
    ledger, and the janitor's sweep (as it runs once stuck jobs are an hour
    old) leaves zero undeleted; open file descriptors (floor) and peak RSS are
    flat between the first 100 runs and the last 100 (which the simulator
    answers at once, so the process is idle between them).
    """
    sim = chaos_sim
    config = write_config(tmp_path, sim, targets=4)
    db = tmp_path / "sttwatch.db"
    proc = SttwatchProcess(config, tmp_path / "run.log")
    await proc.start()
    samples: list[ProcSample] = []
    loop = asyncio.get_running_loop()
    try:
        port = await proc.wait_serving()
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            end = loop.time() + RUN_LIMIT_S
            runs = 0
            while runs < MIN_RUNS:
                assert proc.alive(), f"sttwatch died:\n{proc.tail()}"
                assert loop.time() < end, f"only {runs} runs in {RUN_LIMIT_S:g}s"
                health = await get_json(http, f"{base}/healthz")
                runs = int(health["scheduler"]["runs"])
                samples.append(proc.sample(runs))
                await asyncio.sleep(0.2)
            chaos_runs = runs
            chaos_state = sim.state()
            # 100 more runs that the simulator answers at once (503): between them the
            # process is idle, so its floor of descriptors is what it holds for itself,
            # including anything the chaos leaked, without connections in flight.
            sim.set_faults(QUIET)
            while runs < chaos_runs + WINDOW:
                assert proc.alive(), f"sttwatch died:\n{proc.tail()}"
                assert loop.time() < end + 60, f"only {runs} runs"
                health = await get_json(http, f"{base}/healthz")
                runs = int(health["scheduler"]["runs"])
                samples.append(proc.sample(runs))
                await asyncio.sleep(0.2)
            async with http.get(f"{base}/metrics") as resp:
                exposition = await resp.text()
            health = await get_json(http, f"{base}/healthz")
        scheduler_runs = int(health["scheduler"]["runs"])
        skipped = int(health["scheduler"]["skipped"])
        # The faults stop; a graceful stop lets running probes end and sweeps the ledger.
        sim.clear_faults()
        code = await proc.stop(within=60.0)
    finally:
        if proc.alive():
            await proc.kill9()
    log_text = proc.new_log().decode(errors="replace")
    assert code == 0, proc.tail()

    injected = dict(sorted(chaos_state["faults_applied"].items()))
    results = stored_results(db)
    by_kind = Counter(r.error_kind or ("up", "degraded")[r.status] for r in results)
    statuses = Counter(("up", "degraded", "down")[r.status] for r in results)
    worst = {
        probe: max((r.duration_s for r in results if r.probe == probe), default=0.0)
        for probe in TIMEOUTS
    }
    flat = _flatness(samples, scheduler_runs)
    undeleted_after_stop = sim_leftovers(sim)
    pending = ledger_pending(db)
    leaked = await untracked(sim, undeleted_after_stop["undeleted_ids"], pending)
    print(
        f"\nchaos run: {chaos_runs} runs under faults, {len(results)} results stored "
        f"({scheduler_runs} scheduler runs, "
        f"{skipped} skipped slots), statuses {dict(statuses)}"
        f"\n  outcomes: {dict(sorted(by_kind.items()))}"
        f"\n  faults injected ({sum(injected.values())}): {injected}"
        f"\n  requests under faults: {chaos_state['requests']}"
        f"\n  longest run per probe (s): {worst}"
        f"\n  flatness: {flat}"
        f"\n  after the graceful stop: {undeleted_after_stop['undeleted']} undeleted "
        f"({len(leaked)} unknown to the ledger), "
        f"{undeleted_after_stop['unterminated']} unterminated, "
        f"{undeleted_after_stop['active']} active streams"
    )

    # Every fault kind was exercised.
    assert set(injected) == ALL_ACTIONS, f"never fired: {ALL_ACTIONS - set(injected)}"

    # Stays up, and the three accounts of runs agree.
    assert chaos_runs >= MIN_RUNS
    assert len(results) >= scheduler_runs, (
        "results the scheduler counted are missing from the database"
    )
    assert _metric(exposition, "sttwatch_probe_runs_total") <= len(results)

    # Every result is classified; nothing is an internal error.
    for r in results:
        assert r.status in (0, 1, 2), r
        if r.status == 2:
            assert r.error_kind is not None, r
            assert r.error_kind != "internal", r
        else:
            assert r.error_kind is None, r
    assert _metric(exposition, "sttwatch_probe_errors_total", error_kind="internal") == 0
    assert "Traceback" not in log_text, log_text[-4000:]

    # No probe outlived its timeout + grace, nor needed the scheduler to end it.
    for r in results:
        limit = _seconds(TIMEOUTS[r.probe]) + DEFAULT_GRACE
        assert r.duration_s <= limit, r
    cancelled = [r for r in results if r.message and "cancelled by the scheduler" in r.message]
    assert not cancelled, cancelled[:5]
    assert "overran its" not in log_text

    # Nothing left behind on the provider once the janitor has swept.
    assert undeleted_after_stop["unterminated"] == 0
    assert undeleted_after_stop["active"] == 0
    assert not leaked, f"undeleted transcripts the ledger does not know: {leaked}"
    report = await final_janitor_sweep(config)
    left = sim_leftovers(sim)
    print(f"  janitor sweep an hour later: {report}; left: {left}")
    assert left["undeleted"] == 0, left
    assert not ledger_pending(db)

    # Flat: descriptors held at the quietest moment, and peak RSS.
    assert abs(flat["fds_last_min"] - flat["fds_first_min"]) <= FD_TOLERANCE, flat
    assert flat["rss_last_max_kb"] - flat["rss_first_max_kb"] <= RSS_TOLERANCE_KB, flat
