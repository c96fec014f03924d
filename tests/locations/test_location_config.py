"""`location:`, `quorum:`, `location_stale_after:` in the config; STTWATCH_LOCATION wins."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from monitor.config import ConfigError, parse_config
from tests.support.configs import write_config

REPO = Path(__file__).resolve().parents[2]
TARGETS = [{"name": "aai-us", "api_key": "k-123"}]


def parse(env: dict[str, str] | None = None, **extra: Any) -> Any:
    """Return the config of TARGETS plus `extra`, read with `env` as the environment."""
    return parse_config({"targets": TARGETS, **extra}, env=env or {})


def test_defaults_are_one_local_agent() -> None:
    cfg = parse()
    assert (cfg.location, cfg.quorum, cfg.location_stale_after) == ("local", 1, 900.0)


@pytest.mark.parametrize(
    ("extra", "env", "want"),
    [
        ({"location": "eu-west"}, {}, ("eu-west", 1)),
        ({"location": "eu-west"}, {"STTWATCH_LOCATION": "us-east"}, ("us-east", 1)),
        ({}, {"STTWATCH_LOCATION": "ap-south-1"}, ("ap-south-1", 1)),
        ({"location": "eu-west"}, {"STTWATCH_LOCATION": ""}, ("eu-west", 1)),
        ({"quorum": 2}, {}, ("local", 2)),
        ({"quorum": "majority"}, {}, ("local", "majority")),
    ],
    ids=["file", "env-over-file", "env-only", "empty-env-ignored", "quorum-2", "majority"],
)
def test_location_and_quorum(
    extra: dict[str, Any], env: dict[str, str], want: tuple[Any, ...]
) -> None:
    cfg = parse(env, **extra)
    assert (cfg.location, cfg.quorum) == want


@pytest.mark.parametrize(
    ("extra", "env", "message"),
    [
        (
            {"location": "EU West"},
            {},
            "location: must be a slug of lower-case letters, digits and dashes, got 'EU West'",
        ),
        (
            {},
            {"STTWATCH_LOCATION": "eu_west"},
            "location (from STTWATCH_LOCATION): must be a slug of lower-case letters, digits"
            " and dashes, got 'eu_west'",
        ),
        (
            {"quorum": 0},
            {},
            "quorum: must be a number of locations (1 or more) or 'majority', got 0",
        ),
        (
            {"quorum": "most"},
            {},
            "quorum: must be a number of locations (1 or more) or 'majority', got 'most'",
        ),
        (
            {"quorum": True},
            {},
            "quorum: must be a number of locations (1 or more) or 'majority', got True",
        ),
    ],
    ids=["bad-slug", "bad-env", "zero", "word", "bool"],
)
def test_bad_values_are_named_with_their_source(
    extra: dict[str, Any], env: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse(env, **extra)
    assert f"  {message}" in err.value.render().splitlines()


def test_check_config_shows_the_location_from_the_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"targets": TARGETS, "location": "eu-west", "quorum": "majority"})
    out = subprocess.run(
        [sys.executable, "-m", "monitor", "check-config", "-c", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
        env={**os.environ, "STTWATCH_LOCATION": "us-east", "PYTHONWARNINGS": "ignore"},
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "location: us-east" in lines
    assert "quorum: majority" in lines
