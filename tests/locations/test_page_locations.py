"""The page by location: each card's locations, "Down from eu-west", where the checks run from."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import Config, parse_config
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.outcome import Quorum
from monitor.site import build_view, site_files
from monitor.store import Store
from tests.support.clocks import ManualClock

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
NOW = T0 + 10 * MINUTE
STATUS = {"U": Status.UP, "D": Status.DOWN, "G": Status.DEGRADED}
PARTIAL, SLOW = "partial_outage", "degraded_performance"


def config(quorum: Quorum) -> Config:
    """Return a one-target config (reachability only) with `quorum`."""
    doc = {
        "targets": [{"name": "aai-us", "api_key": "k", "probes": {"reachability": None}}],
        "quorum": quorum,
    }
    return parse_config(doc, env={})


def result(location: str, letter: str, minute: int) -> ProbeResult:
    """Return a reachability result from `location` (U, G or D), `minute` after T0."""
    status = STATUS[letter]
    latency = {"U": 0.12, "G": 3.5, "D": 0.0}[letter]
    return ProbeResult(
        target="aai-us",
        probe="reachability",
        started_at=T0 + minute * MINUTE,
        duration_s=0.2,
        status=status,
        error_kind=ErrorKind.CONNECT if status is Status.DOWN else None,
        message="connection refused" if status is Status.DOWN else "",
        phases={"total": latency} if status is not Status.DOWN else {},
        location=location,
    )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(
        str(tmp_path / "db.sqlite"),
        failure_threshold=2,
        success_threshold=2,
        quorum=2,
        clock=ManualClock(current=NOW),
    )
    try:
        yield s
    finally:
        await s.close()


async def feed(store: Store, script: dict[str, str]) -> None:
    """Store each location's letters, one a minute."""
    for location, letters in script.items():
        for minute, letter in enumerate(letters):
            await store.add_result(result(location, letter, minute))


@pytest.mark.parametrize(
    ("script", "state", "label", "api"),
    [
        ({"eu-west": "DDD", "us-east": "UUU"}, "location_outage", "Down from eu-west", PARTIAL),
        ({"eu-west": "UUU", "us-east": "GGG"}, "location_outage", "Degraded from us-east", PARTIAL),
        ({"eu-west": "DDD", "us-east": "DDD"}, "major_outage", "Major outage", "major_outage"),
        ({"eu-west": "GGG", "us-east": "GGG"}, SLOW, "Degraded performance", SLOW),
        ({"eu-west": "UUU", "us-east": "UUU"}, "operational", "Operational", "operational"),
    ],
    ids=["one-down", "one-slow", "both-down", "both-slow", "both-up"],
)  # fmt: skip
async def test_card_state_follows_the_quorum(
    store: Store, script: dict[str, str], state: str, label: str, api: str
) -> None:
    await feed(store, script)
    view = await build_view(store, config(2), NOW)
    (card,) = view.components
    assert (card.state, card.state_label, card.api_status) == (state, label, api)
    assert [(where.location, where.status) for where in card.locations] == [
        (loc, STATUS[letters[-1]].value) for loc, letters in sorted(script.items())
    ]
    # An outage, or a slow period, seen from the quorum is an incident (a slow one: minor).
    impact = {"major_outage": ["critical"], SLOW: ["minor"]}.get(state, [])
    assert [i.impact for i in view.open_incidents] == impact


async def test_page_shows_locations_latency_and_where_checks_run_from(store: Store) -> None:
    await feed(store, {"eu-west": "DDD", "us-east": "UUU"})
    view = await build_view(store, config(2), NOW)
    files = site_files(view)
    html = files["index.html"].decode()
    assert 'from <span class="where">eu-west, us-east</span>' in html
    assert 'class="state state--location_outage"' in html
    assert "Down from eu-west" in html
    assert 'data-location="eu-west" data-status="down"' in html
    assert 'data-location="us-east" data-status="up"' in html
    assert "120 ms" in html  # us-east's key latency
    ours = json.loads(files["api/sttwatch.json"])
    assert ours["locations"] == ["eu-west", "us-east"]
    (card,) = ours["targets"][0]["components"]
    assert [(w["location"], w["status"], w["latency_s"]) for w in card["locations"]] == [
        ("eu-west", "down", None),
        ("us-east", "up", 0.12),
    ]
    summary = json.loads(files["api/v2/summary.json"])
    assert summary["incidents"] == []
    assert {c["status"] for c in summary["components"] if c.get("group_id")} <= {"partial_outage"}


async def test_one_location_shows_no_location_list(store: Store) -> None:
    await feed(store, {"local": "DDD"})
    view = await build_view(store, config(1), NOW)
    (card,) = view.components
    assert card.locations == [] and view.locations == []
    assert 'class="locations"' not in site_files(view)["index.html"].decode()
