"""Which alert types cause which, learned from alert history and topology alone.

For every alert ``a`` (the anchor) we note which other types appear within
``window`` seconds after it on the same node or a node within ``max_hops``. Then

* ``P(b | a)`` = share of ``a`` anchors followed by ``b`` nearby;
* ``base(b)`` = share of anchors of the other types (neither ``a`` nor ``b``)
  followed by ``b`` nearby, the chance of seeing ``b`` after an unrelated alarm;
* ``lift = P(b | a) / base(b)``.

``a → b`` is a relation when it was seen at least ``min_support`` times, its lift is
at least ``min_lift`` and ``P(b | a)`` at least ``min_conditional``; where both
directions qualify the stronger one is kept, because a cause precedes its effects
more often than the reverse (reporting delays blur but rarely invert that).
This is a co-occurrence test in the spirit of the topological Hawkes process
(Cai et al., "THPs: Topological Hawkes Processes for Learning Causal Structure on
Event Sequences", IEEE TNNLS 2022) without fitting intensities; see
docs/architecture.md for what it assumes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from aiops.models import Alert
from topology.graph import TopologyGraph

MAX_LOOKAHEAD = 2000  # events scanned after one anchor: bounds the cost of a storm
COOCCUR_SUPPORT = 3  # times seen together before two types count as related at all
COOCCUR_LIFT = 2.0  # ... and how much more often than chance
COOCCUR_FULL = 10.0  # lift at which relatedness is 1


class TypeRelations:
    """Estimator of directed relations between alert types."""

    def __init__(self, window: float = 300.0, max_hops: int = 1, min_support: int = 5,
                 min_lift: float = 3.0, min_conditional: float = 0.2):
        self.window = window
        self.max_hops = max_hops
        self.min_support = min_support
        self.min_lift = min_lift
        self.min_conditional = min_conditional
        self.edges_: dict[tuple[str, str], float] = {}
        self.cooccur_: dict[tuple[str, str], float] = {}
        self.type_counts_: dict[str, int] = {}

    def get_params(self) -> dict[str, Any]:
        return {"window": self.window, "max_hops": self.max_hops,
                "min_support": self.min_support, "min_lift": self.min_lift,
                "min_conditional": self.min_conditional}

    def _near(self, topology: TopologyGraph, a: Alert, b: Alert, nodes: dict[str, str | None]
              ) -> bool:
        na, nb = nodes[a.entity], nodes[b.entity]
        if na is None or nb is None:
            return a.entity == b.entity
        return topology.distance(na, nb, self.max_hops) is not None

    def fit(self, alerts: Sequence[Alert], topology: TopologyGraph) -> TypeRelations:
        events = sorted(alerts, key=lambda e: e.starts_at)
        nodes = {e.entity: topology.resolve(e.entity) for e in events}
        follows: dict[str, Counter[str]] = defaultdict(Counter)
        anchors: Counter[str] = Counter()
        followed_by_any: Counter[str] = Counter()  # anchors of any type followed by b
        n = len(events)
        for i, anchor in enumerate(events):
            anchors[anchor.name] += 1
            seen: set[str] = set()
            horizon = anchor.starts_at + self.window
            for j in range(i + 1, min(n, i + 1 + MAX_LOOKAHEAD)):
                other = events[j]
                if other.starts_at > horizon:
                    break
                if other.name != anchor.name and other.name not in seen \
                        and self._near(topology, anchor, other, nodes):
                    seen.add(other.name)
            for name in seen:
                follows[anchor.name][name] += 1
                followed_by_any[name] += 1
        self.type_counts_ = dict(anchors)
        strength: dict[tuple[str, str], float] = {}
        cooccur: dict[tuple[str, str], float] = {}
        for a, counts in follows.items():
            for b, k in counts.items():
                if k < COOCCUR_SUPPORT:
                    continue
                conditional = k / anchors[a]
                # Chance of b after an anchor of any third type: a itself is left out,
                # or a strong cause would raise the base rate it is compared with.
                others = n - anchors[b] - anchors[a]
                base = (followed_by_any[b] - k) / others if others > 0 else 0.0
                lift = conditional / base if base > 0 else float("inf")
                if lift >= COOCCUR_LIFT:
                    key = (a, b) if a <= b else (b, a)
                    cooccur[key] = max(cooccur.get(key, 0.0), min(1.0, lift / COOCCUR_FULL))
                if k >= self.min_support and lift >= self.min_lift \
                        and conditional >= self.min_conditional:
                    strength[(a, b)] = conditional
        self.cooccur_ = cooccur
        self.edges_ = {
            (a, b): w for (a, b), w in strength.items()
            if w > strength.get((b, a), 0.0) or ((b, a) in strength and a < b
                                                 and w == strength[(b, a)])
        }
        return self

    def strength(self, cause: str, effect: str) -> float:
        """P(effect follows cause nearby) for a learned relation, else 0."""
        return self.edges_.get((cause, effect), 0.0)

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
                "type_counts": self.type_counts_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TypeRelations:
        model = cls(**data.get("params", {}))
        model.edges_ = {(e["cause"], e["effect"]): float(e["weight"])
                        for e in data.get("edges", [])}
        model.cooccur_ = {(a, b): float(w) for a, b, w in data.get("cooccurrence", [])}
        model.type_counts_ = dict(data.get("type_counts", {}))
        return model
