"""Everything a topology store holds, with when and by whom each item was reported, and
the rule that turns it into "the topology the engine uses for an alert at time T".

The stores answer the literal question ``load(as_of, max_age)``
(:class:`topology.store.TimeWindow`). Analysis needs one more thing: sources report
at their own pace, so time is read *per source*. Each item belongs to the source that
reported it last (``source``). A source's view at time T is its view at T clamped to
the span of its own reports, ``[first report, last report]``:

* before a source first reported, the items of its first report are taken to have
  been there already (discovery found a network that existed; the first import is
  not the day the cables were laid), while items it added in later runs were not;
* after its last report, the topology stays as it last described it, and ageing
  (``max_age``) only counts time in which the source went on reporting *without* an
  item. A topology imported once, or a source whose schedule stopped, does not
  silently age away; an edge that a still-running source stopped reporting does.

Those two clamps are exactly the strict window evaluated at ``clamp(T, first, last)``
of the item's source, so the rule reuses :class:`TimeWindow` rather than restating it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from topology.graph import TopologyGraph
from topology.model import Edge, Node
from topology.store import TimeWindow


@dataclass(frozen=True, slots=True)
class Seen:
    """When an item was first and last reported, and which source reported it last."""

    first: float
    last: float
    source: str


@dataclass(frozen=True, slots=True)
class Span:
    """The first and the last report of one source (over everything it owns)."""

    first: float
    last: float


class TopologyHistory:
    """Stored nodes and edges with their sightings; builds the graph for any time.

    Built from ``GraphStore.history()``. Pure Python and immutable, so an engine can
    share it between threads and the rule is tested without a database.
    """

    def __init__(self, nodes: Iterable[tuple[Node, Seen]], edges: Iterable[tuple[Edge, Seen]]):
        self.nodes = list(nodes)
        self.edges = list(edges)
        spans: dict[str, Span] = {}
        for _, seen in [*self.nodes, *self.edges]:
            span = spans.get(seen.source)
            spans[seen.source] = Span(seen.first, seen.last) if span is None else Span(
                min(span.first, seen.first), max(span.last, seen.last))
        self.spans = spans
        self.sightings = {seen for _, seen in self.nodes} | {seen for _, seen in self.edges}

    def presence(self, seen: Seen, max_age: float | None) -> tuple[float, float]:
        """``[start, end]``: the event times at which the item is in the engine's topology
        (``-inf``/``inf`` when unbounded). Equal to ``TimeWindow(clamp(T), max_age)``
        holding the item, ``clamp`` being to its source's span."""
        span = self.spans[seen.source]
        start = -math.inf if seen.first <= span.first else seen.first
        end = math.inf
        if max_age is not None and not TimeWindow(span.last, max_age).contains(
                seen.first, seen.last):
            end = seen.last + max_age  # aged out before the source's last report
        return start, end

    def boundaries(self, max_age: float | None) -> list[float]:
        """Sorted times at which the topology may change: the graph is the same for
        every T in ``[b[i], b[i+1])`` (and before ``b[0]``, and from ``b[-1]`` on)."""
        points: set[float] = set()
        for seen in self.sightings:
            start, end = self.presence(seen, max_age)
            if start > -math.inf:
                points.add(start)
            if end < math.inf:
                points.add(math.nextafter(end, math.inf))  # present while T <= end
        return sorted(points)

    def graph_at(self, at: float, max_age: float | None) -> TopologyGraph:
        """The topology the engine uses for an alert at event time ``at``."""
        keep = {seen for seen in self.sightings if _within(self.presence(seen, max_age), at)}
        return self._graph(keep.__contains__)

    def everything(self) -> TopologyGraph:
        """All stored items, stale ones included (for export and inspection)."""
        return self._graph(lambda seen: True)

    def _graph(self, keep: Callable[[Seen], bool]) -> TopologyGraph:
        nodes = [node for node, seen in self.nodes if keep(seen)]
        ids = {node.id for node in nodes}
        # An edge needs both ends, else networkx would invent the missing end.
        edges = [edge for edge, seen in self.edges
                 if edge.source in ids and edge.target in ids and keep(seen)]
        return TopologyGraph(nodes, edges)


def _within(presence: tuple[float, float], at: float) -> bool:
    return presence[0] <= at <= presence[1]
