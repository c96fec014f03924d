"""A second provider for tests, registered the way a third-party package adds one.

``SECOND`` is a provider whose kinds share AssemblyAI's names but little else:
its transcription has other phases, another spec (``model``, no
``speech_model``), other error kinds, page facts and a page note, and creates
no test data; it has no streaming kind; its key is ``Token <key>`` from
``SECOND_API_KEY``. ``extra_provider`` installs a provider for the duration of
a ``with`` block through the real ``sttwatch.providers`` entry-point group (a
``*.dist-info`` on ``sys.path``), clearing the registry's caches before and
after, so config validation, metrics, the page and alerts see it as they would
see an installed plugin. ``installed_entry_points`` does the same for any
group and entries (broken ones included).

A subprocess (``sttwatch check-config``, ``run``) finds the provider when the
directory the block yields is on its ``PYTHONPATH`` (and the checkout root, for
this module); only providers defined at module level here (``SECOND``) can be
loaded there, as the child process does not run the test's code.
"""

from __future__ import annotations

import importlib
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import aiohttp

from monitor.models import ErrorKind, ProbeContext, ProbeResult, ProbeTarget
from monitor.probes import (
    Endpoints,
    PageFact,
    ProbeSpec,
    ProbeType,
    Provider,
    RunRecorder,
    failures,
)
from monitor.probes.registry import NETWORK_ERRORS, PROVIDER_GROUP, clear_caches

__all__ = ["REGISTERED", "SECOND", "extra_provider", "installed_entry_points"]

REGISTERED = SimpleNamespace()
"""The providers `extra_provider` installed in this process, by attribute name."""


class SecondReachabilitySpec(ProbeSpec):
    """Its reachability GETs `path` of the target's API."""

    path: str = "/"


class SecondTranscriptionSpec(ProbeSpec):
    """Its transcription names a `model` (AssemblyAI's has `speech_model`)."""

    model: str = "second-1"
    timeout: float = 30.0


async def _get(target: ProbeTarget, spec: SecondReachabilitySpec, ctx: ProbeContext) -> ProbeResult:
    rec = RunRecorder(target, "reachability", ctx)
    headers = SECOND.auth_headers(target.api_key.get_secret_value())
    try:
        with rec.phase("request"):
            async with (
                aiohttp.ClientSession() as session,
                session.get(target.api_base + spec.path, headers=headers) as resp,
            ):
                await resp.read()
    except aiohttp.ClientError as exc:
        return rec.down(failures.from_exception(exc))
    if resp.status != 200:
        return rec.down(failures.from_status(resp.status))
    return rec.passed(rec.phases["request"], spec.degraded_after, "GET answered")


async def _transcribe(
    target: ProbeTarget, spec: SecondTranscriptionSpec, ctx: ProbeContext
) -> ProbeResult:
    raise AssertionError("the second provider's transcription is described, never run")


SECOND_REACHABILITY: ProbeType[SecondReachabilitySpec] = ProbeType(
    name="reachability",
    label="REST API",
    spec=SecondReachabilitySpec,
    run=_get,
    phases=("request",),
    key_phase="request",
    impact="critical",
    page_facts=(PageFact("Median, 24 h", "median", "median"),),
    default_enabled=True,
)

SECOND_TRANSCRIPTION: ProbeType[SecondTranscriptionSpec] = ProbeType(
    name="transcription",
    label="Transcription",
    spec=SecondTranscriptionSpec,
    run=_transcribe,
    phases=("post", "transcribe"),
    key_phase="transcribe",
    key_label="Turnaround",
    error_kinds=NETWORK_ERRORS | {ErrorKind.INACCURATE},
    details_help={"wer": "word error rate of the transcript against the reference"},
    page_facts=(
        PageFact("Transcribe, 24 h mean", "transcribe", "phase_mean", "transcribe"),
        PageFact("Word error rate, 24 h", "wer", "wer_mean"),
    ),
    page_note="Second keeps no transcript, so there is nothing to delete",
    default_enabled=True,
)

SECOND = Provider(
    name="second",
    label="Second STT",
    probes=(SECOND_REACHABILITY, SECOND_TRANSCRIPTION),
    regions={
        "default": Endpoints("https://api.second.example", "wss://api.second.example"),
        "eu": Endpoints(
            "https://api.eu.second.example", "wss://api.eu.second.example", "SECOND_EU_API_KEY"
        ),
    },
    default_region="default",
    api_key_env="SECOND_API_KEY",
    auth_scheme="Token",
)
"""A second provider: AssemblyAI's kind names, its own phases, specs, facts and key."""


@contextmanager
def installed_entry_points(
    where: Path, entries: Mapping[str, Mapping[str, str]], name: str = "sttwatch-test-plugin"
) -> Iterator[Path]:
    """Install `entries` ({group: {entry name: "module:attr"}}) as a package for the block.

    Yields the ``sys.path`` entry that holds its ``*.dist-info`` (put it on a
    subprocess's PYTHONPATH to install it there too).
    """
    slug = re.sub(r"[^A-Za-z0-9]+", "_", name)
    site = where / f"site-{slug}"
    info = site / f"{slug}-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    lines = []
    for group, refs in entries.items():
        lines.append(f"[{group}]")
        lines.extend(f"{entry} = {ref}" for entry, ref in refs.items())
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    clear_caches()
    try:
        yield site
    finally:
        sys.path.remove(str(site))
        importlib.invalidate_caches()
        clear_caches()


@contextmanager
def extra_provider(where: Path, provider: Provider = SECOND) -> Iterator[Path]:
    """Register `provider` through the ``sttwatch.providers`` entry points for the block.

    `where` is a directory of the test's own (tmp_path). Yields the ``sys.path``
    entry of the installed entry point.
    """
    attr = re.sub(r"\W", "_", provider.name)
    if provider is SECOND:
        ref = f"{__name__}:SECOND"
    else:
        setattr(REGISTERED, attr, provider)
        ref = f"{__name__}:REGISTERED.{attr}"
    try:
        with installed_entry_points(
            where, {PROVIDER_GROUP: {attr: ref}}, name=f"sttwatch-provider-{attr}"
        ) as site:
            yield site
    finally:
        if provider is not SECOND:
            delattr(REGISTERED, attr)
