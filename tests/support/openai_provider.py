"""Helpers of the OpenAI-compatible provider's tests: targets aimed at its simulator, a context."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from pydantic import SecretStr

from monitor.config import Target
from monitor.models import ProbeContext, ProbeResult, SystemClock
from monitor.probes.registry import implementation
from monitor.simulator.openai import SimulatorHandle
from tests.support.probes import MemoryLedger

OpenAISim = Callable[..., Awaitable[SimulatorHandle]]
KEY = "sim-key"


def openai_target(handle: SimulatorHandle, key: str = KEY, name: str = "oai") -> Target:
    """Return a target of provider openai aimed at `handle`, its region the flavour's."""
    flavour = handle.state_obj.flavour
    # The provider's base URL is the part before /v1: Groq's is <host>/openai.
    base = handle.base_url + flavour.prefix.removesuffix("/v1")
    return Target(
        name=name,
        provider="openai",
        region=flavour.name,
        api_base=base,
        streaming_base=handle.ws_base,
        api_key=SecretStr(key),
    )


def context() -> ProbeContext:
    """Return a probe context with real sessions and the real clock (no ledger is used)."""
    return ProbeContext(
        session_factory=aiohttp.ClientSession, clock=SystemClock(), ledger=MemoryLedger()
    )


async def run_probe(kind: str, target: Target, spec: Any) -> ProbeResult:
    """Return one run of the openai provider's `kind` against `target`."""
    result: ProbeResult = await implementation("openai", kind)(target, spec, context())
    return result
