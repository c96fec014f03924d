"""/healthz tells the truth: degraded (503) when the site, the store or alert deliveries fail.

Each test runs the real application (scheduler, store, renderer, alerter) on
a loopback port against a real simulator, breaks one part for real (a file
where the site's directory must be, another process holding the database's
write lock, a webhook answering 500) and reads /healthz and the log.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp.test_utils import TestClient
from alert_fixtures import Webhook
from polling import eventually

from monitor.alerting import Backoff
from monitor.app import build_app
from monitor.config import Config, parse_config
from monitor.server import SCHEDULER, SITE
from monitor.simulator import SimulatorHandle

if TYPE_CHECKING:
    from conftest import SimStarter

Client = TestClient[Any, Any]
KEY = "sim-key"
FAST = {"interval": "1s", "timeout": "800ms", "degraded_after": "500ms"}


@pytest.fixture
async def sim(start_sim: SimStarter) -> SimulatorHandle:
    return await start_sim({"seed": 4})


def make_config(
    tmp_path: Path, sim: SimulatorHandle, *, site_dir: Path | None = None, **alerts: Any
) -> Config:
    return parse_config(
        {
            "database": str(tmp_path / "sttwatch.db"),
            "site_dir": str(site_dir or tmp_path / "site"),
            "listen": "127.0.0.1:0",
            "targets": [
                {
                    "name": "sim",
                    "api_base": sim.base_url,
                    "streaming_base": sim.ws_base,
                    "api_key": KEY,
                    "probes": {"reachability": FAST},
                }
            ],
            "alerts": alerts,
        },
        env={},
    )


async def healthz(client: Client) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/healthz")
    return resp.status, await resp.json()


async def status_is(client: Client, wanted: str) -> bool:
    return (await healthz(client))[1]["status"] == wanted


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
    client = await aiohttp_client(build_app(cfg, render_min_interval=0.1))
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
    client = await aiohttp_client(build_app(cfg, render_min_interval=0.1))
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
    webhook.fail_first = 10**6  # every delivery answered 500
    cfg = make_config(
        tmp_path,
        sim,
        urls=[webhook.url()],
        failure_threshold=1,
        success_threshold=1,
        degrade_health_after="1s",
    )
    sim.set_faults([{"endpoint": "transcript.list", "action": "status", "status": 503}])
    client = await aiohttp_client(
        build_app(
            cfg,
            render_min_interval=0.1,
            alerter_options={"backoff": Backoff(first=0.2, factor=1.0, cap=0.2)},
        )
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
    webhook.fail_first = 10**6
    cfg = make_config(
        tmp_path, sim, urls=[webhook.url()], failure_threshold=1, degrade_health_after="0s"
    )
    sim.set_faults([{"endpoint": "transcript.list", "action": "status", "status": 503}])
    client = await aiohttp_client(
        build_app(
            cfg,
            render_min_interval=0.1,
            alerter_options={"backoff": Backoff(first=0.2, factor=1.0, cap=0.2)},
        )
    )
    await eventually(lambda: webhook.seen >= 3, "three failed deliveries", within=20)
    status, body = await healthz(client)
    assert (status, body["status"]) == (200, "ok")
    assert body["alerts"]["failed_attempts"] >= 3
