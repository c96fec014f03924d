"""The web server as its users meet it: the site, /healthz, /api/v1/results, /metrics.

/healthz is checked against real breakage: a file where the site's directory
must be, another process holding the database's write lock, a webhook
answering 500.

Each test starts the real application (scheduler, store, renderer) on a
loopback port against a real simulator, and talks to it over HTTP.
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.alerting import Backoff
from monitor.app import build_app, serve
from monitor.config import Config
from monitor.server import RUNTIME, SCHEDULER, SITE, locate
from monitor.simulator import SimulatorHandle
from tests.support.configs import config_doc, parsed, sim_target
from tests.support.polling import eventually
from tests.support.receivers import Webhook

if TYPE_CHECKING:
    from tests.support.fixture_types import SimStarter

Client = TestClient[Any, Any]
KEY = "sim-key"
FAST = {"interval": "1s", "timeout": "800ms", "degraded_after": "500ms"}


@pytest.fixture
async def sim(start_sim: SimStarter) -> SimulatorHandle:
    return await start_sim({"seed": 4})


def make_config(
    tmp_path: Path,
    sim: SimulatorHandle,
    *,
    site_dir: Path | None = None,
    alerts: dict[str, Any] | None = None,
    **reachability: str,
) -> Config:
    target = sim_target(sim, key=KEY, probes={"reachability": {**FAST, **reachability}})
    doc = config_doc(
        tmp_path, [target], site_dir=site_dir or "site", alerts=alerts or {}, title="Server test"
    )
    return parsed(doc)


async def start(
    aiohttp_client: Callable[..., Awaitable[Client]], cfg: Config, **options: Any
) -> Client:
    client = await aiohttp_client(build_app(cfg, render_min_interval=0.1, **options))
    return client


async def settled(client: Client, renders: int = 2) -> None:
    """Wait until a probe cycle has completed and its page has been rendered."""
    app = client.app
    assert app is not None

    async def ready() -> bool:
        return bool(app[SCHEDULER].state.cycles >= 1 and app[SITE].renders >= renders)

    await eventually(ready, "a completed cycle and its render")


SECURITY = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


# ---------------------------------------------------------------------------
# The site


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/", "text/html; charset=utf-8"),
        ("/index.html", "text/html; charset=utf-8"),
        ("/api/v2/summary.json", "application/json"),
        ("/api/v2/status.json", "application/json"),
        ("/feed.atom", "application/atom+xml; charset=utf-8"),
        ("/badges/sim-reachability.svg", "image/svg+xml"),
        ("/badges/sim-reachability.json", "application/json"),
        ("/static/style.css", "text/css; charset=utf-8"),
    ],
    ids=["root", "index", "summary", "status", "atom", "badge-svg", "badge-json", "css"],
)
async def test_site_files_are_served_with_type_caching_and_security_headers(
    aiohttp_client: Any, tmp_path: Path, sim: SimulatorHandle, path: str, content_type: str
) -> None:
    client = await start(aiohttp_client, make_config(tmp_path, sim))
    await settled(client)
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == content_type
    for name, value in SECURITY.items():
        assert resp.headers[name] == value
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp
    assert "max-age=" in resp.headers["Cache-Control"]
    assert resp.headers.get("ETag") or resp.headers.get("Last-Modified")
    body = await resp.read()
    assert body
    head = await client.head(path)
    assert head.status == 200 and await head.read() == b""
    if path in ("/", "/index.html"):
        assert "All Systems Operational" in body.decode()


async def test_only_get_and_head_are_allowed(
    aiohttp_client: Any, tmp_path: Path, sim: SimulatorHandle
) -> None:
    client = await start(aiohttp_client, make_config(tmp_path, sim))
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        resp = await client.request(method, "/index.html")
        assert resp.status == 405, method
        assert resp.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "path",
    [
        "/../sttwatch.db",
        "/%2e%2e/sttwatch.db",
        "/static/%2e%2e/%2e%2e/sttwatch.db",
        "/%2e%2e%2fsttwatch.db",
        "/static/..%2f..%2fsttwatch.db",
        "/static/..%5c..%5csttwatch.db",
        "/%00index.html",
        "/api/",
        "/api/v2",
        "/badges/",
        "/leak.txt",
        "/static/leak-dir/secret.txt",
        "/nope.html",
    ],
    ids=[
        "dotdot",
        "encoded-dotdot",
        "encoded-dotdot-nested",
        "encoded-slash",
        "encoded-slash-nested",
        "encoded-backslash",
        "nul",
        "dir-listing",
        "dir-no-slash",
        "badges-listing",
        "symlink-file-out",
        "symlink-dir-out",
        "missing",
    ],
)
async def test_nothing_outside_the_site_and_no_listing(
    aiohttp_client: Any, tmp_path: Path, sim: SimulatorHandle, path: str
) -> None:
    cfg = make_config(tmp_path, sim, interval="60s", timeout="1s")
    (tmp_path / "secret.txt").write_text("secret outside the site")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("secret outside the site")
    client = await start(aiohttp_client, cfg)
    await settled(client)  # no further render for a minute: the links below stay
    site = Path(cfg.site_dir)
    os.symlink(tmp_path / "secret.txt", site / "leak.txt")
    os.symlink(tmp_path / "outside", site / "static" / "leak-dir")
    os.symlink(site / "static" / "style.css", site / "inside.css")

    resp = await client.get(path, allow_redirects=False)
    assert resp.status == 404, (path, resp.status)
    body = await resp.text()
    assert "secret" not in body and "SQLite" not in body and "<a href" not in body
    # A symlink that stays inside the site is served: the check is about where it leads.
    assert (await client.get("/inside.css")).status == 200


def test_locate_redirects_a_directory_to_its_slash(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.html").write_text("<p>docs</p>")
    assert locate(str(tmp_path), "docs") == "/docs/"
    assert locate(str(tmp_path), "docs/") == (tmp_path / "docs" / "index.html").resolve()
    assert locate(str(tmp_path), "//docs") == "/docs/"  # never a "//host" redirect


# ---------------------------------------------------------------------------
# Re-rendering after every cycle


async def test_page_follows_the_api_through_an_incident(
    aiohttp_client: Any, tmp_path: Path, sim: SimulatorHandle
) -> None:
    client = await start(aiohttp_client, make_config(tmp_path, sim))
    await settled(client)

    async def indicator(want: str) -> bool:
        resp = await client.get("/api/v2/status.json")
        return bool((await resp.json())["status"]["indicator"] == want)

    assert await indicator("none")
    sim.set_faults([{"endpoint": "transcript.list", "action": "status", "status": 503}])
    await eventually(lambda: indicator("critical"), "the incident on the page")
    summary = await (await client.get("/api/v2/summary.json")).json()
    [incident] = summary["incidents"]
    assert incident["status"] == "investigating"
    assert "server_error" in (await (await client.get("/")).text())

    sim.clear_faults()
    await eventually(lambda: indicator("none"), "the recovery on the page")
    incidents = await (await client.get("/api/v2/incidents.json")).json()
    assert [i["status"] for i in incidents["incidents"]] == ["resolved"]


# ---------------------------------------------------------------------------
# /healthz


async def test_healthz_is_503_until_a_cycle_completes_then_200(
    aiohttp_client: Any, tmp_path: Path, sim: SimulatorHandle
) -> None:
    sim.set_faults([{"endpoint": "transcript.list", "action": "delay", "delay_ms": 1500}])
    cfg = make_config(tmp_path, sim, interval="5s", timeout="3s", degraded_after="2s")
    client = await start(aiohttp_client, cfg)
    resp = await client.get("/healthz")
    assert resp.status == 503
    body = await resp.json()
    assert body["status"] == "unhealthy"
    assert body["reasons"] == ["no probe cycle has completed yet"]
    assert resp.headers["Content-Type"].startswith("application/json")

    async def healthy() -> bool:
        return (await client.get("/healthz")).status == 200

    await eventually(healthy, "the first completed cycle")
    body = await (await client.get("/healthz")).json()
    assert body["status"] == "ok" and body["reasons"] == []
    assert body["scheduler"]["cycles"] >= 1
    assert body["database"]["writable"] is True


async def healthz(client: Client) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/healthz")
    return resp.status, await resp.json()


async def status_is(client: Client, wanted: str) -> bool:
    return (await healthz(client))[1]["status"] == wanted


async def start_failing_alerts(
    aiohttp_client: Callable[..., Awaitable[Client]],
    tmp_path: Path,
    sim: SimulatorHandle,
    webhook: Webhook,
    **alerts: Any,
) -> Client:
    """Start the app with the REST API down and every alert delivery answered 500."""
    webhook.fail_first = 10**6
    cfg = make_config(
        tmp_path, sim, alerts={"urls": [webhook.url()], "failure_threshold": 1, **alerts}
    )
    sim.set_faults([{"endpoint": "transcript.list", "action": "status", "status": 503}])
    return await start(
        aiohttp_client, cfg, alerter_options={"backoff": Backoff(first=0.2, factor=1.0, cap=0.2)}
    )


def lines(caplog: pytest.LogCaptureFixture, logger: str, text: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger and text in r.getMessage()]


async def test_an_unwritable_site_is_degraded_with_its_reason_and_logged_once(
    aiohttp_client: Any, tmp_path: Path, sim: SimulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # A file where the site's parent directory must be: every render fails.
    blocker = tmp_path / "blocker"
    blocker.write_text("not a directory")
    cfg = make_config(tmp_path, sim, site_dir=blocker / "site")
    client = await start(aiohttp_client, cfg)
    app = client.app
    assert app is not None

    async def failed_renders() -> bool:
        return bool(app[SCHEDULER].state.cycles >= 1 and app[SITE].failures >= 3)

    await eventually(failed_renders, "a completed cycle and three failed renders")
    status, body = await healthz(client)
    assert status == 503
    assert body["status"] == "degraded"
    [reason] = body["reasons"]
    assert reason.startswith("the status page cannot be written: FileExistsError")
    assert body["site"]["writable"] is False and body["site"]["renders"] == 0
    assert str(tmp_path) not in str(body)  # /healthz is public: no paths
    # One line when rendering started failing, not a traceback per attempt.
    [failed] = lines(caplog, "monitor.renderer", "cannot write the status page")
    assert failed.levelno == logging.ERROR and not failed.exc_info
    assert str(blocker / "site") in failed.getMessage()
    [degraded] = lines(caplog, "monitor.health", "health: degraded")
    assert "the status page cannot be written" in degraded.getMessage()

    blocker.unlink()
    blocker.mkdir()
    await eventually(lambda: status_is(client, "ok"), "the next good render")
    assert (await client.get("/")).status == 200
    assert len(lines(caplog, "monitor.renderer", "is written to")) == 1
    assert len(lines(caplog, "monitor.health", "health: ok again")) == 1
    assert len(lines(caplog, "monitor.health", "health: degraded")) == 1


async def test_an_unwritable_database_is_degraded_with_its_reason(
    aiohttp_client: Any, tmp_path: Path, sim: SimulatorHandle, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    cfg = make_config(tmp_path, sim)
    client = await start(aiohttp_client, cfg)
    await eventually(lambda: status_is(client, "ok"), "the first completed cycle")
    # Another process holds the write lock: every write fails after the busy timeout.
    other = sqlite3.connect(cfg.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        await eventually(lambda: status_is(client, "degraded"), "the failed write", within=30)
        status, body = await healthz(client)
        assert status == 503
        [reason] = body["reasons"]
        assert reason.startswith("the database is not writable: ") and "locked" in reason
    finally:
        other.execute("ROLLBACK")
        other.close()
    await eventually(lambda: status_is(client, "ok"), "the next good write", within=30)
    assert len(lines(caplog, "monitor.health", "health: degraded: the database")) == 1
    assert len(lines(caplog, "monitor.health", "health: ok again")) == 1


async def test_alert_deliveries_failing_longer_than_configured_are_degraded(
    aiohttp_client: Any, tmp_path: Path, sim: SimulatorHandle, webhook: Webhook
) -> None:
    client = await start_failing_alerts(
        aiohttp_client, tmp_path, sim, webhook, success_threshold=1, degrade_health_after="1s"
    )
    await eventually(lambda: status_is(client, "degraded"), "failing deliveries", within=20)
    status, body = await healthz(client)
    assert status == 503
    [reason] = body["reasons"]
    assert reason.startswith("alert deliveries have been failing for ")
    assert reason.endswith("(alerts.degrade_health_after: 1s)")
    assert body["alerts"]["failed_attempts"] >= 1 and body["alerts"]["failing_since"]
    # One delivery getting through ends it.
    webhook.fail_first = 0
    await eventually(lambda: status_is(client, "ok"), "a delivered alert", within=20)
    assert webhook.titles()


async def test_failing_deliveries_never_degrade_health_when_the_limit_is_zero(
    aiohttp_client: Any, tmp_path: Path, sim: SimulatorHandle, webhook: Webhook
) -> None:
    client = await start_failing_alerts(
        aiohttp_client, tmp_path, sim, webhook, degrade_health_after="0s"
    )
    await eventually(lambda: webhook.seen >= 3, "three failed deliveries", within=20)
    status, body = await healthz(client)
    assert (status, body["status"]) == (200, "ok")
    assert body["alerts"]["failed_attempts"] >= 3


# ---------------------------------------------------------------------------
# /api/v1/results


async def test_results_api_returns_bounded_results(
    aiohttp_client: Any, tmp_path: Path, sim: SimulatorHandle
) -> None:
    client = await start(aiohttp_client, make_config(tmp_path, sim))

    async def three() -> bool:
        resp = await client.get("/api/v1/results", params={"target": "sim", "limit": "3"})
        return len((await resp.json())["results"]) == 3

    await eventually(three, "three results")
    resp = await client.get(
        "/api/v1/results",
        params={"target": "sim", "probe": "reachability", "since": "10m", "limit": "2"},
    )
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    first, second = body["results"]
    assert first["target"] == "sim" and first["probe"] == "reachability"
    assert first["status"] == "up" and first["error_kind"] is None
    assert first["started_at"] > second["started_at"]  # newest first
    assert body["next_before_id"] == second["id"]
    page2 = await client.get("/api/v1/results", params={"before_id": str(second["id"])})
    assert all(r["id"] < second["id"] for r in (await page2.json())["results"])


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"limit": "0"}, "limit must be an integer from 1 to 1000, got '0'"),
        ({"limit": "5000"}, "limit must be an integer from 1 to 1000, got '5000'"),
        ({"limit": "ten"}, "limit must be an integer from 1 to 1000, got 'ten'"),
        ({"target": "nope"}, "no target named 'nope'; targets: sim"),
        ({"probe": "ping"}, "probe must be one of reachability, transcription, streaming"),
        ({"since": "yesterday"}, "since must be an ISO 8601 time"),
        ({"since": "1h", "until": "2h"}, "until must be after since"),
        ({"before_id": "-1"}, "before_id must be a positive integer, got '-1'"),
        ({"q": "1"}, "unknown parameter 'q'"),
    ],
    ids=[
        "limit-zero",
        "limit-too-big",
        "limit-text",
        "unknown-target",
        "unknown-probe",
        "bad-since",
        "until-before-since",
        "negative-before-id",
        "unknown-param",
    ],
)
async def test_results_api_rejects_bad_parameters(
    aiohttp_client: Any,
    tmp_path: Path,
    sim: SimulatorHandle,
    query: dict[str, str],
    message: str,
) -> None:
    client = await start(aiohttp_client, make_config(tmp_path, sim))
    resp = await client.get("/api/v1/results", params=query)
    assert resp.status == 400
    assert resp.headers["Content-Type"].startswith("application/json")
    assert message in (await resp.json())["error"]


# ---------------------------------------------------------------------------
# /metrics and shutdown


async def test_metrics_exposes_probe_results(
    aiohttp_client: Any, tmp_path: Path, sim: SimulatorHandle
) -> None:
    client = await start(aiohttp_client, make_config(tmp_path, sim))
    await settled(client)
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    assert (
        'sttwatch_probe_success{location="local",probe="reachability",'
        'provider="assemblyai",target="sim"} 1.0' in text
    )
    assert "sttwatch_build_info" in text


class _NeedsTheLoop:
    """A collector whose collection ends only once the event loop has run a callback."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.loop_ran = threading.Event()

    def describe(self) -> list[Metric]:
        return []  # else registering it would collect, on the loop, right away

    def collect(self) -> Iterator[Metric]:
        self.loop_ran.clear()
        self.loop.call_soon_threadsafe(self.loop_ran.set)
        if not self.loop_ran.wait(5):
            raise RuntimeError("the event loop was blocked while /metrics rendered")
        yield GaugeMetricFamily("test_loop_was_free", "The loop ran during the scrape.", value=1)


async def test_a_scrape_leaves_the_event_loop_free(
    aiohttp_client: Any, tmp_path: Path, sim: SimulatorHandle
) -> None:
    client = await start(aiohttp_client, make_config(tmp_path, sim))
    registry = client.server.app[RUNTIME].metrics.registry
    registry.register(_NeedsTheLoop(asyncio.get_running_loop()))
    resp = await client.get("/metrics")
    assert resp.status == 200
    assert "test_loop_was_free 1.0" in await resp.text()


@pytest.mark.parametrize(
    ("method", "headers", "content_type", "encoding"),
    [
        ("GET", {"Accept-Encoding": "gzip"}, "text/plain", "gzip"),
        ("GET", {"Accept-Encoding": "identity"}, "text/plain", None),
        ("GET", {"Accept": "application/openmetrics-text"}, "application/openmetrics-text", None),
        ("HEAD", {}, "text/plain", None),
    ],
    ids=["gzip", "plain", "openmetrics", "head"],
)
async def test_metrics_negotiates_format_and_compression(
    aiohttp_client: Any,
    tmp_path: Path,
    sim: SimulatorHandle,
    method: str,
    headers: dict[str, str],
    content_type: str,
    encoding: str | None,
) -> None:
    client = await start(aiohttp_client, make_config(tmp_path, sim))
    headers = {"Accept-Encoding": "identity", **headers}
    resp = await client.request(method, "/metrics", headers=headers, auto_decompress=False)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith(content_type)
    assert resp.headers.get("Content-Encoding") == encoding
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.read()
    if method == "HEAD":
        assert body == b""
    else:
        text = gzip.decompress(body) if encoding == "gzip" else body
        assert b"sttwatch_build_info" in text


async def test_metrics_can_be_restricted_by_name(
    aiohttp_client: Any, tmp_path: Path, sim: SimulatorHandle
) -> None:
    client = await start(aiohttp_client, make_config(tmp_path, sim))
    resp = await client.get("/metrics", params=[("name[]", "sttwatch_build_info")])
    text = await resp.text()
    assert "sttwatch_build_info{" in text
    assert "sttwatch_probe_runs_total" not in text


async def test_serve_freezes_start_up_objects_until_it_stops(
    tmp_path: Path, sim: SimulatorHandle
) -> None:
    stop = asyncio.Event()
    frozen: list[int] = []

    async def started(runner: Any) -> None:
        frozen.append(gc.get_freeze_count())
        stop.set()

    await asyncio.wait_for(serve(make_config(tmp_path, sim), stop, on_started=started), 20)
    # Full collections no longer rescan what start-up built (BENCHMARKS.md F10)...
    assert frozen[0] > 0
    # ...and the process is left as serve() found it.
    assert gc.get_freeze_count() == 0


async def test_serve_shuts_down_gracefully(tmp_path: Path, sim: SimulatorHandle) -> None:
    cfg = make_config(tmp_path, sim)
    stop = asyncio.Event()
    ports: list[int] = []

    async def started(runner: Any) -> None:
        from monitor.server import bound_port

        ports.append(bound_port(runner))

    task = asyncio.create_task(serve(cfg, stop, on_started=started, render_min_interval=0.1))
    await eventually(lambda: _true(bool(ports)), "the server to listen")
    url = f"http://127.0.0.1:{ports[0]}"
    async with aiohttp.ClientSession() as session:

        async def has_result() -> bool:
            async with session.get(f"{url}/api/v1/results") as resp:
                return bool((await resp.json())["results"])

        await eventually(has_result, "a stored result")
        stop.set()
        await asyncio.wait_for(task, 20)
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(f"{url}/healthz"):
                pass
    # The last render happened on the way out and the database was closed cleanly.
    summary, wal = await asyncio.to_thread(_after_shutdown, cfg)
    assert summary["status"]["indicator"] == "none"
    assert wal == 0


def _after_shutdown(cfg: Config) -> tuple[dict[str, Any], int]:
    """Return the last summary.json and the size of the WAL left behind (0: none)."""
    summary = json.loads((Path(cfg.site_dir) / "api" / "v2" / "summary.json").read_text())
    wal = Path(f"{cfg.database}-wal")
    return summary, wal.stat().st_size if wal.exists() else 0


async def _true(value: bool) -> bool:
    return value


def test_run_exits_2_with_a_message_when_the_port_is_taken(tmp_path: Path) -> None:
    import socket
    import subprocess
    import sys

    import yaml

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = tmp_path / "sttwatch.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "database": str(tmp_path / "sttwatch.db"),
                    "site_dir": str(tmp_path / "site"),
                    "listen": f"127.0.0.1:{port}",
                    "targets": [
                        {
                            "name": "nowhere",
                            "api_base": "http://127.0.0.1:9",
                            "api_key": "k",
                            "probes": {"reachability": FAST},
                        }
                    ],
                }
            )
        )
        config.chmod(0o600)
        proc = subprocess.run(
            [sys.executable, "-m", "monitor", "run", "-c", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2, proc.stderr
    assert f"sttwatch run: cannot listen on 127.0.0.1:{port}: " in proc.stderr
    assert "Traceback" not in proc.stderr
