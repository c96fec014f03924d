"""The fault book: which injected failure, if any, applies to a request.

Faults are checked in list order. A fault fires for a request when its
endpoint matches (``"*"`` matches every HTTP endpoint), the time since the
list was installed lies in ``[after_s, until_s)``, it has fired fewer than
``count`` times, and a draw from the seeded generator falls under
``probability``. The generator is re-seeded whenever the list is installed,
so one seed and one request sequence always give the same outcomes.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar

from .scenario import HTTP_ACTIONS, HTTP_ENDPOINTS


class FaultRule(Protocol):
    """What the book reads of a fault: each simulated provider has its own fault model."""

    @property
    def endpoint(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def probability(self) -> float: ...
    @property
    def count(self) -> int | None: ...
    @property
    def after_s(self) -> float | None: ...
    @property
    def until_s(self) -> float | None: ...


F = TypeVar("F", bound=FaultRule)


class FaultBook(Generic[F]):
    """The active fault list with its clock, counters and random generator."""

    def __init__(
        self,
        seed: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        http_endpoints: frozenset[str] = HTTP_ENDPOINTS,
        http_actions: frozenset[str] = HTTP_ACTIONS,
    ) -> None:
        # The endpoints "*" stands for, and the actions it takes: each simulated
        # provider names its own (AssemblyAI's REST v2 by default).
        self._http_endpoints = http_endpoints
        self._http_actions = http_actions
        self._seed = seed
        self._clock = clock
        self._faults: list[F] = []
        self._fired: list[int] = []
        self._installed_at = clock()
        self._random = random.Random(seed)
        self.applied: Counter[str] = Counter()

    @property
    def faults(self) -> list[F]:
        """Return the installed faults."""
        return list(self._faults)

    def install(self, faults: Iterable[F]) -> None:
        """Replace the fault list, restarting its clock, counters and generator."""
        self._faults = list(faults)
        self._fired = [0] * len(self._faults)
        self._installed_at = self._clock()
        self._random = random.Random(self._seed)

    def clear(self) -> None:
        """Remove every fault."""
        self.install([])

    def _fires(self, index: int, fault: F) -> bool:
        elapsed = self._clock() - self._installed_at
        if fault.after_s is not None and elapsed < fault.after_s:
            return False
        if fault.until_s is not None and elapsed >= fault.until_s:
            return False
        if fault.count is not None and self._fired[index] >= fault.count:
            return False
        # Draw on every eligible request, even at probability 1, so adding a
        # certain fault does not shift the outcomes of the uncertain ones.
        if self._random.random() >= fault.probability:
            return False
        self._fired[index] += 1
        self.applied[fault.action] += 1
        return True

    def pick(
        self, endpoint: str, actions: frozenset[str], stackable: frozenset[str] = frozenset()
    ) -> list[F]:
        """Return the faults among ``actions`` that fire for one request to ``endpoint``.

        Faults whose action is in ``stackable`` combine with later ones; the
        first other fault that fires ends the list (later ones are not drawn).
        """
        fired: list[F] = []
        for index, fault in enumerate(self._faults):
            if fault.action not in actions:
                continue
            # "*" is every HTTP endpoint: a "*" delay does not hold webhooks back.
            if fault.endpoint != endpoint and not (
                fault.endpoint == "*"
                and fault.action in self._http_actions
                and endpoint in self._http_endpoints
            ):
                continue
            if self._fires(index, fault):
                fired.append(fault)
                if fault.action not in stackable:
                    break
        return fired
