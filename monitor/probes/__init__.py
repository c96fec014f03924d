"""The probes: what a probe kind is, the registry of kinds, and what every probe shares.

Every probe is ``async def run(target, spec, ctx) -> ProbeResult``, described
by a :class:`ProbeType` and registered under the name used in the
configuration (``targets[].probes.<name>``). The built-in kinds live with
their provider (monitor/providers/); other packages add kinds through the
entry-point group ``sttwatch.probes`` and providers through
``sttwatch.providers`` (docs/extending.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitor.probes.recorder import RunRecorder
from monitor.probes.registry import (
    Endpoints,
    PageFact,
    ProbeType,
    Provider,
    StoredForm,
    probe_type,
    probe_types,
    provider,
    providers,
)
from monitor.probes.spec import ProbeSpec

if TYPE_CHECKING:
    from monitor.models import ProbeFn

    PROBES: dict[str, ProbeFn]

__all__ = [
    "PROBES",
    "Endpoints",
    "PageFact",
    "ProbeSpec",
    "ProbeType",
    "Provider",
    "RunRecorder",
    "StoredForm",
    "probe_type",
    "probe_types",
    "provider",
    "providers",
]


def __getattr__(name: str) -> Any:
    # `PROBES` (name -> run) is built on first use: the registry loads entry points.
    if name == "PROBES":
        return {kind.name: kind.run for kind in probe_types().values()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
