"""Which alert type started a fault, from the learned causal graph between alert types.

Remediations depend on the kind of fault, and the kind of fault shows in the alert
type that started the cascade (a power failure, not the link-downs it set off). Two
answers are given, for the same alerts, at training (a ticket's alerts) and at
recommendation time (an incident's alerts), so the two always agree on method:

* ``pick_root_type``: one type among the candidates (the alerts on the root device).
  With learned precedence (``TypeRelations.rootness``): the type that most often
  started first nearby when seen with the other types present, as the root-cause
  ranker judges it; on the remediation benchmark's incidents whose root device was
  ranked first, this named the fault's root type in 94 % of them, the causal-edge
  rule below in 61 % (docs/tickets.md). Models without precedence: a type none of
  whose learned causes (direct or through other types) is among the candidates,
  explaining the most of the alert types present through its learned effects; then
  the most net causal strength, the earliest, the name. Counting what a type
  explains *transitively* matters: a mid-cascade type often has more direct effects
  present than the root, which reaches them through it. Reporting delays make "the
  earliest alert" wrong about a third of the time; without a trained model the
  choice falls back to it.
* ``root_type_weights``: a distribution over types, for the evidence that is not one
  type: a dead device raises nothing, so its own alert type is absent and only its
  effects show. Every type that has learned effects is scored by how well it explains
  the types present (noisy-OR reach along the learned edges, each edge firing with
  probability ``1 − exp(−strength)``, strength being the expected effects per cause
  alarm), times a boost for the hard pick.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol


class Relations(Protocol):
    """What root-type choice needs of the correlation model's learned relations."""

    def strength(self, cause: str, effect: str) -> float: ...

    def edges(self) -> list[dict[str, Any]]: ...


@dataclass(frozen=True)
class RootTypeSettings:
    depth: int = 4  # cascade steps followed from a candidate root
    p_self: float = 0.5  # a root's own alarm is as likely absent (silent device) as present
    leak: float = 0.01  # chance of a type the candidate does not explain (noise, another fault)
    pick_boost: float = 3.0  # weight of the hard pick against the other explanations
    keep: int = 8  # types kept in a distribution (the rest are negligible)


class CausalOrder:
    """The learned causal edges as reach probabilities from each type."""

    def __init__(self, relations: Relations | None, settings: RootTypeSettings | None = None):
        self.relations = relations
        self.settings = settings or RootTypeSettings()
        kids: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for edge in relations.edges() if relations is not None else []:
            fires = 1.0 - math.exp(-max(0.0, float(edge["weight"])))
            kids[str(edge["cause"])].append((str(edge["effect"]), fires))
        self.kids = dict(kids)
        self.reach = {root: self._reach(root) for root in self.kids}
        self.descendants = {root: {t for t in reach if t != root}
                            for root, reach in self.reach.items()}

    def _reach(self, root: str) -> dict[str, float]:
        """P(type shows | the cascade started with ``root``), noisy-OR over paths."""
        out = {root: self.settings.p_self}
        frontier = {root: 1.0}
        for _ in range(self.settings.depth):
            following: dict[str, float] = defaultdict(float)
            for cause, p in frontier.items():
                for effect, fires in self.kids.get(cause, ()):
                    following[effect] = 1.0 - (1.0 - following[effect]) * (1.0 - p * fires)
            for effect, p in following.items():
                if effect != root:
                    out[effect] = 1.0 - (1.0 - out.get(effect, 0.0)) * (1.0 - p)
            frontier = dict(following)
        return out

    def strength(self, cause: str, effect: str) -> float:
        return self.relations.strength(cause, effect) if self.relations is not None else 0.0

    def pick(self, candidates: Sequence[tuple[str, float]], present: Iterable[str]
             ) -> str | None:
        """The type that started the cascade among ``candidates`` (type, start)."""
        if not candidates:
            return None
        first: dict[str, float] = {}
        for name, start in candidates:
            first[name] = min(start, first.get(name, start))
        present = set(present)

        def caused(name: str) -> bool:
            return any(name in self.descendants.get(other, ()) for other in first
                       if other != name)

        def net(name: str) -> float:
            return sum(self.strength(name, other) - self.strength(other, name)
                       for other in present if other != name)

        # ``TypeRelations`` with learned precedence; older models and other relations
        # objects have neither, and keep the causal-edge rule.
        rootness = getattr(self.relations, "rootness", None)
        if rootness is not None and getattr(self.relations, "precedence_", None):
            return min(first, key=lambda name: (
                -rootness(name, present), caused(name), first[name], name))
        return min(first, key=lambda name: (
            caused(name), -len(self.descendants.get(name, set()) & present), -net(name),
            first[name], name))

    def weights(self, present: Iterable[str], picked: str | None) -> dict[str, float]:
        """Distribution over root types given the types ``present`` and the hard pick."""
        present = set(present)
        s = self.settings
        scores: dict[str, float] = {}
        for root, reach in self.reach.items():
            score = sum(math.log(max(s.leak, reach.get(t, 0.0))) for t in present)
            score += sum(math.log(max(1e-6, 1.0 - p)) for t, p in reach.items()
                         if t not in present)
            scores[root] = score
        if picked is not None and picked not in scores:
            scores[picked] = sum(math.log(s.leak) for t in present if t != picked)
        if not scores:
            return {}
        top = max(scores.values())
        weights = {t: math.exp(v - top) * (s.pick_boost if t == picked else 1.0)
                   for t, v in scores.items()}
        kept = sorted(weights, key=lambda t: (-weights[t], t))[:s.keep]
        total = sum(weights[t] for t in kept)
        return {t: weights[t] / total for t in kept}


_ORDERS: weakref.WeakKeyDictionary[Any, CausalOrder] = weakref.WeakKeyDictionary()
_NO_MODEL = CausalOrder(None)
_LOCK = threading.Lock()


def causal_order(relations: Relations | None) -> CausalOrder:
    """The (cached) causal order of a relations model; one without edges when None."""
    if relations is None:
        return _NO_MODEL
    with _LOCK:
        found = _ORDERS.get(relations)
        if found is None:
            found = _ORDERS[relations] = CausalOrder(relations)
    return found


def pick_root_type(candidates: Sequence[tuple[str, float]], present: Iterable[str],
                   relations: Relations | None) -> str | None:
    """The most causal of the ``candidates`` (type, start) given the types ``present``."""
    return causal_order(relations).pick(candidates, present)
