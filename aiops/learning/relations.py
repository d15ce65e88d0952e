"""Which alert types cause which, learned from alert history and topology alone.

Two things are learned, for two different users:

* ``cooccur_`` / ``related(a, b)``, for the correlator: how much more often than
  chance two types start within ``window`` seconds of each other on the same or
  neighbouring nodes (``max_hops``). It is symmetric and deliberately wide: two
  effects of one cause belong in one incident although neither causes the other.
* ``edges_`` / ``strength(cause, effect)``, for root cause and for
  ``aiops model export-causal-graph``: directed causal edges between types.
* ``precedence_`` / ``precedes(a, b)``, for root cause: of the times ``a`` and ``b``
  started within ``precedence_window`` seconds of each other on the same or
  neighbouring nodes, how often ``a`` came first. Far denser than the causal edges
  (every pair seen together gets a count, no significance test), so it still orders
  the types of an incident when a day of history is too little to learn edges:
  ranking by it named the root of 63 % of the development scenarios' faults against
  55 % by the learned edges (docs/architecture.md).

The causal edges come from a topological Hawkes process (Cai et al., "THPs:
Topological Hawkes Processes for Learning Causal Structure on Event Sequences",
IEEE TNNLS 2022): an alarm of type ``i`` on node ``v`` happens spontaneously at a
rate ``mu[i, v]`` of its own, plus, for every earlier alarm of a parent type ``j``
on a node ``h`` hops away, an excitation ``alpha[j, h, lag bin]`` that depends on
how long ago it was. Why this and not co-occurrence: an excitation is fitted
*jointly* with every other parent of ``i``, so a type that merely co-occurs with the
real cause (a sibling, a grandparent whose effect is already explained by the
parent, a type that is frequent on the same busy node) adds nothing and gets no
edge; and excitation goes forward in time only, which gives the direction.

What differs from THP as published, and why (details and measurements in
docs/causal-discovery.md):

* the kernel is piecewise constant over geometric lag bins (``LAG_SHARES`` of
  ``causal_window``) instead of one exponential with a fixed decay: the delay
  between cause and effect differs by orders of magnitude between networks (a fixed
  decay of 10 s, gcastle's default, misses a cascade that takes minutes); this is
  the nonparametric Hawkes kernel of Lewis & Mohler (J. Nonparametric Statistics
  2011) in its histogram form;
* one more bin takes effects stamped up to ``skew_tolerance`` seconds *before*
  their cause on another node (two clocks): otherwise such an effect is credited to
  whatever earlier alarm is around, typically a grandparent or a sibling;
* the baseline is per type *and node*, and a type only counts as possible on the
  nodes where it was ever seen, so a busy node or a type confined to a few nodes
  does not look like excitation;
* the structure search uses that the log-likelihood is a sum of one term per effect
  type (Cai et al., eq. 9): every candidate cause of a type is scored at once by
  the likelihood it adds with the rest held fixed; a priority queue adds the edge
  with the largest gain net of a BIC-like penalty ``penalty * log(n_effect)``,
  never one that closes a directed cycle (as THP's hill climb), refitting only the
  effect type concerned by EM (the branching-structure EM of Lewis & Mohler); a
  backward pass then drops parents that later ones made redundant. THP's hill
  climb instead refits every type for every one-edge change of the whole graph.

Cost: with ``n`` alarms and ``m`` alarms on the nodes within ``causal_hops`` during
``causal_window`` before an alarm (at most ``MAX_PAIRS_PER_EVENT``): building the
lag pairs is O(n log n + n m), one EM step over all types O(n m), and the search
refits one effect type (at most ``EM_ITERATIONS`` steps, warm-started) per edge
tried. Memory O(n m). The co-occurrence statistics reuse the same pairs. The 30,691
alarms of the Huawei NeurIPS 2023 sample fit in about a second
(docs/benchmarks.md, "Learning causal relations between alarm types").
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from aiops.models import Alert
from topology.graph import TopologyGraph

MAX_PAIRS_PER_EVENT = 2000  # earlier alarms considered per alarm: bounds the cost of a storm
COOCCUR_SUPPORT = 3  # times seen together before two types count as related at all
COOCCUR_LIFT = 2.0  # ... and how much more often than chance
COOCCUR_FULL = 10.0  # lift at which relatedness is 1
# Upper edges of the lag bins of the excitation kernel, as shares of causal_window:
# geometric, so a delay of 2 s and one of 4 minutes both get a bin of their size.
LAG_SHARES = (1 / 128, 1 / 32, 1 / 8, 1 / 2, 1.0)
EM_ITERATIONS = 100  # per refit at most; warm-started, so later refits converge from close by
EM_TOLERANCE = 0.01  # log-likelihood gain per CHECK_EVERY EM steps under which EM stops
CHECK_EVERY = 5
GAIN_ITERATIONS = 12  # fixed-point steps when scoring a candidate parent
MAX_PARENTS = 30  # causes per effect type at most: bounds the search on dense data


class _Events:
    """The alarms as arrays, sorted by time: type, location and start."""

    def __init__(self, alerts: Sequence[Alert], topology: TopologyGraph, hops: int):
        ordered = sorted(alerts, key=lambda e: e.starts_at)
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


def _lag_pairs(ev: _Events, window: float) -> tuple[np.ndarray, ...]:
    """All (earlier, later) alarm pairs within ``window`` seconds on nearby locations.

    Returns ``cause, effect, hops``: indexes into the time-sorted alarms. Alarms at
    the same instant pair both ways (their order is unknown); an alarm never pairs
    with itself.
    """
    by_loc = _group(ev.locs, ev.n_locs)
    causes, effects, hops = [], [], []
    for v, targets in enumerate(by_loc):
        if len(targets) == 0:
            continue
        t_target = ev.times[targets]
        for u, h in ev.rings[v]:
            sources = by_loc[u]
            if len(sources) == 0:
                continue
            t_source = ev.times[sources]
            lo = np.searchsorted(t_source, t_target - window, "left")
            hi = np.searchsorted(t_source, t_target, "right")
            lo = np.maximum(lo, hi - MAX_PAIRS_PER_EVENT)
            counts = hi - lo
            total = int(counts.sum())
            if total == 0:
                continue
            # positions lo[k] .. hi[k]-1 for every target k, flattened without a loop
            starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
            pos = starts + np.arange(total)
            effect = np.repeat(targets, counts)
            cause = sources[pos]
            keep = cause != effect
            causes.append(cause[keep])
            effects.append(effect[keep])
            hops.append(np.full(int(keep.sum()), h, dtype=np.int64))
    if not causes:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return np.concatenate(causes), np.concatenate(effects), np.concatenate(hops)


def _group(keys: np.ndarray, n: int) -> list[np.ndarray]:
    """Indexes of ``keys`` per key value 0..n-1, each in increasing order."""
    order = np.argsort(keys, kind="stable")
    bounds = np.searchsorted(keys[order], np.arange(n + 1))
    return [order[bounds[k]:bounds[k + 1]] for k in range(n)]


class TypeRelations:
    """Estimator of relations between alert types: co-occurrence and causal edges.

    ``window``/``max_hops`` define co-occurrence for the correlator. The causal search:
    ``causal_window`` is the longest cause-to-effect delay modelled, ``causal_hops``
    how far from its cause an effect may land, ``skew_tolerance`` how much earlier
    than its cause an effect on another node may be stamped, ``penalty`` the
    log-likelihood an edge must add per kernel parameter, times the log of the effect
    type's count (0.5 would be BIC; 1.0 was chosen on simulated data, see
    docs/causal-discovery.md), ``acyclic`` whether the graph must have no directed
    cycle. ``min_support`` is the fewest alarms a type needs, and the fewest
    (cause, effect) pairs an edge needs, to be considered at all.
    """

    def __init__(self, window: float = 300.0, max_hops: int = 1, min_support: int = 5,
                 causal_window: float = 300.0, causal_hops: int = 1, penalty: float = 1.0,
                 skew_tolerance: float = 15.0, acyclic: bool = True,
                 precedence_window: float = 120.0):
        self.window = window
        self.max_hops = max_hops
        self.min_support = min_support
        self.causal_window = causal_window
        self.causal_hops = causal_hops
        self.penalty = penalty
        self.skew_tolerance = skew_tolerance
        self.acyclic = acyclic
        self.precedence_window = precedence_window
        self.edges_: dict[tuple[str, str], float] = {}
        self.gains_: dict[tuple[str, str], float] = {}
        self.cooccur_: dict[tuple[str, str], float] = {}
        self.type_counts_: dict[str, int] = {}
        # (a, b) -> times a started before b nearby within precedence_window
        self.precedence_: dict[tuple[str, str], int] = {}

    def get_params(self) -> dict[str, Any]:
        return {"window": self.window, "max_hops": self.max_hops,
                "min_support": self.min_support, "causal_window": self.causal_window,
                "causal_hops": self.causal_hops, "penalty": self.penalty,
                "skew_tolerance": self.skew_tolerance,
                "acyclic": self.acyclic, "precedence_window": self.precedence_window}

    # ------------------------------------------------------------------ fitting

    def fit(self, alerts: Sequence[Alert], topology: TopologyGraph) -> TypeRelations:
        """Learn co-occurrence and causal edges from ``alerts`` on ``topology``."""
        hops = max(self.max_hops, self.causal_hops)
        ev = _Events(alerts, topology, hops)
        counts = np.bincount(ev.types, minlength=ev.n_types)
        self.type_counts_ = {name: int(c) for name, c in zip(ev.names, counts, strict=True)}
        self.edges_, self.gains_, self.cooccur_, self.precedence_ = {}, {}, {}, {}
        if len(ev.times) == 0:
            return self
        cause, effect, hop = _lag_pairs(
            ev, max(self.window, self.causal_window, self.precedence_window))
        lag = ev.times[effect] - ev.times[cause]
        self.precedence_ = self._precedence(ev, cause, effect, hop, lag)
        self.cooccur_ = self._cooccurrence(ev, cause, effect, hop, lag)
        near = (hop <= self.causal_hops) & (lag <= self.causal_window)
        self._causal(ev, cause[near], effect[near], hop[near], lag[near])
        return self

    def _cooccurrence(self, ev: _Events, cause: np.ndarray, effect: np.ndarray,
                      hop: np.ndarray, lag: np.ndarray) -> dict[tuple[str, str], float]:
        """Lift of "b starts within ``window`` after a, nearby" over chance, per pair.

        ``P(b | a)`` (share of ``a`` alarms followed by ``b``) is compared with the
        chance of ``b`` after alarms of third types (neither ``a`` nor ``b``): ``a``
        is left out of the base or a strong cause would raise the rate it is compared
        with. Ties in time count in the order of the sorted history, once.
        """
        n_types, n = ev.n_types, len(ev.times)
        keep = (hop <= self.max_hops) & (lag <= self.window) & (cause < effect)
        a, b = ev.types[cause[keep]], ev.types[effect[keep]]
        anchor = cause[keep]
        keep = a != b
        anchor, b = anchor[keep], b[keep]
        # one count per (anchor alarm, following type)
        key = np.unique(anchor * n_types + b)
        anchor_type, follower = ev.types[key // n_types], key % n_types
        follows = np.bincount(anchor_type * n_types + follower,
                              minlength=n_types * n_types).reshape(n_types, n_types)
        followed_by_any = follows.sum(axis=0)
        anchors = np.bincount(ev.types, minlength=n_types)
        out: dict[tuple[str, str], float] = {}
        for i, j in zip(*np.nonzero(follows >= COOCCUR_SUPPORT), strict=True):
            k = int(follows[i, j])
            conditional = k / float(anchors[i])
            others = n - anchors[j] - anchors[i]
            base = (followed_by_any[j] - k) / others if others > 0 else 0.0
            lift = conditional / base if base > 0 else math.inf
            if lift >= COOCCUR_LIFT:
                x, y = ev.names[i], ev.names[j]
                pair = (x, y) if x <= y else (y, x)
                # rounded as stored, so a loaded model equals the fitted one
                out[pair] = max(out.get(pair, 0.0), round(min(1.0, lift / COOCCUR_FULL), 4))
        return out

    def _precedence(self, ev: _Events, cause: np.ndarray, effect: np.ndarray,
                    hop: np.ndarray, lag: np.ndarray) -> dict[tuple[str, str], int]:
        """Per ordered pair of types, how often the first started strictly before the
        second, on the same or a neighbouring node, within ``precedence_window``."""
        keep = (lag > 0) & (lag <= self.precedence_window) & (hop <= 1)
        a, b = ev.types[cause[keep]], ev.types[effect[keep]]
        different = a != b
        n = ev.n_types
        counts = np.bincount(a[different] * n + b[different], minlength=n * n)
        return {(ev.names[k // n], ev.names[k % n]): int(counts[k])
                for k in np.flatnonzero(counts)}

    def _causal(self, ev: _Events, cause: np.ndarray, effect: np.ndarray, hop: np.ndarray,
                lag: np.ndarray) -> None:
        """Fit the topological Hawkes process per effect type, then make one graph."""
        n_types, hops = ev.n_types, self.causal_hops + 1
        # lag bins: one for effects stamped up to skew_tolerance *before* their cause
        # (late reports, skewed clocks), then geometric ones up to causal_window
        before = [-self.skew_tolerance] if self.skew_tolerance > 0 else []
        edges = np.array([*before, 0.0, *(s * self.causal_window for s in LAG_SHARES)])
        widths = np.diff(edges)
        n_bins = len(widths)
        block = hops * n_bins  # kernel parameters per (cause type, effect type)
        span = float(ev.times[-1] - ev.times[0]) or 1.0
        t_start, t_end = float(ev.times[0]), float(ev.times[-1])
        counts = np.bincount(ev.types, minlength=n_types)
        # Exposure: how much room each alarm leaves in each lag bin (1, less where the
        # history ends), summed per (type, location) that occurs. Sparse on purpose:
        # a dense types x locations table does not fit for large networks.
        room = np.clip(np.minimum(ev.times[:, None] + edges[None, 1:], t_end)
                       - np.maximum(ev.times[:, None] + edges[None, :-1], t_start),
                       0.0, widths) / widths
        pair_key, pair_of = np.unique(ev.types * ev.n_locs + ev.locs, return_inverse=True)
        src = _Sources(pair_key // ev.n_locs, pair_key % ev.n_locs,
                       np.stack([np.bincount(pair_of, weights=room[:, b],
                                             minlength=len(pair_key))
                                 for b in range(n_bins)], axis=1))
        # rings as arrays: (location, location at h hops, h) for h < hops
        ring = np.array([(v, u, h) for v, near in enumerate(ev.rings) for u, h in near
                         if h < hops], dtype=np.int64).reshape(-1, 3)

        # the same pairs the other way round, for the bin before the cause
        early = (lag > 0) & (lag <= self.skew_tolerance) & (hop > 0)
        cause, effect = (np.concatenate([cause, effect[early]]),
                         np.concatenate([effect, cause[early]]))
        hop, lag = np.concatenate([hop, hop[early]]), np.concatenate([lag, -lag[early]])
        bins = np.clip(np.searchsorted(edges, lag, "right") - 1, 0, n_bins - 1)
        # the bin before the cause exists between nodes only
        possible = np.ones((hops, n_bins), dtype=bool)
        possible[0, :len(before)] = False
        possible = possible.ravel()
        column = hop * n_bins + bins  # within a cause type's block
        value = 1.0 / widths[bins]
        eff_type = ev.types[effect]
        order = np.argsort(eff_type, kind="stable")
        bounds = np.searchsorted(eff_type[order], np.arange(n_types + 1))
        models: dict[int, _EffectModel] = {}
        for i in range(n_types):
            if counts[i] < self.min_support:
                continue
            sel = order[bounds[i]:bounds[i + 1]]
            # where type i can happen (the locations it was ever seen on), and how many
            # such locations each location has at each hop
            host = np.zeros(ev.n_locs)
            host[src.loc[src.type == i]] = 1.0
            host_ring = np.bincount(ring[:, 0] * hops + ring[:, 2], weights=host[ring[:, 1]],
                                    minlength=ev.n_locs * hops).reshape(ev.n_locs, hops)
            models[i] = _EffectModel(i, ev, effect[sel], ev.types[cause[sel]], column[sel],
                                     value[sel], host, host_ring, src, block, possible, span,
                                     self.min_support)
        # BIC: half the log of the sample size per parameter, times ``penalty`` / 0.5
        penalty = {i: self.penalty * math.log(counts[i]) for i in models}
        found = _greedy_dag(models, penalty, n_types, self.acyclic)
        self.edges_ = {(ev.names[j], ev.names[i]): round(min(1.0, w), 4)
                       for (j, i), (_, w) in found.items()}
        self.gains_ = {(ev.names[j], ev.names[i]): g for (j, i), (g, _) in found.items()}

    # ------------------------------------------------------------------ use

    def strength(self, cause: str, effect: str) -> float:
        """Expected alarms of ``effect`` one ``cause`` alarm sets off (capped at 1) for a
        learned causal edge, else 0."""
        return self.edges_.get((cause, effect), 0.0)

    def precedes(self, a: str, b: str) -> tuple[float, int]:
        """How often ``a`` started first when ``a`` and ``b`` started close together
        nearby in history (Laplace-smoothed, 0.5 when never seen), and on how many
        such occasions."""
        before = self.precedence_.get((a, b), 0)
        seen = before + self.precedence_.get((b, a), 0)
        return (before + 1) / (seen + 2), seen

    def related(self, a: str, b: str) -> float:
        """How much more often than chance two types occur together nearby, in [0, 1].

        Wider than the causal edges: siblings (two effects of one cause) belong in one
        incident although neither causes the other.
        """
        return self.cooccur_.get((a, b) if a <= b else (b, a), 0.0)

    def edges(self) -> list[dict[str, Any]]:
        """CONTRACTS.md §4 form, strongest first."""
        return [{"cause": a, "effect": b, "weight": round(w, 4)}
                for (a, b), w in sorted(self.edges_.items(), key=lambda kv: (-kv[1], kv[0]))]

    def to_dict(self) -> dict[str, Any]:
        return {"params": self.get_params(), "edges": self.edges(),
                "cooccurrence": [[a, b, round(w, 4)]
                                 for (a, b), w in sorted(self.cooccur_.items())],
                "precedence": [[a, b, n] for (a, b), n in sorted(self.precedence_.items())],
                "type_counts": self.type_counts_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TypeRelations:
        """Load a stored model; parameters an older version stored and this one no
        longer has (``min_lift``, ``min_conditional``) are ignored."""
        known = cls().get_params()
        model = cls(**{k: v for k, v in data.get("params", {}).items() if k in known})
        model.edges_ = {(e["cause"], e["effect"]): float(e["weight"])
                        for e in data.get("edges", [])}
        model.cooccur_ = {(a, b): float(w) for a, b, w in data.get("cooccurrence", [])}
        model.precedence_ = {(a, b): int(n) for a, b, n in data.get("precedence", [])}
        model.type_counts_ = dict(data.get("type_counts", {}))
        return model


class _Sources:
    """Alarms summed per (type, location) that occurs: their room in each lag bin."""

    def __init__(self, types: np.ndarray, locs: np.ndarray, room: np.ndarray):
        self.type = types
        self.loc = locs
        self.room = room


class _EffectModel:
    """The Hawkes intensity of one effect type and the greedy search for its parents.

    Rows are the alarms of the effect type; each (row, cause type, kernel column)
    entry holds how much one earlier alarm excites it. ``alpha`` per column is the
    expected number of effect alarms per cause alarm, per hosting location in the
    hop ring, per second of lag, and ``mu`` per location the spontaneous rate.
    """

    def __init__(self, i: int, ev: _Events, rows: np.ndarray, src: np.ndarray,
                 column: np.ndarray, value: np.ndarray, host: np.ndarray,
                 host_ring: np.ndarray, sources: _Sources, block: int,
                 possible: np.ndarray, span: float, min_support: int):
        self.i = i
        own = np.flatnonzero(ev.types == i)
        local = np.full(len(ev.types), -1, dtype=np.int64)
        local[own] = np.arange(len(own))
        self.n = len(own)
        loc_ids = np.flatnonzero(host)
        loc_local = np.full(len(host), -1, dtype=np.int64)
        loc_local[loc_ids] = np.arange(len(loc_ids))
        self.row_loc = loc_local[ev.locs[own]]
        self.n_locs = len(loc_ids)
        self.span = span
        self.block = block
        # candidate cause types: itself (always in: alarms repeat) and types with support
        pair_count = np.bincount(src, minlength=ev.n_types)
        cands = [j for j in np.flatnonzero(pair_count >= min_support) if j != i]
        self.types = np.array([i, *cands], dtype=np.int64)
        self._cause_counts = np.bincount(ev.types, minlength=ev.n_types)[self.types]
        slot = np.full(ev.n_types, -1, dtype=np.int64)
        slot[self.types] = np.arange(len(self.types))
        keep = slot[src] >= 0
        # one entry per (row, column): a storm of alarms in one lag bin is one number
        n_cols = len(self.types) * block
        flat, inverse = np.unique(local[rows[keep]] * n_cols + slot[src[keep]] * block
                                  + column[keep], return_inverse=True)
        self.row = flat // n_cols
        self.col = flat % n_cols
        self.slot = self.col // block
        self.val = np.bincount(inverse, weights=value[keep], minlength=len(flat))
        # exposure per column: sum over cause alarms and their hosting rings, of the
        # part of each lag bin inside the history
        mine = slot[sources.type] >= 0
        per_source = (host_ring[sources.loc[mine]][:, :, None]
                      * sources.room[mine][:, None, :]).reshape(-1, block)  # (hop, bin)
        g = np.zeros((len(self.types), block))
        np.add.at(g, slot[sources.type[mine]], per_source)
        # kernel parameters an edge really has: bins with exposure (hop rings that exist)
        self.dims = ((g > 0) & possible[None, :]).sum(axis=1)
        self.exposure = np.maximum(g.ravel(), 1e-12)
        # per-row sums for the candidate score: one key per (row, cause slot)
        self.key, self.key_inverse = np.unique(self.row * len(self.types) + self.slot,
                                               return_inverse=True)
        self.key_row = self.key // len(self.types)
        self.key_slot = self.key % len(self.types)
        self.alpha = np.zeros(len(self.types) * block)
        self.mu = np.bincount(self.row_loc, minlength=self.n_locs) / span
        # a location's spontaneous rate never reaches 0: an alarm there is never impossible
        self.mu_floor = 1e-6 / span
        self.active = np.zeros(len(self.types), dtype=bool)
        self.active[0] = True
        self._init_block(0)
        self.loglik = self.refit(EM_ITERATIONS)

    def _init_block(self, s: int) -> None:
        cols = slice(s * self.block, (s + 1) * self.block)
        mass = np.bincount(self.col, weights=self.val, minlength=len(self.alpha))[cols]
        self.alpha[cols] = 0.5 * mass / self.exposure[cols] + 1e-9

    def _intensity(self, alpha: np.ndarray) -> np.ndarray:
        on = self.active[self.slot]
        excite = np.bincount(self.row[on], weights=alpha[self.col[on]] * self.val[on],
                             minlength=self.n)
        return self.mu[self.row_loc] + excite

    def _loglik(self, lam: np.ndarray, alpha: np.ndarray, mu: np.ndarray) -> float:
        on = np.repeat(self.active, self.block)
        return float(np.log(lam).sum() - mu.sum() * self.span
                     - (alpha[on] * self.exposure[on]).sum())

    def refit(self, iterations: int) -> float:
        """EM on the active parents (warm start); returns the log-likelihood."""
        on = self.active[self.slot]
        row, col, val = self.row[on], self.col[on], self.val[on]
        alpha, mu = self.alpha, self.mu
        previous = -math.inf
        for step in range(iterations):
            lam = self.mu[self.row_loc] + np.bincount(row, weights=alpha[col] * val,
                                                      minlength=self.n)
            if step % CHECK_EVERY == 0:  # EM climbs monotonically: stop when it levels off
                current = self._loglik(lam, alpha, mu)
                if current - previous < EM_TOLERANCE:
                    break
                previous = current
            inv = 1.0 / lam
            # E-step share of every row explained by each source, M-step in closed form
            mu = np.maximum(mu * np.bincount(self.row_loc, weights=inv, minlength=self.n_locs)
                            / self.span, self.mu_floor)
            gain = np.bincount(col, weights=val * inv[row], minlength=len(alpha))
            alpha = alpha * gain / self.exposure
            self.alpha, self.mu = alpha, mu
        lam = self._intensity(self.alpha)
        return self._loglik(lam, self.alpha, self.mu)

    def _scores(self) -> tuple[np.ndarray, np.ndarray]:
        """Likelihood gain of adding each inactive candidate, the others held fixed."""
        lam = self._intensity(self.alpha)
        off = ~self.active[self.slot]
        if not off.any():
            return np.zeros(len(self.types)), self.alpha
        col, val = self.col[off], self.val[off]
        key = self.key_inverse[off]
        n_keys = len(self.key)
        lam_key = lam[self.key_row]
        alpha = self.alpha.copy()
        mass = np.bincount(col, weights=val, minlength=len(alpha))
        fresh = np.repeat(~self.active, self.block)
        alpha[fresh] = 0.5 * mass[fresh] / self.exposure[fresh] + 1e-9
        for _ in range(GAIN_ITERATIONS):
            s = np.bincount(key, weights=alpha[col] * val, minlength=n_keys)
            denom = lam_key + s
            gain = np.bincount(col, weights=val / denom[key], minlength=len(alpha))
            alpha = np.where(fresh, alpha * gain / self.exposure, alpha)
        s = np.bincount(key, weights=alpha[col] * val, minlength=n_keys)
        used = s > 0
        up = np.bincount(self.key_slot[used], weights=np.log1p(s[used] / lam_key[used]),
                         minlength=len(self.types))
        cost = np.bincount(np.repeat(np.arange(len(self.types)), self.block),
                           weights=np.where(fresh, alpha * self.exposure, 0.0),
                           minlength=len(self.types))
        score = np.where(self.active, -np.inf, up - cost)
        return score, alpha

    def add(self, s: int, alpha: np.ndarray, penalty: float) -> bool:
        """Add the cause in slot ``s`` (its kernel from the candidate score), refit, and
        keep it if the log-likelihood rose by more than ``penalty``."""
        saved = (self.alpha.copy(), self.mu.copy(), self.loglik)
        cols = slice(s * self.block, (s + 1) * self.block)
        self.alpha[cols] = alpha[cols]
        self.active[s] = True
        loglik = self.refit(EM_ITERATIONS)
        if loglik - saved[2] <= penalty:  # the quick score overrated it
            self.alpha, self.mu, self.loglik = saved
            self.active[s] = False
            return False
        self.loglik = loglik
        return True

    def parents(self, penalty: float) -> dict[int, tuple[float, float]]:
        """Parents after the backward pass: cause type -> (log-likelihood lost without
        it, expected effects per cause alarm)."""
        out: dict[int, tuple[float, float]] = {}
        for s, gain in self._prune(penalty).items():
            cols = slice(s * self.block, (s + 1) * self.block)
            # at the EM fixed point alpha * exposure = effects attributed to the column
            attributed = float((self.alpha[cols] * self.exposure[cols]).sum())
            out[int(self.types[s])] = (gain, attributed / max(1.0, float(self._cause_counts[s])))
        return out

    def _prune(self, penalty: float) -> dict[int, float]:
        """Drop parents whose removal costs less than ``penalty`` per kernel parameter;
        return the gains of the others (log-likelihood lost without each, the rest
        refitted)."""
        while True:
            parents = [s for s in np.flatnonzero(self.active) if s != 0]
            if not parents:
                return {}
            gains: dict[int, float] = {}
            full = (self.alpha.copy(), self.mu.copy(), self.loglik)
            for s in parents:
                self.active[s] = False
                without = self.refit(EM_ITERATIONS // 3)
                gains[int(s)] = full[2] - without
                self.alpha, self.mu = full[0].copy(), full[1].copy()
                self.active[s] = True
            self.loglik = full[2]
            worst = min(gains, key=lambda s: gains[s] - penalty * self.dims[s])
            if gains[worst] > penalty * self.dims[worst]:
                return gains
            self.active[worst] = False
            self.alpha[worst * self.block:(worst + 1) * self.block] = 0.0
            self.loglik = self.refit(EM_ITERATIONS)


def _greedy_dag(models: dict[int, _EffectModel], penalty: dict[int, float], n: int,
                acyclic: bool) -> dict[tuple[int, int], tuple[float, float]]:
    """Add edges one at a time, the one that raises the penalised likelihood most first,
    never one that closes a directed cycle (THP's hill climb, restricted to additions,
    on the per-type decomposition); then drop parents made redundant."""
    children: list[set[int]] = [set() for _ in range(n)]

    def reaches(a: int, b: int) -> bool:
        stack, seen = [a], {a}
        while stack:
            x = stack.pop()
            if x == b:
                return True
            for y in children[x]:
                if y not in seen:
                    seen.add(y)
                    stack.append(y)
        return False

    # A queue of candidate edges by net gain. A candidate that would close a cycle now
    # always will (edges are only added here), and one of an effect type whose model
    # changed since it was scored is stale: both are dropped when they come up.
    scores: dict[int, np.ndarray] = {}
    version = dict.fromkeys(models, 0)
    rejected: set[tuple[int, int]] = set()
    queue: list[tuple[float, int, int, int]] = []

    def rescore(i: int) -> None:
        score, alpha = models[i]._scores()
        scores[i] = alpha
        version[i] += 1
        if models[i].active.sum() > MAX_PARENTS:
            return
        cost = penalty[i] * models[i].dims
        for s in np.flatnonzero(score > cost):
            if (i, int(s)) in rejected:
                continue
            heapq.heappush(queue, (float(cost[s] - score[s]), i, int(s), version[i]))

    for i in models:
        rescore(i)
    while queue:
        _, i, s, seen = heapq.heappop(queue)
        j = int(models[i].types[s])
        if seen != version[i] or (acyclic and reaches(i, j)):
            continue
        if models[i].add(s, scores[i], penalty[i] * float(models[i].dims[s])):
            children[j].add(i)
            rescore(i)
        else:  # the refit gained less than the quick score promised: never again
            rejected.add((i, s))
    out: dict[tuple[int, int], tuple[float, float]] = {}
    for i, model in models.items():
        for j, found in model.parents(penalty[i]).items():
            out[(j, i)] = found
    return out
