"""Seed a database with months of probe history, through the store's own bulk ingest.

Results are shaped like what ``sttwatch once --json`` printed against the
simulator (same phases, details and messages; timings jittered, ids fresh),
and go through `Store.add_results`, so raw rows, roll-ups and incidents are
exactly what the product writes. Within raw retention every component has one
result per 60 s. Beyond it only roll-ups survive pruning, so those days are
seeded with one result per component-hour: the same hourly and daily roll-up
rows (one per component-bucket), 60× faster to write; only their run counts
are smaller. The store then prunes to retention at the seeded "now" and is
VACUUMed.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from monitor.durations import seconds_text
from monitor.models import ErrorKind, ProbeResult, Status

PROBES = ("reachability", "transcription", "streaming")
POOL_SIZE = 4096
SIM_KEY = "sim-key"


def target_names(n: int) -> list[str]:
    """Return the names of the `n` seeded targets."""
    return [f"region-{i + 1:02d}" for i in range(n)]


def write_config(
    path: Path, db: Path, site: Path, targets: int, *, api_base: str, ws_base: str, listen: str
) -> Path:
    """Return `path`, a config naming the seeded targets (pointed at a simulator)."""
    cfg = {
        "database": str(db),
        "site_dir": str(site),
        "listen": listen,
        "title": "Benchmark status",
        "targets": [
            {"name": name, "api_base": api_base, "streaming_base": ws_base, "api_key": SIM_KEY}
            for name in target_names(targets)
        ],
    }
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    path.chmod(0o600)
    return path


def _jitter(rng: random.Random, base: float, spread: float = 0.25) -> float:
    return max(1e-6, base * (1.0 + rng.uniform(-spread, spread)))


def _good(target: str, probe: str, at: datetime, rng: random.Random) -> ProbeResult:
    """Return an up (rarely degraded) result shaped like the real probe's."""
    phases: dict[str, float]
    details: dict[str, Any]
    if probe == "reachability":
        phases = {
            "dns": _jitter(rng, 0.004),
            "connect": _jitter(rng, 0.012),
            "ttfb": _jitter(rng, 0.09),
            "transfer": _jitter(rng, 0.0004),
        }
        phases["total"] = sum(phases.values())
        details = {"http_status": 200, "body_bytes": 167}
        key, what, limit = phases["total"], "API reachable: transcript list answered", 2.0
        duration = phases["total"]
    elif probe == "transcription":
        phases = {
            "upload": _jitter(rng, 0.35),
            "submit": _jitter(rng, 0.12),
            "queued": _jitter(rng, 1.5, 0.6),
            "processing": _jitter(rng, 2.4, 0.5),
            "verify": _jitter(rng, 0.08),
            "delete": _jitter(rng, 0.1),
            "confirm": _jitter(rng, 0.08),
        }
        turnaround = phases["submit"] + phases["queued"] + phases["processing"]
        details = {
            "http_status": 200,
            "transcript_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "queue_s": round(phases["queued"], 6),
            "processing_s": round(phases["processing"], 6),
            "turnaround_s": round(turnaround, 6),
            "speech_model_used": "universal-2",
            "wer": 0.0,
            "text": "The quick brown fox jumps over the lazy dog.",
        }
        key, what, limit = turnaround, "Transcribed, verified and deleted the probe clip", 30.0
        duration = sum(phases.values())
    else:
        phases = {
            "connect": _jitter(rng, 0.05),
            "begin": _jitter(rng, 0.03),
            "first_transcript": _jitter(rng, 0.45, 0.4),
            "final": _jitter(rng, 0.3),
            "terminate": _jitter(rng, 0.05),
        }
        details = {
            # The clip from 50 ms before its first word, in 50 ms frames (the probe's default).
            "audio_s": 2.2,
            "frames": 44,
            "wer": 0.0,
            "text": "the quick brown fox jumps over the lazy dog",
            "first_transcript_s": round(phases["first_transcript"], 6),
            "session_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "close_code": 1000,
            "close_reason": "",
        }
        key = phases["first_transcript"]
        what = (
            "Streamed the probe clip, verified the text and terminated the session;"
            " first transcript"
        )
        limit = 2.0
        duration = 2.28 + phases["connect"] + phases["final"]
    if rng.random() < 0.003:  # an occasional slow run
        key = limit * 1.3
        if probe == "reachability":
            phases["ttfb"] += key - phases["total"]
            phases["total"] = key
        elif probe == "streaming":
            phases["first_transcript"] = key
    slow = key > limit
    return ProbeResult(
        target=target,
        probe=probe,
        started_at=at,
        duration_s=duration,
        status=Status.DEGRADED if slow else Status.UP,
        # The probes' wording (`RunRecorder.passed`): milliseconds below one second.
        message=(
            f"{what}, but slow: {seconds_text(key)} (degraded above {limit:g} s)"
            if slow
            else f"{what} in {seconds_text(key)}"
        ),
        phases={k: round(v, 6) for k, v in phases.items()},
        details=details,
    )


_FAILURES: tuple[tuple[ErrorKind, str, dict[str, Any]], ...] = (
    (ErrorKind.SERVER_ERROR, "The API answered 503 Service Unavailable", {"http_status": 503}),
    (ErrorKind.TIMEOUT, "No answer within 10 s while waiting for the response headers", {}),
    (ErrorKind.CONNECT, "Connection refused while connecting", {}),
)


def _bad(target: str, probe: str, at: datetime, rng: random.Random) -> ProbeResult:
    kind, message, details = _FAILURES[rng.randrange(len(_FAILURES))]
    return ProbeResult(
        target=target,
        probe=probe,
        started_at=at,
        duration_s=_jitter(rng, 3.0, 0.9),
        status=Status.DOWN,
        error_kind=kind,
        message=message,
        phases={},
        details=dict(details),
    )


@dataclass(frozen=True, slots=True)
class Plan:
    """What to seed: how far back, how many targets, the retention that shapes it."""

    days: int
    targets: int = 10
    raw_days: int = 30
    step_s: int = 60
    history_step_s: int = 3600
    seed: int = 7


def results(plan: Plan, now: datetime) -> Iterator[ProbeResult]:
    """Yield the seeded results, oldest first (a few outages scattered in)."""
    rng = random.Random(plan.seed)
    names = target_names(plan.targets)
    start = now - timedelta(days=plan.days)
    raw_from = now - timedelta(days=min(plan.days, plan.raw_days))
    # Outages: a few per target over the period, each one a run of down results.
    outages: dict[str, list[tuple[datetime, datetime]]] = {}
    for name in names:
        spans = []
        for _ in range(max(1, plan.days // 10)):
            begin = start + timedelta(seconds=rng.uniform(0, plan.days * 86400))
            spans.append((begin, begin + timedelta(minutes=rng.choice((5, 12, 30, 90)))))
        outages[name] = spans
    # Good runs come from a pool of varied results (jittered timings, distinct ids)
    # rebuilt per target and instant: building each from scratch would cost as
    # much as storing it, and the rows would not differ in shape or size.
    pool = {probe: [_good("pool", probe, start, rng) for _ in range(POOL_SIZE)] for probe in PROBES}
    i = 0
    at = start
    while at < now:
        step = plan.step_s if at >= raw_from else plan.history_step_s
        for name in names:
            down = any(b <= at < e for b, e in outages[name])
            for probe in PROBES:
                if down or rng.random() < 0.001:
                    yield _bad(name, probe, at, rng)
                    continue
                g = pool[probe][i % POOL_SIZE]
                i += 7  # co-prime with POOL_SIZE: every pool entry is used in turn
                yield ProbeResult(
                    target=name,
                    probe=probe,
                    started_at=at,
                    duration_s=g.duration_s,
                    status=g.status,
                    message=g.message,
                    phases=g.phases,
                    details=g.details,
                )
        at += timedelta(seconds=step)


async def _seed(db: Path, plan: Plan, now: datetime) -> dict[str, Any]:
    from monitor.config import Retention
    from monitor.store import Store

    retention = Retention(raw=plan.raw_days * 86400.0)
    t0 = time.perf_counter()
    store = await Store.open(str(db), retention=retention)
    try:
        stored = await store.add_results(results(plan, now))
        seeded_s = time.perf_counter() - t0
        pruned = await store.prune(now=now)
        await store.vacuum()
    finally:
        await store.close()
    return {"results_written": stored, "pruned": pruned, "seed_s": round(seeded_s, 1)}


def table_counts(db: Path) -> dict[str, int]:
    """Return the row count of each table of interest."""
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {
            t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])
            for t in ("results", "rollup_hourly", "rollup_daily", "incidents")
        }
    finally:
        conn.close()


def seeded(cache: Path | None, plan: Plan, fallback: Path) -> tuple[Path, dict[str, Any]]:
    """Return a pristine seeded database for `plan` and its seeding figures.

    With a `cache` directory (shared by the benchmarks of one run) a plan is
    seeded once and reused; callers that write must copy the file. Without
    one, the database is seeded at `fallback`.
    """
    if cache is None:
        return fallback, seed(fallback, plan)
    cache.mkdir(parents=True, exist_ok=True)
    key = f"{plan.days}d-{plan.targets}t-{plan.raw_days}r-{plan.step_s}s-{plan.seed}"
    db, meta = cache / f"{key}.db", cache / f"{key}.json"
    if db.exists() and meta.exists():
        return db, dict(json.loads(meta.read_text()))
    info = seed(db, plan)
    meta.write_text(json.dumps(info))
    return db, info


def seed(db: Path, plan: Plan, now: datetime | None = None) -> dict[str, Any]:
    """Seed `db` per `plan` up to `now` (default: this minute); return counts and timings."""
    now = now or datetime.now(UTC).replace(second=0, microsecond=0)
    info = asyncio.run(_seed(db, plan, now))
    info["rows"] = table_counts(db)
    info["bytes"] = db.stat().st_size
    return info
