"""A Deepgram target in the configuration and on the page: its specs, key, regions and note."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import ConfigError, parse_config
from monitor.models import ProbeResult, Status
from monitor.providers.deepgram.specs import StreamingSpec, TranscriptionSpec
from monitor.site import render_site
from monitor.store import Store

NOW = datetime(2026, 11, 20, 13, 37, 21, tzinfo=UTC)


def config(tmp_path: Path, target: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    """Return the parsed config of one target (plus an AssemblyAI one beside it)."""
    return parse_config(
        {
            "database": str(tmp_path / "sttwatch.db"),
            "site_dir": str(tmp_path / "site"),
            "targets": [{"name": "aai", "api_key": "k1"}, {"name": "dg", **target}],
        },
        env=env if env is not None else {"DEEPGRAM_API_KEY": "dg-key"},
    )


def test_a_deepgram_target_gets_deepgrams_specs_key_and_endpoints(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        {
            "provider": "deepgram",
            "probes": {"transcription": {"model": "nova-2", "mip_opt_out": False}, "streaming": {}},
        },
    )
    dg = cfg.targets[1]
    assert dg.api_base == "https://api.deepgram.com"
    assert dg.streaming_base == "wss://api.deepgram.com"
    assert dg.api_key.get_secret_value() == "dg-key"  # from DEEPGRAM_API_KEY
    assert isinstance(dg.probes["transcription"], TranscriptionSpec)
    assert dg.probes["transcription"].model == "nova-2"
    assert isinstance(dg.probes["streaming"], StreamingSpec)


@pytest.mark.parametrize(
    ("region", "api_base"),
    [("eu", "https://api.eu.deepgram.com"), ("au", "https://api.au.deepgram.com")],
    ids=["eu", "au"],
)
def test_regions(tmp_path: Path, region: str, api_base: str) -> None:
    cfg = config(tmp_path, {"provider": "deepgram", "region": region})
    assert cfg.targets[1].api_base == api_base
    assert set(cfg.targets[1].probes) == {"reachability", "transcription", "streaming"}


@pytest.mark.parametrize(
    ("probes", "message"),
    [
        ({"transcription": {"speech_models": ["universal-2"]}}, "speech_models"),
        ({"streaming": {"frame_ms": 5}}, "frame_ms"),
        ({"reachability": {"path": "v1/projects"}}, "path"),
        ({"webhook_probe": {}}, "webhook_probe"),
    ],
    ids=["assemblyai-key", "frame-too-short", "relative-path", "unknown-kind"],
)
def test_bad_deepgram_probe_settings_name_their_path(
    tmp_path: Path, probes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        config(tmp_path, {"provider": "deepgram", "probes": probes})
    assert "targets[1].probes" in str(refused.value)
    assert message in str(refused.value)


def test_a_missing_key_names_its_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        config(tmp_path, {"provider": "deepgram"}, env={})
    assert "DEEPGRAM_API_KEY" in str(refused.value)


async def test_the_page_says_deepgram_keeps_nothing_to_delete(tmp_path: Path, store: Store) -> None:
    cfg = config(tmp_path, {"provider": "deepgram"})
    at = NOW - timedelta(minutes=5)
    await store.add_results(
        [
            ProbeResult(
                "dg",
                "transcription",
                at,
                0.7,
                Status.UP,
                None,
                "",
                {"transcribe": 0.6, "verify": 0.001},
                {"wer": 0.0, "mip_opt_out": "confirmed"},
            )
        ]
    )
    await render_site(store, cfg, now=NOW)
    page = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")
    m = re.search(
        r'<article class="component" id="component-dg-transcription".*?</article>', page, re.S
    )
    assert m is not None
    assert "Deepgram keeps no transcript, so there is nothing to delete" in m.group(0)
    assert 'data-fact="turnaround">' in m.group(0)
