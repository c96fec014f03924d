"""Shared pieces of the reliability tests: a chaos scenario, a config, a real ``sttwatch run``.

The chaos scenario injects **every** simulator fault action (and every
``malformed`` body kind, both ``stuck`` stages, several close codes) on the
endpoints where it applies, with seeded probabilities chosen so that about
:data:`FAULT_RATE` of the requests to each endpoint draw a fault — and, so
that no kind is left to chance, each (endpoint, action) once for sure early
in the run (one-shot faults a second apart).

:class:`SttwatchProcess` is ``python -m monitor run`` as a real child
process: its log goes to a file, the listen port is read from the log, and
its RSS and open file descriptors come from ``/proc/<pid>``.

Stable interface (other reliability tests import it): :func:`chaos_faults`,
:func:`chaos_scenario`, :func:`write_config`, :class:`SttwatchProcess`,
:func:`stored_results`, :func:`integrity_check`, :func:`sim_leftovers`,
:func:`final_janitor_sweep`.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import aiohttp

from monitor.app import open_runtime
from monitor.config import load_config
from monitor.database_url import is_postgres_url
from monitor.janitor import SweepReport, sweep
from monitor.providers.assemblyai.transcripts import marked_upload
from monitor.simulator import SimulatorHandle
from monitor.simulator.scenario import WEBHOOK_ACTIONS, Action
from tests.support import configs
from tests.support.configs import config_doc, sim_target

__all__ = [
    "ALL_ACTIONS",
    "FAULT_RATE",
    "SIM_KEY",
    "ProcSample",
    "StoredResult",
    "SttwatchProcess",
    "chaos_faults",
    "chaos_scenario",
    "final_janitor_sweep",
    "integrity_check",
    "ledger_pending",
    "sim_leftovers",
    "stored_results",
    "untracked",
    "wait_for",
    "write_config",
]

SIM_KEY = "sim-key"
FAULT_RATE = 0.30
ONE_SHOT_FROM_S = 3.0
ONE_SHOT_EVERY_S = 1.0

# Every fault action the simulator knows, straight from its type: a new one joins the chaos
# (but the webhook-only ones: no probe asks for webhooks yet).
ALL_ACTIONS = frozenset(get_args(Action)) - WEBHOOK_ACTIONS
"""Every fault action the simulator knows (docs/simulator.md, "Faults")."""

_HTTP_ENDPOINTS = (
    "upload",
    "transcript.create",
    "transcript.get",
    "transcript.list",
    "transcript.delete",
    "token",
)

# (endpoint, action, parameters). "*" faults count towards every HTTP endpoint.
_FAULTS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("*", "status", {"status": 429}),
    ("*", "delay", {"delay_ms": 300}),
    ("upload", "hang", {}),
    ("upload", "status", {"status": 500}),
    ("upload", "malformed", {"body_kind": "not_json"}),
    ("upload", "html", {}),
    ("transcript.create", "status", {"status": 503}),
    ("transcript.create", "malformed", {"body_kind": "truncated"}),
    ("transcript.create", "stuck", {"stage": "queued"}),
    ("transcript.create", "fail_job", {"error": "Simulated <b>failure</b> of the job"}),
    ("transcript.create", "wrong_text", {"text": "Completely different words were heard."}),
    ("transcript.create", "hang", {}),
    ("transcript.get", "malformed", {"body_kind": "wrong_shape"}),
    ("transcript.get", "status", {"status": 500}),
    ("transcript.get", "stuck", {"stage": "processing"}),
    ("transcript.get", "fail_job", {"error": "Audio could not be decoded"}),
    ("transcript.get", "hang", {}),
    ("transcript.list", "status", {"status": 401}),
    ("transcript.list", "hang", {}),
    ("transcript.list", "html", {}),
    ("transcript.list", "malformed", {"body_kind": "truncated"}),
    ("transcript.delete", "status", {"status": 500}),
    ("transcript.delete", "ignore_delete", {}),
    ("transcript.delete", "hang", {}),
    ("token", "status", {"status": 401}),
    ("token", "malformed", {"body_kind": "not_json"}),
    ("token", "hang", {}),
    ("ws", "refuse", {"status": 503}),
    ("ws", "refuse", {"status": 429}),
    ("ws", "close", {"code": 3005, "reason": "Session Cancelled: An error occurred"}),
    (
        "ws",
        "close",
        {"code": 1008, "reason": "Unauthorized Connection: Too many concurrent sessions"},
    ),
    (
        "ws",
        "close",
        {"code": 3009, "reason": "Unauthorized Connection: Too many concurrent sessions"},
    ),
    ("ws", "close", {"code": 1000, "after_ms": 300}),
    ("ws", "close", {"code": 4000, "reason": "<script>alert(1)</script>", "error_frame": True}),
    ("ws", "no_begin", {}),
    ("ws", "no_turn", {}),
    ("ws", "first_turn_delay", {"delay_ms": 1200}),
    ("ws", "hang_terminate", {}),
)


def chaos_faults(rate: float = FAULT_RATE) -> list[dict[str, Any]]:
    """Return the fault list: every action, each endpoint faulted on about `rate` of requests.

    With k faults that can fire on an endpoint, each gets probability
    ``1 - (1 - rate) ** (1 / k)``, so the chance that at least one draws is `rate`.
    """
    star = sum(1 for e, _, _ in _FAULTS if e == "*")
    per_endpoint = Counter(e for e, _, _ in _FAULTS if e != "*")

    def probability(endpoint: str) -> float:
        if endpoint == "*":
            k = star + min(per_endpoint[e] for e in _HTTP_ENDPOINTS)
        elif endpoint == "ws":
            k = per_endpoint["ws"]
        else:
            k = star + per_endpoint[endpoint]
        p: float = 1.0 - (1.0 - rate) ** (1.0 / k)
        return round(p, 4)

    # One of each (endpoint, action) for sure, a few seconds apart, ahead of the
    # random ones: the draws depend on how requests interleave, which timing decides.
    firsts: dict[tuple[str, str], dict[str, Any]] = {}
    for e, a, params in _FAULTS:
        firsts.setdefault((e, a), params)
    sure = [
        {
            "endpoint": e,
            "action": a,
            "count": 1,
            "after_s": ONE_SHOT_FROM_S + i * ONE_SHOT_EVERY_S,
            "until_s": ONE_SHOT_FROM_S + i * ONE_SHOT_EVERY_S + 60.0,
            **params,
        }
        for i, ((e, a), params) in enumerate(firsts.items())
    ]
    return sure + [
        {"endpoint": e, "action": a, "probability": probability(e), **params}
        for e, a, params in _FAULTS
    ]


def chaos_scenario(seed: int, rate: float = FAULT_RATE) -> dict[str, Any]:
    """Return a simulator scenario (dict for ``Scenario.model_validate``) with the chaos faults.

    Jobs are quick, and the provider accepts deleting a running job, so a job
    stuck by a fault can be cleaned up by the janitor once it is old enough.
    """
    return {
        "seed": seed,
        "jobs": {"queued_ms": 100, "processing_ms": 200, "delete_in_progress": "allow"},
        "faults": chaos_faults(rate),
    }


# Intervals short so a run of hundreds of probes takes a minute; timeouts
# short so hangs end quickly, but above what a healthy run needs (the
# streaming clip alone is 2.28 s of real-time audio).
PROBE_SPECS: dict[str, dict[str, Any]] = {
    "reachability": {"interval": "1s", "timeout": "800ms", "degraded_after": "500ms"},
    "transcription": {
        "interval": "2s",
        "timeout": "1500ms",
        "degraded_after": "1s",
        "poll_interval": "100ms",
        "poll_max_interval": "200ms",
    },
    "streaming": {"interval": "4s", "timeout": "3500ms", "degraded_after": "1s"},
}


def write_config(
    tmp_path: Path,
    sim: SimulatorHandle,
    *,
    targets: int = 4,
    alert_urls: Sequence[str] = (),
    probes: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """Return the path of a 0600 sttwatch config with `targets` targets on the simulator.

    Every other target streams with a temporary token, so the token endpoint
    is exercised too.
    """
    specs = probes or PROBE_SPECS
    doc = config_doc(
        tmp_path,
        [
            sim_target(
                sim,
                f"sim{i}",
                key=SIM_KEY,
                probes={
                    name: ({**spec, "auth": "token"} if name == "streaming" and i % 2 else spec)
                    for name, spec in specs.items()
                },
            )
            for i in range(targets)
        ],
        title="Chaos",
    )
    if alert_urls:
        # Per component (group_wait 0): the crash test checks each component's alert sequence.
        doc["alerts"] = {
            "urls": list(alert_urls),
            "failure_threshold": 2,
            "success_threshold": 2,
            "group_wait": 0,
        }
    return configs.write_config(tmp_path, doc)


async def wait_for(
    what: str, check: Callable[[], Awaitable[bool]], within: float, every: float = 0.1
) -> None:
    """Return once `check()` is true; raise AssertionError after `within` seconds."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while not await check():
        if loop.time() > end:
            raise AssertionError(f"timed out after {within:g}s waiting for {what}")
        await asyncio.sleep(every)


@dataclass(frozen=True, slots=True)
class ProcSample:
    """One look at the child process: how many probe runs it had done, its RSS and fds."""

    runs: int
    rss_kb: int
    fds: int


_SERVING = re.compile(rb"serving on http://127\.0\.0\.1:(\d+)/")


class SttwatchProcess:
    """``python -m monitor run -c CONFIG`` as a child process, log appended to `log`."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config = config
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None
        self._log_offset = 0

    @property
    def pid(self) -> int:
        """Return the child's pid."""
        assert self.proc is not None
        return self.proc.pid

    async def start(self) -> None:
        """Spawn the child (returns at once; :meth:`wait_serving` waits for the port)."""
        self._log_offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as sink:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "monitor",
                "run",
                "-c",
                str(self.config),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=sink,
                stderr=sink,
            )

    def new_log(self) -> bytes:
        """Return what this child wrote to the log so far."""
        with self.log.open("rb") as f:
            f.seek(self._log_offset)
            return f.read()

    async def wait_serving(self, within: float = 20.0) -> int:
        """Return the port the child serves on, once its log says so."""
        port = 0

        async def serving() -> bool:
            nonlocal port
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError(f"sttwatch exited {self.proc.returncode}:\n{self.tail()}")
            m = _SERVING.search(self.new_log())
            port = int(m.group(1)) if m else 0
            return bool(port)

        await wait_for("sttwatch to serve", serving, within, every=0.05)
        return port

    def tail(self, lines: int = 40) -> str:
        """Return the end of this child's log (for failure messages)."""
        text = self.new_log().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        """Return True while the child runs."""
        return self.proc is not None and self.proc.returncode is None

    def sample(self, runs: int) -> ProcSample:
        """Return the child's VmRSS (kB) and open fd count from /proc, tagged with `runs`."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        m = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert m, status
        fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        return ProcSample(runs=runs, rss_kb=int(m.group(1)), fds=fds)

    async def kill9(self) -> None:
        """SIGKILL the child and reap it."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()

    async def stop(self, within: float = 30.0) -> int:
        """SIGTERM the child (graceful stop: final sweep, last render) and return its exit code."""
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(self.proc.wait(), within)
        except TimeoutError:
            await self.kill9()
            raise AssertionError(
                f"sttwatch did not stop within {within:g}s:\n{self.tail()}"
            ) from None


async def get_json(session: aiohttp.ClientSession, url: str) -> Any:
    """Return the JSON body at `url` (any status)."""
    async with session.get(url) as resp:
        return await resp.json()


@dataclass(frozen=True, slots=True)
class StoredResult:
    """A result row as a user reads it back from the database."""

    id: int
    target: str
    probe: str
    started_at: int
    status: int
    error_kind: str | None
    duration_s: float
    message: str | None

    @property
    def key(self) -> tuple[Any, ...]:
        """Return the fields that must survive a crash unchanged."""
        return (self.id, self.target, self.probe, self.started_at, self.status, self.error_kind)


def _ro(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5.0)


def read_rows(db: Path | str, sql: str) -> list[tuple[Any, ...]]:
    """Return the rows of `sql`, read-only; none before the database or its schema exists.

    `db` is a SQLite file or a PostgreSQL URL (the store's ``database:``).
    """
    if is_postgres_url(str(db)):
        return _pg_rows(str(db), sql)
    db = Path(db)
    if not db.exists():
        return []
    conn = _ro(db)
    try:
        return conn.execute(sql).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        conn.close()


def _pg_rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    import psycopg

    # A read-only transaction: a test's look never writes to the agents' store.
    with psycopg.connect(url) as conn:
        conn.read_only = True
        try:
            return conn.execute(sql).fetchall()
        except psycopg.errors.UndefinedTable:
            return []


def stored_results(db: Path) -> list[StoredResult]:
    """Return every stored result, oldest first (read-only; empty before the schema exists)."""
    rows = read_rows(
        db,
        "SELECT r.id, c.target, c.probe, r.started_at, r.status, r.error_kind,"
        " r.duration_us, r.message FROM results r JOIN components c ON c.id = r.component"
        " ORDER BY r.id",
    )
    return [
        StoredResult(id, t, p, s, st, ek, dur / 1e6, msg) for id, t, p, s, st, ek, dur, msg in rows
    ]


def integrity_check(db: Path) -> str:
    """Return ``PRAGMA integrity_check`` of `db` (opened read-write, as a restart would)."""
    conn = sqlite3.connect(db, timeout=5.0)
    try:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    finally:
        conn.close()
    return "\n".join(str(r[0]) for r in rows)


def ledger_pending(db: Path) -> set[str]:
    """Return the ids (transcripts and submission markers) the ledger still has to delete."""
    conn = _ro(db)
    try:
        rows = conn.execute("SELECT transcript_id FROM ledger WHERE deleted_at IS NULL")
        return {r[0] for r in rows}
    finally:
        conn.close()


async def untracked(sim: SimulatorHandle, undeleted: Sequence[str], pending: set[str]) -> set[str]:
    """Return the undeleted transcripts the ledger knows neither by id nor by submission marker."""
    uploads = {marked_upload(p) for p in pending} - {None}
    out: set[str] = set()
    async with aiohttp.ClientSession(headers={"Authorization": SIM_KEY}) as http:
        for tid in undeleted:
            if tid in pending:
                continue
            async with http.get(f"{sim.base_url}/v2/transcript/{tid}") as resp:
                body = await resp.json()
            if body.get("audio_url") not in uploads:
                out.add(tid)
    return out


def sim_leftovers(sim: SimulatorHandle) -> dict[str, Any]:
    """Return what clients left behind on the simulator."""
    s = sim.state()
    return {
        "undeleted": s["transcripts"]["undeleted"],
        "undeleted_ids": list(s["transcripts"]["undeleted_ids"]),
        "unterminated": s["streaming"]["unterminated"],
        "active": s["streaming"]["active"],
    }


async def final_janitor_sweep(config: Path) -> SweepReport:
    """Return the report of the janitor's sweep as it runs once an entry is an hour old.

    The janitor leaves a job that is still queued/processing alone for
    ``DELETE_UNFINISHED_AFTER_S`` (an hour) — the provider deletes finished
    jobs — and a submission marker whose job is not in the list for
    ``SETTLE_SUBMISSIONS_AFTER_S``. A job that a ``stuck`` fault froze never
    finishes, so the test runs the very same sweep with those ages reached.
    """
    cfg = load_config(str(config))
    async with open_runtime(cfg) as rt:
        return await sweep(
            {t.name: t for t in cfg.targets},
            rt.ctx,
            delete_unfinished_after=0.0,
            settle_submissions_after=0.0,
        )
