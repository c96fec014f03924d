"""The composition root: every part of a running sttwatch, built once, torn down in reverse.

:class:`Root` builds the parts — the store with the probe context (the
:class:`~monitor.runtime.Runtime`), metrics, the alerter, the site renderer,
the scheduler and the health report — each in one context of aiohttp's
``cleanup_ctx`` shape (set up before its ``yield``, torn down after it), in
the order docs/design.md §1 fixes for the result sinks (store, metrics, alerting,
then the page). Each command takes the parts it needs:

- ``run`` and ``demo``: :func:`serve` — the listen address bound and the
  database and site directory checked first (:mod:`monitor.preflight`), then
  every part in the ``cleanup_ctx`` of one aiohttp application with the web
  routes (:func:`build_app`);
- ``once``: :func:`open_runtime` with ``metrics=False, record=False`` — the store
  as deletion ledger and the probe context; results reach no store unless
  recorded;
- ``render``: :func:`render_database` — the store of an existing database,
  one render.

The commands without a web server enter the same contexts through an
``AsyncExitStack`` (same order, same teardown): building an aiohttp
application would import ``aiohttp.web``, and ``once`` would pay for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from monitor.config import Config
from monitor.database_url import is_postgres_url
from monitor.leadership import Duty, Leadership
from monitor.models import Clock, ProbeContext, ProbeFn, SystemClock
from monitor.probeclip import load_clip
from monitor.runtime import USER_AGENT, Runtime, session_factory
from monitor.store import Store

if TYPE_CHECKING:
    from aiohttp import web

    from monitor.alerting import Alerter
    from monitor.health import DeliveryHealth, Health
    from monitor.metrics import Metrics
    from monitor.renderer import SiteRenderer
    from monitor.scheduler import Scheduler
    from monitor.site import SiteView
    from monitor.webhook_runs import LiveRuns

__all__ = ["Root", "build_app", "open_runtime", "render_database", "render_site", "serve"]

Context = Callable[[Any], AsyncIterator[None]]
"""One resource: set up before the ``yield``, torn down after (aiohttp ``cleanup_ctx``)."""


async def render_site(store: Store, config: Config) -> SiteView:
    """Render the site from `store` into ``config.site_dir``; return the page's view."""
    # Imported when first used: jinja2 is no start-up cost of `once`.
    from monitor.site import render_site as render

    return await render(store, config)


class Root:
    """The parts of one sttwatch process, each built by its context (see the module doc)."""

    def __init__(
        self,
        config: Config,
        *,
        clock: Clock | None = None,
        probes: Mapping[str, ProbeFn] | None = None,
        user_agent: str = USER_AGENT,
        metrics: bool = True,
        record: bool = True,
        must_exist: bool = False,
        buffered: bool = False,
        render_min_interval: float = 2.0,
        scheduler_options: Mapping[str, Any] | None = None,
        alerter_options: Mapping[str, Any] | None = None,
        extra_sinks: Callable[[Runtime], Awaitable[None]] | None = None,
        webhooks: LiveRuns | None = None,
    ) -> None:
        self.config = config
        self.webhooks = webhooks
        self.clock = clock or SystemClock()
        self.probes = probes
        self.user_agent = user_agent
        self.keep_metrics = metrics
        self.record = record
        self.must_exist = must_exist
        self.buffered = buffered
        self.render_min_interval = render_min_interval
        self.scheduler_options = dict(scheduler_options or {})
        self.alerter_options = dict(alerter_options or {})
        self.extra_sinks = extra_sinks
        self._runtime: Runtime | None = None
        self.leadership: Leadership | None = None
        self.observed: Metrics | None = None
        self.deliveries: DeliveryHealth | None = None
        self.alerter: Alerter | None = None
        self.renderer: SiteRenderer | None = None
        self.scheduler: Scheduler | None = None
        self.health: Health | None = None

    @property
    def runtime(self) -> Runtime:
        """Return the runtime (once the store context has started)."""
        if self._runtime is None:
            raise RuntimeError("the store context has not started")
        return self._runtime

    # ------------------------------------------------------------------ contexts

    async def store(self, _app: object = None) -> AsyncIterator[None]:
        """The store, the probe context on it (the deletion ledger), and its result sink."""
        config = self.config
        shared = is_postgres_url(config.database)
        if shared:
            # A server: nothing to look for on disk; Store.open says when it is unreachable.
            if not self.must_exist:
                await asyncio.to_thread(load_clip)
        elif self.must_exist:
            if not await asyncio.to_thread(Path(config.database).is_file):
                # An empty page from a mistyped path would hide the mistake.
                raise FileNotFoundError(config.database)
        else:
            await asyncio.to_thread(Path(config.database).parent.mkdir, parents=True, exist_ok=True)
            # The probes read the clip on first use; read it here, off the event loop.
            await asyncio.to_thread(load_clip)
        store = await Store.open(
            config.database,
            failure_threshold=config.alerts.failure_threshold,
            success_threshold=config.alerts.success_threshold,
            degraded_threshold=config.alerts.degraded_threshold,
            retention=config.retention,
            clock=self.clock,
            secrets=config.secrets(),
            providers={t.name: t.provider for t in config.targets},
            location=config.location,
            quorum=config.quorum,
            location_stale_after=config.location_stale_after,
        )
        rt: Runtime | None = None
        try:
            ctx = ProbeContext(
                session_factory=session_factory(self.user_agent),
                clock=self.clock,
                ledger=store,
                user_agent=self.user_agent,
                webhooks=self.webhooks,
                location=config.location,
            )
            rt = Runtime(config=config, store=store, ctx=ctx, probes=self.probes)
            if self.record:
                if shared and self.buffered:
                    # Several agents on one server: results wait in a local file while the
                    # server is unreachable (SQLite's file is local already).
                    from monitor.store.spool import BufferedResults

                    rt.buffer = BufferedResults(store, config.buffer, clock=self.clock)
                    await rt.buffer.start()
                rt.sinks.append(rt.store_result)
            self.leadership = Leadership(store, clock=self.clock, location=config.location)
            self._runtime = rt
            yield
        finally:
            self._runtime = None
            self.leadership = None
            try:
                if rt is not None and rt.buffer is not None:
                    await rt.buffer.stop()
            finally:
                await store.close()

    async def metrics(self, _app: object = None) -> AsyncIterator[None]:
        """Prometheus metrics, the second sink; then any extra sinks of the caller (the demo)."""
        rt = self.runtime
        if self.keep_metrics:
            # Imported only here: prometheus-client is ~15 ms of start-up `once` never needs.
            from monitor.metrics import Metrics

            self.observed = Metrics(self.config)
            rt.keep_metrics(self.observed)
            if self.webhooks is not None:
                self.webhooks.on_refused = self.observed.webhook_refused
            self.lead.attach(self.observed)
        if self.extra_sinks is not None:
            await self.extra_sinks(rt)
        yield

    async def alerting(self, _app: object = None) -> AsyncIterator[None]:
        """The alerter, the last sink of docs/design.md §1; its outbox outlives the scheduler."""
        from monitor.alerting import Alerter
        from monitor.health import DeliveryHealth

        rt = self.runtime
        self.deliveries = DeliveryHealth(self.clock, self.observed)
        alerter = Alerter(
            self.config,
            rt.store,
            clock=self.clock,
            metrics=self.deliveries,
            **self.alerter_options,
        )
        lead = self.lead
        # Deciding and sending alerts is one agent's duty (monitor.leadership).
        rt.sinks.append(lead.gate(alerter))
        self.alerter = alerter

        async def stop(_final: bool) -> None:
            await alerter.stop()

        lead.add(Duty("alerting", alerter.start, stop))
        yield

    async def site(self, _app: object = None) -> AsyncIterator[None]:
        """The site renderer: renders once now, then on request; a last page on the way out."""
        from monitor.renderer import SiteRenderer

        rt = self.runtime
        renderer = SiteRenderer(
            lambda: render_site(rt.store, self.config),
            site_dir=self.config.site_dir,
            min_interval=self.render_min_interval,
            # `sttwatch incident` writes from another process: polled, then rendered soon.
            watch=rt.store.incident_revision,
        )
        lead = self.lead
        # After the alerter: the page follows what was stored and alerted.
        rt.sinks.append(lead.gate(renderer.observe))
        self.renderer = renderer

        async def stop(final: bool) -> None:
            await renderer.stop()
            if final:
                # One last page with everything the scheduler stored on its way out.
                await renderer.render_now()

        lead.add(Duty("site", renderer.start, stop))
        yield

    async def leading(self, _app: object = None) -> AsyncIterator[None]:
        """Leadership: the duties above start here, on this agent if it leads (else later)."""
        lead = self.lead
        await lead.start()
        try:
            yield
        finally:
            await lead.stop()

    async def schedule(self, _app: object = None) -> AsyncIterator[None]:
        """The health report and the scheduler; stopping it finishes or cancels running probes."""
        from monitor.health import Health

        rt = self.runtime
        renderer = self.renderer
        if renderer is None:
            raise RuntimeError("the scheduler context needs the site context before it")
        sched = rt.scheduler(
            on_cycle=self._on_cycle, maintenance=self.lead, **self.scheduler_options
        )
        self.health = Health(
            self.config,
            self.clock,
            scheduler=lambda: sched.state,
            store=lambda: rt.store.health,
            renderer=renderer,
            deliveries=self.deliveries,
            leadership=self.lead.report,
            buffer=rt.buffered if rt.buffer is not None else None,
        )
        self.scheduler = sched
        await sched.start()
        try:
            yield
        finally:
            await sched.stop()

    @property
    def lead(self) -> Leadership:
        """Return the leadership (once the store context has started)."""
        if self.leadership is None:
            raise RuntimeError("the store context has not started")
        return self.leadership

    async def _on_cycle(self) -> None:
        if self.renderer is not None and self.leadership is not None and self.leadership.leading:
            await self.renderer.on_cycle()
        if self.health is not None:
            self.health.check()  # logs a change of state even when nobody asks /healthz

    def contexts(self, *, serving: bool) -> list[Context]:
        """Return the contexts in start order: all of them when `serving`, else the store's."""
        if not serving:
            return [self.store, self.metrics]
        return [self.store, self.metrics, self.alerting, self.site, self.leading, self.schedule]

    @asynccontextmanager
    async def opened(self) -> AsyncIterator[Runtime]:
        """Yield the runtime with the store's contexts entered (no web server), then close them."""
        async with contextlib.AsyncExitStack() as stack:
            for context in self.contexts(serving=False):
                await stack.enter_async_context(asynccontextmanager(context)(None))
            yield self.runtime


@asynccontextmanager
async def open_runtime(
    config: Config,
    *,
    clock: Clock | None = None,
    metrics: bool = True,
    record: bool = True,
) -> AsyncIterator[Runtime]:
    """Yield the runtime for `config` (store, probe context, metrics); closed on the way out.

    With ``metrics=False`` no Prometheus metrics are kept and prometheus-client
    is not imported; with ``record=False`` results reach no store (``sttwatch
    once``'s dry run), while the deletion ledger is still written.
    """
    root = Root(config, clock=clock, metrics=metrics, record=record)
    async with root.opened() as rt:
        yield rt


async def render_database(config: Config) -> SiteView:
    """Open the config's existing database, render the site from it, close it; return the view.

    Raises FileNotFoundError when the database does not exist, and SiteWriteError
    when the view was built but the site could not be written (the caller tells
    the two apart).
    """
    from monitor.site import build_view, write_site
    from monitor.site.publish import SiteWriteError

    root = Root(config, metrics=False, must_exist=True)
    async with root.opened() as rt:
        view = await build_view(rt.store, config)
    try:
        await asyncio.to_thread(write_site, view, config.site_dir)
    except OSError as exc:
        raise SiteWriteError(config.site_dir, exc) from exc
    return view


def build_app(
    config: Config,
    *,
    probes: Mapping[str, ProbeFn] | None = None,
    clock: Clock | None = None,
    render_min_interval: float = 2.0,
    scheduler_options: Mapping[str, Any] | None = None,
    alerter_options: Mapping[str, Any] | None = None,
    extra_sinks: Callable[[Runtime], Awaitable[None]] | None = None,
) -> web.Application:
    """Return the sttwatch web application; starting it starts every part, in order.

    `extra_sinks` is called with the runtime after the metrics and before the
    alerter, so a caller (the demo) can append result sinks in docs/design.md order;
    `scheduler_options` and `alerter_options` are passed on to those parts.
    """
    from aiohttp import web

    from monitor import server
    from monitor.webhook_receiver import add_receiver
    from monitor.webhook_runs import LiveRuns

    # Only a process that serves can receive webhooks (`once` skips the kinds that wait for one).
    webhooks = LiveRuns(config.webhook_base_url) if config.webhook_base_url else None
    root = Root(
        config,
        clock=clock,
        probes=probes,
        # A long-running agent keeps probing through a database outage; `once` does not.
        buffered=True,
        render_min_interval=render_min_interval,
        scheduler_options=scheduler_options,
        alerter_options=alerter_options,
        extra_sinks=extra_sinks,
        webhooks=webhooks,
    )
    app = web.Application()
    app[server.CONFIG] = config
    app[server.CLOCK] = root.clock
    app.cleanup_ctx.extend(root.contexts(serving=True))

    async def publish(app: web.Application) -> None:
        # on_startup handlers run after every cleanup context has started.
        assert root.alerter and root.renderer and root.scheduler and root.health
        app[server.RUNTIME] = root.runtime
        app[server.ALERTER] = root.alerter
        app[server.SITE] = root.renderer
        app[server.SCHEDULER] = root.scheduler
        app[server.HEALTH] = root.health

    app.on_startup.append(publish)
    if webhooks is not None:
        add_receiver(app, webhooks)
    server.add_routes(app)
    return app


async def serve(
    config: Config,
    stop: asyncio.Event,
    *,
    probes: Mapping[str, ProbeFn] | None = None,
    on_started: Callable[[web.AppRunner], Awaitable[None]] | None = None,
    shutdown_timeout: float = 5.0,
    **options: Any,
) -> None:
    """Serve `config` (scheduler, site, /metrics) on `config.listen` until `stop` is set.

    Before anything is written: the listen address is bound (ListenError) and
    the database and site directory are checked (StartupError); a failure
    leaves no database, no site and no probe run behind.
    """
    from monitor import server
    from monitor.preflight import check_database, check_site_dir

    sockets = server.bind(config)
    try:
        check_database(config.database)
        check_site_dir(config.site_dir)
        app = build_app(config, probes=probes, **options)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    await server.run_server(
        app, sockets, stop, on_started=on_started, shutdown_timeout=shutdown_timeout
    )
