"""A target's `region` picks its provider's default endpoints; an unknown one is named."""

from __future__ import annotations

import pytest

from monitor.config import ConfigError, parse_config


def _target(**fields: str) -> dict[str, object]:
    return {"targets": [{"name": "t", "api_key": "k", **fields}]}


@pytest.mark.parametrize(
    ("fields", "api_base", "streaming_base"),
    [
        ({}, "https://api.assemblyai.com", "wss://streaming.assemblyai.com"),
        ({"region": "us"}, "https://api.assemblyai.com", "wss://streaming.assemblyai.com"),
        ({"region": "eu"}, "https://api.eu.assemblyai.com", "wss://streaming.eu.assemblyai.com"),
        # Endpoints given explicitly win over the region's.
        (
            {"region": "eu", "api_base": "http://127.0.0.1:9"},
            "http://127.0.0.1:9",
            "wss://streaming.eu.assemblyai.com",
        ),
    ],
    ids=["default", "us", "eu", "explicit-endpoint-wins"],
)
def test_region_gives_the_providers_endpoints(
    fields: dict[str, str], api_base: str, streaming_base: str
) -> None:
    target = parse_config(_target(**fields)).targets[0]
    assert (target.api_base, target.streaming_base) == (api_base, streaming_base)


def test_an_unknown_region_is_named_with_the_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_target(region="europe"))
    assert "targets[0].region: unknown region 'europe' of assemblyai" in str(err.value)
    assert "known: us, eu" in str(err.value)
