"""`SiteRenderer`: routine renders spaced by their cost, a change of status rendered soon."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor.app import open_runtime, render_site
from monitor.config import parse_config
from monitor.models import ProbeResult, Status
from monitor.renderer import SiteRenderer
from monitor.runtime import Runtime
from monitor.store import Store
from tests.support.polling import eventually


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    config = parse_config(
        {
            "database": str(tmp_path / "site.db"),
            "site_dir": str(tmp_path / "site"),
            "targets": [{"name": "us", "api_key": "k", "probes": {"reachability": {}}}],
        }
    )
    async with open_runtime(config, metrics=False) as runtime:
        yield runtime


def result(status: Status) -> ProbeResult:
    return ProbeResult(
        target="us",
        probe="reachability",
        started_at=datetime.now(UTC),
        duration_s=0.01,
        status=status,
    )


async def test_a_change_of_status_is_rendered_before_the_routine_spacing_ends(
    rt: Runtime,
) -> None:
    # Routine spacing: a million times the last render (hours); urgent: min_interval.
    renderer = SiteRenderer(
        lambda: render_site(rt.store, rt.config),
        min_interval=0.05,
        refresh_every=3600,
        cost_factor=1e6,
        urgent_cost_factor=0,
    )
    await renderer.start()
    try:
        assert renderer.renders == 1 and renderer.spacing() > 60
        renderer.request()  # the first request after a quiet spell renders at once
        await eventually(lambda: renderer.renders == 2, "the requested render", within=5)
        renderer.request()  # a cycle ended: waits out the routine spacing
        await renderer.observe(result(Status.UP))  # first result seen: nothing to compare
        await renderer.observe(result(Status.UP))  # same status: not urgent
        with pytest.raises(AssertionError, match="timed out"):
            await eventually(lambda: renderer.renders > 2, "a routine render", within=0.5)
        await renderer.observe(result(Status.DEGRADED))
        await eventually(lambda: renderer.renders == 3, "the urgent render", within=5)
        page = (Path(rt.config.site_dir) / "index.html").read_text()
        assert "us" in page
    finally:
        await renderer.stop()


async def test_spacing_grows_with_the_render_and_never_drops_below_min_interval(
    rt: Runtime,
) -> None:
    renderer = SiteRenderer(lambda: render_site(rt.store, rt.config), min_interval=2.0)
    await renderer.render_now()
    small = renderer.last_duration_s
    assert small > 0
    renderer.last_duration_s = 0.0
    assert renderer.spacing() == renderer.spacing(urgent=True) == 2.0
    # A 1,000-component site: ~1.1 s a render in the running server.
    renderer.last_duration_s = 1.1
    assert renderer.spacing() == pytest.approx(220.0)
    assert renderer.spacing(urgent=True) == pytest.approx(22.0)


async def test_an_operator_write_from_another_process_is_rendered_soon(
    rt: Runtime, tmp_path: Path
) -> None:
    # No cycle asks for a render and the routine spacing is hours: only the watch can.
    renderer = SiteRenderer(
        lambda: render_site(rt.store, rt.config),
        min_interval=0.05,
        refresh_every=3600,
        cost_factor=1e6,
        urgent_cost_factor=0,
        watch=rt.store.incident_revision,
        watch_every=0.05,
    )
    await renderer.start()
    try:
        renderer.request()
        await eventually(lambda: renderer.renders == 2, "the requested render", within=5)
        # Another store on the same file, as `sttwatch incident` is another process.
        async with await Store.open(rt.config.database) as other:
            iid = await other.open_operator_incident(
                "us", ["reachability"], title="Words", message="Looking into it"
            )
        page = Path(rt.config.site_dir) / "incidents" / f"{iid}.html"
        await eventually(page.is_file, "the operator incident's page", within=5)
        assert "Looking into it" in page.read_text(encoding="utf-8")
        renders = renderer.renders
        await asyncio.sleep(0.3)  # nothing new written: no render
        assert renderer.renders == renders
    finally:
        await renderer.stop()
