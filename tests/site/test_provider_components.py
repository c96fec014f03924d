"""The page of targets of two providers: each component shows its provider's facts and note."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.config import parse_config
from monitor.models import ProbeResult, Status
from monitor.site import render_site
from monitor.store import Store
from tests.support.providers import extra_provider

NOW = datetime(2026, 11, 20, 13, 37, 21, tzinfo=UTC)


@pytest.fixture
def second(tmp_path: Path) -> Iterator[None]:
    with extra_provider(tmp_path):
        yield


def _component(page: str, cid: str) -> str:
    """Return the markup of the component `cid` (its <article>)."""
    m = re.search(rf'<article class="component" id="component-{cid}".*?</article>', page, re.S)
    assert m, cid
    return m.group(0)


@pytest.mark.usefixtures("second")
async def test_each_component_shows_its_providers_facts_and_note(
    tmp_path: Path, store: Store
) -> None:
    cfg = parse_config(
        {
            "database": str(tmp_path / "sttwatch.db"),
            "site_dir": str(tmp_path / "site"),
            "targets": [
                {"name": "aai", "api_key": "k1"},
                {"name": "two", "provider": "second", "api_key": "k2"},
            ],
        },
        env={},
    )
    at = NOW - timedelta(minutes=5)
    await store.add_results(
        [
            ProbeResult(
                "two", "transcription", at, 2.5, Status.UP, None, "", {"transcribe": 2.0}, {}
            ),
            ProbeResult(
                "aai", "transcription", at, 4.0, Status.UP, None, "", {"queued": 1.0}, {"wer": 0.0}
            ),
        ]
    )
    await render_site(store, cfg, now=NOW)
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    two, aai = _component(page, "two-transcription"), _component(page, "aai-transcription")
    assert 'data-fact="transcribe">2.0' in two
    assert 'data-fact="queue"' not in two
    assert 'data-fact="queue">1.0' in aai
    assert '<p class="note">Second keeps no transcript, so there is nothing to delete</p>' in two
    assert 'class="note"' not in aai
    # Only the AssemblyAI target uploads test data, so only it shows the deletion line.
    assert page.count('class="deletion"') == 1
