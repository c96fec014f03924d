"""What a provider's demo profile (the ``demo`` module beside its descriptor) is made of.

A profile is a module of plain data and small functions that monitor/demo.py
reads: ``probes(interval, timeout)``, ``OUTAGES`` (a tuple of ``Failure``),
``SLOW``, ``base_latency``, ``phases``, ``details`` and, where it has them,
``SLOWDOWN``, ``FAILURE``, ``scenario()``, ``API_KEY``. The pieces they share
live here, so each profile keeps only what is its provider's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from monitor.models import ErrorKind

__all__ = ["Failure"]


@dataclass(frozen=True, slots=True)
class Failure:
    """A span of the synthetic past in which one kind failed, and how it failed."""

    probe: str
    ago: timedelta  # how long before the end of the history it started
    span: timedelta
    kind: ErrorKind
    message: str
