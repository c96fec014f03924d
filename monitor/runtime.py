"""What ``sttwatch once``, ``sttwatch run`` and the web server share: the runtime.

A :class:`Runtime` is the store, the probe context (HTTP session factory with
our User-Agent, the clock, the store as the deletion ledger), the metrics when
kept, and the result sinks in the order docs/design.md §1 fixes (store, metrics,
then alerting). :mod:`monitor.app`, the composition root, builds and closes it;
``sttwatch once`` keeps no metrics (it exits before anything could scrape them)
and, unless ``--record``, no store sink either: its results are printed, not kept.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from monitor import __version__
from monitor.config import Config, Target
from monitor.isolation import DEFAULT_GRACE, run_probe
from monitor.models import ProbeContext, ProbeFn, ProbeResult, SessionFactory
from monitor.probes.registry import probe_types
from monitor.scheduler import ResultSink, Scheduler, probe_fn
from monitor.store import Store, StoreWriteError, key_latency

if TYPE_CHECKING:  # imported by monitor.app only when it keeps metrics: see there
    import aiohttp

    from monitor.housekeeping import Maintenance
    from monitor.metrics import Metrics
    from monitor.store.spool import BufferedResults

__all__ = [
    "USER_AGENT",
    "Runtime",
    "results_table",
    "session_factory",
]

log = logging.getLogger(__name__)

USER_AGENT = f"sttwatch/{__version__}"
"""Sent on every request, so a provider can tell synthetic probes from real traffic."""


def session_factory(user_agent: str = USER_AGENT) -> SessionFactory:
    """Return a factory of fresh aiohttp sessions that send `user_agent`.

    Each call makes a new session (and connection pool): probes measure what a
    new client pays, and each probe closes its own session.
    """

    def make(**kwargs: Any) -> aiohttp.ClientSession:
        import aiohttp  # here, not at import: `render` opens a runtime and sends nothing

        headers = {"User-Agent": user_agent, **dict(kwargs.pop("headers", None) or {})}
        return aiohttp.ClientSession(headers=headers, **kwargs)

    return make


@dataclass
class Runtime:
    """The long-lived parts of a running sttwatch, ready to schedule probes."""

    config: Config
    store: Store
    ctx: ProbeContext
    probes: Mapping[str, ProbeFn] | None  # kind -> run overrides; None: each target's provider
    _metrics: Metrics | None = None
    sinks: list[ResultSink] = field(default_factory=list)
    store_write_errors: int = 0
    buffer: BufferedResults | None = None
    """On a shared PostgreSQL database: where results wait while it is unreachable."""

    @property
    def metrics(self) -> Metrics:
        """Return the Prometheus metrics (kept by every runtime but ``sttwatch once``'s)."""
        if self._metrics is None:
            raise RuntimeError("this runtime keeps no metrics (opened with metrics=False)")
        return self._metrics

    def keep_metrics(self, metrics: Metrics) -> None:
        """Keep `metrics` for the scheduler and append them to the result sinks."""
        self._metrics = metrics
        self.sinks.append(metrics.observe)

    async def store_result(self, result: ProbeResult) -> None:
        """Store `result` (a ResultSink); an unwritable database is counted, not raised.

        With a buffer, a result the database cannot take waits in it instead.
        """
        if self.buffer is not None:
            await self.buffer.add(result)
            return
        try:
            await self.store.add_result(result)
        except StoreWriteError:
            # The store logs write failures itself (rate-limited) and reports them on
            # store.health; probing goes on without the database.
            self.store_write_errors += 1

    def buffered(self) -> int:
        """Return how many results wait in the buffer for the database (0 without one)."""
        return self.buffer.buffered if self.buffer is not None else 0

    def scheduler(self, *, maintenance: Maintenance | None = None, **kwargs: Any) -> Scheduler:
        """Return a scheduler for every configured probe, delivering to `sinks`.

        `maintenance` prunes old rows (default: the store; `monitor.app` passes the
        leadership, which prunes only on the agent that leads).
        """
        return Scheduler(
            self.config,
            ctx=self.ctx,
            sinks=self.sinks,
            probes=self.probes,
            metrics=self._metrics,
            store=maintenance or self.store,
            **kwargs,
        )

    def _can_run(self, target: Target, kind: str) -> bool:
        """Return False (and say so) for a kind that waits for a call nothing here receives."""
        found = probe_types(target.provider).get(kind)
        if found is None or not found.receives_calls or self.ctx.webhooks is not None:
            return True
        log.warning(
            "%s of %s skipped: it waits for the API to call sttwatch's web server, "
            "which `sttwatch once` does not run (`sttwatch run` probes it)",
            kind,
            target.name,
        )
        return False

    async def run_once(self, *, grace: float = DEFAULT_GRACE) -> list[ProbeResult]:
        """Return one result per configured probe, all run concurrently, in config order.

        The ledger is swept before (orphans of an earlier run) and after (whatever
        this run could not delete itself); each result reaches the sinks as soon
        as its probe finishes. A kind that waits for a call to sttwatch's web server
        (webhooks) is skipped with a warning when nothing serves it.
        """
        sched = self.scheduler()
        await sched.sweep()
        secrets = self.config.secrets()

        async def one(target: Any, name: str, spec: Any) -> ProbeResult:
            result = await run_probe(
                probe_fn(target, name, self.probes),
                target,
                name,
                spec,
                self.ctx,
                grace=grace,
                secrets=secrets,
            )
            await sched.deliver(result)
            return result

        async with asyncio.TaskGroup() as tg:
            tasks = [
                tg.create_task(one(t, name, spec))
                for t in self.config.targets
                for name, spec in t.probes.enabled().items()
                if self._can_run(t, name)
            ]
        await sched.sweep()
        return [task.result() for task in tasks]


def _latency_cell(result: ProbeResult, provider: str | None) -> str:
    kind = probe_types(provider).get(result.probe)
    name, phases = (kind.key_name, (kind.key_phase, *kind.key_parts)) if kind else ("run", ())
    if not any(p in result.phases for p in phases):
        name = "run"  # the run failed before its key latency was measured
    return f"{key_latency(result, provider):.3f}s {name}"


def results_table(results: list[ProbeResult], config: Config | None = None) -> str:
    """Return `results` as an aligned plain-text table (one row per probe run).

    The key latency of each is its kind's of its target's provider in `config`.
    """
    provider = {t.name: t.provider for t in config.targets} if config is not None else {}
    header = ("TARGET", "PROBE", "STATUS", "LATENCY", "ERROR", "MESSAGE")
    rows = [header]
    for r in results:
        message = " ".join(r.message.split())  # one line per result, whatever the server said
        if len(message) > 120:
            message = message[:119] + "…"
        rows.append(
            (
                r.target,
                r.probe,
                r.status.value,
                _latency_cell(r, provider.get(r.target)),
                r.error_kind.value if r.error_kind else "-",
                message,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
        for row in rows
    ]
    return "\n".join(line.rstrip() for line in lines)
