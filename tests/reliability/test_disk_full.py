"""Full or read-only disk: sttwatch keeps probing and alerting, says so, and loses nothing stored.

The database lives on a small file system the test creates and controls (as
root, which CI is): a 2 MB tmpfs that a filler file fills up, and an ext4 loop
image that the kernel turns read-only under the running process (ext4's
``errors=remount-ro`` fired through its ``trigger_fs_error`` test hook — a plain
``mount -o remount,ro`` is refused while SQLite holds its files open for
writing). The whole application runs (scheduler, store, metrics, alerter, web
server) against the real simulator; alerts go to a real JSON webhook and a
real SMTP server on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from monitor.alerting import DatabaseAlerts, load_destinations
from monitor.app import build_app
from monitor.config import Config
from monitor.models import SystemClock
from monitor.server import ALERTER
from monitor.simulator import SimulatorHandle
from monitor.store import StoreHealth
from tests.support.configs import config_doc, parsed, sim_target
from tests.support.polling import eventually
from tests.support.receivers import SmtpSink, Webhook

Client = TestClient[Any, Any]
KEY = "sim-key"
DB_DOWN = "[DOWN] sttwatch cannot write its database"
DB_RESOLVED = "[RESOLVED] sttwatch can write its database again"
REACH_DOWN = "[DOWN] Disk test · REST API"
REACH_RESOLVED = "[RESOLVED] Disk test · REST API"
REACH_FAULT = {"endpoint": "transcript.list", "action": "status", "status": 500}


# ---------------------------------------------------------------------------
# File systems the test controls


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=30)


def _unmount(path: Path) -> None:
    if _run("umount", str(path)).returncode != 0:
        _run("umount", "-l", str(path))  # something still holds it: detach it anyway


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs mounted for this test; always unmounted."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    done = _run("mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(mnt))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        _unmount(mnt)


class Ext4Image:
    """A 16 MB ext4 image (no journal) loop-mounted with errors=remount-ro."""

    def __init__(self, image: Path, mnt: Path) -> None:
        self.image = image
        self.mnt = mnt
        self.device = ""

    def mount(self) -> None:
        done = _run("mount", "-o", "loop,errors=remount-ro", str(self.image), str(self.mnt))
        if done.returncode != 0:
            raise RuntimeError(f"mount failed: {done.stderr.strip()}")
        self.device = Path(_run("findmnt", "-no", "SOURCE", str(self.mnt)).stdout.strip()).name

    def unmount(self) -> None:
        _unmount(self.mnt)
        self.device = ""

    def options(self) -> set[str]:
        return set(_run("findmnt", "-no", "OPTIONS", str(self.mnt)).stdout.strip().split(","))

    def fail(self) -> None:
        """Make the kernel record a file-system error: it remounts the file system read-only."""
        Path(f"/sys/fs/ext4/{self.device}/trigger_fs_error").write_text("sttwatch disk test\n")

    def repair(self) -> None:
        """Clear the recorded error (what an operator's fsck does)."""
        _run("e2fsck", "-fy", str(self.image))


@pytest.fixture
def ext4(tmp_path: Path) -> Iterator[Ext4Image]:
    for tool in ("mkfs.ext4", "e2fsck", "findmnt", "losetup"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    image, mnt = tmp_path / "disk.ext4", tmp_path / "ext4"
    mnt.mkdir()
    with image.open("wb") as f:
        f.truncate(16 * 1024 * 1024)
    made = _run("mkfs.ext4", "-q", "-F", "-O", "^has_journal", str(image))
    if made.returncode != 0:
        pytest.skip(f"mkfs.ext4 failed: {made.stderr.strip()}")
    fs = Ext4Image(image, mnt)
    try:
        fs.mount()
    except RuntimeError as exc:
        pytest.skip(f"cannot loop-mount an ext4 image (needs root and /dev/loop*): {exc}")
    try:
        if not Path(f"/sys/fs/ext4/{fs.device}/trigger_fs_error").exists():
            pytest.skip("this kernel's ext4 has no trigger_fs_error hook")
        yield fs
    finally:
        fs.unmount()


def fill(directory: Path) -> Path:
    """Write a file into `directory` until the file system is full; return its path."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            try:
                os.write(fd, chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    break
                chunk = chunk[: len(chunk) // 2]
    finally:
        os.close(fd)
    return filler


# ---------------------------------------------------------------------------
# sttwatch against the simulator


@pytest.fixture
async def sim(start_sim: Callable[[dict[str, Any]], Awaitable[SimulatorHandle]]) -> SimulatorHandle:
    return await start_sim({"seed": 8, "jobs": {"queued_ms": 50, "processing_ms": 50}})


def make_config(tmp_path: Path, db_dir: Path, sim: SimulatorHandle, urls: list[str]) -> Config:
    probes = {
        "reachability": {"interval": "1s", "timeout": "800ms", "degraded_after": "500ms"},
        "transcription": {
            "interval": "2s",
            "timeout": "1500ms",
            "degraded_after": "1s",
            "poll_interval": "50ms",
            "poll_max_interval": "100ms",
        },
    }
    target = sim_target(sim, key=KEY, display_name="Disk test", probes=probes)
    alerts = {"urls": urls, "failure_threshold": 2, "success_threshold": 2, "group_wait": "1s"}
    doc = config_doc(
        tmp_path, [target], database=db_dir / "sttwatch.db", alerts=alerts, title="Disk test"
    )
    return parsed(doc)


async def healthz(client: Client) -> tuple[int, dict[str, Any]]:
    resp = await client.get("/healthz")
    return resp.status, await resp.json()


async def runs_total(client: Client) -> float:
    """Return the sum of sttwatch_probe_runs_total over every series, as a scraper sees it."""
    text = await (await client.get("/metrics")).text()
    return sum(
        s.value
        for fam in text_string_to_metric_families(text)
        if fam.name == "sttwatch_probe_runs"
        for s in fam.samples
        if s.name == "sttwatch_probe_runs_total"
    )


async def reach_success(client: Client) -> float | None:
    text = await (await client.get("/metrics")).text()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name == "sttwatch_probe_success" and s.labels.get("probe") == "reachability":
                return s.value
    return None


def stored_results(db: Path) -> set[tuple[int, int, int, int, str]]:
    """Return every stored result row's identity, read like an external tool would."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return {
            (r[0], r[1], r[2], r[3], str(r[4]))
            for r in conn.execute("SELECT id, component, started_at, status, message FROM results")
        }


def integrity(db: Path) -> str:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])


async def count_results(client: Client) -> int:
    resp = await client.get("/api/v1/results", params={"limit": "1000"})
    return len((await resp.json())["results"])


async def start(aiohttp_client: Callable[..., Awaitable[Client]], config: Config) -> Client:
    client = await aiohttp_client(build_app(config, render_min_interval=0.2))
    return client


async def wait_healthy_with_results(client: Client, n: int) -> None:
    async def ready() -> bool:
        status, _ = await healthz(client)
        return status == 200 and await count_results(client) >= n

    await eventually(ready, f"/healthz 200 and {n} stored results")


def titles(webhook: Webhook, smtp: SmtpSink) -> tuple[list[str], list[str]]:
    return webhook.titles(), [str(m["Subject"]) for m in smtp.messages]


# ---------------------------------------------------------------------------
# The tests


async def test_full_disk_keeps_probing_alerts_directly_and_resumes_without_loss(
    tmp_path: Path,
    small_fs: Path,  # before the app: unmounted after the app has closed its files
    aiohttp_client: Any,
    sim: SimulatorHandle,
    webhook: Webhook,
    smtp_sink: SmtpSink,
) -> None:
    """Promise 4 (full disk): when the database's file system fills up, probes keep running and
    their results reach /metrics; /healthz turns 503 naming the reason; an alert saying sttwatch
    cannot write its database reaches on-call (sent around the outbox, which lives in the full
    database); the API's own DOWN, decided meanwhile, goes out directly too, and its RESOLVED
    after recovery follows from that state — every alert exactly once; writing resumes by itself
    when the space comes back; the database passes PRAGMA integrity_check and every result stored
    before the disk filled is still there."""
    config = make_config(tmp_path, small_fs, sim, [webhook.url(), smtp_sink.url()])
    db = Path(config.database)
    client = await start(aiohttp_client, config)
    await wait_healthy_with_results(client, 4)

    filler = fill(small_fs)
    filler_bytes = filler.stat().st_size
    assert shutil.disk_usage(small_fs).free < 64 * 1024
    before = stored_results(db)  # read after the fill: every committed result is in here
    sim.set_faults([REACH_FAULT])  # the API breaks while sttwatch cannot store anything

    async def unhealthy() -> bool:
        status, body = await healthz(client)
        return status == 503 and any("database is not writable" in r for r in body["reasons"])

    await eventually(unhealthy, "/healthz 503 because the database is full")
    status, body = await healthz(client)
    reason = next(r for r in body["reasons"] if "database is not writable" in r)
    assert "database or disk is full" in reason and "file system is full" in reason, reason
    assert body["database"]["writable"] is False

    # Probes keep running; their results reach the metrics although nothing is stored.
    runs_at_503 = await runs_total(client)

    async def probing_on() -> bool:
        return await runs_total(client) >= runs_at_503 + 4 and await reach_success(client) == 0.0

    await eventually(probing_on, "more probe runs, and reachability down, in /metrics")
    await eventually(
        lambda: all({DB_DOWN, REACH_DOWN} <= set(seen) for seen in titles(webhook, smtp_sink)),
        within=20,
        what="the database alert and the API's DOWN (sent directly) at both receivers",
    )
    db_alert = next(p for _, p in webhook.posts if p["title"] == DB_DOWN)["message"]
    assert "disk is full" in db_alert and str(db) in db_alert.replace("\\", "")
    status, _ = await healthz(client)
    assert status == 503  # still full
    assert stored_results(db) == before  # nothing written, nothing lost

    # Space returns.
    runs_while_full = await runs_total(client) - runs_at_503
    filler.unlink()

    async def healthy_again() -> bool:
        status, _ = await healthz(client)
        return status == 200

    await eventually(healthy_again, "/healthz 200 once space is back")

    async def stored_again() -> bool:
        return len(stored_results(db)) > len(before)

    await eventually(stored_again, "new results stored after the fill")
    await eventually(
        lambda: all(DB_RESOLVED in seen for seen in titles(webhook, smtp_sink)),
        within=20,
        what="the database RESOLVED at both receivers",
    )
    # The API recovers: its RESOLVED goes through the outbox again, from the state
    # that advanced (and was written back) while the disk was full.
    sim.clear_faults()
    await eventually(
        lambda: all(REACH_RESOLVED in seen for seen in titles(webhook, smtp_sink)),
        within=20,
        what="the API's RESOLVED at both receivers",
    )
    alerter = client.app[ALERTER] if client.app is not None else None
    assert alerter is not None
    await asyncio.wait_for(alerter.database.wait_idle(), 10)
    await asyncio.wait_for(alerter.worker.wait_idle(), 10)
    await client.close()  # the final janitor sweep, the last render, the store closed

    hook_titles, mail_titles = titles(webhook, smtp_sink)
    for seen in (hook_titles, mail_titles):
        for title in (DB_DOWN, DB_RESOLVED, REACH_DOWN, REACH_RESOLVED):
            assert seen.count(title) == 1, seen
        assert seen.index(DB_DOWN) < seen.index(DB_RESOLVED)
        assert seen.index(REACH_DOWN) < seen.index(REACH_RESOLVED)
    assert integrity(db) == "ok"
    after = stored_results(db)
    assert before <= after
    assert len(after) > len(before)
    assert sim.state()["transcripts"]["undeleted"] == 0
    print(
        f"FIGURES full disk: filler {filler_bytes / 1e6:.2f} MB; >= {runs_while_full:.0f} probe "
        f"runs while full (in /metrics, not stored); results {len(before)} before the fill, "
        f"{len(after)} after, {len(before - after)} lost; integrity_check ok; "
        f"alerts at the webhook: {hook_titles}; leaked transcripts: 0"
    )


async def test_alert_in_flight_when_the_disk_fills_is_delivered_exactly_once(
    tmp_path: Path,
    small_fs: Path,  # before the app: unmounted after the app has closed its files
    aiohttp_client: Any,
    sim: SimulatorHandle,
    webhook: Webhook,
) -> None:
    """Promise 4 (full disk, outbox): an alert whose delivery is in flight when the disk fills is
    delivered exactly once — the outbox cannot record that the service accepted it, but it must
    not send it again (and again) for that; the delivery is recorded once space returns."""
    config = make_config(tmp_path, small_fs, sim, [webhook.url()])
    client = await start(aiohttp_client, config)
    await wait_healthy_with_results(client, 2)
    webhook.gate = asyncio.Event()  # the webhook holds every request until released
    sim.set_faults([REACH_FAULT])
    await eventually(lambda: webhook.seen >= 1, "the DOWN alert's delivery in flight")

    filler = fill(small_fs)

    async def unhealthy() -> bool:
        status, _ = await healthz(client)
        return status == 503

    await eventually(unhealthy, "/healthz 503 because the database is full")
    webhook.gate.set()
    await eventually(lambda: REACH_DOWN in webhook.titles(), "the DOWN alert delivered")
    await eventually(lambda: DB_DOWN in webhook.titles(), "the database alert delivered")
    await asyncio.sleep(1.0)  # room for a resend storm, if there is one
    assert webhook.titles().count(REACH_DOWN) == 1, webhook.titles()

    filler.unlink()
    sim.clear_faults()

    async def recorded() -> bool:
        resp = await client.get("/healthz")
        if resp.status != 200:
            return False
        return bool(
            await asyncio.to_thread(_delivered_rows, Path(config.database), REACH_DOWN) == [1]
        )

    await eventually(recorded, "the delivery recorded once space is back")
    await client.close()
    assert webhook.titles().count(REACH_DOWN) == 1, webhook.titles()
    assert _delivered_rows(Path(config.database), REACH_DOWN) == [1]


def _delivered_rows(db: Path, title: str) -> list[int]:
    """Return the attempt counts of the delivered rows of the alerts titled `title`."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        return [
            int(r[0])
            for r in conn.execute(
                "SELECT d.attempts FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
                "WHERE a.title = ? AND d.delivered_at IS NOT NULL",
                (title,),
            )
        ]


async def test_disk_turning_read_only_keeps_probing_alerts_and_loses_nothing(
    tmp_path: Path,
    ext4: Ext4Image,  # before the app: unmounted after the app has closed its files
    aiohttp_client: Any,
    sim: SimulatorHandle,
    webhook: Webhook,
) -> None:
    """Promise 4 (read-only disk): when the kernel remounts the database's file system read-only
    under a running sttwatch (an ext4 error with errors=remount-ro), probes keep running into
    /metrics, /healthz turns 503 naming the reason, the database alert reaches on-call, and
    sttwatch shuts down cleanly; once the operator has repaired and remounted the disk, the
    database passes PRAGMA integrity_check, every result stored before the failure is there,
    and a new sttwatch writes again."""
    config = make_config(tmp_path, ext4.mnt, sim, [webhook.url()])
    db = Path(config.database)
    client = await start(aiohttp_client, config)
    await wait_healthy_with_results(client, 4)

    os.sync()  # what the disk holds from here on is what the kernel wrote, not page cache
    before = stored_results(db)
    ext4.fail()
    with pytest.raises(OSError) as refused:
        (ext4.mnt / "probe-write").write_text("x")
    assert refused.value.errno == errno.EROFS

    async def unhealthy() -> bool:
        status, body = await healthz(client)
        return status == 503 and any("database is not writable" in r for r in body["reasons"])

    await eventually(unhealthy, "/healthz 503 because the file system is read-only")
    _, body = await healthz(client)
    reason = next(r for r in body["reasons"] if "database is not writable" in r)
    assert "read-only" in reason, reason
    runs_at_503 = await runs_total(client)

    async def probing_on() -> bool:
        return await runs_total(client) >= runs_at_503 + 3

    await eventually(probing_on, "probe runs continuing in /metrics")
    await eventually(
        lambda: DB_DOWN in webhook.titles(), within=20, what="the database alert at the webhook"
    )
    runs_while_ro = await runs_total(client) - runs_at_503
    await asyncio.wait_for(client.close(), 30)  # shuts down although nothing can be written

    ext4.unmount()
    ext4.repair()
    ext4.mount()
    assert "rw" in ext4.options() and "emergency_ro" not in ext4.options()
    assert integrity(db) == "ok"
    assert before <= stored_results(db)

    # A new process on the repaired disk writes again.
    client = await start(aiohttp_client, config)
    await wait_healthy_with_results(client, len(before) + 2)
    await client.close()
    assert integrity(db) == "ok"
    after = stored_results(db)
    assert before < after
    assert webhook.titles().count(DB_DOWN) == 1
    print(
        f"FIGURES read-only disk: {runs_while_ro:.0f} probe runs while read-only; results "
        f"{len(before)} before the error, {len(after)} after the restart, "
        f"{len(before - after)} lost; integrity_check ok"
    )


def test_start_on_a_full_disk_exits_with_the_reason(tmp_path: Path, small_fs: Path) -> None:
    """Promise 4 (full disk at start-up): `sttwatch run` on a database whose file system is full
    cannot create its write-ahead log, so it exits at once with status 2 and a message naming
    the database and the cause — not a traceback, not a half-started server."""
    db = small_fs / "sttwatch.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("CREATE TABLE before_the_disk_filled (x)")
    fill(small_fs)
    config = tmp_path / "sttwatch.yaml"
    config.write_text(
        f"database: {db}\nsite_dir: {tmp_path / 'site'}\nlisten: 127.0.0.1:0\n"
        "targets:\n  - name: t\n    api_key: k\n    api_base: http://127.0.0.1:9/\n"
    )
    config.chmod(0o600)
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 2, done.stderr
    assert f"cannot open the database {db}" in done.stderr
    assert "the file system is full" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("writable", "titles_sent"),
    [
        ([False], []),
        ([False, False], [DB_DOWN]),
        ([False, True, False, True], []),
        ([False, False, True, False, True], [DB_DOWN]),
        ([False, False, False, True, True], [DB_DOWN, DB_RESOLVED]),
        ([False, False, True, True, False, False], [DB_DOWN, DB_RESOLVED, DB_DOWN]),
    ],
    ids=["one-failure", "two-failures", "flapping", "one-success", "resolved", "again"],
)
async def test_database_alert_thresholds(
    tmp_path: Path,
    sim: SimulatorHandle,
    webhook: Webhook,
    writable: list[bool],
    titles_sent: list[str],
) -> None:
    """Promise 4 (no flapping): the database alert opens after failure_threshold (2) unwritable
    checks in a row and resolves after success_threshold (2) writable ones, so a write that
    squeezes through on a nearly full disk neither resolves nor re-opens it."""
    config = make_config(tmp_path, tmp_path, sim, [webhook.url()])
    dests, problems = load_destinations(config.alerts)
    assert not problems
    alerts = DatabaseAlerts(config, dests, clock=SystemClock())
    since = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    try:
        for ok in writable:
            health = (
                StoreHealth()
                if ok
                else StoreHealth(writable=False, last_error="disk full", failing_since=since)
            )
            alerts.check(health)
            await alerts.wait_idle()  # in order, as on-call would see them
    finally:
        await alerts.stop()
    assert webhook.titles() == titles_sent
