"""The probe registry: what sttwatch knows about each probe kind and each provider.

A probe kind is a :class:`ProbeType` descriptor: its name, label, spec model,
run coroutine, phases and key phase, plus what metrics, the store, the status
page and alerts say about it. Metrics, config validation, the store's codec,
the page and alert messages read these descriptors; none of them names a kind.

The built-in kinds come from the providers in :data:`BUILTIN_PROVIDERS` and
register like any other: a ``module:attribute`` reference, loaded the way an
entry point is. Other packages add providers through the entry-point group
``sttwatch.providers`` (entry points that load a :class:`Provider`) and kinds
through ``sttwatch.probes`` (entry points that load a :class:`ProbeType`)
(docs/extending.md).

Kinds of the same name are the same component type for users (label, key
label, impact); everything else is the provider's own, so a lookup that has a
target in hand passes its provider: ``probe_type(name, target.provider)``.
"""

from __future__ import annotations

import difflib
import functools
import importlib
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
    "PROVIDER_GROUP",
    "Endpoints",
    "KindTable",
    "PageFact",
    "ProbeType",
    "Provider",
    "StoredForm",
    "Unknown",
    "clear_caches",
    "did_you_mean",
    "implementation",
    "key_latency",
    "lazy_run",
    "probe_type",
    "probe_types",
    "provider",
    "providers",
    "supported",
]

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "sttwatch.probes"
PROVIDER_GROUP = "sttwatch.providers"

BUILTIN_PROVIDERS: tuple[str, ...] = (
    "monitor.providers.assemblyai:PROVIDER",
    "monitor.providers.openai:PROVIDER",
    "monitor.providers.deepgram:PROVIDER",
)
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
    receives_calls: bool = False  # waits for the API to call sttwatch's receiver (webhooks)
    page_facts: tuple[PageFact, ...] = ()  # its component's figures on the page
    stored: StoredForm | None = None  # its compact row encoding; None: stored verbatim
    default_enabled: bool = False  # run when a target configures no probes at all
    page_note: str = ""  # a sentence the page shows under its component

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
    """The base URLs of a provider in one region (or preset), and where its key comes from."""

    api_base: str
    streaming_base: str
    api_key_env: str = ""  # the variable of a key for this region when not the provider's
    # Whether a target here must have a key (a self-hosted server may check none).
    key_required: bool = True


@dataclass(frozen=True, slots=True)
class Provider:
    """A speech API sttwatch can watch: its probe kinds, endpoints, key and simulator."""

    name: str  # a target's `provider`
    label: str
    probes: tuple[ProbeType[Any], ...]  # the kinds it supports, with its implementation
    regions: Mapping[str, Endpoints]  # default endpoints per region (or preset)
    default_region: str
    simulator: str | None = None  # the module of its local simulator, if it has one
    api_key_env: str = ""  # the environment variable a target's api_key defaults from
    auth_header: str = "Authorization"  # the request header that carries the key
    auth_scheme: str = ""  # the word before the key in it ("Token", "Bearer"); "": the key alone
    # Its own checks of a whole validated target (settings its specs alone cannot judge,
    # e.g. a model against the region's): (path under the target, problem) pairs.
    check_target: Callable[[Any], list[tuple[str, str]]] | None = None

    def __post_init__(self) -> None:
        if self.default_region not in self.regions:
            raise ValueError(
                f"provider {self.name!r}: default_region {self.default_region!r} "
                "is not one of its regions"
            )
        names = [k.name for k in self.probes]
        if len(set(names)) != len(names):
            raise ValueError(f"provider {self.name!r}: two probe kinds of one name in {names}")

    @property
    def endpoints(self) -> Endpoints:
        """Return the endpoints of the default region."""
        return self.regions[self.default_region]

    def key_env(self, region: str | None = None) -> str:
        """Return the environment variable a target's key in `region` defaults from ("": none)."""
        found = self.regions.get(region or self.default_region)
        return (found.api_key_env if found else "") or self.api_key_env

    def key_required(self, region: str | None = None) -> bool:
        """Return whether a target in `region` must have a key (an unknown region: yes)."""
        found = self.regions.get(region or self.default_region)
        return found.key_required if found else True

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """Return the request headers that authenticate with `api_key` (none without a key)."""
        if not api_key:
            return {}
        value = f"{self.auth_scheme} {api_key}" if self.auth_scheme else api_key
        return {self.auth_header: value}


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


def _installed(group: str, want: type) -> Iterator[Any]:
    """Yield what each entry point of `group` loads, in name order; broken ones are skipped.

    One broken plugin must not stop every command (even those that never use it):
    it is left out, with a warning naming it and its package.
    """
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=group), key=lambda e: e.name):
        where = f"entry point {ep.name} = {ep.value} of group {group}"
        if ep.dist is not None:
            where += f" (package {ep.dist.name} {ep.dist.version})"
        try:
            found = ep.load()
        except Exception as exc:  # a plugin's import may raise anything
            log.warning(
                "ignoring the %s: it cannot be loaded: %s: %s", where, type(exc).__name__, exc
            )
            continue
        if not isinstance(found, want):
            log.warning("ignoring the %s: it is not a monitor.probes.%s", where, want.__name__)
            continue
        yield found


@functools.cache
def providers() -> Mapping[str, Provider]:
    """Return every provider by name: the built-in ones in their order, then entry points."""
    out: dict[str, Provider] = {}
    for ref in BUILTIN_PROVIDERS:
        p = _load(ref, PROVIDER_GROUP)
        if not isinstance(p, Provider):
            raise TypeError(f"{ref} is not a monitor.probes.Provider")
        out[p.name] = p
    for p in _installed(PROVIDER_GROUP, Provider):
        if p.name in out:
            # A plugin cannot replace a provider: its targets would change under the user.
            log.warning(
                "ignoring provider %r of group %s: the name is taken", p.name, PROVIDER_GROUP
            )
            continue
        out[p.name] = p
    return out


def provider(name: str) -> Provider:
    """Return the provider called `name` (Unknown if there is none)."""
    found = providers().get(name)
    if found is None:
        raise Unknown("provider", name, list(providers()))
    return found


@functools.cache
def _plugin_kinds() -> Mapping[str, ProbeType[Any]]:
    """Return the kinds of the `sttwatch.probes` entry points (any provider's targets run them)."""
    taken = {kind.name for p in providers().values() for kind in p.probes}
    out: dict[str, ProbeType[Any]] = {}
    for kind in _installed(ENTRY_POINT_GROUP, ProbeType):
        if kind.name in taken or kind.name in out:
            # A plugin cannot replace a provider's kind: its stored rows and series would change.
            log.warning(
                "ignoring probe kind %r of group %s: the name is taken",
                kind.name,
                ENTRY_POINT_GROUP,
            )
            continue
        out[kind.name] = kind
    return out


@functools.cache
def probe_types(provider_name: str | None = None) -> Mapping[str, ProbeType[Any]]:
    """Return the probe kinds by name: a provider's own then the plugins' (None: every provider's).

    Without a provider, a name several providers have is the first registered's
    kind; with one, it is that provider's. Unknown if the provider is not registered.
    """
    out: dict[str, ProbeType[Any]] = {}
    owners = providers().values() if provider_name is None else (provider(provider_name),)
    for p in owners:
        for kind in p.probes:
            out.setdefault(kind.name, kind)
    out.update(_plugin_kinds())
    return out


_generation = 0  # bumped by clear_caches, so that KindTables rebuild


def clear_caches() -> None:
    """Forget the loaded providers and kinds, so the next lookup reads the entry points again."""
    global _generation
    providers.cache_clear()
    _plugin_kinds.cache_clear()
    probe_types.cache_clear()
    _generation += 1


class KindTable(Mapping[str, V]):
    """One provider-independent field of the probe kinds, by kind name, read on first use.

    For the fields that mean the same for every provider's kind of a name (its
    label) or that are frozen with the first kind that has them (its stored form):
    each name gets the first registered kind's value that is not None, so a
    provider whose kind leaves the field None never hides another's. Names with
    no value are left out. Built once per loaded registry.
    """

    __slots__ = ("_built", "_read", "_table")

    def __init__(self, read: Callable[[ProbeType[Any]], V | None]) -> None:
        self._read = read
        self._table: dict[str, V] = {}
        self._built = -1

    def _values(self) -> dict[str, V]:
        if self._built != _generation:
            table: dict[str, V] = {}
            kinds = [k for p in providers().values() for k in p.probes]
            for kind in [*kinds, *_plugin_kinds().values()]:
                value = self._read(kind)
                if value is not None:
                    table.setdefault(kind.name, value)
            self._table, self._built = table, _generation
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


def probe_type(name: str, provider_name: str | None = None) -> ProbeType[Any]:
    """Return the probe kind `name` of `provider_name` (None: the first registered).

    Unknown (with a did-you-mean among that provider's kinds) if there is none.
    """
    kinds = probe_types(provider_name)
    found = kinds.get(name)
    if found is None:
        raise Unknown("probe kind", name, list(kinds))
    return found


def key_latency(result: ProbeResult, provider_name: str | None = None) -> float:
    """Return the latency that decides `degraded` for the result's probe kind (docs/design.md §3).

    The kind (of `provider_name`, the target's provider; None: the first
    registered) decides: its key phase if the run recorded it, else the sum of
    its key parts (a transcription's submit + queued + processing). Anything
    missing falls back to the run's whole duration.
    """
    phases = result.phases
    kinds = probe_types(provider_name) if provider_name in providers() else probe_types()
    kind = kinds.get(result.probe)
    if kind is None:
        return result.duration_s
    if kind.key_phase in phases:
        return phases[kind.key_phase]
    parts = [phases[p] for p in kind.key_parts if p in phases]
    return sum(parts) if parts else result.duration_s


def lazy_run(module: str) -> Callable[[ProbeTarget, Any, ProbeContext], Awaitable[ProbeResult]]:
    """Return a probe kind's run that imports `module` on its first call and awaits its ``run``.

    A descriptor names its implementation this way so that reading the registry
    (config validation, the store, the page) does not load the HTTP client.
    """

    async def run(target: ProbeTarget, spec: Any, ctx: ProbeContext) -> ProbeResult:
        found: Callable[..., Awaitable[ProbeResult]] = importlib.import_module(module).run
        return await found(target, spec, ctx)

    run.__qualname__ = run.__name__ = f"lazy_run({module!r})"
    return run


def implementation(provider_name: str, kind: str) -> Callable[..., Awaitable[ProbeResult]]:
    """Return the run of probe kind `kind` for a target of `provider_name`.

    A provider's own kind of that name, else a plugin's (Unknown if neither).
    """
    return probe_type(kind, provider_name).run


def supported(provider_name: str) -> list[str]:
    """Return the kinds a target of `provider_name` can run: its own, then every plugin's."""
    return list(probe_types(provider_name))
