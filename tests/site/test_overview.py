"""The overview matrix, the badges page and where the checks run from, as rendered files.

Every test fills a real SQLite store with scripted results from three locations
(tests/support/fleet.py), renders the site and reads index.html, badges.html and
api/sttwatch.json as a browser or a script would.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from monitor.config import Config, parse_config
from monitor.models import ProbeResult, iso
from monitor.site import build_view, render_site, site_files
from monitor.site.format import pct
from monitor.store import Store
from tests.support.fleet import LOCATIONS, fleet_config, fleet_results, fleet_store, result

NOW = datetime.now(UTC).replace(microsecond=0)
XSS = "<script>alert(1)</script>[x](y)"
SCRIPT = {
    "ass-1-streaming": "DDU",  # down from two of three: an outage by the quorum of 2
    "dee-2-transcription": "DUU",  # down from eu-west alone: "Down from eu-west"
    "ope-3-reachability": "GGG",  # slow everywhere
}


@dataclass
class Cell:
    """One cell of the matrix as parsed: its state, text, link and locations."""

    state: str
    text: str = ""
    href: str | None = None
    places: dict[str, str] = field(default_factory=dict)


class Page(HTMLParser):
    """The matrix's rows and cells, every id on the page and every in-page link."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.rows: list[tuple[str, str, list[str]]] = []  # (provider, target, cells)
        self.cells: dict[str, Cell] = {}
        self.provider_rows: list[str] = []
        self._provider = ""
        self._cell: Cell | None = None
        self._depth = 0
        self._heading = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and a.get("href", "").startswith("#"):
            self.links.append(a["href"])
        if tag == "tbody" and "data-provider" in a:
            self._provider = a["data-provider"]
        if tag == "tr" and "ov__row" in a.get("class", ""):
            self.rows.append((self._provider, a["data-target"], []))
        self._heading = tag == "th" and a.get("scope") == "rowgroup"
        if tag == "td" and "data-cell" in a:
            self._cell = self.cells[a["data-cell"]] = Cell(a["data-state"])
            self.rows[-1][2].append(a["data-cell"])
            self._depth = 0
        if self._cell is not None:
            self._depth += 1
            if tag == "a" and "ov__state" in a.get("class", ""):
                self._cell.href = a["href"]
            if tag == "li" and "data-location" in a:
                self._cell.places[a["data-location"]] = a["data-status"]

    def handle_endtag(self, tag: str) -> None:
        if self._cell is not None:
            self._depth -= 1
            if tag == "td":
                self._cell.text = " ".join(self._cell.text.split())
                self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.text += data + " "
        if self._heading and data.strip():
            self.provider_rows.append(data.strip())
            self._heading = False


def parse(site: Path) -> Page:
    page = Page()
    page.feed((site / "index.html").read_text(encoding="utf-8"))
    return page


def figures(site: Path) -> dict[str, Any]:
    doc = json.loads((site / "api" / "sttwatch.json").read_text(encoding="utf-8"))
    return {c["id"]: c for t in doc["targets"] for c in t["components"]}


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with fleet_store(tmp_path) as s:
        yield s


async def rendered(store: Store, cfg: Config, rows: list[ProbeResult]) -> Path:
    await store.add_results(rows)
    await render_site(store, cfg, now=NOW)
    return Path(cfg.site_dir)


async def test_matrix_shows_each_component_status_latency_uptime_and_links(
    tmp_path: Path, store: Store
) -> None:
    cfg = fleet_config(tmp_path, targets=3)
    rows = list(fleet_results(cfg, NOW, script=SCRIPT, latency={"ass-1-transcription": 3.2}))
    site = await rendered(store, cfg, rows)
    page, json_figures = parse(site), figures(site)

    # Rows by provider (a heading each: there are several), cells in the registry's kind order.
    assert [(p, t) for p, t, _ in page.rows] == [
        ("assemblyai", "ass-1"),
        ("deepgram", "dee-2"),
        ("openai", "ope-3"),
    ]
    assert page.provider_rows == ["AssemblyAI", "Deepgram", "OpenAI-compatible"]
    every = [f"{t.name}-{p}" for t in cfg.targets for p in t.probes.enabled()]
    assert [c for _, _, cells in page.rows for c in cells] == every
    assert set(page.cells) == set(json_figures)

    states = {cid: cell.state for cid, cell in page.cells.items()}
    assert states["ass-1-streaming"] == "major_outage"
    assert states["dee-2-transcription"] == "location_outage"
    assert states["ope-3-reachability"] == "degraded_performance"
    assert {s for cid, s in states.items() if cid not in SCRIPT} == {"operational"}
    assert "Down from eu-west" in page.cells["dee-2-transcription"].text
    assert "Major outage" in page.cells["ass-1-streaming"].text
    assert "Degraded performance" in page.cells["ope-3-reachability"].text

    # The last check's key latency ("—" when it failed) and the 90-day uptime, as the card's.
    assert "last 3.20 s" in page.cells["ass-1-transcription"].text
    assert "last 300 ms" in page.cells["ass-1-reachability"].text
    assert "last —" in page.cells["ass-1-streaming"].text
    for cid, cell in page.cells.items():
        uptime = json_figures[cid]["uptime"]["90d"]
        assert f"{pct(uptime)} 90 d" in cell.text, cid
    assert json_figures["ass-1-streaming"]["uptime"]["90d"] < 1.0

    # Each location's last status; one line when they all agree.
    assert page.cells["ass-1-streaming"].places == {
        "eu-west": "down",
        "us-east": "down",
        "ap-south": "up",
    }
    assert page.cells["ass-1-reachability"].places == dict.fromkeys(LOCATIONS, "up")
    assert "up from all 3 locations" in page.cells["ass-1-reachability"].text
    assert "from all" not in page.cells["ass-1-streaming"].text

    # Every cell links to its card, every row to its group, every card back up.
    for cid, cell in page.cells.items():
        assert cell.href == f"#component-{cid}"
    assert "overview" in page.ids
    for link in page.links:
        assert link[1:] in page.ids, link
    assert page.links.count("#overview") == len(every)
    assert {f"#target-{t.name}" for t in cfg.targets} <= set(page.links)

    # The matrix comes after the banner and before the first card.
    text = (site / "index.html").read_text()
    assert text.index('id="overall"') < text.index('id="overview"') < text.index('class="group"')


async def test_one_provider_has_no_provider_rows_and_a_missing_kind_says_so(
    tmp_path: Path, store: Store
) -> None:
    cfg = fleet_config(tmp_path, targets=2, providers=[("openai", "OpenAI")])
    site = await rendered(store, cfg, list(fleet_results(cfg, NOW, locations=LOCATIONS[:1])))
    page = parse(site)
    assert page.provider_rows == []
    assert [t for _, t, _ in page.rows] == ["ope-1", "ope-2"]
    # One location: no per-location lines, no "from all".
    assert all(cell.places == {} for cell in page.cells.values())
    assert "from all" not in (site / "index.html").read_text()


async def test_thirty_components_from_three_locations(tmp_path: Path, store: Store) -> None:
    two = [("assemblyai", "AssemblyAI"), ("deepgram", "Deepgram")]
    cfg = fleet_config(tmp_path, targets=10, providers=two)
    rows = list(fleet_results(cfg, NOW, days=1, script={"dee-10-streaming": "DDD"}))
    site = await rendered(store, cfg, rows)
    page = parse(site)
    assert len(page.rows) == 10
    assert len(page.cells) == 30
    assert sum(len(c.places) for c in page.cells.values()) == 90
    assert page.cells["dee-10-streaming"].state == "major_outage"
    assert all(link[1:] in page.ids for link in page.links)
    # Where the checks run from: each location, how many components, its newest check.
    doc = json.loads((site / "api" / "sttwatch.json").read_text())
    newest = {loc: max(r.started_at for r in rows if r.location == loc) for loc in LOCATIONS}
    assert doc["checked_from"] == [
        {"location": loc, "last_checked": iso(newest[loc]), "components": 30}
        for loc in sorted(LOCATIONS)
    ]
    where = re.search(r'<div class="where".*?</div>', (site / "index.html").read_text(), re.S)
    assert where is not None
    for loc in LOCATIONS:
        item = re.search(rf'<li data-location="{loc}">(.*?)</li>', where.group(0), re.S)
        assert item is not None, loc
        assert f'datetime="{iso(newest[loc])}"' in item.group(1)
        assert newest[loc].strftime('title="%Y-%m-%d %H:%M UTC"') in item.group(1)
        assert "30 components, last check" in item.group(1)
        assert re.search(r">\d+ s ago</time>", item.group(1))


async def test_one_agent_without_a_location_says_so(tmp_path: Path, store: Store) -> None:
    cfg = fleet_config(tmp_path, targets=1, providers=[("assemblyai", "AssemblyAI")])
    rows = [result(cfg, "ass-1", p, NOW - timedelta(seconds=5), location="local") for p in
            ("reachability", "transcription", "streaming")]  # fmt: skip
    site = await rendered(store, cfg, rows)
    page = (site / "index.html").read_text()
    assert "one agent (no location set)</span>: 3 components, last check" in page
    assert ">5 s ago</time>" in page
    doc = json.loads((site / "api" / "sttwatch.json").read_text())
    assert [p["location"] for p in doc["checked_from"]] == ["local"]
    assert doc["locations"] == []


class Snippets(HTMLParser):
    """Each badge entry of badges.html: its preview image and its snippets' text."""

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[str, dict[str, str]] = {}
        self.links: list[str] = []
        self._entry: str | None = None
        self._format: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a":
            self.links.append(a["href"])
        if "data-badge" in a:
            self._entry = a["data-badge"]
            self.entries[self._entry] = {}
        if tag == "img" and self._entry:
            self.entries[self._entry]["img"] = a["src"]
        if tag == "pre" and self._entry:
            self._format = a["data-format"]
            self.entries[self._entry][self._format] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "pre":
            self._format = None

    def handle_data(self, data: str) -> None:
        if self._entry and self._format:
            self.entries[self._entry][self._format] += data


class Tags(HTMLParser):
    """The tags of an HTML snippet, with their attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


@pytest.mark.parametrize(
    ("public_url", "base"),
    [
        (None, ""),
        ("https://status.example.com/speech", "https://status.example.com/speech/"),
        ("https://status.example.com/", "https://status.example.com/"),
    ],
    ids=["relative", "absolute-no-slash", "absolute"],
)
async def test_badges_page_lists_every_badge_with_snippets_matching_the_files(
    tmp_path: Path, store: Store, public_url: str | None, base: str
) -> None:
    extra = {"public_url": public_url} if public_url else {}
    cfg = fleet_config(tmp_path, targets=3, **extra)
    await store.add_results(fleet_results(cfg, NOW, script=SCRIPT))
    view = await build_view(store, cfg, NOW)
    files = site_files(view)
    index = files["index.html"].decode()
    assert '<a href="badges.html">' in index
    page = files["badges.html"].decode()
    assert "<script" not in page
    assert ('data-absolute="yes"' in page) == bool(public_url)
    assert ("relative to this page" in page) == (not public_url)
    parsed = Snippets()
    parsed.feed(page)
    assert "index.html" in parsed.links  # back to the status page

    ids = [c.id for c in view.components]
    assert list(parsed.entries) == ids
    badges = {p for p in files if p.startswith("badges/")}
    assert badges == {f"badges/{i}.{ext}" for i in ids for ext in ("svg", "json")}
    index_ids = set(re.findall(r'id="([^"]+)"', index))
    for cid, entry in parsed.entries.items():
        svg, doc, card = f"badges/{cid}.svg", f"badges/{cid}.json", f"index.html#component-{cid}"
        assert entry["img"] == svg and svg in files
        label = json.loads(files[doc])["label"]
        assert f"[![{label}]({base}{svg})]({base}{card})" == entry["markdown"]
        tags = Tags()
        tags.feed(entry["html"])
        link, img = ("a", {"href": base + card}), ("img", {"src": base + svg, "alt": label})
        assert tags.tags == [link, img]
        assert f"component-{cid}" in index_ids
        if public_url:
            endpoint = "https://img.shields.io/endpoint?url=" + quote(base + doc, safe="")
            assert entry["shields"] == f"[![{label}]({endpoint})]({base}{card})"
        else:
            assert "shields" not in entry  # shields.io cannot fetch a relative URL


async def test_remote_and_config_text_is_escaped_in_matrix_where_and_badges(
    tmp_path: Path, store: Store
) -> None:
    cfg = parse_config(
        {
            "database": str(tmp_path / "sttwatch.db"),
            "site_dir": str(tmp_path / "site"),
            "public_url": "https://status.example.com/",
            "targets": [{"name": "ass-1", "display_name": XSS, "api_key": "k"}],
        },
        env={},
    )
    # A location another agent wrote into the shared store: text from elsewhere.
    rows = [
        result(cfg, "ass-1", p, NOW - timedelta(seconds=n), location=loc)
        for n, loc in enumerate(["eu-west", XSS])
        for p in ("reachability", "transcription", "streaming")
    ]
    await store.add_results(rows)
    view = await build_view(store, cfg, NOW)
    files = site_files(view)
    index, badges = files["index.html"].decode(), files["badges.html"].decode()
    for text in (index, badges):
        assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    assert index.count(f'data-location="{html.escape(XSS)}"') >= 4  # three cells and "where"
    parsed = Snippets()
    parsed.feed(badges)
    entry = parsed.entries["ass-1-reachability"]
    # Markdown: brackets escaped; HTML: escaped once inside the snippet, and again on the page.
    assert entry["markdown"].startswith(r"[![<script>alert(1)</script>\[x\](y) REST API](")
    assert 'alt="&lt;script&gt;alert(1)&lt;/script&gt;[x](y) REST API"' in entry["html"]
    assert "&amp;lt;script&amp;gt;" in badges
