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

The causal edges come from a topological Hawkes process, whose search lives in
``aiops.learning.causal_hawkes`` (why it and not co-occurrence, and what differs from
THP as published); the alarm pairs every part counts in ``aiops.learning.alarm_pairs``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from aiops.learning.alarm_pairs import AlarmEvents, AlarmPairs, corrected_lags
from aiops.learning.causal_hawkes import CausalSearch
from aiops.models import Alert
from topology.graph import TopologyGraph

COOCCUR_SUPPORT = 3  # times seen together before two types count as related at all
COOCCUR_LIFT = 2.0  # ... and how much more often than chance
COOCCUR_FULL = 10.0  # lift at which relatedness is 1


class TypeRelations:
    """Estimator of relations between alert types: co-occurrence and causal edges.

    ``window``/``max_hops`` define co-occurrence for the correlator. The causal search:
    ``causal_window`` is the longest cause-to-effect delay modelled, ``causal_hops``
    how far from its cause an effect may land, ``skew_tolerance`` how much earlier
    than its cause an effect on another node may be stamped, ``penalty`` the
    log-likelihood an edge must add per kernel parameter, times the log of the effect
    type's count (0.5 would be BIC; 1.0 was chosen on simulated data, see
    docs/causal-discovery.md), ``acyclic`` whether the graph must have no directed
    cycle, ``report_jitter`` the scale in seconds of the difference between two
    alarms' reporting delays (``None``: estimated from the history, into
    ``jitter_``; 0: stamps are taken as exact). ``min_support`` is the fewest alarms
    a type needs, and the fewest (cause, effect) pairs an edge needs, to be
    considered at all. ``precedence_window`` bounds the pairs ``precedes`` counts:
    60 s rather than 120 s because a cascade's steps take seconds and pairs further
    apart are mostly unrelated alarms in random order (on the development scenarios'
    true groups, with tracing, the alarmed root came first in 0.912 of faults at
    60 s, 0.915 at 30 s, 0.893 at 120 s; docs/architecture.md).
    """

    def __init__(self, window: float = 300.0, max_hops: int = 1, min_support: int = 5,
                 causal_window: float = 300.0, causal_hops: int = 1, penalty: float = 1.0,
                 skew_tolerance: float = 15.0, acyclic: bool = True,
                 precedence_window: float = 60.0, report_jitter: float | None = None):
        self.window = window
        self.max_hops = max_hops
        self.min_support = min_support
        self.causal_window = causal_window
        self.causal_hops = causal_hops
        self.penalty = penalty
        self.skew_tolerance = skew_tolerance
        self.acyclic = acyclic
        self.precedence_window = precedence_window
        self.report_jitter = report_jitter
        # the report jitter the causal edges were learned with (estimated when not given)
        self.jitter_: float | None = None
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
                "acyclic": self.acyclic, "precedence_window": self.precedence_window,
                "report_jitter": self.report_jitter}

    # ------------------------------------------------------------------ fitting

    def pair_reach(self) -> tuple[int, float]:
        """The hops and seconds the alarm pairs this estimator learns from span."""
        return (max(self.max_hops, self.causal_hops),
                max(self.window, self.causal_window, self.precedence_window))

    def fit(self, alerts: Sequence[Alert], topology: TopologyGraph,
            pairs: AlarmPairs | None = None,
            offsets: Mapping[str, float] | None = None) -> TypeRelations:
        """Learn co-occurrence and causal edges from ``alerts`` on ``topology``.

        ``pairs``: the alarm pairs of ``alerts`` already built (``AlarmPairs``), used
        when they reach at least as far as ``pair_reach``; else they are built here.
        ``offsets``: learned clock offsets per node (``aiops.learning.clock``); the
        precedence counts compare start times corrected by them. Which of two types
        starts first is a matter of seconds, less than a device with bad NTP is off
        by; the causal edges model such report jitter themselves and use the stamps.
        """
        hops, window = self.pair_reach()
        if pairs is None or not pairs.covers(hops, window):
            pairs = AlarmPairs.build(alerts, topology, hops, window)
        ev = pairs.events
        counts = np.bincount(ev.types, minlength=ev.n_types)
        self.type_counts_ = {name: int(c) for name, c in zip(ev.names, counts, strict=True)}
        self.edges_, self.gains_, self.cooccur_, self.precedence_ = {}, {}, {}, {}
        self.jitter_ = None
        if len(ev.times) == 0:
            return self
        cause, effect, hop = pairs.cause, pairs.effect, pairs.hop
        keep = (hop <= hops) & (ev.times[effect] - ev.times[cause] <= window)
        if not keep.all():  # wider pairs than this estimator's reach
            cause, effect, hop = cause[keep], effect[keep], hop[keep]
        lag = ev.times[effect] - ev.times[cause]
        # Pairs stamped at the same instant are listed both ways and count neither.
        ordered = lag > 0
        first, then = cause[ordered], effect[ordered]
        self.precedence_ = self._precedence(
            ev, first, then, hop[ordered], corrected_lags(ev, first, then, lag[ordered], offsets))
        self.cooccur_ = self._cooccurrence(ev, cause, effect, hop, lag)
        near = (hop <= self.causal_hops) & (lag <= self.causal_window)
        self._causal(ev, cause[near], effect[near], hop[near], lag[near])
        return self

    def fit_precedence(self, alerts: Sequence[Alert], topology: TopologyGraph
                       ) -> TypeRelations:
        """Learn only the precedence counts (and the type counts) from ``alerts``; no
        co-occurrence, no causal edges.

        Why: root-cause ranking reads type precedence alone (``rootness``, ``leads``),
        and it needs only the pairs within ``precedence_window`` on the same or
        neighbouring nodes, far fewer than the causal search's five minutes; an engine
        with no trained model refits it on the alerts it keeps
        (``aiops.engine.pace``), where the causal search would cost seconds each time.
        Times are the stamps (no clock offsets are known there)."""
        pairs = AlarmPairs.build(alerts, topology, 1, self.precedence_window)
        ev = pairs.events
        counts = np.bincount(ev.types, minlength=ev.n_types)
        self.type_counts_ = {name: int(c) for name, c in zip(ev.names, counts, strict=True)}
        self.edges_, self.gains_, self.cooccur_ = {}, {}, {}
        self.jitter_ = None
        lag = ev.times[pairs.effect] - ev.times[pairs.cause]
        ordered = lag > 0  # pairs stamped at the same instant count neither way
        self.precedence_ = self._precedence(ev, pairs.cause[ordered], pairs.effect[ordered],
                                            pairs.hop[ordered], lag[ordered])
        return self

    def _cooccurrence(self, ev: AlarmEvents, cause: np.ndarray, effect: np.ndarray,
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

    def _precedence(self, ev: AlarmEvents, cause: np.ndarray, effect: np.ndarray,
                    hop: np.ndarray, lag: np.ndarray) -> dict[tuple[str, str], int]:
        """Per ordered pair of types, how often the first started strictly before the
        second, on the same or a neighbouring node, within ``precedence_window``.

        ``lag`` may be negative (clock-corrected lags): the pair then counts the other
        way round."""
        near = (np.abs(lag) <= self.precedence_window) & (hop <= 1)
        forward, backward = near & (lag > 0), near & (lag < 0)
        a = np.concatenate((ev.types[cause[forward]], ev.types[effect[backward]]))
        b = np.concatenate((ev.types[effect[forward]], ev.types[cause[backward]]))
        different = a != b
        n = ev.n_types
        counts = np.bincount(a[different] * n + b[different], minlength=n * n)
        return {(ev.names[k // n], ev.names[k % n]): int(counts[k])
                for k in np.flatnonzero(counts)}

    def causal_search(self) -> CausalSearch:
        """The topological Hawkes search (``aiops.learning.causal_hawkes``) with this
        estimator's causal parameters."""
        return CausalSearch(causal_window=self.causal_window, causal_hops=self.causal_hops,
                            skew_tolerance=self.skew_tolerance, penalty=self.penalty,
                            acyclic=self.acyclic, report_jitter=self.report_jitter,
                            min_support=self.min_support)

    def _causal(self, ev: AlarmEvents, cause: np.ndarray, effect: np.ndarray, hop: np.ndarray,
                lag: np.ndarray) -> None:
        found = self.causal_search().fit(ev, cause, effect, hop, lag)
        self.jitter_, self.edges_, self.gains_ = found.jitter, found.edges, found.gains

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

    def rootness(self, name: str, types: Iterable[str]) -> float:
        """How much ``name`` looks like what started a cascade holding ``types``: the
        mean, over the other types, of how often ``name`` came first nearby
        (``precedes``); 0.5 when there is no other type. The root-cause ranker and the
        root-type pick of tickets and incidents use the same measure."""
        others = [b for b in types if b != name]
        if not others:
            return 0.5
        # fsum: the same value whatever order a set of types iterates in (a plain sum
        # differed in the last bit between processes, which flipped ties downstream)
        return math.fsum(self.precedes(name, b)[0] for b in others) / len(others)

    def leads(self, min_share: float = 0.55, min_seen: int = 5) -> dict[str, frozenset[str]]:
        """Per type, the types it started before nearby in more than ``min_share`` of
        at least ``min_seen`` past co-occurrences: wider than the causal edges (an
        ancestor leads its grandchildren too), which is what tracing a cascade back to
        its start needs (``CausalTopologyRanker``)."""
        out: dict[str, set[str]] = {}
        for (a, b), before in self.precedence_.items():
            seen = before + self.precedence_.get((b, a), 0)
            if seen >= min_seen and (before + 1) / (seen + 2) > min_share:
                out.setdefault(a, set()).add(b)
        return {a: frozenset(bs) for a, bs in out.items()}

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
                "type_counts": self.type_counts_, "jitter": self.jitter_}

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
        model.jitter_ = data.get("jitter")
        return model
