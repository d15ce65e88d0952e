"""The engine's reading of topology history (topology/history.py) and its snapshot cache
(topology/timeline.py), without a store: sightings are written down directly."""

from __future__ import annotations

import math
import random

import pytest

from topology.history import Seen, TopologyHistory
from topology.model import Edge, Node
from topology.store import TimeWindow
from topology.timeline import TopologyTimeline

DAY = 86400.0


def node(i: str, first: float, last: float, source: str = "nms") -> tuple[Node, Seen]:
    return Node(i, "device", i), Seen(first, last, source)


def edge(a: str, b: str, first: float, last: float, source: str = "nms") -> tuple[Edge, Seen]:
    return Edge(a, b), Seen(first, last, source)


def edges_at(history: TopologyHistory, at: float, max_age: float | None) -> set[tuple[str, str]]:
    return {(e.source, e.target) for e in history.graph_at(at, max_age).edges}


def week_old_link() -> TopologyHistory:
    """nms reports a, b, c daily from day 0 to day 30; the link a-b only on days 10-15."""
    return TopologyHistory(
        [node("a", 0, 30 * DAY), node("b", 0, 30 * DAY), node("c", 0, 30 * DAY)],
        [edge("a", "b", 10 * DAY, 15 * DAY), edge("b", "c", 0, 30 * DAY)])


def test_a_link_is_used_while_reported_and_ages_out_after_max_age() -> None:
    history = week_old_link()
    assert ("a", "b") not in edges_at(history, 9 * DAY, 7 * DAY)  # not there yet
    assert ("a", "b") in edges_at(history, 12 * DAY, 7 * DAY)
    assert ("a", "b") in edges_at(history, 22 * DAY, 7 * DAY)  # 7 days unreported: still
    assert ("a", "b") not in edges_at(history, 22 * DAY + 1, 7 * DAY)
    assert ("a", "b") not in edges_at(history, 30 * DAY, 7 * DAY)
    assert edges_at(history, 30 * DAY, None) == {("a", "b"), ("b", "c")}  # never ages
    assert edges_at(history, math.inf, 7 * DAY) == {("b", "c")}


def test_a_source_is_extrapolated_before_its_first_and_after_its_last_report() -> None:
    history = TopologyHistory(
        [node("a", 100 * DAY, 100 * DAY, "import"), node("b", 100 * DAY, 100 * DAY, "import"),
         node("x", 0, 200 * DAY, "lldp"), node("y", 50 * DAY, 200 * DAY, "lldp")],
        [edge("a", "b", 100 * DAY, 100 * DAY, "import"), edge("x", "y", 50 * DAY, 200 * DAY,
                                                               "lldp")])
    # Imported once on day 100 and never again: still used on day 300, although lldp
    # went on reporting; nothing says the imported link went away.
    assert edges_at(history, 300 * DAY, 7 * DAY) == {("a", "b"), ("x", "y")}
    # Before its first report the import is taken to describe what already existed...
    assert ("a", "b") in edges_at(history, 10 * DAY, 7 * DAY)
    # ...but what lldp added in a later run (y, first seen day 50) was not there before.
    assert set(history.graph_at(10 * DAY, 7 * DAY).nodes) == {"a", "b", "x"}


def test_presence_is_the_strict_window_at_the_time_clamped_to_the_source() -> None:
    rng = random.Random(3)
    for _ in range(300):
        sightings = [Seen(f, f + rng.choice([0, 1, 5, 20]), rng.choice("pq"))
                     for f in (rng.randint(0, 40) for _ in range(6))]
        history = TopologyHistory([(Node(str(i), "device", str(i)), s)
                                   for i, s in enumerate(sightings)], [])
        max_age = rng.choice([None, 0.0, 3.0, 10.0])
        at = float(rng.randint(-10, 80))
        for i, seen in enumerate(sightings):
            span = history.spans[seen.source]
            clamped = min(max(at, span.first), span.last)
            strict = TimeWindow(clamped, max_age).contains(seen.first, seen.last)
            assert (str(i) in history.graph_at(at, max_age)) == strict, (seen, at, max_age)


def test_the_graph_only_changes_at_the_boundaries() -> None:
    history = week_old_link()
    bounds = history.boundaries(7 * DAY)
    assert bounds == [10 * DAY, math.nextafter(22 * DAY, math.inf)]
    probes = [-DAY, 0, 5 * DAY, *bounds, 16 * DAY, 22 * DAY, 25 * DAY, 31 * DAY]
    for at in probes:
        i = sum(1 for b in bounds if b <= at)
        start = bounds[i - 1] if i else -math.inf
        assert edges_at(history, at, 7 * DAY) == edges_at(history, start, 7 * DAY)


def test_timeline_serves_the_snapshot_of_each_interval() -> None:
    timeline = TopologyTimeline(week_old_link(), 7 * DAY)
    live = timeline.current()
    assert live.covers(30 * DAY) and live.covers(1e12) and not live.covers(20 * DAY)
    assert {(e.source, e.target) for e in live.graph.edges} == {("b", "c")}
    old = timeline.at(12 * DAY)
    assert (old.start, old.end) == (10 * DAY, math.nextafter(22 * DAY, math.inf))
    assert ("a", "b") in {(e.source, e.target) for e in old.graph.edges}
    assert timeline.at(20 * DAY) is old  # same interval: built once
    assert timeline.at(100 * DAY) is live
    first = timeline.at(-5 * DAY)
    assert first.start == -math.inf and first.end == 10 * DAY


def test_timeline_keeps_few_historical_snapshots() -> None:
    nodes = [node(f"n{i}", 0, 100 * DAY) for i in range(2)]
    edges = [edge("n0", "n1", i * 10 * DAY, i * 10 * DAY + 1) for i in range(1, 6)]
    history = TopologyHistory(nodes, [(Edge("n0", "n1", f"k{i}"), s)
                                      for i, (_, s) in enumerate(edges)])
    timeline = TopologyTimeline(history, DAY, cache_size=2)
    first = timeline.at(10 * DAY)
    timeline.at(20 * DAY)
    timeline.at(30 * DAY)
    assert timeline.at(10 * DAY) is not first  # evicted, rebuilt
    assert timeline.current() is timeline.current()  # the live one is never evicted


@pytest.mark.parametrize("never", [None, 0.0])
def test_zero_or_none_max_age_never_ages(never: float | None) -> None:
    timeline = TopologyTimeline(week_old_link(), never)
    assert timeline.max_age is None
    assert {(e.source, e.target) for e in timeline.current().graph.edges} == {("a", "b"),
                                                                             ("b", "c")}
