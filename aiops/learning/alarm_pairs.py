"""The alarms of a history as arrays, and every (earlier, later) pair of them nearby.

Every learner that reads which alarm tends to follow which (the relations between
alert types, ``aiops.learning.relations``; the clock offsets, ``clock``; the time
scale, ``timescale``; the live pace of an untrained engine) starts from the same two
things: the alarms sorted by time with their type and location as integers, and the
pairs of alarms that started within a window of each other on locations within a
number of hops. Building those pairs is the costly part of learning from a history,
so it lives here once, and ``aiops train`` builds them once for all its learners
(``AlarmPairs``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from aiops.models import Alert
from topology.graph import TopologyGraph

MAX_PAIRS_PER_EVENT = 2000  # earlier alarms considered per alarm: bounds the cost of a storm
PAIR_CHUNK = 2_000_000  # pairs (at most) built at once: bounds the memory of a pass


class AlarmEvents:
    """The alarms as arrays, sorted by time: type, location and start."""

    def __init__(self, alerts: Sequence[Alert], topology: TopologyGraph, hops: int):
        ordered = sorted(alerts, key=attrgetter("starts_at"))
        self.names: list[str] = sorted({e.name for e in ordered})
        type_index = {name: k for k, name in enumerate(self.names)}
        # A location is a topology node, or the entity itself when it resolves to none:
        # an unresolved entity is related to itself only.
        location_of: dict[str, str] = {}
        for e in ordered:
            if e.entity not in location_of:
                node = topology.resolve(e.entity)
                location_of[e.entity] = f"n:{node}" if node is not None else f"e:{e.entity}"
        locations = sorted(set(location_of.values()))
        self.locations: list[str] = locations  # "n:<node id>" or "e:<entity>"
        loc_index = {loc: k for k, loc in enumerate(locations)}
        self.types = np.array([type_index[e.name] for e in ordered], dtype=np.int64)
        self.locs = np.array([loc_index[location_of[e.entity]] for e in ordered],
                             dtype=np.int64)
        self.times = np.array([e.starts_at for e in ordered], dtype=np.float64)
        self.n_types = len(self.names)
        self.n_locs = len(locations)
        # rings[v]: (location, hops) pairs within ``hops`` of location v, itself included
        self.rings: list[list[tuple[int, int]]] = []
        for loc in locations:
            if loc.startswith("n:") and hops > 0:
                near = topology.neighbourhood(loc[2:], hops)
                ring = [(loc_index[f"n:{u}"], d) for u, d in near.items()
                        if f"n:{u}" in loc_index]
            else:
                ring = [(loc_index[loc], 0)]
            self.rings.append(sorted(ring))


def lag_pairs(ev: AlarmEvents, window: float) -> tuple[np.ndarray, ...]:
    """All (earlier, later) alarm pairs within ``window`` seconds on nearby locations.

    Returns ``cause, effect, hops``: indexes into the time-sorted alarms, ordered by
    the later alarm's location, then the earlier one's (ring order), then the later
    alarm's time. Alarms at the same instant pair both ways (their order is unknown);
    an alarm never pairs with itself; each alarm pairs with at most
    ``MAX_PAIRS_PER_EVENT`` of the latest earlier alarms on each nearby location.

    Why vectorised over (location, neighbour location) pairs rather than looping over
    them: on a dense topology a day of alarms has thousands of such pairs, and the
    live pace of an untrained engine (``aiops.engine.pace``) refits several times a
    day of event time, so a replay of an export paid the loop's per-call overhead
    again and again. Times are compared through their exact ranks (no float keys), so
    the pairs are exactly those of a per-location ``searchsorted``.
    """
    empty = np.zeros(0, dtype=np.int64)
    n = len(ev.times)
    if n == 0:
        return empty, empty, empty
    # Alarms by (location, time): one sorted key per alarm, location-major, of integers.
    by_loc = np.argsort(ev.locs, kind="stable")  # time order within a location
    distinct = np.unique(ev.times)
    rank = np.searchsorted(distinct, ev.times)  # exact: equal times, equal ranks
    stride = len(distinct) + 1
    keys = ev.locs[by_loc] * stride + rank[by_loc]
    first = np.searchsorted(ev.locs[by_loc], np.arange(ev.n_locs + 1))  # segment bounds
    # Flattened rings: (later alarm's location, earlier one's location, hops).
    ring_v = np.array([v for v, ring in enumerate(ev.rings) for _ in ring], dtype=np.int64)
    ring_u = np.array([u for ring in ev.rings for u, _ in ring], dtype=np.int64)
    ring_h = np.array([h for ring in ev.rings for _, h in ring], dtype=np.int64)
    targets = first[ring_v + 1] - first[ring_v]  # later alarms per ring entry
    causes, effects, hops = [], [], []
    # Chunks of ring entries whose queries (ring entry x later alarm) and pairs stay
    # bounded: each query yields at most the cap, and at most the earlier location's
    # alarms (review: bounding queries alone let one chunk hold ~18M pairs).
    sources = np.diff(first)[ring_u]
    estimate = targets * np.maximum(1, np.minimum(MAX_PAIRS_PER_EVENT, sources))
    chunk = (np.cumsum(estimate) - estimate) // PAIR_CHUNK
    edges = [0, *(np.flatnonzero(np.diff(chunk)) + 1).tolist(), len(ring_v)]
    for lo_entry, hi_entry in zip(edges[:-1], edges[1:], strict=True):
        rep = targets[lo_entry:hi_entry]
        total = int(rep.sum())
        if total == 0:
            continue
        entry = np.repeat(np.arange(lo_entry, hi_entry), rep)
        within = np.arange(total) - np.repeat(np.cumsum(rep) - rep, rep)
        effect = by_loc[first[ring_v[entry]] + within]
        base = ring_u[entry] * stride
        start = np.searchsorted(distinct, ev.times[effect] - window, "left")
        lo = np.searchsorted(keys, base + start, "left")
        hi = np.searchsorted(keys, base + rank[effect], "right")
        lo = np.maximum(lo, hi - MAX_PAIRS_PER_EVENT)
        counts = hi - lo
        pairs = int(counts.sum())
        if pairs == 0:
            continue
        # positions lo[k] .. hi[k]-1 for every query k, flattened without a loop
        pos = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(pairs)
        cause = by_loc[pos]
        effect = np.repeat(effect, counts)
        keep = cause != effect
        causes.append(cause[keep])
        effects.append(effect[keep])
        hops.append(np.repeat(ring_h[entry], counts)[keep])
    if not causes:
        return empty, empty, empty
    return np.concatenate(causes), np.concatenate(effects), np.concatenate(hops)


@dataclass(frozen=True)
class AlarmPairs:
    """The alarms (``events``) and every (earlier, later) pair of them within ``window``
    seconds on locations within ``hops`` of each other (``lag_pairs``).

    Building them is the costly part of learning from a history, and both the type
    relations and the clock offsets learn from such pairs; ``aiops train`` builds them
    once, as wide as the wider of the two needs, and each takes what it uses.
    """

    events: AlarmEvents
    cause: np.ndarray
    effect: np.ndarray
    hop: np.ndarray
    window: float
    hops: int

    @classmethod
    def build(cls, alerts: Sequence[Alert], topology: TopologyGraph, hops: int,
              window: float) -> AlarmPairs:
        events = AlarmEvents(alerts, topology, hops)
        cause, effect, hop = lag_pairs(events, window)
        return cls(events, cause, effect, hop, window, hops)

    def covers(self, hops: int, window: float) -> bool:
        """Whether these pairs include every pair an estimator with this reach needs."""
        return self.hops >= hops and self.window >= window


def corrected_lags(ev: AlarmEvents, cause: np.ndarray, effect: np.ndarray, lag: np.ndarray,
                    offsets: Mapping[str, float] | None) -> np.ndarray:
    """``lag`` with each alarm's time moved by its node's clock offset (unchanged
    without offsets)."""
    if not offsets:
        return lag
    shift = np.array([offsets.get(loc[2:], 0.0) if loc.startswith("n:") else 0.0
                      for loc in ev.locations], dtype=np.float64)
    return lag - shift[ev.locs[effect]] + shift[ev.locs[cause]]


def indexes_by_key(keys: np.ndarray, n: int) -> list[np.ndarray]:
    """Indexes of ``keys`` per key value 0..n-1, each in increasing order."""
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n + 1))
    return [order[bounds[k]:bounds[k + 1]] for k in range(n)]
