"""Shared helpers of the probe, janitor and fault-matrix tests (imported by those modules).

A real simulator on a loopback port, a deletion ledger, targets pointing at
the simulator, and the leftovers check every test ends with.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import aiohttp
from pydantic import SecretStr

from monitor.config import Target
from monitor.models import LedgerEntry, ProbeContext, SystemClock
from monitor.probeclip import load_clip
from monitor.simulator import Scenario, SimulatorHandle

# The TLS reachability tests' certificate: the simulator's own self-signed one.
from monitor.simulator.tls import make_self_signed as self_signed_cert  # noqa: F401
from tests.support.polling import eventually

KEY = "sim-key"
FAST_JOBS = {"queued_ms": 150, "processing_ms": 250}


class MemoryLedger:
    """A DeletionLedger kept in memory, for tests that do not need durability."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], LedgerEntry] = {}
        self.deleted: set[tuple[str, str]] = set()
        self.fail_record = False

    async def record(self, target: str, transcript_id: str) -> None:
        if self.fail_record:
            raise OSError(30, "attempt to write a readonly database")
        self.entries[(target, transcript_id)] = LedgerEntry(
            target, transcript_id, datetime.now(UTC)
        )

    async def mark_deleted(self, target: str, transcript_id: str) -> None:
        self.entries.pop((target, transcript_id), None)
        self.deleted.add((target, transcript_id))

    async def mark_attempt(self, target: str, transcript_id: str, error: str) -> None:
        old = self.entries.get((target, transcript_id))
        if old is None:
            return
        self.entries[(target, transcript_id)] = LedgerEntry(
            target, transcript_id, old.created_at, old.attempts + 1, error
        )

    async def pending(self, target: str | None = None) -> list[LedgerEntry]:
        found = [e for e in self.entries.values() if target is None or e.target == target]
        return sorted(found, key=lambda e: e.created_at)


class WatchedLedger:
    """Wraps a ledger and sets `recorded` once a transcript id has been recorded."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.recorded = asyncio.Event()

    async def record(self, target: str, transcript_id: str) -> None:
        await self.inner.record(target, transcript_id)
        self.recorded.set()

    async def mark_deleted(self, target: str, transcript_id: str) -> None:
        await self.inner.mark_deleted(target, transcript_id)

    async def mark_attempt(self, target: str, transcript_id: str, error: str) -> None:
        await self.inner.mark_attempt(target, transcript_id, error)

    async def pending(self, target: str | None = None) -> list[LedgerEntry]:
        found: list[LedgerEntry] = await self.inner.pending(target)
        return found


def target_for(handle: SimulatorHandle, name: str = "sim", key: str = KEY) -> Target:
    """Return a target aimed at `handle` with only its URLs and key set."""
    return Target(
        name=name, api_base=handle.base_url, streaming_base=handle.ws_base, api_key=SecretStr(key)
    )


def context(ledger: Any, clock: SystemClock | None = None) -> ProbeContext:
    """Return a probe context with real sessions, the real clock (or `clock`) and `ledger`."""
    return ProbeContext(
        session_factory=aiohttp.ClientSession, clock=clock or SystemClock(), ledger=ledger
    )


def make_scenario(**overrides: Any) -> Scenario:
    """Return a scenario with fast jobs, updated with `overrides`."""
    data: dict[str, Any] = {"jobs": dict(FAST_JOBS)}
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Scenario.model_validate(data)


def leftovers(handle: SimulatorHandle) -> dict[str, Any]:
    """Return what a client left behind on the simulator: transcripts and open sessions."""
    state = handle.state()
    return {
        "undeleted": state["transcripts"]["undeleted_ids"],
        "unterminated": state["streaming"]["unterminated"],
        "active": state["streaming"]["active"],
    }


NOTHING_LEFT = {"undeleted": [], "unterminated": 0, "active": 0}


async def settle(handle: SimulatorHandle, seconds: float = 2.0) -> dict[str, Any]:
    """Return `leftovers` once the simulator has seen every socket close (bounded wait)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while True:
        left = leftovers(handle)
        if left["active"] == 0 or loop.time() >= end:
            return left
        await asyncio.sleep(0.02)


async def create_transcript(handle: SimulatorHandle, key: str = KEY) -> str:
    """Return the id of a transcript of the probe clip created straight through the API."""
    headers = {"Authorization": key}
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{handle.base_url}/v2/upload", data=load_clip().wav, headers=headers
        ) as resp:
            url = (await resp.json())["upload_url"]
        body = {"audio_url": url, "speech_models": ["universal-2"]}
        async with http.post(
            f"{handle.base_url}/v2/transcript", json=body, headers=headers
        ) as resp:
            transcript_id: str = (await resp.json())["id"]
    return transcript_id


async def jobs_finished(handle: SimulatorHandle, within: float = 5.0, key: str = KEY) -> None:
    """Return once every undeleted transcript on `handle` is completed or errored."""

    async def all_terminal() -> bool:
        async with aiohttp.ClientSession(headers={"Authorization": key}) as http:
            for transcript_id in handle.state()["transcripts"]["undeleted_ids"]:
                url = f"{handle.base_url}/v2/transcript/{transcript_id}"
                async with http.get(url) as resp:
                    if (await resp.json())["status"] not in {"completed", "error"}:
                        return False
        return True

    await eventually(all_terminal, "every job on the simulator to finish", within)
