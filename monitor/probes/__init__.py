"""The probes: one module per probe, one signature, one registry.

Every probe is ``async def run(target, spec, ctx) -> ProbeResult`` and is
registered in :data:`PROBES` under the name used in the configuration
(``targets[].probes.<name>``), like blackbox_exporter's ``Probers`` map.
See docs/probes.md for what each one checks and how failures are classified.
"""

from __future__ import annotations

from monitor.models import ProbeFn
from monitor.probes import reachability, streaming, transcription

PROBES: dict[str, ProbeFn] = {
    "reachability": reachability.run,
    "transcription": transcription.run,
    "streaming": streaming.run,
}

__all__ = ["PROBES"]
