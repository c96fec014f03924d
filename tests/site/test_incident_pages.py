"""Incident pages, the Statuspage incident_updates and the Atom feed, with an operator's words.

A store with a resolved probe incident the operator explained (an update, a
postmortem), an operator incident still open, and one from 20 days ago (in the
feed and the JSON, off the page's 14 days): rendered, then read back as files —
the HTML parsed, every link followed on disk, the JSON against Statuspage's
schema, the feed with ElementTree.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest

from monitor.config import Config, parse_config
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.site import render_site
from monitor.store import Store
from tests.support.clocks import ManualClock

SCHEMA = json.loads(
    (Path(__file__).parents[1] / "schemas" / "statuspage-summary.schema.json").read_text()
)
NOW = datetime(2026, 11, 20, 13, 37, 21, tzinfo=UTC)
XSS = "<script>alert(1)</script>"
ATOM = {"a": "http://www.w3.org/2005/Atom"}


def _config(tmp_path: Path) -> Config:
    return parse_config(
        {
            "title": "Acme speech status",
            "public_url": "https://status.example.com/",
            "database": str(tmp_path / "sttwatch.db"),
            "site_dir": str(tmp_path / "site"),
            "targets": [
                {"name": "aai-us", "display_name": "AssemblyAI US", "api_key": "sk-test-1"},
                {"name": "aai-eu", "display_name": "AssemblyAI EU", "api_key": "sk-test-2"},
            ],
        },
        env={},
    )


def _result(target: str, probe: str, at: datetime, status: Status = Status.UP) -> ProbeResult:
    phases = {"reachability": {"total": 0.2}, "transcription": {"processing": 0.2}}.get(
        probe, {"first_transcript": 0.2}
    )
    if status is Status.DOWN:
        return ProbeResult(target, probe, at, 0.2, status, ErrorKind.SERVER_ERROR, "HTTP 503")
    return ProbeResult(target, probe, at, 0.2, status, None, "", phases, {})


class Story:
    """The incidents of the store, by what they are."""

    resolved: int  # the probes' incident two days ago, explained by the operator
    said: int  # the operator's own incident, open
    old: int  # 20 days ago


@pytest.fixture
async def story(tmp_path: Path) -> AsyncIterator[tuple[Store, Config, Story]]:
    clock = ManualClock()
    clock.current = NOW - timedelta(days=20)
    s = await Store.open(
        str(tmp_path / "sttwatch.db"), failure_threshold=2, success_threshold=2, clock=clock
    )
    story = Story()
    try:
        t = clock.current
        for m, status in enumerate((Status.DOWN, Status.DOWN, Status.UP, Status.UP)):
            await s.add_result(_result("aai-us", "streaming", t + timedelta(minutes=m), status))
        [old] = await s.incidents()
        story.old = old.id
        t = clock.current = NOW - timedelta(days=2)
        for m in (0, 1):
            await s.add_result(
                _result("aai-eu", "transcription", t + timedelta(minutes=m), Status.DOWN)
            )
        [resolved] = await s.incidents(open_only=True)
        story.resolved = resolved.id
        clock.current = t + timedelta(minutes=5)
        await s.post_incident_update(resolved.id, status="identified", message=f"Upstream {XSS}")
        for m in (10, 11):
            await s.add_result(_result("aai-eu", "transcription", t + timedelta(minutes=m)))
        clock.current = t + timedelta(hours=3)
        await s.set_postmortem(resolved.id, "The provider's queue stalled.\nWe now alert sooner.")
        clock.current = NOW - timedelta(hours=1)
        story.said = await s.open_operator_incident(
            "aai-us",
            ["transcription", "streaming"],
            title="Slow uploads in the US",
            message="Uploads take minutes; the probes' short clip does not show it.",
            impact="major",
        )
        clock.current = NOW - timedelta(minutes=30)
        await s.post_incident_update(story.said, status="monitoring", message="A fix is out")
        for t_ in (NOW - timedelta(minutes=1),):
            await s.add_results(
                _result(tg, p, t_)
                for tg in ("aai-us", "aai-eu")
                for p in ("reachability", "transcription", "streaming")
            )
        yield s, _config(tmp_path), story
    finally:
        await s.close()


class _Page(HTMLParser):
    """The links, element ids and data-update ids of one HTML file."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.updates: list[tuple[str, str, str]] = []  # (id, status, source) in document order
        self.scripts = 0
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("a", "link") and a.get("href"):
            self.links.append(str(a["href"]))
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "li" and a.get("data-update"):
            self.updates.append(
                (str(a["data-update"]), str(a["data-status"]), str(a["data-source"]))
            )
        if tag == "script":
            self.scripts += 1


def _resolves(page: Path, href: str) -> bool:
    """Return True when relative `href` (its fragment dropped) names a file from `page`'s folder."""
    assert "://" not in href and not href.startswith("/"), f"{page.name}: {href} is not relative"
    path = href.split("#", 1)[0]
    return (page.parent / path).resolve().is_file() if path else True


async def test_each_incident_shown_has_a_page_linked_both_ways(
    story: tuple[Store, Config, Story],
) -> None:
    store, cfg, s = story
    await render_site(store, cfg, now=NOW)
    site = Path(cfg.site_dir)
    index = _Page(site / "index.html")
    linked = sorted(h for h in index.links if h.startswith("incidents/"))
    # The open one and the one of two days ago are on the page; 20 days ago is the feed's.
    assert linked == sorted([f"incidents/{s.resolved}.html", f"incidents/{s.said}.html"])
    assert all(_resolves(site / "index.html", h) for h in index.links)
    for iid in (s.resolved, s.said, s.old):
        page = site / "incidents" / f"{iid}.html"
        parsed = _Page(page)
        assert "../index.html" in parsed.links
        assert parsed.scripts == 0
        for href in parsed.links:
            assert _resolves(page, href), f"{page.name}: {href}"

    html = (site / "incidents" / f"{s.resolved}.html").read_text(encoding="utf-8")
    page = _Page(site / "incidents" / f"{s.resolved}.html")
    assert '<h1 id="incident-h">AssemblyAI EU Transcription failing</h1>' in html
    assert 'data-fact="status">resolved<' in html and 'data-fact="impact">major<' in html
    # A probe incident lists each member with the state it ended in.
    assert (
        '<li data-component="aai-eu-transcription" data-member-state="recovered">'
        'AssemblyAI EU Transcription <span class="member-state">(recovered'
    ) in html
    assert "Started" in html and "2026-11-18 13:37 UTC" in html  # start, absolute
    assert 'data-fact="duration">10 min<' in html  # to the first good run
    # The timeline, newest first: recovery, the operator's words, the opening.
    assert [(st, src) for _, st, src in page.updates] == [
        ("resolved", "sttwatch"),
        ("identified", "operator"),
        ("investigating", "sttwatch"),
    ]
    assert "&lt;script&gt;" in html and XSS not in html
    assert ">2 days ago</time> · 2026-11-18 13:42 UTC" in html  # relative and absolute
    assert "postmortem" in page.ids
    assert "The provider&#39;s queue stalled.\nWe now alert sooner." in html

    said = (site / "incidents" / f"{s.said}.html").read_text(encoding="utf-8")
    assert '<h1 id="incident-h">Slow uploads in the US</h1>' in said
    assert 'data-fact="status">monitoring<' in said and "ongoing" in said
    assert "AssemblyAI US Transcription</li><li" in said and "AssemblyAI US Streaming</li>" in said
    assert ">30 min ago</time>" in said
    # The index shows its status and the operator's newest words; the probes' state stays.
    assert "Slow uploads in the US</a> — monitoring" in (site / "index.html").read_text()
    assert "A fix is out" in (site / "index.html").read_text()


async def test_statuspage_incidents_carry_every_update_and_the_postmortem(
    story: tuple[Store, Config, Story],
) -> None:
    store, cfg, s = story
    await render_site(store, cfg, now=NOW)
    site = Path(cfg.site_dir)
    doc = json.loads((site / "api/v2/incidents.json").read_text())
    by_id = {i["id"]: i for i in doc["incidents"]}
    assert set(by_id) == {str(s.resolved), str(s.said), str(s.old)}
    for i in doc["incidents"]:
        jsonschema.validate(i, {"$ref": "#/$defs/incident", "$defs": SCHEMA["$defs"]})
        assert i["shortlink"] == f"https://status.example.com/incidents/{i['id']}.html"
        ids = [u["id"] for u in i["incident_updates"]]
        assert len(set(ids)) == len(ids)
        assert all(u["incident_id"] == i["id"] for u in i["incident_updates"])
        times = [u["created_at"] for u in i["incident_updates"]]
        assert times == sorted(times, reverse=True)  # newest first, as Statuspage
        assert i["updated_at"] >= times[0]

    resolved = by_id[str(s.resolved)]
    assert [u["status"] for u in resolved["incident_updates"]] == [
        "resolved",
        "identified",
        "investigating",
    ]
    word = resolved["incident_updates"][1]
    assert word["body"] == f"Upstream {XSS}"  # JSON text, as written
    assert word["affected_components"] is None  # an operator's words change no component
    assert resolved["incident_updates"][0]["affected_components"] == [
        {
            "code": "aai-eu-transcription",
            "name": "AssemblyAI EU Transcription",
            "old_status": "major_outage",
            "new_status": "operational",
        }
    ]
    assert resolved["postmortem_body"].startswith("The provider's queue stalled.")
    assert resolved["postmortem_published_at"] == "2026-11-18T16:37:21.000Z"
    assert resolved["updated_at"] == resolved["postmortem_published_at"]

    said = by_id[str(s.said)]
    assert (said["name"], said["status"], said["impact"]) == (
        "Slow uploads in the US",
        "monitoring",
        "major",
    )
    assert said["monitoring_at"] == "2026-11-20T13:07:21.000Z"
    assert said["resolved_at"] is None and said["postmortem_body"] is None
    assert [c["id"] for c in said["components"]] == ["aai-us-transcription", "aai-us-streaming"]
    # Still what the probes see: the operator's incident leaves components operational.
    assert {c["status"] for c in said["components"]} == {"operational"}
    summary = json.loads((site / "api/v2/summary.json").read_text())
    assert [i["id"] for i in summary["incidents"]] == [str(s.said)]
    assert summary["status"]["indicator"] == "none"


async def test_the_feed_has_an_entry_per_incident_with_its_updates(
    story: tuple[Store, Config, Story],
) -> None:
    store, cfg, s = story
    await render_site(store, cfg, now=NOW)
    feed = ET.parse(Path(cfg.site_dir) / "feed.atom").getroot()
    entries = {
        e.findtext("a:id", namespaces=ATOM, default="").rsplit(":", 1)[-1]: e
        for e in feed.findall("a:entry", ATOM)
    }
    assert set(entries) == {str(s.resolved), str(s.said), str(s.old)}
    said = entries[str(s.said)]
    assert said.findtext("a:title", namespaces=ATOM) == "[Monitoring] Slow uploads in the US"
    assert said.findtext("a:updated", namespaces=ATOM) == "2026-11-20T13:07:21.000Z"
    link = said.find("a:link", ATOM)
    assert link is not None
    assert link.get("href") == f"https://status.example.com/incidents/{s.said}.html"
    resolved = entries[str(s.resolved)]
    assert resolved.findtext("a:updated", namespaces=ATOM) == "2026-11-18T16:37:21.000Z"
    content = resolved.findtext("a:content", namespaces=ATOM) or ""
    updates = content.split("Updates, newest first:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split(" ", 3)[3].split(":")[0] for line in updates] == [
        "Resolved",
        "Identified (operator)",
        "Investigating",
    ]
    assert f"Upstream {XSS}" in content
    assert "Postmortem (2026-11-18 16:37 UTC):\nThe provider's queue stalled." in content
    updated = feed.findtext("a:updated", namespaces=ATOM)
    assert updated == "2026-11-20T13:07:21.000Z"


async def test_a_resolved_incidents_page_is_linked_not_rewritten_by_the_next_render(
    story: tuple[Store, Config, Story],
) -> None:
    store, cfg, s = story
    await render_site(store, cfg, now=NOW)
    page = Path(cfg.site_dir) / "incidents" / f"{s.resolved}.html"
    before = os.stat(page)
    await render_site(store, cfg, now=NOW + timedelta(seconds=30))
    after = os.stat(page)
    assert (after.st_ino, after.st_nlink >= 1) == (before.st_ino, True)
    # An update is a change: the page is written again, with it.
    await store.set_postmortem(s.resolved, "Edited postmortem")
    await render_site(store, cfg, now=NOW + timedelta(seconds=60))
    assert os.stat(page).st_ino != before.st_ino
    assert "Edited postmortem" in page.read_text(encoding="utf-8")
