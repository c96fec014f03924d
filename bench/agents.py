"""Several agents on one PostgreSQL: load, write latency, size per result, and a 60 s outage.

``python -m bench.agents load``: three ``sttwatch run`` agents, each at
`--rate` reachability probes per minute (the same targets: one set of
components probed from three "locations"), on one PostgreSQL database of a
cluster this benchmark starts (initdb/pg_ctl in a temporary directory, like the
tests), beside one agent on SQLite at the same rate for the comparison — all
against one simulator process, measured over the same window. CPU per probe is
each agent's own (utime + stime over the window / probes it completed); the
write latency is that of single result writes (``Store.add_result``, awaited
until committed, as the scheduler's store sink does) made by this process at
10 per second on the shared database while the agents load it; the size per
result is the database's and the ``results`` table's (with its indexes)
divided by the rows stored.

``python -m bench.agents outage --seconds 60``: one agent probing every
second; the server is stopped (``pg_ctl stop -m fast``) for that long and
started again. Counted: the simulator's requests against the rows stored (no
result lost, none doubled), what /healthz said meanwhile, how long the buffer
took to be written, whether the agent led again.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.procs import cpu_seconds, http_get
from bench.scale import Simulator, SttwatchSide, steady_after, targets_for
from monitor.models import ProbeResult, Status
from monitor.store import Store
from tests.support.postgres import PostgresCluster, find_bin_dir, start_cluster

LOCATIONS = ("eu-west", "us-east", "ap-south")


def _cluster() -> PostgresCluster:
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found")
    return start_cluster(bin_dir)


def _rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


async def _write_latency(url: str, seconds: float, per_s: float = 10.0) -> list[float]:
    """Return the latencies (s) of single committed writes made while the agents run."""
    latencies: list[float] = []
    async with await Store.open(url) as store:
        t0 = datetime.now(UTC)
        i = 0
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            result = ProbeResult(
                target="bench-writer",
                probe="reachability",
                started_at=t0 + timedelta(seconds=i),
                duration_s=0.05,
                status=Status.UP,
                phases={"dns": 0.001, "connect": 0.003, "ttfb": 0.04, "total": 0.05},
                details={"http_status": 200},
            )
            started = time.perf_counter()
            await store.add_result(result)
            latencies.append(time.perf_counter() - started)
            i += 1
            await asyncio.sleep(1.0 / per_s)
    return latencies


def load(
    workdir: Path, *, agents: int, rate: int, interval_s: float, n_intervals: int
) -> dict[str, Any]:
    """Return each agent's figures, the shared database's write latency and size per result."""
    cluster = _cluster()
    out: dict[str, Any] = {"agents": agents, "rate_per_min_each": rate, "interval_s": interval_s}
    try:
        url = cluster.create_database("bench")
        n = targets_for(rate, interval_s)
        with Simulator(workdir) as sim:
            sides: dict[str, SttwatchSide] = {}
            for i in range(agents):
                d = workdir / f"agent-{i}"
                d.mkdir()
                sides[LOCATIONS[i % len(LOCATIONS)]] = SttwatchSide(
                    d,
                    sim,
                    n,
                    interval_s,
                    database=url,
                    env={"STTWATCH_LOCATION": LOCATIONS[i % len(LOCATIONS)]},
                )
            d = workdir / "sqlite"
            d.mkdir()
            sides["sqlite (one agent, for comparison)"] = SttwatchSide(d, sim, n, interval_s)
            started: list[SttwatchSide] = []
            window = n_intervals * interval_s
            try:
                for side in sides.values():
                    started.append(side)
                    side.start()
                time.sleep(steady_after(interval_s))
                for side in sides.values():
                    side.begin()
                latencies = asyncio.run(_write_latency(url, window))
                for side in sides.values():
                    side.end()
                leaders = []
                for name, side in sides.items():
                    _, body = http_get(f"http://127.0.0.1:{side.port}/healthz")
                    if json.loads(body).get("leadership", {}).get("leading"):
                        leaders.append(name)
            finally:
                for side in reversed(started):
                    side.stop()
            out["agents_figures"] = {name: side.result() for name, side in sides.items()}
            out["leaders"] = leaders
        q = statistics.quantiles(latencies, n=100, method="inclusive")
        out["write_latency_ms"] = {
            "writes": len(latencies),
            "p50": round(q[49] * 1000, 2),
            "p99": round(q[98] * 1000, 2),
            "max": round(max(latencies) * 1000, 2),
        }
        ((count, db_bytes, results_bytes),) = _rows(
            url,
            "SELECT count(*), pg_database_size(current_database()),"
            " pg_total_relation_size('results') FROM results",
        )
        ((empty_bytes,),) = _rows(
            cluster.create_database("empty"), "SELECT pg_database_size(current_database())"
        )
        out["results_stored"] = count
        out["database_bytes"] = db_bytes
        out["empty_database_bytes"] = empty_bytes
        out["bytes_per_result_database"] = round((db_bytes - empty_bytes) / count, 1)
        out["bytes_per_result_results_table"] = round(results_bytes / count, 1)
    finally:
        cluster.stop()
    return out


def _health(port: int) -> dict[str, Any]:
    try:
        _, body = http_get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    except OSError as exc:
        return {"status": f"no answer: {exc}"}
    found: dict[str, Any] = json.loads(body)
    return found


def outage(workdir: Path, *, seconds: float, targets: int = 10) -> dict[str, Any]:
    """Return what one agent did while its database was stopped for `seconds`."""
    cluster = _cluster()
    out: dict[str, Any] = {"outage_s": seconds, "targets": targets, "interval_s": 1.0}
    try:
        url = cluster.create_database("bench")
        with Simulator(workdir) as sim:
            side = SttwatchSide(workdir, sim, targets, 1.0, database=url)
            side.start()
            try:
                time.sleep(5.0)
                cpu0 = cpu_seconds(side.proc.pid)
                cluster.pg_ctl("stop", "-m", "fast", "-w")
                stopped = time.monotonic()
                seen: dict[str, int] = {}
                buffered_max = 0
                while time.monotonic() - stopped < seconds:
                    h = _health(side.port)
                    for reason in h.get("reasons", []):
                        key = reason.split(",")[0] if "buffered" in reason else reason
                        seen[key] = seen.get(key, 0) + 1
                    buffered_max = max(
                        buffered_max, h.get("database", {}).get("buffered_results", 0)
                    )
                    time.sleep(1.0)
                out["health_reasons_seen"] = seen
                out["buffered_max"] = buffered_max
                out["agent_alive_during_outage"] = side.proc.alive()
                cluster.pg_ctl("restart", "-w", "-t", "60", "-l", str(cluster.root / "server.log"))
                back = time.monotonic()
                flushed_after = lead_after = None
                while time.monotonic() - back < 60.0 and (
                    flushed_after is None or lead_after is None
                ):
                    h = _health(side.port)
                    if flushed_after is None and h.get("database", {}).get("buffered_results") == 0:
                        flushed_after = round(time.monotonic() - back, 2)
                    if lead_after is None and h.get("leadership", {}).get("leading"):
                        lead_after = round(time.monotonic() - back, 2)
                    time.sleep(0.2)
                out["buffer_written_after_restart_s"] = flushed_after
                out["leading_again_after_restart_s"] = lead_after
                out["agent_cpu_s_outage_and_after"] = round(cpu_seconds(side.proc.pid) - cpu0, 3)
            finally:
                side.stop()
            out["exit_code"] = side.exit_code
            _, body = http_get(f"{sim.base_url}/_sim/state")
            requests = json.loads(body)["requests"].get("transcript.list", 0)
        ((rows, distinct),) = _rows(
            url,
            "SELECT count(*), count(DISTINCT (r.component, r.started_at)) FROM results r",
        )
        out["simulator_requests"] = requests
        out["results_stored"] = rows
        out["results_distinct"] = distinct
        out["lost"] = requests - distinct
        out["doubled"] = rows - distinct
        log = side.proc.log_path.read_text(errors="replace")
        out["tracebacks_in_log"] = log.count("Traceback")
    finally:
        cluster.stop()
    return out


def failover(workdir: Path, *, kills: int = 5) -> dict[str, Any]:
    """Return how long, after the leader's SIGKILL, until the other agent leads, `kills` times."""
    import signal

    cluster = _cluster()
    out: dict[str, Any] = {"kills": kills, "takeover_s": []}
    try:
        url = cluster.create_database("bench")
        with Simulator(workdir) as sim:
            sides: list[SttwatchSide] = []
            try:
                for i in range(2):
                    d = workdir / f"agent-{i}"
                    d.mkdir()
                    side = SttwatchSide(
                        d, sim, 5, 1.0, database=url, env={"STTWATCH_LOCATION": LOCATIONS[i]}
                    )
                    side.start()
                    sides.append(side)
                for n in range(kills):
                    leaders = [
                        s for s in sides if _health(s.port).get("leadership", {}).get("leading")
                    ]
                    if len(leaders) != 1:
                        raise RuntimeError(f"{len(leaders)} leaders before kill {n}")
                    (leader,) = leaders
                    (other,) = [s for s in sides if s is not leader]
                    leader.proc.stop(signal.SIGKILL)
                    killed = time.monotonic()
                    while not _health(other.port).get("leadership", {}).get("leading"):
                        if time.monotonic() - killed > 60.0:
                            raise RuntimeError("no takeover within 60 s")
                        time.sleep(0.05)
                    out["takeover_s"].append(round(time.monotonic() - killed, 2))
                    # The killed agent comes back as a follower, as a restarted container would.
                    leader.start()
            finally:
                for side in sides:
                    side.stop()
    finally:
        cluster.stop()
    out["takeover_max_s"] = max(out["takeover_s"])
    return out


def main(argv: list[str] | None = None) -> int:
    """Run one of the two measurements; print its JSON."""
    parser = argparse.ArgumentParser(prog="python -m bench.agents")
    sub = parser.add_subparsers(dest="what", required=True)
    p_load = sub.add_parser("load", help="N agents x RATE probes/min on one PostgreSQL")
    p_load.add_argument("--agents", type=int, default=3)
    p_load.add_argument("--rate", type=int, default=1000)
    p_load.add_argument("--interval", type=float, default=10.0)
    p_load.add_argument("--intervals", type=int, default=2)
    p_out = sub.add_parser("outage", help="the database stopped under a probing agent")
    p_out.add_argument("--seconds", type=float, default=60.0)
    p_fail = sub.add_parser("failover", help="the leader killed, the other agent takes over")
    p_fail.add_argument("--kills", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sttwatch-agents-") as tmp:
        if args.what == "load":
            out = load(
                Path(tmp),
                agents=args.agents,
                rate=args.rate,
                interval_s=args.interval,
                n_intervals=args.intervals,
            )
        elif args.what == "failover":
            out = failover(Path(tmp), kills=args.kills)
        else:
            out = outage(Path(tmp), seconds=args.seconds)
    json.dump(out, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
