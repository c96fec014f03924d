"""The config of where an agent probes from, and of the quorum its locations decide by.

`Config` (monitor/config.py) has the keys; the types here check their values,
and `override_location` puts ``STTWATCH_LOCATION`` over the file's `location:`,
so that one config file serves the agents of every location (docs/locations.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator

from monitor.targets import slug

__all__ = ["LOCATION_ENV", "Location", "QuorumSetting", "override_location"]

LOCATION_ENV = "STTWATCH_LOCATION"
"""The environment variable that overrides `location:`, so one file serves every agent."""


def _quorum(v: Any) -> Any:
    if v == "majority" or (isinstance(v, int) and not isinstance(v, bool) and v >= 1):
        return v
    raise ValueError(f"must be a number of locations (1 or more) or 'majority', got {v!r}")


Location = Annotated[str, AfterValidator(slug)]
"""A location's name: a slug, like a target's (eu-west)."""

QuorumSetting = Annotated[int | Literal["majority"], BeforeValidator(_quorum)]
"""`quorum:`: how many locations must agree (1 or more), or a majority of them."""


def override_location(
    env: Mapping[str, str], doc: dict[str, Any], problems: list[tuple[str, str]]
) -> None:
    """Put the environment's location into the config `doc`, or a problem naming the variable."""
    located = env.get(LOCATION_ENV)
    if not located:
        return
    try:
        doc["location"] = slug(located)
    except ValueError as exc:
        problems.append((f"location (from {LOCATION_ENV})", str(exc)))
