"""The alarm pairs every learner builds on (``lag_pairs``) are exactly the pairs the
definition gives: within the window, on locations within reach, both ways at the same
instant, never an alarm with itself, the latest few per location under the cap, and
the same whatever the query chunking."""

from __future__ import annotations

import random

import pytest

from aiops.learning import alarm_pairs
from aiops.learning.alarm_pairs import AlarmEvents, lag_pairs
from aiops.models import Alert
from topology.graph import TopologyGraph
from topology.model import Edge, Node


def network(seed: int, size: int) -> TopologyGraph:
    rng = random.Random(seed)
    nodes = [Node(f"d{i}", "device", f"d{i}") for i in range(size)]
    edges = [Edge(f"d{i}", f"d{rng.randrange(i)}") for i in range(1, size)]
    return TopologyGraph(nodes, edges)


def alarms(seed: int, size: int, count: int) -> list[Alert]:
    """Random alarms, some on an entity no node resolves, many at the same instants."""
    rng = random.Random(seed)
    out = []
    for k in range(count):
        entity = "ghost" if rng.random() < 0.1 else f"d{rng.randrange(size)}"
        at = float(rng.choice([rng.randrange(0, 900), 100, 250]))
        out.append(Alert(f"a{k}", "test", f"T{rng.randrange(4)}", entity, "warning", "", at))
    return out


def by_definition(ev: AlarmEvents, window: float, cap: int) -> list[tuple[int, int, int]]:
    """(cause, effect, hops) from the definition, in the documented order: the later
    alarm's location, then the earlier one's (ring order), then the later alarm."""
    out = []
    for v, ring in enumerate(ev.rings):
        targets = [k for k in range(len(ev.times)) if ev.locs[k] == v]
        for u, hops in ring:
            sources = [c for c in range(len(ev.times)) if ev.locs[c] == u]
            for k in targets:
                near = [c for c in sources
                        if ev.times[k] - window <= ev.times[c] <= ev.times[k]]
                out.extend((c, k, hops) for c in near[-cap:] if c != k)
    return out


@pytest.mark.parametrize(("seed", "hops", "window"), [(1, 1, 60.0), (2, 2, 5.0),
                                                       (3, 0, 120.0), (4, 1, 0.5)])
def test_pairs_are_those_of_the_definition(seed: int, hops: int, window: float) -> None:
    ev = AlarmEvents(alarms(seed, 12, 400), network(seed, 12), hops)
    cause, effect, hop = lag_pairs(ev, window)
    assert list(zip(cause.tolist(), effect.tolist(), hop.tolist(), strict=True)) == \
        by_definition(ev, window, alarm_pairs.MAX_PAIRS_PER_EVENT)


def test_the_cap_keeps_the_latest_and_chunking_changes_nothing(
        monkeypatch: pytest.MonkeyPatch) -> None:
    ev = AlarmEvents(alarms(5, 8, 500), network(5, 8), 1)
    monkeypatch.setattr(alarm_pairs, "MAX_PAIRS_PER_EVENT", 3)
    whole = lag_pairs(ev, 300.0)
    monkeypatch.setattr(alarm_pairs, "PAIR_CHUNK", 7)
    chunked = lag_pairs(ev, 300.0)
    expected = by_definition(ev, 300.0, 3)
    for got in (whole, chunked):
        assert list(zip(*(a.tolist() for a in got), strict=True)) == expected


def test_no_alarms_no_pairs() -> None:
    ev = AlarmEvents([], network(1, 3), 1)
    assert all(len(a) == 0 for a in lag_pairs(ev, 60.0))
