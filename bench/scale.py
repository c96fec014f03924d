"""Benchmark 3: ``sttwatch run`` at K reachability probes per minute, beside blackbox + Prometheus.

Rate is what is held equal: with an interval of I seconds a rate of K
probes/min needs ``K * I / 60`` targets. The goal point (1,000/min) runs in
production shape (interval 60 s, 1,000 targets); the others, and the search
for the breaking point, use I = 10 s with K/6 targets (same rate, a sixth of
the targets: per-target memory and the status page's size shrink with it, so
RSS of the two shapes differs). Both sides run at the same time against one
simulator: a warm-up (each side's first runs; for sttwatch, until its schedule
and re-renders are at their steady rate: `steady_after`), then one measurement
window of whole intervals; CPU comes from /proc/PID/stat of each process over that
window only, divided by the probes completed in it.

sttwatch: probes counted by ``sttwatch_probe_runs_total`` and lateness read
from the ``sttwatch_scheduler_lateness_seconds`` histogram (both deltas over
the window, from its own /metrics). Peer: one blackbox_exporter probed by a
real Prometheus with the blackbox relabeling pattern, the same number of
targets and ``scrape_interval`` = I; probes counted from Prometheus' TSDB
(``count_over_time(probe_success[window])``).

``python -m bench.scale --point 1000@60`` measures single points (``--no-peer``
to leave the peer out) and prints their JSON.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Self

import yaml
from prometheus_client.parser import text_string_to_metric_families

from bench.peers import BlackboxExporter, Prometheus, blackbox_scrape_config
from bench.procs import Proc, cpu_seconds, http_get, python, status_kb
from bench.stats import histogram_quantile, ratio
from monitor.scheduler import FIRST_RUN_WINDOW

SIM_KEY = "sim-key"
SERVING = r"serving on http://127\.0\.0\.1:(\d+)/"
"""What ``sttwatch run`` logs once it listens (on the port 0 gave it)."""


def targets_for(rate_per_min: int, interval_s: float) -> int:
    """Return how many targets probed every `interval_s` give `rate_per_min` probes/min."""
    return max(1, round(rate_per_min * interval_s / 60.0))


class Simulator(Proc):
    """``sttwatch simulate`` in a process of its own (its CPU is not the monitor's)."""

    def __init__(self, workdir: Path, name: str = "simulator") -> None:
        self.port = 0
        super().__init__(
            [python(), "-m", "monitor", "simulate", "--listen", "127.0.0.1:0"],
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
        """Start on a port of the kernel's choosing and wait until it answers."""
        super().start()
        self.port = self.wait_port(r"listening on http://127\.0\.0\.1:(\d+)")
        self.wait_http(f"{self.base_url}/_sim/state")
        return self


def write_config(
    workdir: Path,
    api_base: str,
    n_targets: int,
    interval_s: float,
    *,
    listen_port: int,
    database: str | None = None,
) -> Path:
    """Return the path of a config with `n_targets` reachability-only targets.

    `database` (default: a SQLite file in `workdir`) may be a PostgreSQL URL.
    """
    timeout = min(5.0, interval_s * 0.5)
    cfg = {
        "database": database or str(workdir / "scale.db"),
        "buffer": str(workdir / "buffer.db"),
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


def steady_after(interval_s: float) -> float:
    """Return the seconds after which ``sttwatch run`` probes and renders at its steady rate.

    Every job first runs within min(interval, FIRST_RUN_WINDOW) of start, then
    at its own phase of the interval (monitor.scheduler). Where the interval is
    longer than that window, the second cycle ends about two intervals after
    start, and the page is re-rendered once more in between (it is refreshed
    at least once a minute); the window opens half an interval after that, so
    it holds the steady one render per cycle, whole, and no start-up.
    """
    if interval_s <= FIRST_RUN_WINDOW:
        return interval_s + 1.0  # the first runs are already on their phases
    return 2.5 * interval_s


_SCRAPES: dict[int, list[tuple[float, int]]] = {}
"""Per sttwatch port: (seconds, bytes) of each /metrics scrape the benchmark made."""


def _scrape(port: int) -> tuple[float, list[tuple[float, float]]]:
    """Return (probe runs so far, cumulative lateness buckets summed over all jobs)."""
    t0 = time.perf_counter()
    status, body = http_get(f"http://127.0.0.1:{port}/metrics", timeout=30)
    _SCRAPES.setdefault(port, []).append((time.perf_counter() - t0, len(body)))
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


class SttwatchSide:
    """``sttwatch run`` with `n` reachability-only targets, measured over a window."""

    def __init__(
        self,
        workdir: Path,
        sim: Simulator,
        n: int,
        interval_s: float,
        whatif: str = "",
        *,
        database: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.n, self.interval_s = n, interval_s
        self.port = 0
        cfg = write_config(workdir, sim.base_url, n, interval_s, listen_port=0, database=database)
        argv = [python(), "-m", "monitor", "run", "-c", str(cfg)]
        if whatif:
            argv = [python(), "-m", "bench.whatif_run", "-c", str(cfg), *whatif.split()]
        self.proc = Proc(argv, log=workdir / "sttwatch.log", env=env)
        self.warmup_s = steady_after(interval_s)

    def start(self) -> None:
        """Start (listening on port 0) and wait until /metrics answers."""
        self.proc.start()
        self.port = self.proc.wait_port(SERVING, timeout=120)
        self.proc.wait_http(f"http://127.0.0.1:{self.port}/metrics", timeout=120)

    def begin(self) -> None:
        """Open the window: counters, then CPU (the scrape's own CPU stays outside)."""
        self.runs_a, self.hist_a = _scrape(self.port)
        self.cpu_a, self.t_a = cpu_seconds(self.proc.pid), time.monotonic()

    def end(self) -> None:
        """Close the window: CPU first, then counters."""
        self.cpu_b, self.t_b = cpu_seconds(self.proc.pid), time.monotonic()
        self.runs_b, self.hist_b = _scrape(self.port)
        self.hwm_kb = status_kb(self.proc.pid, "VmHWM")

    def stop(self) -> None:
        """Stop with SIGTERM (timed: a slow shutdown is a finding), SIGKILL after 30 s."""
        t0 = time.monotonic()
        self.exit_code = self.proc.stop(timeout=30.0)
        self.stop_s = time.monotonic() - t0

    def result(self) -> dict[str, Any]:
        """Return the window's figures."""
        hist = _delta(self.hist_a, self.hist_b)
        probes = self.runs_b - self.runs_a
        cpu = self.cpu_b - self.cpu_a
        window = self.t_b - self.t_a
        return {
            "targets": self.n,
            "interval_s": self.interval_s,
            "window_s": round(window, 2),
            "probes": int(probes),
            "probes_per_min_measured": round(probes * 60.0 / window, 1),
            "cpu_s": round(cpu, 3),
            "cpu_ms_per_probe": round(1000.0 * cpu / probes, 3) if probes else math.nan,
            "cpu_util_pct": round(100.0 * cpu / window, 1),
            "lateness_p50_ms": round(1000 * histogram_quantile(0.5, hist), 2),
            "lateness_p99_ms": round(1000 * histogram_quantile(0.99, hist), 2),
            "lateness_observations": int(hist[-1][1]) if hist else 0,
            "peak_rss_mb": round(self.hwm_kb / 1024.0, 1),
            # A scrape renders the exposition on sttwatch's event loop: its duration
            # is a stall every job due meanwhile sees as lateness.
            "metrics_scrape_ms": [round(1000 * t, 1) for t, _ in _SCRAPES.get(self.port, [])],
            "metrics_bytes": max((b for _, b in _SCRAPES.get(self.port, [])), default=0),
            "stop_s": round(getattr(self, "stop_s", math.nan), 1),
            "exit_code": getattr(self, "exit_code", None),
        }


class PeerSide:
    """blackbox_exporter probed by Prometheus, `n` targets every `interval_s`."""

    def __init__(self, workdir: Path, sim: Simulator, n: int, interval_s: float) -> None:
        self.n, self.interval_s = n, interval_s
        self.dir = workdir / "peer"
        self.dir.mkdir(exist_ok=True)
        self.bb = BlackboxExporter(self.dir, SIM_KEY)
        self.target_url = f"{sim.base_url}/v2/transcript?limit=1"
        self.prom: Prometheus | None = None
        # Prometheus spreads the first scrapes over one interval.
        self.warmup_s = interval_s + 2.0

    def start(self) -> None:
        """Start the exporter, then Prometheus scraping it."""
        self.bb.start()
        job = blackbox_scrape_config(self.bb.address, self.target_url, self.n, self.interval_s)
        self.prom = Prometheus(self.dir, [job], self.interval_s)
        self.prom.start()

    def _cpu(self) -> tuple[float, float]:
        assert self.prom is not None
        return cpu_seconds(self.bb.pid), cpu_seconds(self.prom.pid)

    def begin(self) -> None:
        """Open the window."""
        self.cpu_a, self.t_a = self._cpu(), time.monotonic()

    def end(self) -> None:
        """Close the window; count the probes Prometheus stored in it."""
        self.cpu_b, self.t_b = self._cpu(), time.monotonic()
        assert self.prom is not None
        rng = f"{round((self.t_b - self.t_a) * 1000)}ms"  # PromQL ranges take no decimals
        res = self.prom.query(f'sum(count_over_time(probe_success{{job="blackbox"}}[{rng}]))')
        self.probes = float(res[0]["value"][1]) if res else 0.0
        ok = self.prom.query(f'sum(sum_over_time(probe_success{{job="blackbox"}}[{rng}]))')
        self.succeeded = float(ok[0]["value"][1]) if ok else 0.0
        self.hwm = (status_kb(self.bb.pid, "VmHWM"), status_kb(self.prom.pid, "VmHWM"))

    def stop(self) -> None:
        """Stop Prometheus, then the exporter."""
        try:
            if self.prom is not None:
                self.prom.stop()
        finally:
            self.bb.stop()

    def result(self) -> dict[str, Any]:
        """Return the window's figures."""
        window = self.t_b - self.t_a
        bb_cpu = self.cpu_b[0] - self.cpu_a[0]
        prom_cpu = self.cpu_b[1] - self.cpu_a[1]
        cpu = bb_cpu + prom_cpu
        return {
            "targets": self.n,
            "interval_s": self.interval_s,
            "window_s": round(window, 2),
            "probes": int(self.probes),
            "probes_succeeded": int(self.succeeded),
            "probes_per_min_measured": round(self.probes * 60.0 / window, 1),
            "cpu_s": round(cpu, 3),
            "cpu_s_blackbox": round(bb_cpu, 3),
            "cpu_s_prometheus": round(prom_cpu, 3),
            "cpu_ms_per_probe": round(1000.0 * cpu / self.probes, 3) if self.probes else math.nan,
            "peak_rss_mb_blackbox": round(self.hwm[0] / 1024.0, 1),
            "peak_rss_mb_prometheus": round(self.hwm[1] / 1024.0, 1),
        }


def measure_point(
    workdir: Path,
    sim: Simulator,
    rate: int,
    interval_s: float,
    n_intervals: int,
    *,
    peer: bool,
    whatif: str = "",
) -> dict[str, Any]:
    """Return both sides' figures at `rate` probes/min, measured over the same window.

    The two sides run at the same time against the same simulator, so machine
    noise hits both alike; each process's CPU is its own. `whatif` runs
    `bench.whatif_run` with those options instead of ``sttwatch run``.
    """
    n = targets_for(rate, interval_s)
    sides: dict[str, SttwatchSide | PeerSide] = {
        "sttwatch": SttwatchSide(workdir, sim, n, interval_s, whatif)
    }
    if peer:
        sides["peer"] = PeerSide(workdir, sim, n, interval_s)
    out: dict[str, Any] = {"rate_per_min": rate, "interval_s": interval_s, "targets": n}
    sim_cpu0 = cpu_seconds(sim.pid)
    started: list[SttwatchSide | PeerSide] = []
    try:
        for side in sides.values():
            started.append(side)
            side.start()
        time.sleep(max(side.warmup_s for side in sides.values()))
        for side in sides.values():
            side.begin()
        time.sleep(n_intervals * interval_s)
        for side in sides.values():
            side.end()
    finally:
        for side in reversed(started):
            side.stop()
    for name, side in sides.items():
        out[name] = side.result()
    out["simulator_cpu_s"] = round(cpu_seconds(sim.pid) - sim_cpu0, 3)
    if peer:
        out["ratio_cpu_sttwatch_to_peer"] = ratio(
            out["sttwatch"]["cpu_ms_per_probe"], out["peer"]["cpu_ms_per_probe"]
        )
    return out


def run(
    workdir: Path,
    *,
    points: tuple[tuple[int, float, bool], ...],
    n_intervals: int,
    break_p99_s: float = 1.0,
    whatif_points: tuple[tuple[int, float, str], ...] = (),
) -> dict[str, Any]:
    """Return figures per (rate, interval) point, and the rate where lateness p99 passes 1 s.

    `points` are (probes per minute, interval, with the peer). Points run in the
    given order; once lateness p99 passes `break_p99_s`, higher rates at the
    same interval are skipped. ``breaks_at_per_min`` maps each interval to the
    first rate that broke, per shape (a break can come from the number of
    targets, not the rate). `whatif_points` (rate, interval, options of
    `bench.whatif_run`) are measured last, under ``whatif``.
    """
    out: dict[str, Any] = {"window_intervals": n_intervals, "points": {}, "breaks_at_per_min": {}}
    broken_at: dict[str, int] = out["breaks_at_per_min"]
    with Simulator(workdir) as sim:
        for rate, interval_s, peer in points:
            shape = f"{interval_s:g}s"
            if shape in broken_at and rate > broken_at[shape]:
                continue
            d = workdir / f"k{rate}-i{shape}"
            d.mkdir()
            key = f"{rate}/min@{shape}"
            try:
                entry = measure_point(d, sim, rate, interval_s, n_intervals, peer=peer)
            except (RuntimeError, OSError) as exc:
                out["points"][key] = {"error": str(exc)[:2000]}
                continue
            out["points"][key] = entry
            p99 = entry["sttwatch"]["lateness_p99_ms"]
            if not math.isnan(p99) and p99 > break_p99_s * 1000 and shape not in broken_at:
                broken_at[shape] = rate
        # Not sttwatch as shipped: the same point with one knob turned, to size a finding.
        for rate, interval_s, whatif in whatif_points:
            d = workdir / f"whatif-k{rate}-i{interval_s:g}"
            d.mkdir()
            key = f"{rate}/min@{interval_s:g}s {whatif}"
            try:
                out.setdefault("whatif", {})[key] = measure_point(
                    d, sim, rate, interval_s, n_intervals, peer=False, whatif=whatif
                )
            except (RuntimeError, OSError) as exc:
                out.setdefault("whatif", {})[key] = {"error": str(exc)[:2000]}
    return out


def main(argv: list[str] | None = None) -> int:
    """Measure the points given on the command line, print their JSON; return the exit code."""
    import argparse
    import json
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m bench.scale")
    parser.add_argument(
        "--point",
        action="append",
        required=True,
        metavar="RATE@INTERVAL",
        help="probes per minute @ interval in seconds, e.g. 1000@60 (repeatable)",
    )
    parser.add_argument("--no-peer", action="store_true", help="measure sttwatch alone")
    parser.add_argument("--intervals", type=int, default=2, help="window length in intervals")
    parser.add_argument("--whatif", default="", help="options of bench.whatif_run, quoted")
    args = parser.parse_args(argv)
    points = []
    for spec in args.point:
        rate, _, interval = spec.partition("@")
        points.append((int(rate), float(interval or 60)))
    with tempfile.TemporaryDirectory(prefix="sttwatch-scale-") as tmp:
        if args.whatif:
            out = run(
                Path(tmp),
                points=(),
                n_intervals=args.intervals,
                whatif_points=tuple((r, i, args.whatif) for r, i in points),
            )
        else:
            out = run(
                Path(tmp),
                points=tuple((r, i, not args.no_peer) for r, i in points),
                n_intervals=args.intervals,
            )
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
