"""The static status site as its readers see it: page, Statuspage JSON, feed, badges.

Every test fills a real SQLite store (tmp_path) with probe results, renders the
site from it, and reads the files a browser, an aggregator or a feed reader
would read.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import shutil
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from monitor.config import Config, parse_config
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.site import DayCell, render_site, site_files
from monitor.site.badges import badge_svg
from monitor.site.charts import build_chart
from monitor.site.documents import dump as _dump
from monitor.site.documents import sttwatch_document
from monitor.site.format import pct
from monitor.site.templates import _environment, render_index
from monitor.store import Store
from tests.support.configs import write_config

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "schemas" / "statuspage-summary.schema.json").read_text()
)
PROBES = ("reachability", "transcription", "streaming")
XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"
# Not aligned to a minute, an hour or a day: roll-up edges must still add up.
NOW = datetime(2026, 11, 20, 13, 37, 21, tzinfo=UTC)


def part(name: str) -> dict[str, Any]:
    """Return the schema of one Statuspage object (page, component, incident)."""
    return {"$ref": f"#/$defs/{name}", "$defs": SCHEMA["$defs"]}


def make_config(tmp_path: Path, **extra: Any) -> Config:
    raw: dict[str, Any] = {
        "title": "Acme speech status",
        "database": str(tmp_path / "sttwatch.db"),
        "site_dir": str(tmp_path / "site"),
        "targets": [
            {"name": "aai-us", "display_name": "AssemblyAI US", "api_key": "sk-test-1"},
            {"name": "aai-eu", "display_name": "AssemblyAI EU", "api_key": "sk-test-2"},
        ],
    }
    raw.update(extra)
    return parse_config(raw, env={})


def result(
    target: str,
    probe: str,
    at: datetime,
    status: Status = Status.UP,
    kind: ErrorKind | None = None,
    message: str = "",
    latency: float = 0.2,
) -> ProbeResult:
    phases = {
        "reachability": {"total": latency},
        "transcription": {"queued": latency * 0.25, "processing": latency * 0.75},
        "streaming": {"first_transcript": latency},
    }[probe]
    if status is Status.DOWN:
        phases = {}
        kind = kind or ErrorKind.SERVER_ERROR
    details = {"wer": 0.04} if probe != "reachability" and status is not Status.DOWN else {}
    return ProbeResult(target, probe, at, latency, status, kind, message, phases, details)


def healthy(cfg: Config, at: datetime) -> list[ProbeResult]:
    return [result(t.name, p, at) for t in cfg.targets for p in PROBES]


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(str(tmp_path / "sttwatch.db"), failure_threshold=2, success_threshold=2)
    try:
        yield s
    finally:
        await s.close()


async def render(store: Store, cfg: Config, now: datetime = NOW) -> Path:
    await render_site(store, cfg, now=now)
    return Path(cfg.site_dir)


def load(site: Path, rel: str) -> Any:
    return json.loads((site / rel).read_text(encoding="utf-8"))


class PageText(HTMLParser):
    """The visible text of elements, by id and by data-component, as a browser shows it."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[dict[str, str | None]] = []
        self.text_by_id: dict[str, str] = {}
        self.states: dict[str, str] = {}
        self.scripts = 0
        self.imgs = 0
        self.day_cells: dict[str, list[tuple[str, str]]] = {}
        self._component: str | None = None
        self._title_for: tuple[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script":
            self.scripts += 1
        if tag == "img":
            self.imgs += 1
        if "data-component" in a and "data-state" in a:
            self._component = a["data-component"]
            self.states[str(a["data-component"])] = str(a["data-state"])
        if tag == "rect" and "data-date" in a and self._component:
            self.day_cells.setdefault(self._component, []).append(
                (str(a["data-date"]), str(a["data-state"]))
            )
        if tag not in ("br", "meta", "link", "input", "line", "circle", "path"):
            self.stack.append(a)
        self.handle_data(" ")  # element boundaries separate words, as on screen

    def handle_endtag(self, tag: str) -> None:
        self.handle_data(" ")
        if tag not in ("br", "meta", "link", "input", "line", "circle", "path") and self.stack:
            self.stack.pop()

    def handle_data(self, data: str) -> None:
        for a in self.stack:
            if a.get("id"):
                key = str(a["id"])
                self.text_by_id[key] = self.text_by_id.get(key, "") + data

    def text(self, element_id: str) -> str:
        return " ".join(self.text_by_id.get(element_id, "").split())


def parse_page(site: Path) -> PageText:
    parser = PageText()
    parser.feed((site / "index.html").read_text(encoding="utf-8"))
    return parser


# ---------------------------------------------------------------------------
# The banner and component states


def _scenario(cfg: Config, name: str) -> list[ProbeResult]:
    """Return results making the page show scenario `name`, oldest first."""
    t0 = NOW - timedelta(minutes=10)
    out = healthy(cfg, t0) + healthy(cfg, t0 + timedelta(minutes=1))
    later = t0 + timedelta(minutes=2)
    if name == "all-up":
        out += healthy(cfg, later)
    elif name == "one-degraded":
        out += [result("aai-eu", "streaming", later, Status.DEGRADED, latency=3.0)]
    elif name == "one-failed-run":
        out += [result("aai-us", "transcription", later, Status.DOWN, ErrorKind.TIMEOUT)]
    elif name == "incident-open":
        out += [
            result("aai-eu", "streaming", later + timedelta(minutes=i), Status.DOWN)
            for i in range(2)
        ]
    elif name == "everything-down":
        out += [
            result(t.name, p, later + timedelta(minutes=i), Status.DOWN, ErrorKind.CONNECT)
            for i in range(2)
            for t in cfg.targets
            for p in PROBES
        ]
    return out


@pytest.mark.parametrize(
    ("scenario", "indicator", "banner", "changed"),
    [
        ("no-data", "none", "Waiting for the first checks", {}),
        ("all-up", "none", "All Systems Operational", {}),
        (
            "one-degraded",
            "minor",
            "Partially Degraded Service",
            {"aai-eu-streaming": "degraded_performance"},
        ),
        (
            "one-failed-run",
            "minor",
            "Minor Service Outage",
            {"aai-us-transcription": "partial_outage"},
        ),
        ("incident-open", "major", "Partial System Outage", {"aai-eu-streaming": "major_outage"}),
        ("everything-down", "critical", "Major System Outage", {"*": "major_outage"}),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
async def test_banner_and_components_match_the_state(
    tmp_path: Path,
    store: Store,
    scenario: str,
    indicator: str,
    banner: str,
    changed: dict[str, str],
) -> None:
    cfg = make_config(tmp_path)
    if scenario != "no-data":
        await store.add_results(_scenario(cfg, scenario))
    site = await render(store, cfg)

    page = parse_page(site)
    assert page.text("overall") == banner
    assert page.scripts == 0
    status = load(site, "api/v2/status.json")["status"]
    assert status == {"indicator": indicator, "description": banner}

    expected_default = "no_data" if scenario == "no-data" else "operational"
    for t in cfg.targets:
        for p in PROBES:
            cid = f"{t.name}-{p}"
            want = changed.get(cid, changed.get("*", expected_default))
            assert page.states[cid] == want, cid

    summary = load(site, "api/v2/summary.json")
    jsonschema.validate(summary, SCHEMA)
    api_states = {c["id"]: c["status"] for c in summary["components"] if not c["group"]}
    for cid, state in page.states.items():
        assert api_states[cid] == ("operational" if state == "no_data" else state)
    groups = [c for c in summary["components"] if c["group"]]
    assert [g["name"] for g in groups] == ["AssemblyAI US", "AssemblyAI EU"]
    assert all(len(g["components"]) == 3 for g in groups)


async def test_summary_validates_with_incidents_and_maintenance(
    tmp_path: Path, store: Store
) -> None:
    cfg = make_config(
        tmp_path,
        maintenance=[
            {
                "title": "EU region upgrade",
                "targets": ["aai-eu"],
                "probes": ["transcription"],
                "start": (NOW - timedelta(hours=1)).isoformat(),
                "duration": "2h",
            }
        ],
    )
    t0 = NOW - timedelta(days=2)
    rows = healthy(cfg, t0)
    # A resolved incident two days ago, and one still open.
    rows += [
        result("aai-us", "reachability", t0 + timedelta(minutes=i), Status.DOWN) for i in (1, 2)
    ]
    rows += [result("aai-us", "reachability", t0 + timedelta(minutes=i)) for i in (3, 4)]
    rows += [
        result("aai-eu", "streaming", NOW - timedelta(minutes=m), Status.DOWN, ErrorKind.TIMEOUT)
        for m in (3, 2, 1)
    ]
    await store.add_results(rows)
    site = await render(store, cfg)

    summary = load(site, "api/v2/summary.json")
    jsonschema.validate(summary, SCHEMA)
    assert [i["status"] for i in summary["incidents"]] == ["investigating"]
    assert summary["incidents"][0]["components"][0]["id"] == "aai-eu-streaming"
    [maint] = summary["scheduled_maintenances"]
    assert maint["name"] == "EU region upgrade"
    assert maint["status"] == "in_progress"
    states = {c["id"]: c["status"] for c in summary["components"]}
    assert states["aai-eu-transcription"] == "under_maintenance"

    incidents = load(site, "api/v2/incidents.json")
    assert [i["status"] for i in incidents["incidents"]] == ["investigating", "resolved"]
    resolved = incidents["incidents"][1]
    assert resolved["resolved_at"] is not None
    assert resolved["incident_updates"][0]["status"] == "resolved"  # newest first
    # The page's names (target label, component name), not the config's slugs.
    bodies = [u["body"] for u in resolved["incident_updates"]]
    assert bodies[0] == f"REST API on {cfg.target('aai-us').label} has recovered."
    assert bodies[1].startswith(f"REST API on {cfg.target('aai-us').label} is down: ")
    assert not any("aai-" in b or "reachability" in b for b in bodies), bodies
    for name in ("status.json", "components.json", "incidents.json"):
        doc = load(site, f"api/v2/{name}")
        jsonschema.validate(doc["page"], part("page"))
    for c in load(site, "api/v2/components.json")["components"]:
        jsonschema.validate(c, part("component"))
    for i in incidents["incidents"]:
        jsonschema.validate(i, part("incident"))

    page = parse_page(site)
    assert "EU region upgrade" in (site / "index.html").read_text()
    assert page.states["aai-eu-transcription"] == "under_maintenance"


# ---------------------------------------------------------------------------
# Remote text is data, never markup


async def test_remote_text_is_escaped_in_page_json_feed_and_badges(
    tmp_path: Path, store: Store
) -> None:
    cfg = make_config(
        tmp_path,
        targets=[{"name": "aai", "display_name": "A&B <b>Speech</b>", "api_key": "sk-x"}],
    )
    rows = [
        result("aai", "transcription", NOW - timedelta(minutes=m), Status.DOWN,
               ErrorKind.TRANSCRIPTION_FAILED, XSS)
        for m in (3, 2, 1)
    ]  # fmt: skip
    rows.append(
        result("aai", "streaming", NOW - timedelta(minutes=1), Status.DEGRADED, message=XSS)
    )
    await store.add_results(rows)
    site = await render(store, cfg)

    html = (site / "index.html").read_text(encoding="utf-8")
    assert "<script" not in html
    assert "<img" not in html
    assert "<b>Speech" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;" in html
    page = parse_page(site)
    assert page.scripts == 0 and page.imgs == 0
    assert XSS in page.text("component-aai-transcription")
    assert "A&B <b>Speech</b>" in page.text("target-aai-h")

    unresolved = load(site, "api/v2/incidents/unresolved.json")["incidents"]
    assert any(XSS in u["body"] for u in unresolved[0]["incident_updates"])
    components = load(site, "api/sttwatch.json")["targets"][0]["components"]
    assert {c["message"] for c in components if c["message"]} == {XSS}

    feed = ET.parse(site / "feed.atom").getroot()
    ns = {"a": "http://www.w3.org/2005/Atom"}
    [entry] = feed.findall("a:entry", ns)
    content = entry.find("a:content", ns)
    assert content is not None and XSS in (content.text or "")
    assert list(content) == []  # text, not child elements

    for probe in PROBES:
        svg = ET.parse(site / "badges" / f"aai-{probe}.svg").getroot()
        assert all(el.tag.rsplit("}", 1)[-1] != "b" for el in svg.iter())
        texts = "".join(el.text or "" for el in svg.iter())
        assert "A&B <b>Speech</b>" in texts
    shield = load(site, "badges/aai-transcription.json")
    assert shield == {
        "schemaVersion": 1,
        "label": "A&B <b>Speech</b> Transcription",
        "message": "major outage",
        "color": "red",
    }


# ---------------------------------------------------------------------------
# Uptime as the user reads it equals what the raw results say


def _history(days: int, seed: int) -> list[ProbeResult]:
    rng = random.Random(seed)
    start = NOW - timedelta(days=days)
    out = []
    t = start + timedelta(seconds=rng.uniform(0, 59))
    while t < NOW:
        roll = rng.random()
        if roll < 0.03:
            out.append(result("aai-us", "streaming", t, Status.DOWN, ErrorKind.STREAM_CLOSED))
        elif roll < 0.08:
            out.append(result("aai-us", "streaming", t, Status.DEGRADED, latency=2.5))
        else:
            out.append(result("aai-us", "streaming", t, latency=rng.uniform(0.3, 0.9)))
        t += timedelta(seconds=60)
    return out


def _raw_uptime(rows: Iterable[ProbeResult], since: datetime, until: datetime) -> float | None:
    window = [r for r in rows if since <= r.started_at < until]
    return sum(r.ok for r in window) / len(window) if window else None


async def test_uptime_on_the_page_equals_raw_results(tmp_path: Path, store: Store) -> None:
    cfg = make_config(
        tmp_path, targets=[{"name": "aai-us", "api_key": "k", "probes": {"streaming": {}}}]
    )
    rows = _history(days=12, seed=7)
    await store.add_results(rows)
    site = await render(store, cfg)

    [component] = load(site, "api/sttwatch.json")["targets"][0]["components"]
    spans = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
    spans["90d"] = timedelta(days=90)
    html = (site / "index.html").read_text()
    for key, span in spans.items():
        expected = _raw_uptime(rows, NOW - span, NOW)
        assert expected is not None
        assert component["uptime"][key] == pytest.approx(expected, abs=1e-12), key
        shown = re.search(rf'data-window="{key}" data-ratio="[^"]*">([^<]+)<', html)
        assert shown is not None and shown.group(1) == pct(expected)

    # Each bar cell: that UTC day's share of good runs.
    for day in component["days"]:
        start = datetime.fromisoformat(day["date"]).replace(tzinfo=UTC)
        expected = _raw_uptime(rows, start, start + timedelta(days=1))
        if expected is None:
            assert day["state"] == "nodata" and day["uptime"] is None
        else:
            assert day["uptime"] == pytest.approx(expected, abs=1e-12), day["date"]


async def test_uptime_bar_has_90_days_and_colours_by_worst_state(
    tmp_path: Path, store: Store
) -> None:
    cfg = make_config(
        tmp_path, targets=[{"name": "aai-us", "api_key": "k", "probes": {"streaming": {}}}]
    )
    today = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = []
    # Three days ago: healthy; two days ago: a slow run; yesterday: one failed run
    # (no incident); today: an incident (two failures in a row), then recovery.
    for d, extra in ((3, None), (2, Status.DEGRADED), (1, Status.DOWN), (0, "incident")):
        day = today - timedelta(days=d)
        rows += [
            result("aai-us", "streaming", day + timedelta(hours=1, minutes=m)) for m in range(5)
        ]
        if extra == "incident":
            rows += [
                result("aai-us", "streaming", day + timedelta(hours=2, minutes=m), Status.DOWN)
                for m in range(2)
            ]
            rows += [
                result("aai-us", "streaming", day + timedelta(hours=2, minutes=m))
                for m in range(2, 5)
            ]
        elif isinstance(extra, Status):
            rows.append(result("aai-us", "streaming", day + timedelta(hours=3), extra, latency=3))
    await store.add_results(rows)
    site = await render(store, cfg)

    cells = parse_page(site).day_cells["aai-us-streaming"]
    assert len(cells) == 90
    assert cells[-1][0] == today.date().isoformat()
    assert [state for _, state in cells[-4:]] == ["up", "degraded", "partial", "down"]
    assert {state for _, state in cells[:-4]} == {"nodata"}
    html = (site / "index.html").read_text()
    assert "no data</title>" in html
    assert "100.00% uptime, 6 checks, 1 slow; no incidents</title>" in html
    assert "83.33% uptime, 6 checks, 1 failed; no incidents</title>" in html
    assert re.search(r"80\.00% uptime, 10 checks, 2 failed; 1 incident</title>", html)


# ---------------------------------------------------------------------------
# Incidents, transcription figures, deletions


async def test_incident_history_shows_start_end_duration_and_kinds(
    tmp_path: Path, store: Store
) -> None:
    cfg = make_config(tmp_path)
    opened = NOW - timedelta(days=3, hours=2)
    rows = [
        result("aai-eu", "transcription", opened, Status.DOWN, ErrorKind.SERVER_ERROR, "HTTP 503"),
        result("aai-eu", "transcription", opened + timedelta(minutes=1), Status.DOWN,
               ErrorKind.JOB_TIMEOUT, "job still queued after 55s"),
        result("aai-eu", "transcription", opened + timedelta(minutes=7)),
        result("aai-eu", "transcription", opened + timedelta(minutes=8)),
    ]  # fmt: skip
    old = NOW - timedelta(days=20)
    rows += [result("aai-us", "streaming", old + timedelta(minutes=m), Status.DOWN) for m in (0, 1)]
    rows += [result("aai-us", "streaming", old + timedelta(minutes=m)) for m in (2, 3)]
    rows += healthy(cfg, NOW - timedelta(minutes=1))
    await store.add_results(sorted(rows, key=lambda r: r.started_at))
    site = await render(store, cfg)

    page = parse_page(site)
    history = page.text("history-h")
    assert history == "Past incidents (14 days)"
    html = (site / "index.html").read_text()
    past = html.split('id="history-h"', 1)[1]
    assert "AssemblyAI EU Transcription failing</a> — resolved" in past  # linked to its page
    assert "2026-11-17 11:37 UTC" in past  # started
    assert "2026-11-17 11:44 UTC" in past  # ended: the first good run
    assert "7 min" in past
    assert "<li>server_error</li>" in past and "<li>job_timeout</li>" in past
    assert "AssemblyAI US Streaming" not in past  # 20 days ago: off the history
    assert "Ongoing incidents" not in html
    assert page.text("overall") == "All Systems Operational"

    incidents = load(site, "api/v2/incidents.json")["incidents"]
    assert len(incidents) == 2  # the feed and API keep older ones
    feed = ET.parse(site / "feed.atom").getroot()
    assert len(feed.findall("{http://www.w3.org/2005/Atom}entry")) == 2


async def test_transcription_and_streaming_figures(tmp_path: Path, store: Store) -> None:
    cfg = make_config(tmp_path)
    rows = [
        result("aai-us", "transcription", NOW - timedelta(minutes=m), latency=4.0) for m in (1, 2)
    ]
    rows += [result("aai-us", "streaming", NOW - timedelta(minutes=m), latency=0.8) for m in (1, 2)]
    await store.add_results(rows)
    site = await render(store, cfg)
    figures = {
        c["probe"]: c["facts"] for c in load(site, "api/sttwatch.json")["targets"][0]["components"]
    }
    assert figures["transcription"] == {
        "queue": "1.00 s",
        "processing": "3.00 s",
        "wer": "4.0%",
    }
    assert figures["streaming"] == {"first_transcript": "800 ms", "wer": "4.0%"}
    page = parse_page(site)
    assert "Queue, 24 h mean 1.00 s" in page.text("component-aai-us-transcription")
    assert "Current latency 4.00 s" in page.text("component-aai-us-transcription")


async def test_test_data_deletion_status(tmp_path: Path, store: Store) -> None:
    cfg = make_config(tmp_path)
    await store.add_results(healthy(cfg, NOW - timedelta(minutes=1)))
    site = await render(store, cfg)
    assert "Test data deleted: yes" in parse_page(site).text("target-aai-us-h")

    await store.record("aai-us", "tr-1")
    await store.record("aai-us", "tr-2")
    site = await render(store, cfg)
    page = parse_page(site)
    assert "Test data deleted: 2 pending" in page.text("target-aai-us-h")
    assert "Test data deleted: yes" in page.text("target-aai-eu-h")
    data = load(site, "api/sttwatch.json")["targets"][0]["test_data_deleted"]
    assert data == {"pending": 2, "overdue": 0}

    await store.mark_deleted("aai-us", "tr-1")
    await store.mark_deleted("aai-us", "tr-2")
    site = await render(store, cfg)
    assert "Test data deleted: yes" in parse_page(site).text("target-aai-us-h")


# ---------------------------------------------------------------------------
# The chart


async def test_latency_chart_plots_24_hourly_points_with_threshold(
    tmp_path: Path, store: Store
) -> None:
    cfg = make_config(
        tmp_path, targets=[{"name": "aai-us", "api_key": "k", "probes": {"streaming": {}}}]
    )
    rows = [
        result("aai-us", "streaming", NOW - timedelta(minutes=m), latency=0.5 + (m % 60) / 60)
        for m in range(1, 30 * 60, 5)
    ]
    await store.add_results(sorted(rows, key=lambda r: r.started_at))
    site = await render(store, cfg)
    html = (site / "index.html").read_text()
    chart = html.split('class="latency-chart"', 1)[1].split("</svg>", 1)[0]
    median = re.search(r'<path class="median" d="([^"]+)"', chart)
    assert median is not None
    # 24 h window: the current partial hour plus 24 earlier hours touch it.
    assert 24 <= len(re.findall(r"[ML]", median.group(1))) <= 25
    assert '<path class="p95"' in chart
    assert 'class="threshold"' in chart and "degraded above 2 s" in chart
    assert "Last 24 hours: median latency" in chart


def test_chart_threshold_off_the_scale_is_said_not_drawn() -> None:
    hours = [(NOW - timedelta(hours=h), 0.1, 0.15) for h in range(24, 0, -1)]
    chart = build_chart(hours, threshold_s=30.0, now=NOW)
    assert chart.threshold_y is None
    assert chart.threshold_label == "degraded above 30 s (off the scale)"
    assert chart.y_ticks[-1].label in ("200 ms", "250 ms")
    empty = build_chart([], threshold_s=2.0, now=NOW)
    assert empty.points == 0 and empty.median_path == "" and empty.threshold_y is not None


# ---------------------------------------------------------------------------
# Writing the site


def leftovers(directory: Path) -> list[str]:
    """Return the temporary directories a render left beside the site."""
    return [p.name for p in directory.iterdir() if p.name.startswith(".site.")]


async def test_render_swaps_the_site_atomically(tmp_path: Path, store: Store) -> None:
    cfg = make_config(tmp_path)
    await store.add_results(healthy(cfg, NOW - timedelta(minutes=1)))
    site = await render(store, cfg)
    stop = threading.Event()
    reads: list[str] = []
    errors: list[BaseException] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                reads.append((site / "index.html").read_text(encoding="utf-8"))
            except BaseException as exc:
                errors.append(exc)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(15):
            await render(store, cfg, NOW + timedelta(minutes=i))
    finally:
        stop.set()
        thread.join()
    assert errors == []
    assert len(reads) > 15
    assert all(r.rstrip().endswith("</html>") for r in reads)
    assert leftovers(tmp_path) == []
    expected = {
        "index.html",
        "feed.atom",
        "api/v2/summary.json",
        "api/v2/status.json",
        "api/v2/components.json",
        "api/v2/incidents.json",
        "api/sttwatch.json",
        "static/style.css",
        "badges/aai-us-reachability.svg",
        "badges/aai-eu-streaming.json",
    }
    files = {p.relative_to(site).as_posix() for p in site.rglob("*") if p.is_file()}
    assert expected <= files
    assert (site.stat().st_mode & 0o777) == 0o755


async def test_page_uses_only_relative_links(tmp_path: Path, store: Store) -> None:
    cfg = make_config(tmp_path, public_url="https://status.example.com/")
    await store.add_results(healthy(cfg, NOW - timedelta(minutes=1)))
    site = await render(store, cfg)
    html = (site / "index.html").read_text()
    refs = re.findall(r'(?:href|src)="([^"]+)"', html)
    assert refs and all("://" not in r and not r.startswith("/") for r in refs), refs
    assert load(site, "api/v2/summary.json")["page"]["url"] == "https://status.example.com/"


# ---------------------------------------------------------------------------
# sttwatch render


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "monitor", *args], capture_output=True, text=True, timeout=60
    )


def _write_config(tmp_path: Path, db: Path, site: Path) -> Path:
    target = {"name": "aai-us", "api_key": "sk-render-test"}
    return write_config(tmp_path, {"database": str(db), "site_dir": str(site), "targets": [target]})


async def test_cli_render_rebuilds_the_site_from_a_database_copy(
    tmp_path: Path, store: Store
) -> None:
    cfg = make_config(tmp_path)
    now = datetime.now(UTC)
    await store.add_results(
        [result("aai-us", p, now - timedelta(minutes=m)) for m in (2, 1) for p in PROBES]
    )
    await store.add_results(
        [result("aai-us", "streaming", now - timedelta(seconds=s), Status.DOWN) for s in (50, 40)]
    )
    await store.close()
    copy_dir = tmp_path / "copy"
    copy_dir.mkdir()
    shutil.copy(cfg.database, copy_dir / "copy.db")
    config = _write_config(tmp_path, copy_dir / "copy.db", tmp_path / "public")

    proc = await asyncio.to_thread(run_cli, "render", "-c", str(config))
    assert proc.returncode == 0, proc.stderr
    assert "Partial System Outage" in proc.stdout
    page = parse_page(tmp_path / "public")
    assert page.text("overall") == "Partial System Outage"
    assert page.states["aai-us-streaming"] == "major_outage"
    assert "sk-render-test" not in (tmp_path / "public" / "index.html").read_text()


def test_cli_render_without_database_exits_2(tmp_path: Path) -> None:
    config = _write_config(tmp_path, tmp_path / "missing.db", tmp_path / "public")
    proc = run_cli("render", "-c", str(config))
    assert proc.returncode == 2
    assert f"no database at {tmp_path / 'missing.db'}" in proc.stderr
    assert not (tmp_path / "public").exists()
    assert not (tmp_path / "missing.db").exists()


# ---------------------------------------------------------------------------
# Writing the site: streamed, linked, and still the same bytes


def files_on_disk(site: Path) -> dict[str, bytes]:
    return {p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*") if p.is_file()}


async def test_written_files_are_the_rendered_bytes(tmp_path: Path, store: Store) -> None:
    # Non-ASCII in a label and remote text in a message: the streamed encoding must match.
    cfg = make_config(
        tmp_path,
        targets=[
            {"name": "aai-us", "display_name": "AssemblyAI — Zürich ✓", "api_key": "sk-test-1"},
            {"name": "aai-eu", "display_name": "AssemblyAI EU", "api_key": "sk-test-2"},
        ],
    )
    rows = _scenario(cfg, "incident-open")
    rows.append(
        result(
            "aai-us",
            "reachability",
            NOW - timedelta(minutes=1),
            Status.DOWN,
            ErrorKind.BAD_RESPONSE,
            f"HTTP 500: {XSS} — «é»",
        )
    )
    await store.add_results(rows)
    site = Path(cfg.site_dir)
    for minute in range(2):  # the second render links what did not change
        view = await render_site(store, cfg, now=NOW + timedelta(minutes=minute))
        files = site_files(view)
        assert files["index.html"] == render_index(view).encode()
        assert files["api/sttwatch.json"] == _dump(sttwatch_document(view))
        assert files_on_disk(site) == files
        assert "Zürich ✓" in files["index.html"].decode()


async def test_rerender_links_unchanged_files_and_writes_changed_ones(
    tmp_path: Path, store: Store
) -> None:
    cfg = make_config(tmp_path)
    await store.add_results(healthy(cfg, NOW - timedelta(minutes=2)))
    site = await render(store, cfg, NOW - timedelta(minutes=1))
    same, changed = "badges/aai-us-reachability.svg", "badges/aai-eu-streaming.svg"
    inode = {rel: (site / rel).stat().st_ino for rel in (same, changed, "static/style.css")}
    await store.add_results(
        [result("aai-eu", "streaming", NOW - timedelta(minutes=1), Status.DEGRADED, latency=3.0)]
    )
    await render(store, cfg)
    # Unchanged files are the previous site's, linked; a changed badge is a new file.
    assert (site / same).stat().st_ino == inode[same]
    assert (site / "static/style.css").stat().st_ino == inode["static/style.css"]
    assert (site / changed).stat().st_ino != inode[changed]
    assert "degraded" in (site / changed).read_text()
    assert load(site, "badges/aai-eu-streaming.json")["message"] == "degraded"
    assert all((p.stat().st_mode & 0o777) == 0o644 for p in site.rglob("*") if p.is_file())
    assert leftovers(tmp_path) == []


def test_bar_cells_are_the_markup_of_the_template_loop() -> None:
    # The loop the macro had; bar_cells must give the same bytes, title escaped.
    loop = (
        "<svg>\n    {% for d in days %}\n"
        '    <rect class="day day--{{ d.state }}" x="{{ loop.index0 * 5 }}" y="0" width="4" '
        'height="34" rx="1" data-date="{{ d.day.isoformat() }}" data-state="{{ d.state }}">'
        "<title>{{ d.title }}</title></rect>\n    {% endfor %}\n  </svg>"
    )
    day = NOW.date()
    days = [
        DayCell(day - timedelta(days=2), "nodata", None, 0, 0, "Wed 18 Nov 2026: no data"),
        DayCell(day - timedelta(days=1), "partial", 0.5, 4, 0, "odd <b>\"&'</b> title"),
        DayCell(day, "down", 0.8, 10, 1, "Fri 20 Nov 2026: 80.00% uptime; 1 incident"),
    ]
    env = _environment()
    expected = env.from_string(loop).render(days=days)
    assert env.from_string("<svg>\n{{ days|bar_cells }}\n  </svg>").render(days=days) == expected
    assert "&lt;b&gt;&#34;&amp;&#39;&lt;/b&gt;" in expected


@pytest.mark.parametrize(
    ("label", "state", "svg"),
    [
        (
            "AssemblyAI US REST API",
            "operational",
            '<svg xmlns="http://www.w3.org/2000/svg" width="234" height="20" role="img" '
            'aria-label="AssemblyAI US REST API: operational">'
            "<title>AssemblyAI US REST API: operational</title>"
            '<rect width="153" height="20" fill="#555"/>'
            '<rect x="153" width="81" height="20" fill="#1a7f37"/>'
            '<g fill="#fff" text-anchor="middle" '
            'font-family="Verdana,DejaVu Sans,Geneva,sans-serif" font-size="11">'
            '<text x="76.5" y="14">AssemblyAI US REST API</text>'
            '<text x="193.5" y="14">operational</text></g></svg>',
        ),
        (
            'Bob\'s "API" & <co>',
            "major_outage",
            '<svg xmlns="http://www.w3.org/2000/svg" width="215" height="20" role="img" '
            'aria-label="Bob\'s &quot;API&quot; &amp; &lt;co&gt;: major outage">'
            '<title>Bob\'s "API" &amp; &lt;co&gt;: major outage</title>'
            '<rect width="127" height="20" fill="#555"/>'
            '<rect x="127" width="88" height="20" fill="#cf222e"/>'
            '<g fill="#fff" text-anchor="middle" '
            'font-family="Verdana,DejaVu Sans,Geneva,sans-serif" font-size="11">'
            '<text x="63.5" y="14">Bob\'s "API" &amp; &lt;co&gt;</text>'
            '<text x="171.0" y="14">major outage</text></g></svg>',
        ),
    ],
    ids=["plain", "quotes-and-markup"],
)
def test_badge_svg_bytes_are_those_the_badges_always_had(label: str, state: str, svg: str) -> None:
    # The markup lives in templates/badge.svg now; the bytes are the earlier f-string's.
    assert badge_svg(label, state) == svg


def test_cli_render_to_an_unwritable_site_blames_the_site(tmp_path: Path) -> None:
    db = tmp_path / "data" / "sttwatch.db"
    config = _write_config(tmp_path, db, tmp_path / "blocker" / "public")
    asyncio.run(_open_store(db))
    (tmp_path / "blocker").write_text("a file where the site's parent should be")
    proc = run_cli("render", "-c", str(config))
    assert proc.returncode == 2
    assert f"sttwatch render: cannot write the site to {tmp_path / 'blocker' / 'public'}: " in (
        proc.stderr
    )
    assert "cannot render from" not in proc.stderr


async def _open_store(db: Path) -> None:
    db.parent.mkdir(parents=True, exist_ok=True)
    store = await Store.open(str(db))
    await store.close()
