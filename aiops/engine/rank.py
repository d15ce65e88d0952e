"""Root-cause ranking: where to look first in an incident.

The engine knows only the one-method interface, so rankers are replaced without
touching the pipeline. The default ranker scores every alarming node and every
silent node next to several alarming ones:

* causal role of its alarm types (learned from history, ``TypeRelations``): how
  often each came first when seen nearby with the incident's other types
  ("rootness", 0.5 when nothing is known); learned causal edges to the other types
  are named in the evidence;
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
from aiops.learning.root_priors import RootCausePriors
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
    ticket_prior: float = 0.5  # weight of priors learned from resolved tickets, if any


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
                 weights: RankWeights | None = None, top_k: int = 5,
                 priors: RootCausePriors | None = None):
        self.topology = topology
        self.relations = relations
        # Ticket-learned priors count only once enough tickets taught them.
        self.priors = priors if priors is not None and priors.usable else None
        self.weights = weights or RankWeights()
        self.top_k = top_k

    def _rootness(self, name: str, types: set[str]) -> tuple[float, list[str], str | None]:
        """How much ``name`` looks like what started this incident's cascade.

        With learned precedence (``TypeRelations.precedes``): the mean, over the other
        types in the incident, of how often ``name`` came first when the two were seen
        together nearby in history. Models trained before precedence was learned fall
        back to the share of learned causal weight that flows out of ``name``. Also
        returns the learned effects of ``name`` present here and a readable line on
        its best-supported precedence, for the evidence.
        """
        if self.relations is None:
            return 0.5, [], None
        others = [b for b in types if b != name]
        caused = [b for b in others if self.relations.strength(name, b) > 0]
        if self.relations.precedence_:
            if not others:
                return 0.5, caused, None
            shares = {b: self.relations.precedes(name, b) for b in others}
            rootness = sum(share for share, _ in shares.values()) / len(others)
            b, (share, seen) = max(shares.items(), key=lambda kv: (kv[1][1], kv[0]))
            line = (f"its {name} started before {b} nearby in {round(100 * share)}% of "
                    f"{seen} past co-occurrences") if seen else None
            return rootness, caused, line
        out = sum(self.relations.strength(name, b) for b in others)
        into = sum(self.relations.strength(b, name) for b in others)
        total = out + into
        return (out / total if total else 0.5), caused, None

    def rank(self, incident: IncidentRecord) -> list[RootCause]:
        inc = _Incident.of(incident.alerts.values())
        if not inc.first:
            return []
        w = self.weights
        order = sorted(inc.first, key=lambda k: (inc.first[k].starts_at, inc.first[k].id))
        precedence = {key: 1.0 - i / len(order) for i, key in enumerate(order)}
        alarming = set(inc.first)
        roots = {t: self._rootness(t, inc.types) for t in inc.types}
        best_rootness = max(r[0] for r in roots.values())
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
                _, caused, line = roots[name]
                if caused:
                    evidence.append(f"its {name} is a learned cause of {', '.join(sorted(caused))}"
                                    " in this incident")
                if line:
                    evidence.append(line)
                evidence.append(f"{inc.count[cand]} of {inc.total} alarms are on it")
                if cand == order[0]:
                    evidence.append("earliest alarm in the group")
                if self.priors is not None and w.ticket_prior:
                    prior, line = self._type_prior(inc.types_at[cand])
                    score += w.ticket_prior * prior
                    if line:
                        evidence.append(line)
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
                if self.priors is not None and w.ticket_prior:
                    silent = self.priors.silent_share()
                    score += w.ticket_prior * silent
                    evidence.append(f"the device at fault raised no alarm in "
                                    f"{self.priors.silent_} of {self.priors.tickets_} past "
                                    "tickets")
            score += w.dependency * dependency
            if depending:
                evidence.append(f"{len(depending)} alarming nodes depend on it")
            ranked.append(self._cause(cand, score, inc.first.get(cand), evidence))
        ranked.sort(key=lambda rc: (-rc.score, rc.entity))
        return ranked[: self.top_k]

    def _type_prior(self, names: set[str]) -> tuple[float, str | None]:
        """The best ticket-learned share among a candidate's alert types, and the
        evidence line for it."""
        assert self.priors is not None
        share, root, seen, name = max((*self.priors.type_root_share(n), n) for n in names)
        line = (f"in {root} of {seen} past tickets with {name}, the device raising it "
                "was at fault") if seen else None
        return share, line

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
