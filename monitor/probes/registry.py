"""The probe registry: what sttwatch knows about each probe kind and each provider.

A probe kind is a :class:`ProbeType` descriptor: its name, label, spec model,
run coroutine, phases and key phase, plus what metrics, the store, the status
page and alerts say about it. Metrics, config validation, the store's codec,
the page and alert messages read these descriptors; none of them names a kind.

The built-in kinds come from the providers in :data:`BUILTIN_PROVIDERS` and
register like any other: a ``module:attribute`` reference, loaded the way an
entry point is. Other packages add kinds through the entry-point group
``sttwatch.probes``, whose entry points load a :class:`ProbeType`
(docs/extending.md).
"""

from __future__ import annotations

import difflib
import functools
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from monitor.models import ErrorKind, ProbeContext, ProbeResult, ProbeTarget
from monitor.probes.spec import ProbeSpec

__all__ = [
    "BUILTIN_PROVIDERS",
    "ENTRY_POINT_GROUP",
    "NETWORK_ERRORS",
    "Endpoints",
    "KindTable",
    "PageFact",
    "ProbeType",
    "Provider",
    "StoredForm",
    "Unknown",
    "did_you_mean",
    "implementation",
    "key_latency",
    "probe_type",
    "probe_types",
    "provider",
    "providers",
    "supported",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "sttwatch.probes"

BUILTIN_PROVIDERS: tuple[str, ...] = ("monitor.providers.assemblyai:PROVIDER",)
"""The providers shipped with sttwatch, as ``module:attribute`` references (one line each)."""

S = TypeVar("S", bound=ProbeSpec)
V = TypeVar("V")

NETWORK_ERRORS: frozenset[ErrorKind] = frozenset(
    (
        ErrorKind.DNS,
        ErrorKind.CONNECT,
        ErrorKind.TLS,
        ErrorKind.TIMEOUT,
        ErrorKind.INTERNAL,
        ErrorKind.AUTH,
        ErrorKind.RATE_LIMITED,
        ErrorKind.SERVER_ERROR,
        ErrorKind.BAD_RESPONSE,
    )
)
"""The error kinds any HTTP probe can report (a kind's default `error_kinds`)."""


@dataclass(frozen=True, slots=True)
class PageFact:
    """One figure of a component on the status page, read from its last 24 h roll-up."""

    label: str  # "Queue, 24 h mean"
    key: str  # the fact's stable id in the page and its JSON ("queue")
    measure: Literal["phase_mean", "wer_mean", "median"]
    phase: str | None = None  # the phase of a "phase_mean"


@dataclass(frozen=True, slots=True)
class StoredForm:
    """How the store's compact row encodings (v1, v2) write a kind's results.

    Part of the stored format: rows already written decode with these values,
    so they are frozen — a change means a new encoding version in
    store/codec.py, never an edit here. A kind without one is stored verbatim.
    """

    phases: tuple[str, ...]  # the positional phase order of v1 rows and v1/v2 phase blobs
    detail_order: tuple[str, ...]  # the order in which the probe writes its details
    up_wording: str  # an up run's message before " in <latency>" (RunRecorder.passed)
    up_latency: tuple[Literal["phase", "detail"], str]  # where that latency is read from
    good_details_v1: Mapping[str, Any] = field(default_factory=dict)  # every good run's details
    good_details_v2: Mapping[str, Any] = field(default_factory=dict)
    text: str | None = None  # the transcript of the probe clip when it is exact


@dataclass(frozen=True, slots=True)
class ProbeType(Generic[S]):
    """Everything sttwatch needs to know about one probe kind."""

    name: str  # the key under targets[].probes and the `probe` label of every series
    label: str  # the component's and alerts' human name ("REST API")
    spec: type[S]  # its settings, a ProbeSpec subclass
    run: Callable[[ProbeTarget, S, ProbeContext], Awaitable[ProbeResult]]
    phases: tuple[str, ...]  # the phases it may report (others are not exported as metrics)
    key_phase: str  # the phase whose latency decides degraded
    key_parts: tuple[str, ...] = ()  # its parts, summed when the run did not record key_phase
    key_label: str = "Latency"  # what alerts call the key latency ("Turnaround")
    key_short: str = ""  # what `once`'s table calls it ("first text"); key_phase if empty
    error_kinds: frozenset[ErrorKind] = NETWORK_ERRORS  # the kinds it can report
    details_help: Mapping[str, str] = field(default_factory=dict)  # details key -> meaning
    histogram_phase: str | None = None  # observed into sttwatch_stream_first_transcript_seconds
    impact: Literal["major", "critical"] = "major"  # Statuspage impact of its incidents
    creates_test_data: bool = False  # uploads data that must be deleted (the deletion ledger)
    page_facts: tuple[PageFact, ...] = ()  # its component's figures on the page
    stored: StoredForm | None = None  # its compact row encoding; None: stored verbatim
    default_enabled: bool = False  # run when a target configures no probes at all

    def __post_init__(self) -> None:
        if not (isinstance(self.spec, type) and issubclass(self.spec, ProbeSpec)):
            raise TypeError(f"probe kind {self.name!r}: spec must be a ProbeSpec subclass")
        if self.key_phase not in self.phases and not self.key_parts:
            raise ValueError(
                f"probe kind {self.name!r}: key_phase must be one of its phases "
                "(or be the sum of key_parts)"
            )

    @property
    def key_name(self) -> str:
        """Return the short name of the key latency (`key_short`, else `key_phase`)."""
        return self.key_short or self.key_phase


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The base URLs of a provider in one region."""

    api_base: str
    streaming_base: str


@dataclass(frozen=True, slots=True)
class Provider:
    """A speech API sttwatch can watch: its probe kinds, endpoints and simulator."""

    name: str  # a target's `provider`
    label: str
    probes: tuple[ProbeType[Any], ...]  # the kinds it supports, with its implementation
    regions: Mapping[str, Endpoints]  # default endpoints per region
    default_region: str
    simulator: str | None = None  # the module of its local simulator, if it has one

    @property
    def endpoints(self) -> Endpoints:
        """Return the endpoints of the default region."""
        return self.regions[self.default_region]


class Unknown(KeyError):
    """No probe kind or provider of that name is registered; says which are."""

    def __init__(self, what: str, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.what, self.name, self.known = what, name, known

    def __str__(self) -> str:
        return f"unknown {self.what} {self.name!r}{did_you_mean(self.name, self.known)}"


def did_you_mean(word: str, choices: list[str]) -> str:
    """Return " (did you mean 'x'?); known: a, b" for `word` among `choices`."""
    close = difflib.get_close_matches(word, choices, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{hint}; known: {', '.join(choices)}"


def _load(ref: str, group: str) -> Any:
    from importlib.metadata import EntryPoint  # ~10 ms of imports, only when the registry loads

    name, _, _ = ref.partition(":")
    return EntryPoint(name=name, value=ref, group=group).load()


@functools.cache
def providers() -> Mapping[str, Provider]:
    """Return every provider by name, in registration order."""
    out: dict[str, Provider] = {}
    for ref in BUILTIN_PROVIDERS:
        p = _load(ref, "sttwatch.providers")
        if not isinstance(p, Provider):
            raise TypeError(f"{ref} is not a monitor.probes.Provider")
        out[p.name] = p
    return out


def provider(name: str) -> Provider:
    """Return the provider called `name` (Unknown if there is none)."""
    found = providers().get(name)
    if found is None:
        raise Unknown("provider", name, list(providers()))
    return found


@functools.cache
def probe_types() -> Mapping[str, ProbeType[Any]]:
    """Return every probe kind by name: the built-in providers' first, then entry points."""
    from importlib.metadata import entry_points

    out: dict[str, ProbeType[Any]] = {}
    for p in providers().values():
        for kind in p.probes:
            out.setdefault(kind.name, kind)
    for ep in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        # One broken plugin must not stop every command (even those that never use it):
        # it is left out, with a warning naming it; a config that uses its kind is then
        # refused as naming an unknown kind.
        where = f"entry point {ep.name} = {ep.value} of group {ENTRY_POINT_GROUP}"
        if ep.dist is not None:
            where += f" (package {ep.dist.name} {ep.dist.version})"
        try:
            kind = ep.load()
        except Exception as exc:  # a plugin's import may raise anything
            log.warning(
                "ignoring the %s: it cannot be loaded: %s: %s", where, type(exc).__name__, exc
            )
            continue
        if not isinstance(kind, ProbeType):
            log.warning("ignoring the %s: it is not a monitor.probes.ProbeType", where)
            continue
        if kind.name in out:
            # A plugin cannot replace a built-in kind: its stored rows and series would change.
            log.warning("ignoring probe kind %r of %s: the name is taken", kind.name, ep.value)
            continue
        out[kind.name] = kind
    return out


class KindTable(Mapping[str, V]):
    """One field of every registered probe kind, by kind name, read on first use.

    Kinds whose field is None are left out. The registry does not change once
    loaded, so the table is built from it once.
    """

    __slots__ = ("_read", "_table")

    def __init__(self, read: Callable[[ProbeType[Any]], V | None]) -> None:
        self._read = read
        self._table: dict[str, V] | None = None

    def _values(self) -> dict[str, V]:
        if self._table is None:
            found = {name: self._read(kind) for name, kind in probe_types().items()}
            self._table = {name: v for name, v in found.items() if v is not None}
        return self._table

    def __getitem__(self, kind: str) -> V:
        return self._values()[kind]

    def get(self, kind: str, default: Any = None) -> Any:
        """Return the field of `kind`, or `default` when it has none."""
        return self._values().get(kind, default)

    def __contains__(self, kind: object) -> bool:
        return kind in self._values()

    def __iter__(self) -> Iterator[str]:
        return iter(self._values())

    def __len__(self) -> int:
        return len(self._values())


def probe_type(name: str) -> ProbeType[Any]:
    """Return the probe kind called `name` (Unknown if there is none)."""
    found = probe_types().get(name)
    if found is None:
        raise Unknown("probe kind", name, list(probe_types()))
    return found


def key_latency(result: ProbeResult) -> float:
    """Return the latency that decides `degraded` for the result's probe kind (docs/design.md §3).

    The kind's key phase if the run recorded it, else the sum of its key parts
    (a transcription's submit + queued + processing). Anything missing falls
    back to the run's whole duration.
    """
    phases = result.phases
    kind = probe_types().get(result.probe)
    if kind is None:
        return result.duration_s
    if kind.key_phase in phases:
        return phases[kind.key_phase]
    parts = [phases[p] for p in kind.key_parts if p in phases]
    return sum(parts) if parts else result.duration_s


def implementation(provider_name: str, kind: str) -> Callable[..., Awaitable[ProbeResult]]:
    """Return the run of probe kind `kind` for a target of `provider_name`.

    A provider's own kind of that name, else the registered kind (a plugin's).
    """
    for own in provider(provider_name).probes:
        if own.name == kind:
            return own.run
    return probe_type(kind).run


def supported(provider_name: str) -> list[str]:
    """Return the kinds a target of `provider_name` can run: its own, then every plugin's."""
    own = [k.name for k in provider(provider_name).probes]
    builtin = {k.name for p in providers().values() for k in p.probes}
    return own + [n for n in probe_types() if n not in builtin]
