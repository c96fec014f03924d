"""A target's incident on the site: one entry listing its components, in the page, JSON, feed.

The root conftest's real SQLite store (tmp_path, thresholds 2/2) is filled
with scripted results and the site is rendered from it; the files are read as
a browser, an aggregator and a feed reader would.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.config import Config
from monitor.models import ErrorKind, ProbeResult, Status
from monitor.site import render_site
from monitor.store import Store
from tests.support.configs import config_doc, parsed
from tests.support.results import make

NOW = datetime(2026, 11, 20, 13, 37, 21, tzinfo=UTC)
PROBES = ("reachability", "transcription", "streaming")
ATOM = "{http://www.w3.org/2005/Atom}"


def make_config(tmp_path: Path) -> Config:
    targets = [
        {"name": name, "display_name": label, "api_key": f"sk-test-{n}"}
        for n, (name, label) in enumerate(
            [("aai-us", "AssemblyAI US"), ("aai-eu", "AssemblyAI EU")], start=1
        )
    ]
    return parsed(config_doc(tmp_path, targets, listen=None))


def result(target: str, probe: str, at: datetime, letter: str) -> ProbeResult:
    """Return a result of `letter`: U up, G slow (8 s: over every degraded_after), D down."""
    status = {"U": Status.UP, "G": Status.DEGRADED, "D": Status.DOWN}[letter]
    latency = 8.0 if letter == "G" else 0.2
    return make(target, probe, at, status, latency, ErrorKind.CONNECT, "connection refused")


async def render(store: Store, cfg: Config, script: dict[tuple[str, str], str]) -> Path:
    """Store `script` (letters a minute apart, ending a minute before NOW) and render the site."""
    rows = []
    for (target, probe), letters in script.items():
        start = NOW - timedelta(minutes=len(letters))
        rows += [
            result(target, probe, start + timedelta(minutes=i), letter)
            for i, letter in enumerate(letters)
        ]
    await store.add_results(sorted(rows, key=lambda r: r.started_at))
    await render_site(store, cfg, now=NOW)
    return Path(cfg.site_dir)


def load(site: Path, rel: str) -> Any:
    return json.loads((site / rel).read_text(encoding="utf-8"))


def incident_items(html: str) -> list[str]:
    """Return the markup of each incident entry of the page."""
    return re.findall(r'<li class="incident[^"]*" id="incident-.*?</li>\s*</ul>', html, re.S)


def components(site: Path) -> dict[str, str]:
    """Return each component's status in summary.json."""
    summary = load(site, "api/v2/summary.json")
    return {c["id"]: c["status"] for c in summary["components"] if not c["group"]}


async def test_all_probes_failing_show_one_incident_listing_each(
    tmp_path: Path, store: Store
) -> None:
    cfg = make_config(tmp_path)
    script = {("aai-us", p): "UUDDD" for p in PROBES}
    script |= {("aai-eu", p): "UUUUU" for p in PROBES}
    site = await render(store, cfg, script)

    html = (site / "index.html").read_text(encoding="utf-8")
    [item] = incident_items(html)
    assert "AssemblyAI US REST API, Transcription and Streaming failing" in item
    members = re.findall(r'data-member="([^"]+)" data-member-state="([^"]+)"', item)
    assert members == [(f"aai-us-{p}", "down") for p in PROBES]
    assert item.count("(down: connect)") == 3

    summary = load(site, "api/v2/summary.json")
    [inc] = summary["incidents"]
    assert inc["impact"] == "critical"  # REST API's outage is critical
    assert [(c["id"], c["status"]) for c in inc["components"]] == [
        (f"aai-us-{p}", "major_outage") for p in PROBES
    ]
    assert [c["position"] for c in inc["components"]] == [0, 1, 2]
    assert components(site) == {
        **{f"aai-us-{p}": "major_outage" for p in PROBES},
        **{f"aai-eu-{p}": "operational" for p in PROBES},
    }

    feed = ET.parse(site / "feed.atom").getroot()
    [entry] = feed.findall(f"{ATOM}entry")
    content = entry.findtext(f"{ATOM}content") or ""
    assert "Component: AssemblyAI US REST API, Transcription, Streaming" in content.splitlines()


async def test_a_slow_period_is_a_minor_incident_its_member_degraded(
    tmp_path: Path, store: Store
) -> None:
    cfg = make_config(tmp_path)
    script = {("aai-us", p): "UUUUU" for p in PROBES} | {("aai-eu", p): "UUUUU" for p in PROBES}
    script[("aai-eu", "streaming")] = "UUGGG"  # degraded_threshold: 3 slow runs
    site = await render(store, cfg, script)

    [inc] = load(site, "api/v2/summary.json")["incidents"]
    assert inc["impact"] == "minor"
    assert inc["name"] == "AssemblyAI EU Streaming slow"
    assert [(c["id"], c["status"]) for c in inc["components"]] == [
        ("aai-eu-streaming", "degraded_performance")
    ]
    assert components(site)["aai-eu-streaming"] == "degraded_performance"
    assert load(site, "api/v2/status.json")["status"]["indicator"] == "minor"
    [item] = incident_items((site / "index.html").read_text(encoding="utf-8"))
    assert "What was slow" in item and 'data-member-state="degraded"' in item


async def test_a_slow_member_that_goes_down_escalates_the_incident(
    tmp_path: Path, store: Store
) -> None:
    cfg = make_config(tmp_path)
    script = {("aai-eu", p): "UUUUUUU" for p in PROBES}
    script[("aai-eu", "streaming")] = "GGGGGDD"
    script[("aai-eu", "transcription")] = "UGGGGGG"
    site = await render(store, cfg, script)

    [inc] = load(site, "api/v2/summary.json")["incidents"]
    assert inc["impact"] == "major"
    statuses = {c["id"]: c["status"] for c in inc["components"]}
    assert statuses == {
        "aai-eu-streaming": "major_outage",
        "aai-eu-transcription": "degraded_performance",
    }
    bodies = [u["body"] for u in reversed(inc["incident_updates"])]
    assert bodies[0].startswith("Streaming on AssemblyAI EU is slow")
    assert "Transcription on AssemblyAI EU is slow too: slower than its degraded_after" in bodies
    assert "Impact raised from minor to major." in bodies
    assert components(site)["aai-eu-streaming"] == "major_outage"
    assert components(site)["aai-eu-transcription"] == "degraded_performance"


async def test_two_targets_failing_show_two_incidents(tmp_path: Path, store: Store) -> None:
    cfg = make_config(tmp_path)
    script = {("aai-us", p): "UUUUU" for p in PROBES} | {("aai-eu", p): "UUUUU" for p in PROBES}
    script[("aai-us", "transcription")] = "UUUDD"
    script[("aai-eu", "reachability")] = "UUUDD"
    site = await render(store, cfg, script)
    incidents = load(site, "api/v2/incidents.json")["incidents"]
    assert sorted(c["id"] for i in incidents for c in i["components"]) == [
        "aai-eu-reachability",
        "aai-us-transcription",
    ]
    assert len(incident_items((site / "index.html").read_text(encoding="utf-8"))) == 2
