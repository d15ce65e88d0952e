"""Which topology applies to an alert's event time, cheaply enough for the hot path.

The engine places thousands of alerts a second, so it must not filter edges per
alert. The topology only changes at a few instants (when a source first reported an
item, when an item aged out; :meth:`TopologyHistory.boundaries`), so the time axis is
cut into intervals between those instants and each interval gets one prebuilt
:class:`TopologyGraph`. The engine keeps the snapshot it is using and its interval;
an alert inside that interval costs two float comparisons, and only an alert that
crosses into another interval makes it ask :meth:`TopologyTimeline.at` for another.

The snapshot for current alerts (the last interval, open to the future) is built
once and kept for good, so live ingestion never rebuilds anything. Historical
snapshots live in a small LRU cache: a replay walks forward in time and needs one at
a time, a late alert may step one interval back, and each snapshot of a large
topology costs as much memory as the current graph.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass

from topology.graph import TopologyGraph
from topology.history import TopologyHistory
from topology.store import GraphStore

CACHED_SNAPSHOTS = 2  # historical snapshots kept besides the current one


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The topology for every event time in ``[start, end)``."""

    graph: TopologyGraph
    start: float
    end: float

    def covers(self, at: float) -> bool:
        return self.start <= at < self.end


class TopologyTimeline:
    """Snapshots of one :class:`TopologyHistory` under one ``max_age``, built on demand.

    Immutable apart from its cache: when the stored topology changes, build a new
    timeline (``Runtime.reload_topology``) rather than patching this one.
    """

    def __init__(self, history: TopologyHistory, max_age: float | None,
                 cache_size: int = CACHED_SNAPSHOTS):
        if max_age is not None and max_age <= 0:
            max_age = None  # 0 means "never age", as in EngineSettings
        self.history = history
        self.max_age = max_age
        self.bounds = history.boundaries(max_age)
        self._cache: OrderedDict[int, Snapshot] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._current = self._build(len(self.bounds))

    @classmethod
    def of(cls, store: GraphStore, max_age: float | None) -> TopologyTimeline:
        """The timeline of everything ``store`` holds now."""
        return cls(store.history(), max_age)

    def current(self) -> Snapshot:
        """The snapshot for alerts from the latest change on (live ingestion)."""
        return self._current

    def at(self, at: float) -> Snapshot:
        """The snapshot whose interval contains event time ``at``."""
        index = bisect.bisect_right(self.bounds, at)
        if index == len(self.bounds):
            return self._current
        with self._lock:
            snapshot = self._cache.get(index)
            if snapshot is not None:
                self._cache.move_to_end(index)
                return snapshot
        snapshot = self._build(index)
        with self._lock:
            self._cache[index] = snapshot
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return snapshot

    def _build(self, index: int) -> Snapshot:
        """Interval ``index`` is ``[bounds[index-1], bounds[index])``; membership is
        constant inside it, so evaluating at its start (``-inf`` for the first) is exact."""
        start = self.bounds[index - 1] if index > 0 else -math.inf
        end = self.bounds[index] if index < len(self.bounds) else math.inf
        return Snapshot(self.history.graph_at(start, self.max_age), start, end)
