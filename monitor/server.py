"""The web server and composition root: where store, metrics, scheduler and site meet.

:func:`build_app` returns an aiohttp application whose ``cleanup_ctx`` opens
the runtime (store, metrics, probe context — :func:`monitor.runtime.open_runtime`),
renders the site once, starts the scheduler with a re-render after every
cycle, and tears all of it down in reverse order. Routes:

- ``/metrics`` — our own registry, rendered off the event loop;
- ``/healthz`` — 200 when a probe cycle completed recently and the database
  is writable, else 503, both with a JSON body saying why;
- ``/api/v1/results`` — raw results from the store, validated and bounded;
- everything else — the static site in ``site_dir`` (GET/HEAD only, no
  listing, no way out of the directory, not even through a symlink).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import hdrs, web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from monitor import __version__
from monitor.alerting import Alerter
from monitor.config import Config, parse_duration
from monitor.models import Clock, ProbeFn, ProbeKind, ProbeResult, Status, SystemClock, iso
from monitor.runtime import Runtime, open_runtime
from monitor.scheduler import Scheduler
from monitor.site import render_site
from monitor.tasks import cancel_and_wait

__all__ = [
    "ALERTER",
    "REQUEST_LIMITS",
    "RUNTIME",
    "SCHEDULER",
    "SITE",
    "ListenError",
    "SiteRenderer",
    "bound_port",
    "build_app",
    "serve",
]

log = logging.getLogger(__name__)

RUNTIME = web.AppKey("runtime", Runtime)
ALERTER = web.AppKey("alerter", Alerter)
SCHEDULER = web.AppKey("scheduler", Scheduler)
_CONFIG = web.AppKey("config", Config)
_CLOCK = web.AppKey("clock", Clock)

MAX_RESULTS = 1000
DEFAULT_RESULTS = 100
MAX_ROW_ID = 2**63 - 1  # SQLite's INTEGER; a larger before_id cannot even be bound
SHOWN_PARAM = 60  # characters of a bad parameter echoed back in the 400's message

REQUEST_LIMITS: Mapping[str, int] = {
    # The longest URL the site and API use is well under 200 bytes; 4 KiB leaves room
    # for a long query without letting a client make the parser buffer more.
    "max_line_size": 4096,
    # Browsers may send large cookies for a shared domain: aiohttp's default, explicitly.
    "max_field_size": 8190,
    "max_headers": 64,
}
"""aiohttp's request parser limits for `serve` (beyond them: 400/414/431, nothing served)."""

SECURITY_HEADERS: Mapping[str, str] = {
    # The page needs no script at all; styles and images come from the site itself.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-site",
}

CONTENT_TYPES: Mapping[str, str] = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".atom": "application/atom+xml; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}


class ListenError(Exception):
    """The server could not bind its `listen` address (in use, not permitted, no such host)."""


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
    """

    def __init__(
        self,
        runtime: Runtime,
        *,
        min_interval: float = 2.0,
        refresh_every: float = 60.0,
        cost_factor: float = 200.0,
        urgent_cost_factor: float = 20.0,
    ) -> None:
        self._rt = runtime
        self._min_interval = min_interval
        self._refresh_every = refresh_every
        self._cost_factor = cost_factor
        self._urgent_cost_factor = urgent_cost_factor
        self.last_duration_s = 0.0
        self._wanted = asyncio.Event()
        self._urgent = asyncio.Event()
        self._statuses: dict[tuple[str, str], Status] = {}
        self._task: asyncio.Task[None] | None = None
        self.renders = 0
        self.failures = 0
        self.last_rendered_at: datetime | None = None
        self.last_error: str | None = None

    async def render_now(self) -> None:
        """Render the site once, now; a failure is logged and remembered, never raised."""
        started = time.monotonic()
        try:
            await render_site(self._rt.store, self._rt.config)
        except Exception as exc:  # a broken render must not stop probing
            self.failures += 1
            # /healthz is public: the kind of failure and the OS's word, never a path.
            why = f": {exc.strerror}" if isinstance(exc, OSError) and exc.strerror else ""
            self.last_error = f"{type(exc).__name__}{why}"
            log.exception("rendering the status page failed")
        else:
            self.renders += 1
            self.last_rendered_at = datetime.now(UTC)
            self.last_error = None
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
        await self.render_now()
        self._task = asyncio.create_task(self._loop(), name="sttwatch-render")

    async def stop(self) -> None:
        """Stop the render loop (waiting for a render in progress to finish)."""
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

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


SITE = web.AppKey("site", SiteRenderer)


# ---------------------------------------------------------------------------
# The composition root


def build_app(
    config: Config,
    *,
    probes: Mapping[str, ProbeFn] | None = None,
    clock: Clock | None = None,
    render_min_interval: float = 2.0,
    scheduler_options: Mapping[str, Any] | None = None,
    extra_sinks: Callable[[Runtime], Awaitable[None]] | None = None,
) -> web.Application:
    """Return the sttwatch web application; starting it starts the scheduler.

    `extra_sinks` is called with the runtime before the scheduler starts, so a
    caller (the alerter, the demo) can append result sinks in DESIGN.md order.
    """
    app = web.Application(middlewares=[_security_headers])
    app[_CONFIG] = config
    app[_CLOCK] = clock or SystemClock()

    async def runtime_ctx(app: web.Application) -> AsyncIterator[None]:
        async with open_runtime(config, clock=app[_CLOCK], probes=probes) as rt:
            app[RUNTIME] = rt
            if extra_sinks is not None:
                await extra_sinks(rt)
            # Alerting is the last sink (DESIGN.md §1). Its outbox worker outlives the
            # scheduler, so alerts of the last results are committed before it stops.
            alerter = Alerter(config, rt.store, clock=app[_CLOCK], metrics=rt.metrics)
            rt.sinks.append(alerter)
            app[ALERTER] = alerter
            await alerter.start()
            try:
                renderer = SiteRenderer(rt, min_interval=render_min_interval)
                app[SITE] = renderer
                # After the alerter: the page follows what was stored and alerted.
                rt.sinks.append(renderer.observe)
                await renderer.start()
                try:
                    sched = rt.scheduler(on_cycle=renderer.on_cycle, **(scheduler_options or {}))
                    app[SCHEDULER] = sched
                    await sched.start()
                    try:
                        yield
                    finally:
                        await sched.stop()
                finally:
                    await renderer.stop()
                    # One last page with everything the scheduler stored on its way out.
                    await renderer.render_now()
            finally:
                await alerter.stop()

    app.cleanup_ctx.append(runtime_ctx)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/api/v1/results", _results)
    app.router.add_get("/{path:.*}", _static)
    return app


@web.middleware
async def _security_headers(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        for k, v in SECURITY_HEADERS.items():
            exc.headers.setdefault(k, v)
        raise
    for k, v in SECURITY_HEADERS.items():
        response.headers.setdefault(k, v)
    return response


async def _metrics(request: web.Request) -> web.StreamResponse:
    # The exposition is megabytes at a thousand targets and takes most of a second to
    # render: on the event loop, every probe due meanwhile starts late and every probe in
    # flight counts the stall as API latency (BENCHMARKS.md F2). prometheus-client's
    # aiohttp handler renders inline, so this is its logic (content negotiation,
    # ``name[]`` filtering) with the rendering in a worker thread; its metrics are
    # thread-safe, and aiohttp compresses a body this size in its executor as well.
    registry: CollectorRegistry = request.app[RUNTIME].metrics.registry
    encoder, content_type = choose_encoder(",".join(request.headers.getall(hdrs.ACCEPT, [])))
    names = request.query.getall("name[]", [])
    source = registry.restricted_registry(names) if names else registry
    body = await asyncio.to_thread(encoder, source)
    response = web.Response(
        body=body, headers={"Content-Type": content_type, "Cache-Control": "no-store"}
    )
    response.enable_compression()
    return response


def health_staleness_limit(config: Config) -> float:
    """Return how many seconds without a completed probe cycle still count as healthy.

    A cycle ends when every probe has run once, so it takes up to the longest
    interval plus that probe's timeout; two of those leave room for one late cycle.
    """
    specs = [s for t in config.targets for s in t.probes.enabled().values()]
    longest = max((float(s.interval) + float(s.timeout) for s in specs), default=60.0)
    return 2 * longest + 10.0


async def _healthz(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    sched = request.app[SCHEDULER]
    clock = request.app[_CLOCK]
    state = sched.state
    health = rt.store.health
    renderer = request.app[SITE]
    rendered = renderer.last_rendered_at
    limit = health_staleness_limit(rt.config)
    problems: list[str] = []
    age: float | None = None
    if state.last_cycle_completed_monotonic is None:
        problems.append("no probe cycle has completed yet")
    else:
        age = clock.monotonic() - state.last_cycle_completed_monotonic
        if age > limit:
            problems.append(f"the last probe cycle completed {age:.0f}s ago (limit {limit:.0f}s)")
    if not state.running:
        problems.append("the scheduler is not running")
    if not health.writable:
        problems.append(f"the database is not writable: {health.last_error or 'unknown error'}")
    body = {
        "status": "ok" if not problems else "unhealthy",
        "reasons": problems,
        "version": __version__,
        "scheduler": {
            "running": state.running,
            "cycles": state.cycles,
            "last_cycle_completed_at": iso(state.last_cycle_completed_at)
            if state.last_cycle_completed_at
            else None,
            "seconds_since_last_cycle": None if age is None else round(age, 3),
            "runs": state.runs,
            "skipped": state.skipped,
        },
        "database": {
            "writable": health.writable,
            "last_error": health.last_error,
            "failing_since": iso(health.failing_since) if health.failing_since else None,
        },
        "site": {
            "renders": renderer.renders,
            "last_rendered_at": iso(rendered) if rendered else None,
            "last_error": renderer.last_error,
        },
    }
    return web.json_response(
        body, status=200 if not problems else 503, headers={"Cache-Control": "no-store"}
    )


# ---------------------------------------------------------------------------
# /api/v1/results


class _BadRequest(Exception):
    pass


@dataclass(frozen=True, slots=True)
class ResultsQuery:
    """The validated parameters of ``/api/v1/results``."""

    target: str | None
    probe: str | None
    since: datetime | None
    until: datetime | None
    limit: int
    before_id: int | None


def _shown(value: str) -> str:
    """Return `value` quoted for an error message, cut short: a huge parameter is not echoed."""
    return repr(value if len(value) <= SHOWN_PARAM else value[:SHOWN_PARAM] + "…")


def _parse_time(name: str, value: str, now: datetime) -> datetime:
    """Return an ISO 8601 time, or `now` minus a duration ("15m", "24h")."""
    try:
        seconds = parse_duration(value)
    except ValueError:
        pass
    else:
        try:
            return now - timedelta(seconds=seconds)
        except OverflowError:  # "99999999999d" is a duration, but no datetime is that old
            raise _BadRequest(f"{name} is too far in the past, got {_shown(value)}") from None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _BadRequest(
            f"{name} must be an ISO 8601 time (2026-01-31T12:00:00Z) or a duration ago "
            f"(15m, 24h), got {_shown(value)}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _digits(value: str) -> bool:
    # str.isdigit() also accepts "²" and "١٠", which int() then rejects or reads.
    return value.isascii() and value.isdigit()


def parse_results_query(query: Mapping[str, str], config: Config, now: datetime) -> ResultsQuery:
    """Return the validated query of ``/api/v1/results``; raises ValueError with a message."""
    allowed = {"target", "probe", "since", "until", "limit", "before_id"}
    unknown = sorted(set(query) - allowed)
    try:
        if unknown:
            raise _BadRequest(
                f"unknown parameter {_shown(unknown[0])}; allowed: {', '.join(sorted(allowed))}"
            )
        target = query.get("target") or None
        names = [t.name for t in config.targets]
        if target is not None and target not in names:
            raise _BadRequest(f"no target named {_shown(target)}; targets: {', '.join(names)}")
        probe = query.get("probe") or None
        probes = tuple(kind.value for kind in ProbeKind)
        if probe is not None and probe not in probes:
            raise _BadRequest(f"probe must be one of {', '.join(probes)}, got {_shown(probe)}")
        since = _parse_time("since", query["since"], now) if query.get("since") else None
        until = _parse_time("until", query["until"], now) if query.get("until") else None
        if since and until and until <= since:
            raise _BadRequest("until must be after since")
        raw_limit = query.get("limit", str(DEFAULT_RESULTS))
        if not _digits(raw_limit) or not 1 <= int(raw_limit) <= MAX_RESULTS:
            raise _BadRequest(
                f"limit must be an integer from 1 to {MAX_RESULTS}, got {_shown(raw_limit)}"
            )
        raw_before = query.get("before_id")
        if raw_before is not None and (not _digits(raw_before) or int(raw_before) > MAX_ROW_ID):
            raise _BadRequest(
                f"before_id must be a positive integer, got {_shown(raw_before)} "
                f"(at most {MAX_ROW_ID})"
            )
    except _BadRequest as exc:
        raise ValueError(str(exc)) from None
    return ResultsQuery(
        target=target,
        probe=probe,
        since=since,
        until=until,
        limit=int(raw_limit),
        before_id=int(raw_before) if raw_before is not None else None,
    )


async def _results(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    clock = request.app[_CLOCK]
    try:
        q = parse_results_query(request.query, rt.config, clock.now())
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    rows = await rt.store.result_rows(q.target, q.probe, q.since, q.until, q.limit, q.before_id)
    body: dict[str, Any] = {
        "results": [{"id": r.id, **r.result.to_json()} for r in rows],
        "next_before_id": rows[-1].id if len(rows) == q.limit else None,
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------------------
# The static site


def _cache_control(rel: str) -> str:
    if rel.startswith("static/"):
        return "public, max-age=3600"
    # Pages change after every cycle; let caches hold them briefly, then revalidate.
    return "public, max-age=30, must-revalidate"


def locate(site_dir: str, raw: str) -> Path | str | None:
    """Return the file under `site_dir` that URL path `raw` names, a redirect target, or None.

    None for anything outside the site: dot segments (aiohttp has already
    percent-decoded "%2e%2e" into ".."), backslashes, NULs, and symlinks whose
    target lies outside. A directory without a trailing slash redirects, so the
    page's relative links resolve.
    """
    root = Path(site_dir).resolve()
    parts = [p for p in raw.split("/") if p]
    if any(p in (".", "..") or "\\" in p or "\x00" in p for p in parts):
        return None
    path = root.joinpath(*parts)
    try:
        resolved = path.resolve(strict=True)
        is_dir = resolved.is_dir()
        if is_dir:
            resolved = (resolved / "index.html").resolve(strict=True)
    except OSError:
        return None
    if not resolved.is_relative_to(root) or not resolved.is_file():
        return None
    if is_dir and parts and not raw.endswith("/"):
        # Rebuilt from the checked segments: never "//host" (an open redirect).
        return "/" + "/".join(quote(p) for p in parts) + "/"
    return resolved


async def _static(request: web.Request) -> web.StreamResponse:
    config = request.app[_CONFIG]
    raw = request.match_info["path"]
    found = await asyncio.to_thread(locate, config.site_dir, raw)
    if found is None:
        raise web.HTTPNotFound()
    if isinstance(found, str):
        raise web.HTTPMovedPermanently(found)
    root = await asyncio.to_thread(Path(config.site_dir).resolve)
    rel = found.relative_to(root).as_posix()
    content_type = CONTENT_TYPES.get(found.suffix.lower(), "application/octet-stream")
    return web.FileResponse(
        found, headers={"Content-Type": content_type, "Cache-Control": _cache_control(rel)}
    )


# ---------------------------------------------------------------------------
# Running it


def bound_port(runner: web.AppRunner) -> int:
    """Return the TCP port the runner's first site listens on (useful with port 0)."""
    for addr in runner.addresses:
        if isinstance(addr, tuple) and len(addr) >= 2:
            return int(addr[1])
    raise RuntimeError("the server is not listening on a TCP port")


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

    Shutdown follows aiohttp's graceful sequence: stop listening, let requests
    in flight finish (up to `shutdown_timeout`), then run the cleanup contexts
    (scheduler stopped and its deletions swept, last render, store closed).
    """
    app = build_app(config, probes=probes, **options)
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=shutdown_timeout,
        max_line_size=REQUEST_LIMITS["max_line_size"],
        max_field_size=REQUEST_LIMITS["max_field_size"],
        max_headers=REQUEST_LIMITS["max_headers"],
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.listen_host, config.listen_port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            raise ListenError(f"cannot listen on {config.listen}: {exc.strerror or exc}") from exc
        started = time.monotonic()
        # What start-up built (modules, config, store, every metric series, scheduled
        # jobs) lives as long as the process, yet each full collection rescanned all of
        # it: 0.2-0.35 s pauses of the loop at 1,000 targets (BENCHMARKS.md F10). Freezing
        # moves it out of the collector's reach; garbage is collected first so none of it
        # is kept for good, and serve() unfreezes on its way out for whoever embeds it.
        gc.collect()
        gc.freeze()
        log.info("serving on http://%s:%d/", config.listen_host, bound_port(runner))
        if on_started is not None:
            await on_started(runner)
        await stop.wait()
        log.info("stopping after %.0fs", time.monotonic() - started)
    finally:
        gc.unfreeze()
        await runner.cleanup()
