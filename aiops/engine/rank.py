"""Root-cause ranking: where to look first in an incident.

The interface is one method so the learned ranker (root-cause issue) replaces this
one without touching the pipeline. This first ranker scores every alarming node
and every silent neighbour of one by

* coverage: the share of alarming nodes that are the candidate or its neighbours
  (a dead router is silent while the devices around it shout);
* precedence: how early the first alarm on or next to the candidate came;
* dependency: the share of covered alarming nodes that depend on the candidate.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from aiops.engine.state import AlertRecord, IncidentRecord, RootCause
from topology.graph import TopologyGraph

W_COVERAGE, W_PRECEDENCE, W_DEPENDENCY = 0.6, 0.25, 0.15


class RootCauseRanker(Protocol):
    def rank(self, incident: IncidentRecord) -> list[RootCause]:
        """Candidates, best first, each with evidence."""
        ...


def _earliest(alerts: Iterable[AlertRecord]) -> dict[str, AlertRecord]:
    """The first alert per node (or per entity when unresolved)."""
    first: dict[str, AlertRecord] = {}
    for alert in alerts:
        key = alert.node_id or alert.entity
        seen = first.get(key)
        if seen is None or (alert.starts_at, alert.id) < (seen.starts_at, seen.id):
            first[key] = alert
    return first


class TopologyRanker:
    """Coverage × precedence × dependency over the incident's neighbourhood."""

    def __init__(self, topology: TopologyGraph, top_k: int = 5):
        self.topology = topology
        self.top_k = top_k

    def rank(self, incident: IncidentRecord) -> list[RootCause]:
        first = _earliest(incident.alerts.values())
        if not first:
            return []
        order = sorted(first, key=lambda k: (first[k].starts_at, first[k].id))
        precedence = {key: 1.0 - i / len(order) for i, key in enumerate(order)}
        alarming = set(first)
        candidates = set(alarming)
        for key in alarming:
            candidates.update(self.topology.neighbours(key))

        ranked: list[RootCause] = []
        for cand in candidates:
            covered = sorted(self.topology.neighbours(cand) & alarming)
            if cand in alarming:
                covered.append(cand)
            silent = cand not in alarming
            if silent and len(covered) < 2:
                continue  # a silent node is only implicated by several alarming neighbours
            coverage = len(covered) / len(alarming)
            prec = max(precedence[a] for a in covered)
            depending = [a for a in covered if a != cand and self._depends(a, cand)]
            dependency = len(depending) / len(covered)
            score = W_COVERAGE * coverage + W_PRECEDENCE * prec + W_DEPENDENCY * dependency
            if silent:
                score -= 1e-6  # on a tie, prefer the node that alarmed itself
            ranked.append(self._explain(cand, score, first, covered, alarming, depending,
                                        order[0]))
        ranked.sort(key=lambda rc: (-rc.score, rc.entity))
        return ranked[: self.top_k]

    def _depends(self, a: str, b: str) -> bool:
        deps = self.topology.dependencies
        return a in deps and deps.has_edge(a, b)

    def _explain(self, cand: str, score: float, first: dict[str, AlertRecord],
                 covered: list[str], alarming: set[str], depending: list[str],
                 earliest_key: str) -> RootCause:
        evidence: list[str] = []
        alert = first.get(cand)
        node = self.topology.nodes.get(cand)
        if cand == earliest_key:
            evidence.append("earliest alarm in the group")
        if alert is not None:
            evidence.append(f"raised {alert.name}")
        else:
            evidence.append("raised no alarm itself: implicated by the topology")
        neighbours = [a for a in covered if a != cand]
        if neighbours:
            evidence.append(f"{len(neighbours)} of {len(alarming)} alarming devices are its "
                            "neighbours")
        if depending:
            evidence.append(f"{len(depending)} alarming nodes depend on it")
        return RootCause(
            entity=node.name if node is not None else (alert.entity if alert else cand),
            score=score,
            alert_id=alert.event.id if alert is not None else None,
            evidence=evidence,
            node_id=cand if node is not None else None,
        )
