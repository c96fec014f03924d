"""``sttwatch once`` as a user runs it: a real subprocess against the real simulator."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web

from monitor import __version__
from monitor.models import ProbeResult
from monitor.runtime import USER_AGENT, session_factory
from monitor.simulator import SimulatorHandle
from tests.support import configs
from tests.support.cli import run_sttwatch
from tests.support.configs import config_doc, sim_target

if TYPE_CHECKING:
    from tests.support.fixture_types import SimStarter

SIM_KEY = "sim-key"
# Fast jobs: the test is about the command, not about waiting for a transcription.
FAST = {"jobs": {"queued_ms": 50, "processing_ms": 200}}


@pytest.fixture
async def sim(start_sim: SimStarter) -> SimulatorHandle:
    return await start_sim(FAST)


def write_config(
    tmp_path: Path, sim: SimulatorHandle, *, key: str = "${STTWATCH_TEST_KEY}", **extra: Any
) -> Path:
    probes = {
        "reachability": {"timeout": "5s", "degraded_after": "2s"},
        "transcription": {"timeout": "20s", "degraded_after": "15s"},
        "streaming": {"timeout": "15s", "degraded_after": "5s"},
    }
    # The database's parent does not exist yet: once creates it.
    extra = {"database": "data/sttwatch.db", **extra}
    doc = config_doc(tmp_path, [sim_target(sim, key=key, probes=probes)], **extra)
    return configs.write_config(tmp_path, doc)


async def sttwatch(*args: str, key: str = SIM_KEY, limit: float = 60.0) -> tuple[int, str, str]:
    """Run ``sttwatch ARGS`` as a subprocess; return (exit code, stdout, stderr)."""
    return await run_sttwatch(*args, env={"STTWATCH_TEST_KEY": key}, limit=limit)


def parse_lines(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


async def sim_state(sim: SimulatorHandle) -> dict[str, Any]:
    return sim.state()


async def test_healthy_target_prints_three_up_results_and_exits_0(
    tmp_path: Path, sim: SimulatorHandle
) -> None:
    cfg = write_config(tmp_path, sim)
    code, out, err = await sttwatch("once", "-c", str(cfg), "--json")
    lines = parse_lines(out)
    assert code == 0, err
    assert [(o["target"], o["probe"], o["status"]) for o in lines] == [
        ("sim", "reachability", "up"),
        ("sim", "transcription", "up"),
        ("sim", "streaming", "up"),
    ]
    for obj in lines:
        assert ProbeResult.from_json(obj).to_json() == obj
    assert SIM_KEY not in out + err
    state = await sim_state(sim)
    assert state["transcripts"]["created"] >= 1
    assert state["transcripts"]["undeleted"] == 0
    assert state["streaming"]["unterminated"] == 0
    # A dry run: no result stored, but the ledger shows the transcript as created and deleted.
    with sqlite3.connect(tmp_path / "data" / "sttwatch.db") as db:
        assert db.execute("SELECT count(*) FROM results").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM ledger").fetchone()[0] >= 1
        assert db.execute("SELECT count(*) FROM ledger WHERE deleted_at IS NULL").fetchone() == (0,)


@pytest.mark.parametrize(
    ("flags", "stored"),
    [((), 0), (("--record",), 3)],
    ids=["dry-run-by-default", "record-stores"],
)
async def test_once_stores_its_results_only_with_record(
    tmp_path: Path, sim: SimulatorHandle, flags: tuple[str, ...], stored: int
) -> None:
    # A trial `once` with a wrong key must not lower the page's 90-day uptime.
    cfg = write_config(tmp_path, sim)
    code, _, err = await sttwatch("once", "-c", str(cfg), *flags, key="wrong-key")
    assert code == 1, err
    with sqlite3.connect(tmp_path / "data" / "sttwatch.db") as db:
        assert db.execute("SELECT count(*) FROM results").fetchone() == (stored,)


async def test_once_on_a_current_database_loads_neither_sqlite_utils_nor_numpy(
    tmp_path: Path, sim: SimulatorHandle
) -> None:
    # sqlite-utils (~0.05 s) and the numpy it pulls in when installed (~0.1 s) are
    # start-up time no probe needs: a periodic `once` finds the schema current. Nor
    # does it keep metrics (prometheus-client, ~15 ms) that nothing could scrape.
    cfg = write_config(tmp_path, sim)
    assert (await sttwatch("once", "-c", str(cfg)))[0] == 0  # creates the database
    code = (
        "import sys; from monitor.cli import main; code = main(sys.argv[1:]); "
        "heavy = ('numpy', 'pandas', 'sqlite_utils', 'prometheus_client'); "
        "print(sorted(m for m in heavy if m in sys.modules), "
        "file=sys.stderr); sys.exit(code)"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        "once",
        "-c",
        str(cfg),
        "--json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "STTWATCH_TEST_KEY": SIM_KEY},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err
    assert [o["status"] for o in parse_lines(out.decode())] == ["up", "up", "up"]
    assert err.decode().strip().splitlines()[-1] == "[]"


async def test_wrong_key_exits_1_with_auth_for_every_probe(
    tmp_path: Path, sim: SimulatorHandle
) -> None:
    cfg = write_config(tmp_path, sim)
    code, out, err = await sttwatch("once", "-c", str(cfg), "--json", key="not-the-key")
    lines = parse_lines(out)
    assert code == 1, err
    assert [(o["probe"], o["status"], o["error_kind"]) for o in lines] == [
        ("reachability", "down", "auth"),
        ("transcription", "down", "auth"),
        ("streaming", "down", "auth"),
    ]
    assert "not-the-key" not in out + err
    assert (await sim_state(sim))["transcripts"]["undeleted"] == 0


async def test_table_output_is_aligned_and_names_each_probe(
    tmp_path: Path, sim: SimulatorHandle
) -> None:
    cfg = write_config(tmp_path, sim)
    code, out, err = await sttwatch("once", "-c", str(cfg))
    assert code == 0, err
    header, *rows = out.splitlines()
    assert header.split() == ["TARGET", "PROBE", "STATUS", "LATENCY", "ERROR", "MESSAGE"]
    assert [row.split()[:3] for row in rows] == [
        ["sim", "reachability", "up"],
        ["sim", "transcription", "up"],
        ["sim", "streaming", "up"],
    ]
    status_col = header.index("STATUS")
    assert all(row[status_col : status_col + 2] == "up" for row in rows)
    assert SIM_KEY not in out + err


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("targets: []\n", "targets"),
        ("targets:\n  - name: Bad Name\n    api_key: k\n", "targets[0].name"),
        (": not yaml : [\n", "not valid YAML"),
    ],
    ids=["no-targets", "bad-target-name", "not-yaml"],
)
async def test_bad_config_exits_2_naming_the_file_and_path(
    tmp_path: Path, content: str, expected: str
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(content)
    code, out, err = await sttwatch("once", "-c", str(path), "--json")
    assert code == 2
    assert out == ""
    assert str(path) in err and expected in err
    assert "Traceback" not in err


async def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    code, out, err = await sttwatch("once", "-c", str(path))
    assert (code, out) == (2, "")
    assert str(path) in err and "file not found" in err


def stored_runs(db: Path) -> list[tuple[str, int]]:
    """Return (probe, status 0/1/2) of every stored result, oldest first."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0) as conn:
        rows = conn.execute(
            "SELECT c.probe, r.status FROM results r JOIN components c ON c.id = r.component "
            "ORDER BY r.id"
        )
        return [(probe, status) for probe, status in rows]


def ledger_rows(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1.0) as conn:
            return int(conn.execute("SELECT count(*) FROM ledger").fetchone()[0])
    except sqlite3.OperationalError:  # schema not there yet
        return 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_run_finishes_the_running_probe_on_a_signal_and_exits_0(
    tmp_path: Path, sim: SimulatorHandle, sig: signal.Signals
) -> None:
    cfg = write_config(tmp_path, sim)
    db = tmp_path / "data" / "sttwatch.db"
    log = tmp_path / "run.log"
    with log.open("wb") as sink:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "monitor",
            "run",
            "-c",
            str(cfg),
            stdout=sink,
            stderr=sink,
            env={**os.environ, "STTWATCH_TEST_KEY": SIM_KEY},
        )
    try:
        # Signal once the transcription probe has created its transcript (it is in flight).
        async with asyncio.timeout(20.0):
            while True:
                if ledger_rows(db):
                    break
                await asyncio.sleep(0.05)
    finally:
        proc.send_signal(sig)
        code = await asyncio.wait_for(proc.wait(), 30.0)
    assert code == 0, log.read_text()
    runs = stored_runs(db)
    # The transcription in flight at the signal was allowed to finish, and was stored.
    assert ("transcription", 0) in runs, runs
    state = await sim_state(sim)
    assert state["transcripts"]["undeleted"] == 0
    assert state["streaming"]["unterminated"] == 0
    assert SIM_KEY not in log.read_text()


async def test_probe_sessions_identify_sttwatch(aiohttp_server: Any) -> None:
    async def echo(request: web.Request) -> web.Response:
        return web.json_response(dict(request.headers))

    app = web.Application()
    app.router.add_get("/", echo)
    server = await aiohttp_server(app)
    make = session_factory()
    async with (
        make(headers={"Authorization": "k"}) as session,
        session.get(server.make_url("/")) as r,
    ):
        seen = await r.json()
    assert seen["User-Agent"] == USER_AGENT == f"sttwatch/{__version__}"
    assert seen["Authorization"] == "k"


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("port-taken", "cannot listen on 127.0.0.1:{port}: Address already in use"),
        ("site-dir-is-a-file", "cannot write the site to {tmp}/site: it is not a directory"),
        ("site-parent-is-a-file", "cannot write the site to {tmp}/blocker/site: {tmp}/blocker is"),
        (
            "database-parent-is-a-file",
            "cannot create the database {tmp}/blocker/s.db: {tmp}/blocker",
        ),
        ("database-is-not-sqlite", "cannot open the database {tmp}/data/sttwatch.db: "),
        # sysfs refuses new files even to root, for whom os.access says yes.
        ("site-on-sysfs", "cannot write the site to /sys/fs/sttwatch-check/site: /sys/fs is not"),
    ],
    ids=[
        "port-taken",
        "site-dir-is-a-file",
        "site-parent",
        "database-parent",
        "database-garbage",
        "site-on-sysfs",
    ],
)
async def test_run_checks_before_it_writes_and_exits_2_with_nothing_created(
    tmp_path: Path, sim: SimulatorHandle, setup: str, message: str
) -> None:
    extra: dict[str, Any] = {}
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        if setup == "port-taken":
            extra["listen"] = f"127.0.0.1:{port}"
        elif setup == "site-dir-is-a-file":
            (tmp_path / "site").write_text("a file")
        elif setup == "site-parent-is-a-file":
            (tmp_path / "blocker").write_text("a file")
            extra["site_dir"] = str(tmp_path / "blocker" / "site")
        elif setup == "site-on-sysfs":
            extra["site_dir"] = "/sys/fs/sttwatch-check/site"
        elif setup == "database-parent-is-a-file":
            (tmp_path / "blocker").write_text("a file")
            extra["database"] = str(tmp_path / "blocker" / "s.db")
        else:
            (tmp_path / "data").mkdir()
            (tmp_path / "data" / "sttwatch.db").write_text("not a database")
        cfg = write_config(tmp_path, sim, **extra)
        before = tree(tmp_path)
        code, _, err = await sttwatch("run", "-c", str(cfg), limit=30)
    assert code == 2, err
    assert message.format(port=port, tmp=tmp_path) in err
    assert "Traceback" not in err
    # No database, no site, no probe run.
    assert tree(tmp_path) == before
    assert (await sim_state(sim))["transcripts"]["created"] == 0


@pytest.mark.parametrize(
    ("before", "after", "debug"),
    [
        ((), (), False),
        ((), ("-v",), False),
        (("-vv",), (), True),
        (("--log-level", "debug"), (), True),
        ((), ("--log-level", "DEBUG"), True),
        (("--log-level", "error"), ("-vv",), False),
    ],
    ids=["default-warning", "v-info", "vv-debug", "log-level", "after", "wins-over-v"],
)
async def test_log_level_and_verbose_flags_set_what_reaches_stderr(
    tmp_path: Path,
    sim: SimulatorHandle,
    before: tuple[str, ...],
    after: tuple[str, ...],
    debug: bool,
) -> None:
    # Accepted before the command and after it; `once` defaults to warning.
    cfg = write_config(tmp_path, sim)
    code, out, err = await sttwatch(*before, "once", "-c", str(cfg), *after)
    assert code == 0, err
    assert len(out.splitlines()) == 4  # the table: stdout is for results whatever the level
    assert (" DEBUG " in err) is debug, err
