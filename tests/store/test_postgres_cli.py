"""sttwatch on PostgreSQL as a user runs it: ``once --record`` and ``run`` as subprocesses
against the real simulator, ``database: postgresql://...`` with a password in the URL."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import psycopg
import pytest

from monitor.simulator import SimulatorHandle
from tests.support import configs
from tests.support.cli import run_sttwatch
from tests.support.configs import config_doc, sim_target
from tests.support.fixture_types import SimStarter
from tests.support.polling import eventually

PASSWORD = "pg-pass-never-printed"
FAST = {"jobs": {"queued_ms": 50, "processing_ms": 200}}


@pytest.fixture
async def sim(start_sim: SimStarter) -> SimulatorHandle:
    return await start_sim(FAST)


@pytest.fixture
def url(postgres_url: str) -> str:
    """The test's database, with a password the server (trust auth) does not ask for."""
    return postgres_url.replace("sttwatch@", f"sttwatch:{PASSWORD}@")


def write_config(tmp_path: Path, sim: SimulatorHandle, url: str, probes: dict[str, object]) -> Path:
    doc = config_doc(tmp_path, [sim_target(sim, probes=probes)])
    doc["database"] = url
    return configs.write_config(tmp_path, doc)


def count(url: str, sql: str) -> int:
    """Return the count `sql` selects (0 while sttwatch has not created the tables yet)."""
    with psycopg.connect(url) as conn:
        try:
            row = conn.execute(sql).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0
        assert row is not None
        return int(row[0])


async def test_once_record_stores_into_postgresql(
    tmp_path: Path, sim: SimulatorHandle, url: str
) -> None:
    probes = {
        "reachability": {"timeout": "5s"},
        "transcription": {"timeout": "20s", "degraded_after": "15s"},
        "streaming": {"timeout": "15s", "degraded_after": "5s"},
    }
    cfg = write_config(tmp_path, sim, url, probes)
    code, out, err = await run_sttwatch("check-config", "-c", str(cfg))
    assert code == 0, err
    assert "sttwatch:****@127.0.0.1" in out and PASSWORD not in out + err
    code, out, err = await run_sttwatch("once", "-c", str(cfg), "--record")
    assert code == 0, out + err
    assert PASSWORD not in out + err
    assert count(url, "SELECT count(*) FROM results") == 3
    assert count(url, "SELECT count(*) FROM rollup_hourly") == 3
    # The transcription probe's transcript was recorded, then confirmed deleted.
    assert count(url, "SELECT count(*) FROM ledger") >= 1
    assert count(url, "SELECT count(*) FROM ledger WHERE deleted_at IS NULL") == 0
    assert not (tmp_path / "sttwatch.db").exists()  # nothing went to a SQLite file


async def test_once_names_an_unreachable_server_without_its_password(
    tmp_path: Path, sim: SimulatorHandle, refused_port: int
) -> None:
    url = f"postgresql://sttwatch:{PASSWORD}@127.0.0.1:{refused_port}/nowhere"
    cfg = write_config(tmp_path, sim, url, {"reachability": {"timeout": "5s"}})
    code, out, err = await run_sttwatch("once", "-c", str(cfg), "--record")
    assert code == 2
    assert f"cannot open the database postgresql://sttwatch:****@127.0.0.1:{refused_port}" in err
    assert PASSWORD not in out + err


async def test_run_probes_into_postgresql_and_renders_the_page_from_it(
    tmp_path: Path, sim: SimulatorHandle, url: str
) -> None:
    cfg = write_config(
        tmp_path,
        sim,
        url,
        {"reachability": {"interval": "1s", "timeout": "0.9s", "degraded_after": "0.5s"}},
    )
    log = tmp_path / "run.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "monitor", "run", "-c", str(cfg), stdout=sink, stderr=sink
        )
    try:
        await eventually(
            lambda: count(url, "SELECT count(*) FROM results") >= 3, "three stored results", 30
        )
        await eventually(lambda: (tmp_path / "site" / "index.html").exists(), "the page", 30)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 30)
    text = log.read_text(errors="replace")
    assert code == 0, text
    assert PASSWORD not in text
    assert "sim" in (tmp_path / "site" / "index.html").read_text()
    assert count(url, "SELECT count(*) FROM results WHERE status = 0") >= 3
