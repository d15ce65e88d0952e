"""Root-cause ranking: where to look first in an incident.

The engine knows only the one-method interface, so rankers are replaced without
touching the pipeline. The default ranker scores every alarming node and every
silent node next to several alarming ones:

* causal role of its alarm types (learned from history, ``TypeRelations``): a type
  that is a learned cause of the other types in the incident and an effect of none
  of them is what starts a cascade ("rootness", 0.5 when nothing is known);
* share of the incident's alarms that are on it (a failing device raises effects
  of its own fault on itself first);
* dependency: the share of alarming neighbours that depend on it;
* for a silent node: how many alarming nodes are its neighbours, and whether the
  incident lacks any cascade-starting alarm (a dead device reports nothing, so the
  root type is then missing).

First-alarm time is a tie-breaker only: with reporting delays and skewed device
clocks the earliest timestamp named the root in 36–43 % of the development
scenarios' faults, this ranker in 54–56 % (docs/architecture.md).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from aiops.engine.state import AlertRecord, IncidentRecord, RootCause
from aiops.learning.relations import TypeRelations
from topology.graph import TopologyGraph


class RootCauseRanker(Protocol):
    def rank(self, incident: IncidentRecord) -> list[RootCause]:
        """Candidates, best first, each with evidence."""
        ...


@dataclass(frozen=True, slots=True)
class RankWeights:
    """Chosen on development scenarios (seeds the benchmark does not use)."""

    rootness: float = 1.0
    alarm_share: float = 0.5
    dependency: float = 0.3
    silent_coverage: float = 0.5
    silent_missing_root: float = 0.0
    silent_bias: float = 0.25
    precedence: float = 0.02  # tie-breaker


@dataclass(slots=True)
class _Incident:
    """What the ranker needs of an incident, computed once per ranking."""

    first: dict[str, AlertRecord]
    count: Counter[str]
    types_at: dict[str, set[str]]
    types: set[str]
    total: int

    @classmethod
    def of(cls, alerts: Iterable[AlertRecord]) -> _Incident:
        first: dict[str, AlertRecord] = {}
        count: Counter[str] = Counter()
        types_at: dict[str, set[str]] = defaultdict(set)
        total = 0
        for alert in alerts:
            key = alert.node_id or alert.entity
            count[key] += 1
            types_at[key].add(alert.name)
            total += 1
            seen = first.get(key)
            if seen is None or (alert.starts_at, alert.id) < (seen.starts_at, seen.id):
                first[key] = alert
        types = set().union(*types_at.values()) if types_at else set()
        return cls(first, count, dict(types_at), types, total)


class CausalTopologyRanker:
    def __init__(self, topology: TopologyGraph, relations: TypeRelations | None = None,
                 weights: RankWeights | None = None, top_k: int = 5):
        self.topology = topology
        self.relations = relations
        self.weights = weights or RankWeights()
        self.top_k = top_k

    def _rootness(self, name: str, types: set[str]) -> tuple[float, list[str]]:
        """Share of learned causal weight that flows out of ``name`` within the incident."""
        if self.relations is None:
            return 0.5, []
        out = {b: self.relations.strength(name, b) for b in types if b != name}
        into = sum(self.relations.strength(b, name) for b in types if b != name)
        caused = [b for b, w in out.items() if w > 0]
        total = sum(out.values()) + into
        return (sum(out.values()) / total if total else 0.5), caused

    def rank(self, incident: IncidentRecord) -> list[RootCause]:
        inc = _Incident.of(incident.alerts.values())
        if not inc.first:
            return []
        w = self.weights
        order = sorted(inc.first, key=lambda k: (inc.first[k].starts_at, inc.first[k].id))
        precedence = {key: 1.0 - i / len(order) for i, key in enumerate(order)}
        alarming = set(inc.first)
        roots = {t: self._rootness(t, inc.types) for t in inc.types}
        best_rootness = max(r for r, _ in roots.values())
        candidates = set(alarming)
        for key in alarming:
            candidates.update(self.topology.neighbours(key))

        ranked: list[RootCause] = []
        for cand in candidates:
            neighbours = self.topology.neighbours(cand) & alarming
            depending = [a for a in neighbours if self._depends(a, cand)]
            dependency = len(depending) / len(neighbours) if neighbours else 0.0
            evidence: list[str] = []
            if cand in alarming:
                rootness, name = max((roots[t][0], t) for t in inc.types_at[cand])
                share = inc.count[cand] / inc.total
                score = (w.rootness * rootness + w.alarm_share * share
                         + w.precedence * precedence[cand])
                caused = roots[name][1]
                if caused:
                    evidence.append(f"its {name} is a learned cause of {', '.join(sorted(caused))}"
                                    " in this incident")
                evidence.append(f"{inc.count[cand]} of {inc.total} alarms are on it")
                if cand == order[0]:
                    evidence.append("earliest alarm in the group")
            else:
                if len(neighbours) < 2:
                    continue  # a silent node is only implicated by several alarming ones
                coverage = len(neighbours) / len(alarming)
                score = (w.silent_coverage * coverage
                         + w.silent_missing_root * (1.0 - best_rootness) + w.silent_bias
                         + w.precedence * max(precedence[a] for a in neighbours))
                evidence.append("raised no alarm itself: implicated by the topology")
                evidence.append(f"{len(neighbours)} of {len(alarming)} alarming devices are "
                                "its neighbours")
            score += w.dependency * dependency
            if depending:
                evidence.append(f"{len(depending)} alarming nodes depend on it")
            ranked.append(self._cause(cand, score, inc.first.get(cand), evidence))
        ranked.sort(key=lambda rc: (-rc.score, rc.entity))
        return ranked[: self.top_k]

    def _depends(self, a: str, b: str) -> bool:
        deps = self.topology.dependencies
        return a in deps and deps.has_edge(a, b)

    def _cause(self, cand: str, score: float, alert: AlertRecord | None,
               evidence: list[str]) -> RootCause:
        node = self.topology.nodes.get(cand)
        return RootCause(
            entity=node.name if node is not None else (alert.entity if alert else cand),
            score=score,
            alert_id=alert.event.id if alert is not None else None,
            evidence=evidence,
            node_id=cand if node is not None else None,
        )
