"""``sttwatch demo``: a living status page within seconds, and a storyline that shows.

The storyline test plays the real chapters' faults against the real demo
(simulator, scheduler, store, server) and waits, after each, for the state the
chapter promises to appear on the served page.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import signal
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from monitor.config import parse_config
from monitor.demo import (
    Chapter,
    DemoHandle,
    default_storyline,
    demo_config,
    demo_providers,
    play_storyline,
)
from monitor.demo import synthetic_history as history
from monitor.demo_profile import Failure
from monitor.simulator import SimulatorHandle, start_simulator
from tests.support.polling import eventually

pytestmark = pytest.mark.slow


async def test_demo_page_is_alive_with_seeded_history(
    demo: tuple[DemoHandle, list[str]],
) -> None:
    handle, lines = demo
    assert any(line == f"  status page: {handle.url}" for line in lines)
    assert any(line == f"  metrics:     {handle.url}metrics" for line in lines)
    async with aiohttp.ClientSession() as session:
        async with session.get(handle.url) as resp:
            assert resp.status == 200
            html = await resp.text()
        assert "AssemblyAI (local simulator)" in html
        # One target per demo provider, each with its history.
        assert [t.name for t in handle.config.targets] == [p.name for p in demo_providers()]
        assert set(handle.sims) == {t.name for t in handle.config.targets}
        # Four days of history: each bar's last four cells have data, the rest do not.
        states = re.findall(r'data-state="(up|degraded|partial|down|nodata)"><title>', html)
        components = sum(len(t.probes) for t in handle.config.targets)
        assert components >= 3 and len(states) == components * 90
        # Today's cell has data once a seeded step (5 min) or a live check fell after
        # midnight UTC: right after midnight it may not have yet.
        now = datetime.now(UTC)
        today_seeded = now - now.replace(hour=0, minute=0, second=0, microsecond=0) > timedelta(
            minutes=10
        )
        for bar in range(components):
            cells = states[bar * 90 : (bar + 1) * 90]
            assert all(s != "nodata" for s in cells[86:89])
            assert cells[89] != "nodata" or not today_seeded
            assert cells[0] == "nodata"
        async with session.get(f"{handle.url}api/v2/summary.json") as resp:
            summary = await resp.json()
        assert summary["page"]["url"] == handle.url
        async with session.get(f"{handle.url}api/v2/incidents.json") as resp:
            incidents = (await resp.json())["incidents"]
        assert len(incidents) >= 2  # the seeded outages
        async with session.get(f"{handle.url}metrics") as resp:
            assert resp.status == 200


async def test_each_chapter_of_the_storyline_shows_on_the_page(
    demo: tuple[DemoHandle, list[str]],
) -> None:
    handle, _ = demo
    healthy, slow, failing, recovery = default_storyline(demo_providers())
    only = {"assemblyai": handle.sim}  # the chapters' faults, on AssemblyAI's simulator alone
    async with aiohttp.ClientSession() as session:

        async def components() -> dict[str, str]:
            async with session.get(f"{handle.url}api/v2/components.json") as resp:
                doc = await resp.json()
            return {c["id"]: c["status"] for c in doc["components"] if not c["group"]}

        async def incidents() -> list[dict[str, Any]]:
            async with session.get(f"{handle.url}api/v2/incidents.json") as resp:
                found: list[dict[str, Any]] = (await resp.json())["incidents"]
            started = datetime.now(UTC).strftime("%Y-%m-%d")
            return [i for i in found if i["started_at"] >= started and "Streaming" in i["name"]]

        def shows(component: str, status: str) -> Callable[[], Awaitable[bool]]:
            async def check() -> bool:
                return (await components()).get(f"assemblyai-{component}") == status

            return check

        assert not healthy.faults
        handle.sim.clear_faults()
        await eventually(shows("transcription", "operational"), "a healthy start", 20, every=0.2)

        handle.sim.set_faults(slow.faults["assemblyai"])
        await eventually(
            shows("transcription", "degraded_performance"), "slow transcription", 25, every=0.2
        )
        assert (await components())["assemblyai-streaming"] == "operational"

        await play_storyline(only, [Chapter(failing.title, 0, failing.faults)], print, loop=False)
        await eventually(
            shows("streaming", "major_outage"), "the streaming incident", 30, every=0.2
        )
        [opened] = await incidents()
        assert opened["status"] == "investigating"

        assert not recovery.faults
        handle.sim.clear_faults()
        await eventually(shows("streaming", "operational"), "the recovery", 30, every=0.2)
        [resolved] = await incidents()
        assert resolved["id"] == opened["id"] and resolved["status"] == "resolved"
        assert (await components())["assemblyai-transcription"] == "operational"


async def test_storyline_announces_and_installs_each_chapter_in_order() -> None:
    sim: SimulatorHandle = await start_simulator(port=0)
    lines: list[str] = []
    seen: list[list[str]] = []
    story = default_storyline([p for p in demo_providers() if p.name == "assemblyai"])
    chapters = [Chapter(c.title, 0.05, c.faults) for c in story]  # the real chapters, quickly

    def say(line: str) -> None:
        lines.append(line)
        seen.append([f.action for f in sim.state_obj.faults.faults])

    try:
        await play_storyline({"assemblyai": sim}, chapters, say, loop=False)
    finally:
        await sim.close()
    assert [line.split("] ", 1)[1] for line in lines] == [c.title for c in story]
    assert seen == [[], ["delay"], ["close"], []]


def test_every_provider_with_a_simulator_and_a_profile_is_in_the_demo(tmp_path: Path) -> None:
    from monitor.probes.registry import providers

    found = demo_providers()
    names = [p.name for p in found]
    assert "assemblyai" in names
    for p in providers().values():
        if p.simulator is not None and any(d.provider is p for d in found):
            assert p.name in names
    sims = {n: _FakeBase(f"http://127.0.0.1:{9000 + i}") for i, n in enumerate(names)}
    doc = demo_config(tmp_path, sims, providers=found)
    targets = doc["targets"]
    # One target per provider, named after it, on its own simulator's port.
    assert [(t["name"], t["provider"]) for t in targets] == [(n, n) for n in names]
    assert len({t["api_base"] for t in targets}) == len(names)
    assert parse_config(doc, env={}).targets  # a valid config
    for p in found:
        assert p.provider.label in doc["title"]


def test_every_profile_draws_its_outages_with_the_one_failure_type() -> None:
    found = demo_providers()
    assert len(found) >= 3
    for p in found:
        assert p.profile.OUTAGES, p.name
        assert all(type(f) is Failure for f in p.profile.OUTAGES), p.name
        assert "Failure" not in vars(p.profile).get("__all__", ()), p.name


def test_with_several_providers_one_is_slow_while_another_fails() -> None:
    found = demo_providers()
    [aai] = [p for p in found if p.name == "assemblyai"]
    # A second provider with a storyline: AssemblyAI's profile under another name.
    twin = dataclasses.replace(aai, provider=dataclasses.replace(aai.provider, name="twin"))
    healthy, slow, failing, recovery = default_storyline([*found, twin])
    assert not healthy.faults and not recovery.faults
    [slow_one] = slow.faults
    assert slow_one == next(p.name for p in found if hasattr(p.profile, "SLOWDOWN"))
    others = [
        p.name for p in [*found, twin] if p.name != slow_one and hasattr(p.profile, "FAILURE")
    ]
    # The first other provider with a failure fails; the slow one stays slow beside it.
    assert set(failing.faults) == {slow_one, others[0]}


class _FakeBase:
    """Where a demo target points: only the base URLs of a simulator handle."""

    def __init__(self, base: str) -> None:
        self.base_url = base
        self.ws_base = base.replace("http", "ws", 1)


def test_synthetic_history_is_plausible() -> None:
    cfg = parse_config({"targets": [{"name": "a", "api_key": "k"}]}, env={})
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    rows = list(history(cfg, now, days=4))
    assert len(rows) == 4 * 24 * 12 * 3
    assert rows == sorted(rows, key=lambda r: r.started_at)
    assert all(r.started_at < now for r in rows)
    assert {r.probe for r in rows} == {"reachability", "transcription", "streaming"}
    ok = sum(r.ok for r in rows) / len(rows)
    assert 0.95 < ok < 1.0
    assert {r.status.value for r in rows} == {"up", "degraded", "down"}
    assert rows == list(history(cfg, now, days=4))  # deterministic


async def test_cli_demo_prints_urls_serves_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitor",
        "demo",
        "--listen",
        "127.0.0.1:0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    out: list[str] = []
    try:
        async with asyncio.timeout(30):  # "a living page within 30 seconds"
            while not any(line.startswith("Press Ctrl-C") for line in out):
                raw = await proc.stdout.readline()
                assert raw, (out, await proc.stderr.read())
                out.append(raw.decode().rstrip("\n"))
        url = next(line.split(": ", 1)[1] for line in out if "status page:" in line)
        workdir = Path(next(line for line in out if "config in" in line).split("config in ")[1])
        assert workdir.parent.exists() and (workdir.parent / "site" / "index.html").exists()
        async with aiohttp.ClientSession() as session:
            async with session.get(url) as resp:
                assert resp.status == 200
                assert "sttwatch demo" in await resp.text()
            async with session.get(f"{url}metrics") as resp:
                assert "sttwatch_probe_success" in await resp.text()
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        rest, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert "stopped" in rest.decode()
    assert not workdir.parent.exists()  # the temporary directory is gone
