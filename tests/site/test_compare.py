"""The providers side by side: the "healthy now, fastest first" rule, its JSON and its table.

The rule is checked table-driven on rows as the comparison builds them, then
end to end on real stores filled with scripted outages and rendered.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import Config, parse_config
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.site import render_site
from monitor.site.compare import health, ranked
from monitor.site.model import CompareRow, KindFigures, KindStatus, PageState
from monitor.store import Store
from monitor.store.records import Rollup
from tests.support.providers import SECOND, extra_provider

NOW = datetime(2026, 11, 20, 13, 37, 21, tzinfo=UTC)
RANK = "transcription"
_STATE: dict[KindStatus, PageState] = {
    "up": "operational",
    "degraded": "degraded_performance",
    "down": "major_outage",
    "maintenance": "under_maintenance",
    "unknown": "no_data",
}


def figures(probe: str, status: KindStatus, p50: float | None, p95: float | None) -> KindFigures:
    return KindFigures(
        probe=probe,
        name=probe,
        status=status,
        state=_STATE[status],
        state_label=status,
        p50_24h_s=p50,
        p95_24h_s=p95,
        uptime_30d=1.0,
        wer_24h=None,
        checks_text=False,
        last_checked=NOW,
    )


def row(
    name: str,
    rank: tuple[KindStatus, float | None, float | None] | None,
    *others: KindStatus,
) -> CompareRow:
    """Return a row whose ranking kind is `rank` (status, p50, p95) and other kinds `others`."""
    probes = {f"other{i}": figures(f"other{i}", s, 0.1, 0.2) for i, s in enumerate(others)}
    if rank is not None:
        probes[RANK] = figures(RANK, *rank)
    return CompareRow(name=name, label=name, health=health(probes), rank=0, probes=probes)


@pytest.mark.parametrize(
    ("rows", "order"),
    [
        (
            [
                row("down", ("down", None, None), "up"),
                row("slow", ("degraded", 4.0, 6.0), "up"),
                row("fine", ("up", 1.2, 1.9), "up"),
            ],
            ["fine", "slow", "down"],
        ),
        (
            # The class comes first: a healthy provider beats a faster degraded one.
            [
                row("fast-but-slow-stream", ("up", 0.5, 0.6), "degraded"),
                row("ok", ("up", 2.0, 3.0)),
            ],
            ["ok", "fast-but-slow-stream"],
        ),
        (
            [row("b", ("up", 1.5, 2.0)), row("a", ("up", 1.2, 9.0)), row("c", ("up", 0.9, 5.0))],
            ["c", "a", "b"],
        ),
        (
            # Equal medians: the 95th percentile decides.
            [row("x", ("up", 1.2, 2.5)), row("y", ("up", 1.2, 1.8))],
            ["y", "x"],
        ),
        (
            # Equal in both: the name decides, whatever order they came in.
            [row("zeta", ("up", 1.2, 1.8)), row("alpha", ("up", 1.2, 1.8))],
            ["alpha", "zeta"],
        ),
        (
            # Without the ranking kind's figure (not configured, no good run): after those with.
            [
                row("no-kind", None, "up"),
                row("no-runs", ("up", None, None)),
                row("has", ("up", 9.0, 9.0)),
            ],
            ["has", "no-kind", "no-runs"],
        ),
        (
            [
                row("maint", ("maintenance", 0.1, 0.1)),
                row("never", ("unknown", None, None)),
                row("slow", ("degraded", 5.0, 5.0)),
            ],
            ["slow", "maint", "never"],
        ),
        (
            # Unavailable ones are still ordered by latency among themselves.
            [
                row("down-slow", ("up", 3.0, 3.0), "down"),
                row("down-fast", ("up", 1.0, 1.0), "down"),
            ],
            ["down-fast", "down-slow"],
        ),
    ],
    ids=[
        "down-slow-healthy",
        "class-before-latency",
        "fastest-median-first",
        "tie-p50-by-p95",
        "tie-both-by-name",
        "missing-figure-last",
        "maintenance-and-unchecked-are-unavailable",
        "latency-within-unavailable",
    ],
)
def test_healthy_now_fastest_first(rows: list[CompareRow], order: list[str]) -> None:
    out = ranked(rows, RANK)
    assert [r.name for r in out] == order
    assert [r.rank for r in out] == list(range(1, len(rows) + 1))
    assert [r.name for r in ranked(reversed(rows), RANK)] == order  # input order never matters


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        (("up", "up"), "healthy"),
        (("up", "degraded"), "degraded"),
        (("degraded", "down"), "unavailable"),
        (("up", "maintenance"), "unavailable"),
        (("up", "unknown"), "unavailable"),
        ((), "unavailable"),
    ],
    ids=["all-up", "one-slow", "slow-and-down", "maintenance", "unchecked", "nothing"],
)
def test_health_class(statuses: tuple[KindStatus, ...], expected: str) -> None:
    probes = {f"k{i}": figures(f"k{i}", s, 1.0, 1.0) for i, s in enumerate(statuses)}
    assert health(probes) == expected


# ---------------------------------------------------------------------------
# Rendered from a store


def make_config(tmp_path: Path) -> Config:
    return parse_config(
        {
            "database": str(tmp_path / "sttwatch.db"),
            "site_dir": str(tmp_path / "site"),
            "targets": [
                {"name": "aai-us", "display_name": "AssemblyAI US", "api_key": "sk-1"},
                {
                    "name": "aai-eu",
                    "display_name": "AssemblyAI EU",
                    "api_key": "sk-2",
                    "region": "eu",
                },
            ],
        },
        env={},
    )


# Each provider's kinds record their own phases: AssemblyAI's, and the test providers'.
PHASES = {
    "reachability": ({"total": 1.0}, {"request": 1.0}),
    "transcription": ({"queued": 0.25, "processing": 0.75}, {"transcribe": 1.0}),
    "streaming": ({"first_transcript": 1.0}, {}),
}
ASSEMBLYAI_TARGETS = ("aai-us", "aai-eu", "aai")


def run(
    target: str, probe: str, at: datetime, latency: float, status: Status = Status.UP
) -> ProbeResult:
    """Return a run of `target`'s provider's kind `probe`, with that provider's phases."""
    if status is Status.DOWN:
        return ProbeResult(target, probe, at, latency, status, ErrorKind.SERVER_ERROR, "HTTP 503")
    own, other = PHASES[probe]
    shares = own if target in ASSEMBLYAI_TARGETS else other
    phases = {name: share * latency for name, share in shares.items()}
    details = {} if probe == "reachability" else {"wer": 0.08 if target == "aai-eu" else 0.05}
    return ProbeResult(target, probe, at, latency, status, phases=phases, details=details)


def history(scale: dict[str, float], minutes: int = 30) -> list[ProbeResult]:
    """Return `minutes` of good runs, each target's latency scaled by `scale`."""
    base = {"reachability": 0.1, "transcription": 1.2, "streaming": 0.4}
    return [
        run(t, p, NOW - timedelta(minutes=minutes - i), base[p] * f)
        for i in range(minutes)
        for t, f in scale.items()
        for p in base
    ]


def providers_doc(cfg: Config) -> dict[str, Any]:
    return dict(json.loads((Path(cfg.site_dir) / "api/v1/providers.json").read_text()))


async def test_a_down_target_ranks_last_and_its_provider_shows_the_worst(
    tmp_path: Path, store: Store
) -> None:
    cfg = make_config(tmp_path)
    # The EU is faster, but its transcriptions fail now.
    rows = history({"aai-us": 1.5, "aai-eu": 1.0})
    rows += [
        run("aai-eu", "transcription", NOW - timedelta(seconds=30 - i), 0.0, Status.DOWN)
        for i in range(2)
    ]
    await store.add_results(rows)
    await render_site(store, cfg, now=NOW)
    doc = providers_doc(cfg)

    assert doc["generated_at"] == "2026-11-20T13:37:21.000Z"
    assert doc["ranked_by"] == {"probe": "transcription", "figures": ["p50_24h_s", "p95_24h_s"]}
    assert doc["target_order"] == ["aai-us", "aai-eu"]
    [aai] = doc["providers"]
    assert (aai["name"], aai["label"], aai["rank"], aai["health"]) == (
        "assemblyai",
        "AssemblyAI",
        1,
        "unavailable",
    )
    us, eu = aai["targets"]
    assert (us["name"], us["region"], us["health"]) == ("aai-us", "us", "healthy")
    assert (eu["name"], eu["region"], eu["health"]) == ("aai-eu", "eu", "unavailable")
    assert eu["probes"]["transcription"]["status"] == "down"
    assert eu["probes"]["transcription"]["state"] == "major_outage"
    # The provider's figures are its worst target's.
    worst = aai["probes"]["transcription"]
    assert worst["status"] == "down"
    assert (
        worst["p50_24h_s"]
        == us["probes"]["transcription"]["p50_24h_s"]
        == pytest.approx(1.8, abs=0.1)
    )
    assert worst["uptime_30d"] == eu["probes"]["transcription"]["uptime_30d"] < 1.0
    assert worst["wer_24h"] == 0.08
    assert "wer_24h" not in aai["probes"]["reachability"]  # it checks no transcript
    assert aai["probes"]["streaming"]["p50_24h_s"] == us["probes"]["streaming"]["p50_24h_s"]


async def test_figures_are_the_page_figures(tmp_path: Path, store: Store) -> None:
    cfg = make_config(tmp_path)
    await store.add_results(history({"aai-us": 1.0, "aai-eu": 1.3}))
    view = await render_site(store, cfg, now=NOW)
    doc = providers_doc(cfg)
    by_target = {t["name"]: t for t in doc["providers"][0]["targets"]}
    for c in view.components:
        fig = by_target[c.target]["probes"][c.probe]
        assert fig["uptime_30d"] == c.uptime["30d"]
        assert fig["p50_24h_s"] == pytest.approx(c.p50_24h_s, abs=0.0005)
        assert fig["p95_24h_s"] == pytest.approx(c.p95_24h_s, abs=0.0005)
        assert fig["last_checked"] is not None
    # The p50 is the hourly roll-ups' merged histogram, as the page's median fact.
    hourly = await store.rollups_hourly("aai-eu", "transcription", NOW - timedelta(hours=24), NOW)
    merged = Rollup.merged(hourly)
    assert merged is not None
    assert by_target["aai-eu"]["probes"]["transcription"]["p50_24h_s"] == round(
        merged.percentile(0.5) or 0, 3
    )


async def test_one_provider_shows_no_compare_view(tmp_path: Path, store: Store) -> None:
    cfg = make_config(tmp_path)
    await store.add_results(history({"aai-us": 1.0, "aai-eu": 1.0}))
    await render_site(store, cfg, now=NOW)
    page = (Path(cfg.site_dir) / "index.html").read_text()
    assert 'id="compare"' not in page
    assert 'href="api/v1/providers.json"' in page  # the document is there all the same


async def test_nothing_checked_yet(tmp_path: Path, store: Store) -> None:
    cfg = make_config(tmp_path)
    await render_site(store, cfg, now=NOW)
    doc = providers_doc(cfg)
    assert doc["order"] == ["assemblyai"]
    [aai] = doc["providers"]
    assert aai["health"] == "unavailable"
    fig = aai["probes"]["transcription"]
    assert (fig["status"], fig["p50_24h_s"], fig["uptime_30d"], fig["last_checked"]) == (
        "unknown",
        None,
        None,
        None,
    )
    assert fig["wer_24h"] is None


# ---------------------------------------------------------------------------
# Three providers (two registered for the test, as a plugin would add them)

THIRD = dataclasses.replace(SECOND, name="third", label="Third STT")
BASE = {"reachability": 0.1, "transcription": 1.0}


@pytest.fixture
def three_providers(tmp_path: Path) -> Iterator[None]:
    with extra_provider(tmp_path / "second"), extra_provider(tmp_path / "third", THIRD):
        yield


def three_config(tmp_path: Path) -> Config:
    probes = {"reachability": {"degraded_after": "1s"}, "transcription": {"degraded_after": "2s"}}
    return parse_config(
        {
            "database": str(tmp_path / "sttwatch.db"),
            "site_dir": str(tmp_path / "site"),
            "targets": [
                {"name": "aai", "display_name": "AssemblyAI", "api_key": "k1", "probes": probes},
                {"name": "two", "provider": "second", "api_key": "k2", "probes": probes},
                {"name": "three", "provider": "third", "api_key": "k3", "probes": probes},
            ],
        },
        env={},
    )


def three_history(scale: dict[str, float], minutes: int = 30) -> list[ProbeResult]:
    return [
        run(t, p, NOW - timedelta(minutes=minutes - i), BASE[p] * f)
        for i in range(minutes)
        for t, f in scale.items()
        for p in BASE
    ]


@pytest.mark.usefixtures("three_providers")
@pytest.mark.parametrize(
    ("scale", "now", "order", "health"),
    [
        (
            # AssemblyAI is the slowest over 24 h, but the only one healthy now.
            {"aai": 1.6, "two": 0.8, "three": 1.0},
            [
                ("two", "transcription", 2.6, Status.DEGRADED),
                ("three", "transcription", 0, Status.DOWN),
            ],
            ["assemblyai", "second", "third"],
            ["healthy", "degraded", "unavailable"],
        ),
        (
            {"aai": 1.6, "two": 0.8, "three": 1.0},
            [],
            ["second", "third", "assemblyai"],
            ["healthy", "healthy", "healthy"],
        ),
        (
            # Equal figures: the name decides.
            {"aai": 1.6, "two": 1.0, "three": 1.0},
            [],
            ["second", "third", "assemblyai"],
            ["healthy", "healthy", "healthy"],
        ),
        (
            {"aai": 1.0, "two": 1.0, "three": 1.0},
            [("two", "reachability", 0, Status.DOWN)],
            ["assemblyai", "third", "second"],
            ["healthy", "healthy", "unavailable"],
        ),
    ],
    ids=[
        "one-down-one-slow-one-healthy",
        "all-healthy-fastest-first",
        "tie-by-name",
        "any-kind-down",
    ],
)
async def test_three_providers_healthy_now_fastest_first(
    tmp_path: Path,
    store: Store,
    scale: dict[str, float],
    now: list[tuple[str, str, float, Status]],
    order: list[str],
    health: list[str],
) -> None:
    cfg = three_config(tmp_path)
    rows = three_history(scale)
    for target, probe, latency, status in now:
        rows += [
            run(target, probe, NOW - timedelta(seconds=20 - n), latency, status) for n in range(2)
        ]
    await store.add_results(rows)
    await render_site(store, cfg, now=NOW)
    doc = providers_doc(cfg)
    assert doc["order"] == order
    assert [p["health"] for p in doc["providers"]] == health
    assert [p["rank"] for p in doc["providers"]] == [1, 2, 3]
    # One target each: the targets' order is the providers', except where the name decides.
    by_provider = {"assemblyai": "aai", "second": "two", "third": "three"}
    expected = [by_provider[n] for n in order]
    if order == ["second", "third", "assemblyai"] and scale["two"] == scale["three"]:
        expected = ["three", "two", "aai"]  # tied: target names, "three" < "two"
    assert doc["target_order"] == expected

    page = (Path(cfg.site_dir) / "index.html").read_text()
    assert 'id="compare"' in page
    assert re.findall(r'data-provider="([a-z]+)" data-rank="(\d)"', page) == [
        (name, str(n)) for n, name in enumerate(order, start=1)
    ]


@pytest.mark.usefixtures("three_providers")
async def test_the_compare_table_shows_each_kind_of_each_provider(
    tmp_path: Path, store: Store
) -> None:
    cfg = three_config(tmp_path)
    await store.add_results(three_history({"aai": 1.0, "two": 1.2, "three": 1.4}))
    await render_site(store, cfg, now=NOW)
    page = (Path(cfg.site_dir) / "index.html").read_text()
    start = page.index('id="compare"')
    section = page[start : page.index("</table>", start)]
    rows = re.findall(r'<tr class="compare__provider".*?</tr>', section, re.S)
    assert len(rows) == 3  # one target each: no target rows under the providers
    for row in rows:
        cells = re.findall(r'<td data-probe="(\w+)" data-status="(\w+)">(.*?)</td>', row, re.S)
        assert [(p, s) for p, s, _ in cells] == [("reachability", "up"), ("transcription", "up")]
        reach, trans = (c for _, _, c in cells)
        assert "Operational" in reach and "p50" in reach and "p95" in reach and "30 d" in reach
        assert "WER" not in reach  # it checks no transcript
        assert re.search(r"WER</abbr> \d+\.\d%", trans)
    assert "AssemblyAI" in rows[0] and "Second STT" in rows[1] and "Third STT" in rows[2]
