"""The quorum rule (monitor/outcome.py `combine`): a component's status across its locations.

Letters per location: U up, G degraded, D down.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.models import Status
from monitor.outcome import Quorum, Verdict, combine, required

STATUS = {"U": Status.UP, "G": Status.DEGRADED, "D": Status.DOWN}
NAMES = ("eu-west", "us-east", "ap-south", "sa-east", "af-south")


def states(letters: str) -> dict[str, Status]:
    """Return `letters` (one a location, in NAMES order) as the location -> status map."""
    return {NAMES[i]: STATUS[c] for i, c in enumerate(letters)}


CASES: list[tuple[str, Quorum, Verdict]] = [
    # One location, quorum 1: exactly today's single-agent status.
    ("U", 1, Verdict(Status.UP)),
    ("G", 1, Verdict(Status.DEGRADED)),
    ("D", 1, Verdict(Status.DOWN)),
    # Two locations, quorum 1: either one is enough.
    ("DU", 1, Verdict(Status.DOWN)),
    ("GU", 1, Verdict(Status.DEGRADED)),
    # Two locations, quorum 2: one down is "down from eu-west".
    ("DU", 2, Verdict(Status.UP, ("eu-west",), Status.DOWN)),
    ("UD", 2, Verdict(Status.UP, ("us-east",), Status.DOWN)),
    ("GU", 2, Verdict(Status.UP, ("eu-west",), Status.DEGRADED)),
    ("DD", 2, Verdict(Status.DOWN)),
    ("GG", 2, Verdict(Status.DEGRADED)),
    # Down counts as at least degraded: both see it bad, not both down.
    ("DG", 2, Verdict(Status.DEGRADED, ("eu-west",), Status.DOWN)),
    ("UU", 2, Verdict(Status.UP)),
    # Majority of two is two; of three, two.
    ("DU", "majority", Verdict(Status.UP, ("eu-west",), Status.DOWN)),
    ("DUD", "majority", Verdict(Status.DOWN)),
    ("DUU", "majority", Verdict(Status.UP, ("eu-west",), Status.DOWN)),
    ("DGU", "majority", Verdict(Status.DEGRADED, ("eu-west",), Status.DOWN)),
    ("GDU", "majority", Verdict(Status.DEGRADED, ("us-east",), Status.DOWN)),
    ("DDGU", "majority", Verdict(Status.DEGRADED, ("eu-west", "us-east"), Status.DOWN)),
    ("DDDU", "majority", Verdict(Status.DOWN)),
    # A fixed quorum above the locations reporting is never met (strict, as Prometheus).
    ("D", 2, Verdict(Status.UP, ("eu-west",), Status.DOWN)),
    ("", 1, Verdict(Status.UP)),
    ("", "majority", Verdict(Status.UP)),
]


@pytest.mark.parametrize(
    ("letters", "quorum", "verdict"), CASES, ids=[f"{c[0] or '-'}-q{c[1]}" for c in CASES]
)
def test_combine(letters: str, quorum: Quorum, verdict: Verdict) -> None:
    assert combine(states(letters), quorum) == verdict


@pytest.mark.parametrize(
    ("quorum", "locations", "need"),
    [
        (1, 1, 1),
        (1, 3, 1),
        (2, 1, 2),
        ("majority", 1, 1),
        ("majority", 2, 2),
        ("majority", 3, 2),
        ("majority", 4, 3),
        ("majority", 5, 3),
    ],
)
def test_required(quorum: Quorum, locations: int, need: int) -> None:
    assert required(quorum, locations) == need


location_states = st.dictionaries(
    st.sampled_from(NAMES), st.sampled_from(list(Status)), max_size=len(NAMES)
)
quorums: st.SearchStrategy[Quorum] = st.one_of(
    st.integers(min_value=1, max_value=6), st.just("majority")
)


@given(location_states, quorums)
def test_down_exactly_when_enough_locations_see_it_down(
    seen: dict[str, Status], quorum: Quorum
) -> None:
    down = sum(s is Status.DOWN for s in seen.values())
    verdict = combine(seen, quorum)
    assert (verdict.status is Status.DOWN) == (down > 0 and down >= required(quorum, len(seen)))


@given(location_states, quorums)
def test_never_worse_than_the_locations_and_partial_names_the_worse_ones(
    seen: dict[str, Status], quorum: Quorum
) -> None:
    verdict = combine(seen, quorum)
    worst = max((s.severity for s in seen.values()), default=0)
    assert verdict.status.severity <= worst
    worse = sorted(loc for loc, s in seen.items() if s.severity > verdict.status.severity)
    assert list(verdict.partial) == worse
    if worse:
        assert verdict.partial_status == max((seen[loc] for loc in worse), key=lambda s: s.severity)
    else:
        assert verdict.partial_status is None


@given(location_states, quorums, st.sampled_from(NAMES), st.sampled_from(list(Status)))
def test_a_location_getting_worse_never_makes_the_component_better(
    seen: dict[str, Status], quorum: Quorum, where: str, status: Status
) -> None:
    # Monotone in each location at a fixed number of locations (majority depends on it).
    if where not in seen or status.severity < seen[where].severity:
        return
    before = combine(seen, quorum).status.severity
    assert combine({**seen, where: status}, quorum).status.severity >= before


@given(st.sampled_from(list(Status)))
def test_one_location_with_quorum_one_or_majority_is_that_location(status: Status) -> None:
    for quorum in (1, "majority"):
        assert combine({"local": status}, quorum) == Verdict(status)
