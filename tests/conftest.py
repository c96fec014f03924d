"""Fixtures every test module can use without importing them.

- ``start_sim``: starts real simulators on loopback (port 0) and closes every
  one it started when the test ends; ``make_sim``/``sim`` (here, for the probe,
  janitor and store tests: scenario overrides as keywords) and the simulator
  area's own (tests/simulator/conftest.py: a whole scenario) build on it, as do
  the test modules' own ``sim`` fixtures.
- ``ledger``: the real SQLite store as the deletion ledger.
- ``http``: one aiohttp client session, closed afterwards.
- ``smtp_sink``, ``webhook``, ``slack_stub``, ``refused_port``: the real
  notification receivers of tests/support/receivers.py.
- ``demo``: a running ``sttwatch demo`` whose storyline stands still.
- ``postgres_cluster`` (one per session and xdist worker) and ``postgres_url`` (a
  fresh, empty database of it per test, dropped afterwards): a real PostgreSQL
  server started by tests/support/postgres.py.
- ``database`` (and ``make_database`` for more of them): the store's database on
  each backend in turn — parameter ``backend``, ids ``[sqlite]`` and
  ``[postgresql]`` — a file in tmp_path or a fresh database of the cluster.
- ``browser``: the headless Chromium of tests/support/chromium.py, launched through Playwright.

Plain helpers live in the tests.support package; no test module imports another.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp

# hypothesis's pytest plugin imports the package only in the terminal summary, where
# pytest's assertion rewriting parses its modules while a test's leftover thread may
# still be importing: CPython 3.11.7 then raises "SystemError: AST constructor
# recursion depth mismatch" (two threads in ast.parse at once). Imported here, at
# collection, it is parsed once with no other thread running.
import hypothesis  # noqa: F401
import pytest

from monitor.demo import Chapter, DemoHandle, run_demo
from monitor.simulator import Scenario, SimulatorHandle, start_simulator
from monitor.store import Store
from tests.support.chromium import launched_chromium
from tests.support.fixture_types import SimFactory, SimStarter
from tests.support.postgres import PostgresCluster, find_bin_dir, start_cluster
from tests.support.probes import make_scenario
from tests.support.receivers import SmtpSink, Webhook


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Start the ``slow`` tests first; put the ``timing`` ones in one xdist group.

    The long end-to-end runs (chaos, crash: over a minute each) begin while the
    other workers work through the short tests, instead of ending the run alone.
    The ``timing`` tests, grouped, run one after another on one worker.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: order kept
    for item in items:
        if item.get_closest_marker("timing") is not None:
            item.add_marker(pytest.mark.xdist_group("timing"))


@pytest.fixture
async def start_sim() -> AsyncIterator[SimStarter]:
    """Yield a function that starts a simulator with a scenario (a dict, a Scenario or None).

    Every simulator it started is closed when the test ends, the newest first.
    """
    handles: list[SimulatorHandle] = []

    async def start(scenario: dict[str, Any] | Scenario | None = None) -> SimulatorHandle:
        if not isinstance(scenario, Scenario):
            scenario = Scenario.model_validate(scenario or {})
        handle = await start_simulator(host="127.0.0.1", port=0, scenario=scenario)
        handles.append(handle)
        return handle

    try:
        yield start
    finally:
        for handle in reversed(handles):
            await handle.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """Yield an aiohttp client session."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def demo(tmp_path: Path) -> AsyncIterator[tuple[DemoHandle, list[str]]]:
    """Yield a running demo and the lines it printed; its storyline stands still."""
    stop = asyncio.Event()
    ready: asyncio.Future[DemoHandle] = asyncio.get_running_loop().create_future()
    lines: list[str] = []
    task = asyncio.create_task(
        run_demo(
            stop,
            say=lines.append,
            storyline=[Chapter("held by the test", 3600.0)],
            workdir=tmp_path,
            on_ready=ready.set_result,
        )
    )
    try:
        handle = await asyncio.wait_for(asyncio.shield(ready), 30)
        yield handle, lines
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Yield a headless Chromium (Playwright's Browser), closed afterwards."""
    pytest.importorskip("playwright.async_api")
    async with launched_chromium() as launched:
        yield launched


@pytest.fixture
def make_sim(start_sim: SimStarter) -> SimFactory:
    """Return a factory of simulators (scenario overrides as keywords), all closed afterwards."""

    async def make(**overrides: Any) -> SimulatorHandle:
        return await start_sim(make_scenario(**overrides))

    return make


@pytest.fixture
async def sim(make_sim: SimFactory) -> SimulatorHandle:
    """Return a healthy simulator with fast jobs."""
    return await make_sim()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """Yield a real store in a temporary file with default thresholds, closed afterwards."""
    s = await Store.open(str(tmp_path / "sttwatch.db"))
    try:
        yield s
    finally:
        await s.close()


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Store]:
    """Yield the real SQLite store (the deletion ledger) in a temporary file, closed afterwards."""
    store = await Store.open(str(tmp_path / "ledger.db"))
    yield store
    await store.close()


# -- PostgreSQL ----------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """Yield a PostgreSQL cluster of this session (started by initdb/pg_ctl), stopped at its end.

    Skipped when the server binaries are not installed, except on CI
    (``CI=true``), where that is a failure: the PostgreSQL tests must run there.
    """
    bin_dir = find_bin_dir()
    if bin_dir is None:
        reason = (
            "PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin"
            " or on PATH: install Debian's postgresql package (scripts/test.sh does)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    cluster = start_cluster(bin_dir)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def postgres_url(postgres_cluster: PostgresCluster) -> Iterator[str]:
    """Yield the URL of a fresh, empty database of the session's cluster, dropped afterwards."""
    url = postgres_cluster.create_database()
    try:
        yield url
    finally:
        postgres_cluster.drop_database(url)


# The databases a test that asks for `database` runs on, each its own test id.
BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Return the database the test runs on: ``sqlite`` or ``postgresql``."""
    name: str = request.param
    return name


@pytest.fixture
def make_database(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[Callable[[], str]]:
    """Yield a function returning a new empty database of `backend` (a path or a URL)."""
    made: list[str] = []
    cluster = request.getfixturevalue("postgres_cluster") if backend == "postgresql" else None

    def make() -> str:
        where = (
            cluster.create_database()
            if cluster is not None
            else str(tmp_path / f"sttwatch-{len(made)}.db")
        )
        made.append(where)
        return where

    try:
        yield make
    finally:
        if cluster is not None:
            for url in made:
                cluster.drop_database(url)


@pytest.fixture
def database(make_database: Callable[[], str]) -> str:
    """Return the test's database: a SQLite file in tmp_path or a fresh PostgreSQL database."""
    return make_database()


# -- notification receivers -----------------------------------------------------


@pytest.fixture
async def smtp_sink() -> AsyncIterator[SmtpSink]:
    sink = SmtpSink()
    await sink.start()
    try:
        yield sink
    finally:
        await sink.stop()


@pytest.fixture
async def webhook() -> AsyncIterator[Webhook]:
    hook = Webhook()
    await hook.start()
    try:
        yield hook
    finally:
        await hook.stop()


@pytest.fixture
async def slack_stub(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Webhook]:
    """A Slack incoming-webhook stub; Apprise's slack plugin is pointed at it for this test."""
    from apprise.plugins.slack import NotifySlack

    hook = Webhook(reply="ok")
    await hook.start()
    monkeypatch.setattr(NotifySlack, "webhook_url", f"http://127.0.0.1:{hook.port}/services")
    try:
        yield hook
    finally:
        await hook.stop()


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A loopback port nothing listens on (bound then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield port
