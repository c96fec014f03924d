"""Benchmark 3: ``sttwatch run`` at K reachability probes per minute, beside blackbox + Prometheus.

Rate, not target count, is what is held equal: with an interval of I seconds
a rate of K probes/min needs ``K * I / 60`` targets. Each side runs for a
warm-up (the first-run window plus a second), then a measurement window of
whole intervals; CPU comes from /proc/PID/stat of each process over that
window only, divided by the probes completed in it.

sttwatch: probes counted by ``sttwatch_probe_runs_total`` and lateness read
from the ``sttwatch_scheduler_lateness_seconds`` histogram (both deltas over
the window, from its own /metrics). Peer: one blackbox_exporter probed by a
real Prometheus with the blackbox relabeling pattern, the same number of
targets and ``scrape_interval`` = I; probes counted from Prometheus' TSDB
(``count_over_time(probe_success[window])``).
"""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path
from typing import Any, Self

import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench.peers import BlackboxExporter, Prometheus, blackbox_scrape_config
from bench.procs import Proc, cpu_seconds, free_port, http_get, python, status_kb
from bench.stats import histogram_quantile, percentile, ratio

SIM_KEY = "sim-key"


def targets_for(rate_per_min: int, interval_s: float) -> int:
    """Return how many targets probed every `interval_s` give `rate_per_min` probes/min."""
    return max(1, round(rate_per_min * interval_s / 60.0))


class Simulator(Proc):
    """``sttwatch simulate`` in a process of its own (its CPU is not the monitor's)."""

    def __init__(self, workdir: Path, name: str = "simulator") -> None:
        self.port = free_port()
        super().__init__(
            [python(), "-m", "monitor", "simulate", "--listen", f"127.0.0.1:{self.port}"],
            log=workdir / f"{name}.log",
        )

    @property
    def base_url(self) -> str:
        """Return the REST base URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_base(self) -> str:
        """Return the streaming base URL."""
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> Self:
        """Start and wait until it answers."""
        super().start()
        self.wait_http(f"{self.base_url}/_sim/state")
        return self


def write_config(
    workdir: Path, api_base: str, n_targets: int, interval_s: float, *, listen_port: int
) -> Path:
    """Return the path of a config with `n_targets` reachability-only targets."""
    timeout = min(5.0, interval_s * 0.5)
    cfg = {
        "database": str(workdir / "scale.db"),
        "site_dir": str(workdir / "site"),
        "listen": f"127.0.0.1:{listen_port}",
        "targets": [
            {
                "name": f"t{i:05d}",
                "api_base": api_base,
                "api_key": SIM_KEY,
                "probes": {
                    "reachability": {
                        "interval": f"{interval_s:g}s",
                        "timeout": f"{timeout:g}s",
                        "degraded_after": f"{min(2.0, timeout * 0.8):g}s",
                    }
                },
            }
            for i in range(n_targets)
        ],
    }
    path = workdir / "scale.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    path.chmod(0o600)
    return path


def _scrape(port: int) -> tuple[float, list[tuple[float, float]]]:
    """Return (probe runs so far, cumulative lateness buckets summed over all jobs)."""
    status, body = http_get(f"http://127.0.0.1:{port}/metrics", timeout=30)
    if status != 200:
        raise RuntimeError(f"/metrics answered {status}")
    runs = 0.0
    buckets: dict[float, float] = {}
    for fam in text_string_to_metric_families(body.decode()):
        if fam.name == "sttwatch_probe_runs":
            runs += sum(s.value for s in fam.samples if s.name.endswith("_total"))
        elif fam.name == "sttwatch_scheduler_lateness_seconds":
            for s in fam.samples:
                if s.name.endswith("_bucket"):
                    le = float(s.labels["le"])
                    buckets[le] = buckets.get(le, 0.0) + s.value
    return runs, sorted(buckets.items())


def _delta(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    before = dict(a)
    return [(le, count - before.get(le, 0.0)) for le, count in b]


def _db_counts(db: Path, since_ms: int, until_ms: int) -> int:
    """Return how many results `sttwatch run` stored with started_at in [since, until)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        (n,) = conn.execute(
            "SELECT count(*) FROM results WHERE started_at >= ? AND started_at < ?",
            (since_ms, until_ms),
        ).fetchone()
        return int(n)
    finally:
        conn.close()


def _db_lateness(db: Path, since_ms: int, until_ms: int, interval_s: float) -> list[float]:
    """Return lateness (s) of each run in the window, from the stored start times.

    Fallback when /metrics is not served: each target's first stored run is
    taken as on time and run k as due k intervals later, so a late first run
    makes this an underestimate.
    """
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        rows = conn.execute(
            "SELECT component, started_at FROM results ORDER BY component, started_at"
        ).fetchall()
    finally:
        conn.close()
    first: dict[int, int] = {}
    out = []
    step = interval_s * 1000.0
    for comp, started in rows:
        s0 = first.setdefault(comp, started)
        if since_ms <= started < until_ms:
            k = round((started - s0) / step)
            out.append(max(0.0, (started - s0 - k * step) / 1000.0))
    return out


def _metrics_up(port: int) -> bool:
    try:
        return http_get(f"http://127.0.0.1:{port}/metrics", timeout=5)[0] == 200
    except OSError:
        return False


def run_sttwatch(
    workdir: Path, sim: Simulator, rate: int, interval_s: float, n_intervals: int
) -> dict[str, Any]:
    """Return CPU per probe, lateness p50/p99 and peak RSS of `sttwatch run` at `rate`/min."""
    n = targets_for(rate, interval_s)
    port = free_port()
    cfg = write_config(workdir, sim.base_url, n, interval_s, listen_port=port)
    db = workdir / "scale.db"
    proc = Proc([python(), "-m", "monitor", "run", "-c", str(cfg)], log=workdir / "sttwatch.log")
    sim_cpu0 = cpu_seconds(sim.pid)
    with proc:
        deadline = time.monotonic() + 60
        while not (_metrics_up(port) or db.exists()):
            if not proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sttwatch run did not start:\n{proc.log_tail()}")
            time.sleep(0.1)
        time.sleep(min(interval_s, 10.0) + 1.0)  # every job has had its first run
        source = "metrics" if _metrics_up(port) else "database"
        if source == "metrics":
            runs_a, hist_a = _scrape(port)
        wall_a = time.time()
        cpu_a, t_a = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(n_intervals * interval_s)
        cpu_b, t_b = cpu_seconds(proc.pid), time.monotonic()
        wall_b = time.time()
        if source == "metrics":
            runs_b, hist_b = _scrape(port)
        hwm_kb = status_kb(proc.pid, "VmHWM")
        rc = proc.stop()
    if source == "metrics":
        hist = _delta(hist_a, hist_b)
        probes = runs_b - runs_a
        p50 = histogram_quantile(0.5, hist)
        p99 = histogram_quantile(0.99, hist)
        observed = int(hist[-1][1]) if hist else 0
    else:
        since, until = int(wall_a * 1000), int(wall_b * 1000)
        probes = _db_counts(db, since, until)
        late = _db_lateness(db, since, until, interval_s)
        p50, p99, observed = percentile(late, 50), percentile(late, 99), len(late)
    cpu = cpu_b - cpu_a
    return {
        "targets": n,
        "interval_s": interval_s,
        "window_s": round(t_b - t_a, 2),
        "source": source,
        "probes": int(probes),
        "probes_per_min_measured": round(probes * 60.0 / (t_b - t_a), 1),
        "cpu_s": round(cpu, 3),
        "cpu_ms_per_probe": round(1000.0 * cpu / probes, 3) if probes else math.nan,
        "cpu_util_pct": round(100.0 * cpu / (t_b - t_a), 1),
        "lateness_p50_ms": round(1000 * p50, 2),
        "lateness_p99_ms": round(1000 * p99, 2),
        "lateness_observations": observed,
        "peak_rss_mb": round(hwm_kb / 1024.0, 1),
        "simulator_cpu_s": round(cpu_seconds(sim.pid) - sim_cpu0, 3),
        "exit_code": rc,
    }


def run_peer(
    workdir: Path, sim: Simulator, rate: int, interval_s: float, n_intervals: int
) -> dict[str, Any]:
    """Return CPU per probe of blackbox_exporter + Prometheus at `rate`/min."""
    n = targets_for(rate, interval_s)
    peer_dir = workdir / "peer"
    peer_dir.mkdir(exist_ok=True)
    bb = BlackboxExporter(peer_dir, SIM_KEY)
    with bb:
        job = blackbox_scrape_config(
            bb.address, f"{sim.base_url}/v2/transcript?limit=1", n, interval_s
        )
        prom = Prometheus(peer_dir, [job], interval_s)
        with prom:
            # Prometheus spreads first scrapes over one interval; then all targets run.
            time.sleep(interval_s + 2.0)
            cpu_a = cpu_seconds(bb.pid) + cpu_seconds(prom.pid)
            bb_a, prom_a = cpu_seconds(bb.pid), cpu_seconds(prom.pid)
            t_a = time.monotonic()
            time.sleep(n_intervals * interval_s)
            t_b = time.monotonic()
            bb_b, prom_b = cpu_seconds(bb.pid), cpu_seconds(prom.pid)
            cpu_b = bb_b + prom_b
            window = t_b - t_a
            rng = f"{round(window * 1000)}ms"  # PromQL ranges take no decimals
            res = prom.query(f'sum(count_over_time(probe_success{{job="blackbox"}}[{rng}]))')
            probes = float(res[0]["value"][1]) if res else 0.0
            ok = prom.query(f'sum(sum_over_time(probe_success{{job="blackbox"}}[{rng}]))')
            succeeded = float(ok[0]["value"][1]) if ok else 0.0
            hwm_bb = status_kb(bb.pid, "VmHWM")
            hwm_prom = status_kb(prom.pid, "VmHWM")
    cpu = cpu_b - cpu_a
    return {
        "targets": n,
        "interval_s": interval_s,
        "window_s": round(window, 2),
        "probes": int(probes),
        "probes_succeeded": int(succeeded),
        "probes_per_min_measured": round(probes * 60.0 / window, 1),
        "cpu_s": round(cpu, 3),
        "cpu_s_blackbox": round(bb_b - bb_a, 3),
        "cpu_s_prometheus": round(prom_b - prom_a, 3),
        "cpu_ms_per_probe": round(1000.0 * cpu / probes, 3) if probes else math.nan,
        "peak_rss_mb_blackbox": round(hwm_bb / 1024.0, 1),
        "peak_rss_mb_prometheus": round(hwm_prom / 1024.0, 1),
    }


def run(
    workdir: Path,
    *,
    rates: tuple[int, ...],
    peer_rates: tuple[int, ...],
    interval_s: float,
    n_intervals: int,
    break_p99_s: float = 1.0,
) -> dict[str, Any]:
    """Return per-rate figures of both sides, ratios, and where lateness p99 passes 1 s."""
    out: dict[str, Any] = {
        "interval_s": interval_s,
        "window_intervals": n_intervals,
        "rates": {},
        "breaks_at_per_min": None,
    }
    with Simulator(workdir) as sim:
        for rate in rates:
            d = workdir / f"k{rate}"
            d.mkdir()
            entry: dict[str, Any] = {}
            try:
                entry["sttwatch"] = run_sttwatch(d, sim, rate, interval_s, n_intervals)
            except (RuntimeError, OSError) as exc:
                entry["sttwatch"] = {"error": str(exc)[:2000]}
            if rate in peer_rates:
                try:
                    entry["peer"] = run_peer(d, sim, rate, interval_s, n_intervals)
                except (RuntimeError, OSError) as exc:
                    entry["peer"] = {"error": str(exc)[:2000]}
                entry["ratio_cpu_sttwatch_to_peer"] = ratio(
                    entry["sttwatch"].get("cpu_ms_per_probe", math.nan),
                    entry["peer"].get("cpu_ms_per_probe", math.nan),
                )
            out["rates"][str(rate)] = entry
            p99 = entry["sttwatch"].get("lateness_p99_ms", math.nan)
            if not math.isnan(p99) and p99 > break_p99_s * 1000:
                out["breaks_at_per_min"] = rate
                break
    return out
