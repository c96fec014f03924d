"""The web server: sttwatch's routes, and binding and serving them.

The parts the routes read (runtime, scheduler, site renderer, alerter, health)
are built by the composition root, :mod:`monitor.app`, and published under the
keys below once they have started. Routes:

- ``/metrics`` — our own registry, rendered off the event loop;
- ``/healthz`` — 200 ``ok``; 503 ``unhealthy`` when no probe cycle completed
  recently, 503 ``degraded`` when the site, the database or alert deliveries
  fail (:mod:`monitor.health`), with a JSON body saying why;
- ``/api/v1/results`` — raw results from the store, validated and bounded;
- ``/api/v1/providers`` — the providers side by side, "healthy now, fastest
  first": the document the last render wrote (``api/v1/providers.json``);
- everything else — the static site in ``site_dir`` (GET/HEAD only, no
  listing, no way out of the directory, not even through a symlink).
"""

from __future__ import annotations

import asyncio
import errno
import gc
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import hdrs, web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from monitor.alerting import Alerter
from monitor.config import Config, parse_duration
from monitor.health import Health
from monitor.models import Clock
from monitor.probes.registry import probe_types
from monitor.renderer import SiteRenderer
from monitor.runtime import Runtime
from monitor.scheduler import Scheduler
from monitor.targets import is_slug

__all__ = [
    "ALERTER",
    "CLOCK",
    "CONFIG",
    "HEALTH",
    "REQUEST_LIMITS",
    "RUNTIME",
    "SCHEDULER",
    "SITE",
    "ListenError",
    "add_routes",
    "bind",
    "bound_port",
    "run_server",
]

log = logging.getLogger(__name__)

CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
RUNTIME = web.AppKey("runtime", Runtime)
ALERTER = web.AppKey("alerter", Alerter)
SCHEDULER = web.AppKey("scheduler", Scheduler)
SITE = web.AppKey("site", SiteRenderer)
HEALTH = web.AppKey("health", Health)

# Where the site's render writes the providers document (monitor.site.publish.PROVIDERS_FILE;
# not imported: the site package brings jinja2, no start-up cost of the server's).
PROVIDERS_FILE = "api/v1/providers.json"

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


def add_routes(app: web.Application) -> None:
    """Add sttwatch's routes and security headers to `app` (its parts under the keys above)."""
    app.middlewares.append(_security_headers)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/api/v1/results", _results)
    app.router.add_get("/api/v1/providers", _providers)
    app.router.add_get("/{path:.*}", _static)


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


async def _healthz(request: web.Request) -> web.Response:
    report = request.app[HEALTH].check()
    return web.json_response(
        report.body, status=report.http_status, headers={"Cache-Control": "no-store"}
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
    location: str | None = None


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
    allowed = {"target", "probe", "since", "until", "limit", "before_id", "location"}
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
        # The kinds of the target's provider, or of any provider when no target is named.
        provider = config.target(target).provider if target is not None else None
        probes = tuple(probe_types(provider))
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
        location = query.get("location") or None
        if location is not None and not is_slug(location):
            raise _BadRequest(
                "location must be a slug of lower-case letters, digits and dashes (eu-west), "
                f"got {_shown(location)}"
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
        location=location,
    )


async def _results(request: web.Request) -> web.Response:
    rt = request.app[RUNTIME]
    clock = request.app[CLOCK]
    try:
        q = parse_results_query(request.query, rt.config, clock.now())
    except ValueError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    if q.location is not None:
        known = await rt.store.locations()
        if q.location not in known:
            # A typo would otherwise look like a location that never failed: say so.
            where = ", ".join(known) or "none yet"
            message = f"no results from location {_shown(q.location)}; locations: {where}"
            return web.json_response({"error": message}, status=400)
    rows = await rt.store.result_rows(
        q.target, q.probe, q.since, q.until, q.limit, q.before_id, q.location
    )
    body: dict[str, Any] = {
        "results": [{"id": r.id, **r.result.to_json()} for r in rows],
        "next_before_id": rows[-1].id if len(rows) == q.limit else None,
    }
    return web.json_response(body, headers={"Cache-Control": "no-store"})


# ---------------------------------------------------------------------------
# /api/v1/providers


async def _providers(request: web.Request) -> web.StreamResponse:
    # The document of the last render, byte for byte: the page, the static site and
    # the API agree, and a poll costs a file read (or a 304), never a store query.
    # no-cache: a poller always revalidates (ETag) and so never acts on an old order.
    config = request.app[CONFIG]
    path = Path(config.site_dir) / PROVIDERS_FILE
    if not await asyncio.to_thread(path.is_file):
        return web.json_response(
            {"error": "no render has written the providers document yet"},
            status=503,
            headers={"Cache-Control": "no-store", "Retry-After": "2"},
        )
    return web.FileResponse(
        path, headers={"Content-Type": CONTENT_TYPES[".json"], "Cache-Control": "no-cache"}
    )


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
    config = request.app[CONFIG]
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


def bind(config: Config) -> list[socket.socket]:
    """Return listening sockets on `config.listen`; raises ListenError, binding nothing.

    Bound before anything else starts, so a taken port is reported before a
    database is created or a probe runs. Like asyncio's own ``create_server``:
    every address the host resolves to, IPv6 sockets IPv6-only, and an address
    family the machine lacks (EADDRNOTAVAIL) skipped.
    """
    host, port = config.listen_host, config.listen_port
    try:
        infos = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except OSError as exc:
        raise ListenError(f"cannot listen on {config.listen}: {exc.strerror or exc}") from exc
    sockets: list[socket.socket] = []
    last: OSError | None = None
    try:
        for family, type_, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, type_, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRNOTAVAIL:
                    sockets.pop().close()
                    last = exc
                    continue
                raise
            sock.listen(128)
            sock.setblocking(False)
        if not sockets:
            raise last or OSError(errno.EADDRNOTAVAIL, "no address to listen on")
    except OSError as exc:
        for sock in sockets:
            sock.close()
        raise ListenError(f"cannot listen on {config.listen}: {exc.strerror or exc}") from exc
    return sockets


async def run_server(
    app: web.Application,
    sockets: list[socket.socket],
    stop: asyncio.Event,
    *,
    on_started: Callable[[web.AppRunner], Awaitable[None]] | None = None,
    shutdown_timeout: float = 5.0,
) -> None:
    """Start `app` (its cleanup contexts), serve it on `sockets` until `stop` is set.

    Shutdown follows aiohttp's graceful sequence: stop listening, let requests
    in flight finish (up to `shutdown_timeout`), then run the cleanup contexts
    in reverse. The sockets are closed on the way out, whatever happened.
    """
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=shutdown_timeout,
        max_line_size=REQUEST_LIMITS["max_line_size"],
        max_field_size=REQUEST_LIMITS["max_field_size"],
        max_headers=REQUEST_LIMITS["max_headers"],
    )
    try:
        await runner.setup()
        for sock in sockets:
            await web.SockSite(runner, sock).start()
        started = time.monotonic()
        # What start-up built (modules, config, store, every metric series, scheduled
        # jobs) lives as long as the process, yet each full collection rescanned all of
        # it: 0.2-0.35 s pauses of the loop at 1,000 targets (BENCHMARKS.md F10). Freezing
        # moves it out of the collector's reach; garbage is collected first so none of it
        # is kept for good, and this unfreezes on its way out for whoever embeds it.
        gc.collect()
        gc.freeze()
        log.info("serving on http://%s:%d/", sockets[0].getsockname()[0], bound_port(runner))
        if on_started is not None:
            await on_started(runner)
        await stop.wait()
        log.info("stopping after %.0fs", time.monotonic() - started)
    finally:
        gc.unfreeze()
        await runner.cleanup()
        for sock in sockets:
            sock.close()
