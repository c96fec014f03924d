"""The site renderer of ``sttwatch run``: re-renders the status page, spaced by its cost.

It only schedules renders; what a render does (read the store, write the
site) is the callable the composition root (:mod:`monitor.app`) gives it.
A failing render is remembered for ``/healthz`` and logged once when renders
start failing and once when they work again — never a traceback per attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from monitor.models import ProbeResult, Status
from monitor.tasks import cancel_and_wait

__all__ = ["Render", "SiteRenderer"]

log = logging.getLogger(__name__)

Render = Callable[[], Awaitable[object]]
"""Renders the whole site once (raises when it cannot be written)."""


def failure_text(exc: BaseException) -> str:
    """Return the kind of failure and the OS's word for it, never a path (/healthz is public)."""
    why = f": {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else ""
    return f"{type(exc).__name__}{why}"


class SiteRenderer:
    """Re-renders the site when asked, spaced by its cost and at least `min_interval` apart.

    Requests arriving while a render runs, or within the spacing after the
    last one, are coalesced into one more render. Rendering reads the store
    and writes files in worker threads, so the event loop never waits on it.

    A render costs CPU in proportion to the site (~1 s at 1,000 components),
    and a site re-rendered after every cycle would cost more than the probes
    behind it (BENCHMARKS.md, benchmark 3). So routine renders (a cycle ended,
    the minute passed) wait `cost_factor` times the last render's duration —
    renders take at most ~1 / `cost_factor` of a core — while a component that
    changed status asks for an urgent render, which waits only
    `urgent_cost_factor` times it. A small site renders in tens of ms, so both
    waits are below `min_interval` and it still renders after every cycle; a
    1,000-component site refreshes its figures every few minutes and shows a
    change of status within ~20 s.

    What other processes write (``sttwatch incident`` updates an incident beside
    ``run``) reaches no result sink: `watch`, when given, returns a token of it
    (the store's `incident_revision`), read every `watch_every` seconds; a new
    token asks for an urgent render, so an operator's update shows within
    `watch_every` plus the urgent spacing (~12 s on a small site, ~30 s at 1,000
    components) — sooner than the routine renders a large site spaces out.
    """

    def __init__(
        self,
        render: Render,
        *,
        site_dir: str = "the site directory",
        min_interval: float = 2.0,
        refresh_every: float = 60.0,
        cost_factor: float = 200.0,
        urgent_cost_factor: float = 20.0,
        watch: Callable[[], Awaitable[object]] | None = None,
        watch_every: float = 10.0,
    ) -> None:
        self._render = render
        self._site_dir = site_dir
        self._min_interval = min_interval
        self._refresh_every = refresh_every
        self._cost_factor = cost_factor
        self._urgent_cost_factor = urgent_cost_factor
        self.last_duration_s = 0.0
        self._wanted = asyncio.Event()
        self._urgent = asyncio.Event()
        self._statuses: dict[tuple[str, str], Status] = {}
        self._task: asyncio.Task[None] | None = None
        self._watch = watch
        self._watch_every = watch_every
        self._watcher: asyncio.Task[None] | None = None
        self.renders = 0
        self.failures = 0
        self.last_rendered_at: datetime | None = None
        self.last_error: str | None = None
        self.failing_since: datetime | None = None

    @property
    def writable(self) -> bool:
        """Return False while the last render failed."""
        return self.last_error is None

    async def render_now(self) -> None:
        """Render the site once, now; a failure is remembered and logged once, never raised."""
        started = time.monotonic()
        try:
            await self._render()
        except Exception as exc:  # a broken render must not stop probing
            self.failures += 1
            error = failure_text(exc)
            if self.last_error is None:
                self.failing_since = datetime.now(UTC)
                # An OSError is the machine's (permissions, a full disk): its word is
                # enough. Anything else is a bug: keep its traceback, this once.
                log.error(
                    "cannot write the status page to %s: %s (retried at every render; "
                    "/healthz reports degraded until it works)",
                    self._site_dir,
                    exc if isinstance(exc, OSError) else error,
                    exc_info=not isinstance(exc, OSError),
                )
            self.last_error = error
        else:
            if self.last_error is not None:
                log.info("the status page is written to %s again", self._site_dir)
            self.renders += 1
            self.last_rendered_at = datetime.now(UTC)
            self.last_error = None
            self.failing_since = None
        finally:
            self.last_duration_s = time.monotonic() - started

    def spacing(self, *, urgent: bool = False) -> float:
        """Return the seconds to wait after the last render before the next (urgent) one."""
        factor = self._urgent_cost_factor if urgent else self._cost_factor
        return max(self._min_interval, factor * self.last_duration_s)

    def request(self, *, urgent: bool = False) -> None:
        """Ask for a render soon (coalesced with other requests)."""
        self._wanted.set()
        if urgent:
            self._urgent.set()

    async def on_cycle(self) -> None:
        """Scheduler cycle hook: ask for a render."""
        self.request()

    async def observe(self, result: ProbeResult) -> None:
        """Result sink: ask for an urgent render when a component's status changed."""
        key = (result.target, result.probe)
        before = self._statuses.get(key)
        self._statuses[key] = result.status
        if before is not None and before is not result.status:
            self.request(urgent=True)

    async def start(self) -> None:
        """Render once, then keep rendering on request and every `refresh_every` seconds."""
        seen = await self._token() if self._watch is not None else None
        await self.render_now()
        self._task = asyncio.create_task(self._loop(), name="sttwatch-render")
        if self._watch is not None:
            self._watcher = asyncio.create_task(self._watching(seen), name="sttwatch-render-watch")

    async def stop(self) -> None:
        """Stop the render loop (waiting for a render in progress to finish)."""
        if self._watcher is not None:
            await cancel_and_wait(self._watcher)
            self._watcher = None
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _token(self) -> object:
        assert self._watch is not None
        try:
            return await self._watch()
        except Exception as exc:  # an unreadable database is the store's to report
            log.debug("cannot read what other processes wrote: %s", exc)
            return None

    async def _watching(self, seen: object) -> None:
        while True:
            await asyncio.sleep(self._watch_every)
            token = await self._token()
            if token is not None and token != seen:
                seen = token
                self.request(urgent=True)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wanted.wait(), self._refresh_every)
            self._wanted.clear()
            self._urgent.clear()
            await self.render_now()
            short = self.spacing(urgent=True)
            await asyncio.sleep(short)
            # The rest of the routine spacing, cut short by a change of status.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._urgent.wait(), max(0.0, self.spacing() - short))
