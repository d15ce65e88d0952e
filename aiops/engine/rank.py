"""Root-cause ranking: where to look first in an incident.

The engine knows only the one-method interface, so rankers are replaced without
touching the pipeline. The default ranker scores every alarming node and every
silent node next to several alarming ones:

* causal role of its alarm types (learned from history, ``TypeRelations``, or, in
  an engine with no trained model, counted on the alerts it has seen so far,
  ``aiops.engine.pace``): how often each came first when seen nearby with the
  incident's other types ("rootness", 0.5 when nothing is known); learned causal
  edges to the other types are named in the evidence;
* share of the incident's alarms that are on it (a failing device raises effects
  of its own fault on itself first);
* tracing: the share of the incident's alarms that cannot be traced back to the
  candidate's own alarms through types that, in history (or the alerts seen so
  far), usually started before the next one nearby (``TypeRelations.leads``), each
  step at most two hops: a cascade unfolds away from its root, so from the root's
  alarms the whole incident is reachable and from an effect's alarms its causes are
  not;
* dependency: the share of the alarming nodes near it that need it, directly or
  through one node between (``TopologyGraph.needs``: a deployment through the pod
  that runs on a node);
* for a silent node: how many alarming nodes its failure explains, its alarming
  neighbours and the alarming nodes in its shadow (``aiops.engine.shadow``: those up
  to two hops away that reach the rest of the network only through it, as the access
  switches behind a core router and their hosts; those two hops out counted at the
  share of the neighbours it cuts off that alarm), and whether the incident lacks any
  cascade-starting alarm (a dead device reports nothing, so the root type is then
  missing).

First-alarm time is a tie-breaker only: with reporting delays and skewed device
clocks the earliest timestamp named the root in 36–43 % of the development
scenarios' faults, this ranker in 54–56 % (docs/architecture.md).

A dead device raises nothing, and when a single neighbour of it alarms, that
neighbour's own alarms outscore any silent candidate. So ranks 2 and 3 are kept for
the silent devices that best explain *where* the alarms are (``Placement``: each
distinct alarm counted where it landed, devices one hop from an alarming one and,
in incidents of one or two alarming devices, two hops out as candidates): rank 3
unless the candidate it would displace has learned signs of starting the cascade,
rank 2 only if its candidate has learned signs of following. Rank 1 never changes,
and AC@3 gains the silent roots the scoring cannot reach.

Once enough resolved tickets taught it (``aiops.learning.learned_rank``), a ranking
learned from them orders the candidates instead, silent devices next to a single
alarming one included (and those two hops out, where the slots take them), from
features of the hand-weighted ranking and of the incident (``aiops.engine.
rank_features``, placing silent devices as the slots do): tickets name silent devices
at fault, so the model learns when "the root is silent here", which fixed weights
could not.
"""

from __future__ import annotations

import logging
from bisect import insort
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from math import log
from typing import Protocol

import numpy as np

from aiops.engine.links import links_down, ports_facing_down, ports_named
from aiops.engine.rank_features import (
    ALARMING_COLUMNS,
    FEATURE_NAMES,
    LABELS,
    SILENT_COLUMNS,
    candidate_features,
)
from aiops.engine.shadow import shadow_of
from aiops.engine.state import AlertRecord, IncidentRecord, RootCause
from aiops.learning.learned_rank import LearnedRanker
from aiops.learning.relations import TypeRelations
from aiops.learning.root_priors import RootCausePriors
from topology.graph import TopologyGraph

logger = logging.getLogger(__name__)


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
    # How much an alarming node in a silent candidate's shadow (two hops out, cut off
    # by it) counts towards its coverage, against 1 for an alarming neighbour: a dead
    # core router explains its access switches' hosts as surely as the switches. 0 turns
    # the shadow off (alarming candidates' shadow evidence too: the ranking before it).
    silent_shadow: float = 1.0
    precedence: float = 0.02  # tie-breaker
    # Per share of the incident's alarms that cannot be traced back to an alarming
    # candidate (module doc), relative to the best traced candidate; silent candidates
    # are not traced and lose nothing. 1.5 rather than 1.0 since the per-alarm slots
    # (dev seeds 401-402, engine groups: AC@1 0.664 -> 0.668, AC@3 0.825 either way).
    untraced: float = 1.5
    traced_candidates: int = 5  # the best-scored alarming candidates that are traced
    ticket_prior: float = 0.5  # weight of priors learned from resolved tickets, if any
    silent_slots: int = 2  # ranks 2-3 kept for the best-placed silent devices (module doc)


@dataclass(frozen=True, slots=True)
class Placement:
    """How far from a failing device its effects show up, for placing a silent root.

    An effect lands on a neighbour more often than two hops away, and a given device
    among a hub's many neighbours is less telling than the one neighbour of a leaf,
    so each alarm at ``d`` hops from a candidate adds log(share_d / devices at d
    hops); an alarm further out adds log(``floor``). Chosen on development scenarios
    (rank of the true silent root among silent candidates); halving or doubling
    ``two_hops`` moved the result by under 1 %.

    Each distinct alarm (type on a device) counts, not each alarming device: every
    effect of a cascade lands somewhere on its own, so a device showing three alarm
    types says three times where the failure is. Counting devices once made a device
    with one stray alarm weigh as much as the one the cascade keeps hitting (dev seeds
    401-402, engine groups: silent-root AC@3 0.407 -> 0.446).

    Candidates are the silent devices next to an alarming one and, in an incident
    of at most ``two_hop_devices`` alarming devices, those two hops from one (unless
    it has more than ``two_hop_reach`` devices within two hops, a hub of a large
    network): a silent root's effects land one or two hops away, and when the
    correlator keeps only a few of them in one incident, the root can be next to
    none. Larger incidents gained nothing from it on the development scenarios and
    cost the most (40 scattered alarming devices of a 100,000-node graph: 43 ms a
    ranking instead of 1).
    """

    one_hop: float = 0.35
    two_hops: float = 0.15
    floor: float = 1e-3
    two_hop_reach: int = 200
    two_hop_devices: int = 2


def _capped_in_order(top: list[RootCause]) -> None:
    """Scores that never rise down the list: a silent device kept at rank 2 or 3 (the
    slots) can score more on its own than the alarming device named first, and a list
    whose second entry outscores its first reads as a mistake. Capped at the score above
    it, and its evidence says so and why."""
    for above, cause in zip(top, top[1:], strict=False):
        if cause.score > above.score and cause.alert_id is None:
            cause.evidence.append(
                f"scored {cause.score:.2f} on its own, shown at {above.score:.2f} so that "
                "none outscores the one above it: the places kept for devices that raised "
                "nothing are ordered by where the alarms are, below the device named first")
            cause.score = above.score


@dataclass(slots=True)
class _Incident:
    """What the ranker needs of an incident, computed once per ranking."""

    first: dict[str, AlertRecord]
    count: Counter[str]
    types_at: dict[str, set[str]]
    types: set[str]
    total: int
    rootness: dict[str, float] = field(default_factory=dict)  # alarming candidate -> score
    # traced alarming candidate -> share of the alarms its own cannot be traced to
    untraced: dict[str, float] = field(default_factory=dict)
    # node -> the alarming nodes that need it (``TopologyGraph.needs``); built on first use
    needed_by: dict[str, list[str]] | None = None
    # alarming device -> the devices beyond its ports that its alarms all tell of
    # (``_witnesses``): it saw them fail
    witnesses: dict[str, list[str]] = field(default_factory=dict)

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


def _witnesses(inc: _Incident, around: dict[str, list[tuple[str, str, int]]]
               ) -> dict[str, list[str]]:
    """Alarming device -> the devices beyond its ports that its alarms tell of
    (``around``: ``links.ports_facing_down``), for every device all of whose alarms in
    the incident are on ports whose links lead to a device that alarms itself and
    logged nothing of its own end of that link.

    Why: a switch logs a port down the moment the server behind it loses power, a
    minute before the server's host check says it is down; the switch is then the
    earliest, and history teaches that its LINK_DOWN precedes HOST_DOWN nearby every
    time, so it was named the cause of the servers' failure, not the PDU they all need
    (the inventory power probe, trained: docs/architecture.md, "Root-cause ranking").
    Its alarms tell that the devices behind those ports went down, nothing of itself.
    A device that also alarms of anything else, or whose link's other end alarmed too
    (the link failed: ``aiops.engine.links``), is no witness.
    """
    facing: dict[str, list[str]] = defaultdict(list)  # device -> far ends it tells of
    telling: Counter[str] = Counter()  # device -> its alerts that tell of a far end
    for far, ports in around.items():
        if far in inc.first:
            for device, _, alerts in ports:
                facing[device].append(far)
                telling[device] += alerts
    return {device: sorted(set(facing[device])) for device, n in telling.items()
            if n == inc.count[device]}


# The least ``_dependents_credit`` of a silent node the top-3 slots keep (a fifth of the
# nodes that need it alarming).
SLOT_CREDIT = 0.5

# Tracing costs the square of an incident's alarms and runs at every ranking; above
# this many alerts an incident is mostly several faults (a simulated cascade has at
# most 40 conditions), where one candidate tracing all of it is not the question.
MAX_TRACED_ALERTS = 120


class _Tracing:
    """The incident's distinct alarms (type, node) and which follow which: ``b``
    follows ``a`` when ``a``'s type usually started before ``b``'s nearby in history
    and ``b`` is at most two hops from ``a``."""

    def __init__(self, types_at: dict[str, set[str]], leads: dict[str, frozenset[str]],
                 topology: TopologyGraph):
        alarms = sorted((name, key) for key, names in types_at.items() for name in names)
        self.size = len(alarms)
        self._alarms = alarms
        self._leads = leads
        self._topology = topology
        self._by_type: dict[str, list[int]] = defaultdict(list)
        for i, (name, _) in enumerate(alarms):
            self._by_type[name].append(i)
        self._next: dict[int, list[int]] = {}

    def _following(self, i: int) -> list[int]:
        found = self._next.get(i)
        if found is None:
            name, key = self._alarms[i]
            near = self._topology.neighbourhood(key, 2) if key in self._topology.nodes else {key: 0}
            found = [j for later in self._leads.get(name, ()) for j in self._by_type.get(later, ())
                     if self._alarms[j][1] in near]
            self._next[i] = found
        return found

    def untraced_from(self, key: str) -> float:
        """Share of the alarms not reachable from the alarms on ``key``."""
        reached = {i for i, (_, at) in enumerate(self._alarms) if at == key}
        stack = list(reached)
        while stack:
            for j in self._following(stack.pop()):
                if j not in reached:
                    reached.add(j)
                    stack.append(j)
        return 1.0 - len(reached) / self.size


_Roots = dict[str, tuple[float, list[str], str | None]]  # type -> rootness, effects, line


@dataclass(slots=True)
class HandRanking:
    """The hand-weighted ranking of an incident with what it computed on the way, which
    the learned ranking (``aiops.engine.rank_features``) reads its features from."""

    inc: _Incident
    ranked: list[RootCause]  # every scored candidate, best first
    near: dict[str, set[str]]  # silent candidate -> its alarming neighbours
    # ``near`` and, in an incident of at most ``Placement.two_hop_devices`` alarming
    # devices, the silent devices two hops from one (with no alarming neighbour): the
    # devices placement chooses from, for the slots and the learned ranking alike
    pool: dict[str, set[str]]
    roots: _Roots
    order: list[str]  # alarming candidates by their first alarm
    # candidate key (as the incident's alerts name it) -> its cause: a device gone from
    # the topology since its alerts came keeps their node id as key, while its cause
    # is named by the raw entity (``_key`` would not find it again)
    causes: dict[str, RootCause] = field(default_factory=dict)

    @property
    def precedence(self) -> dict[str, float]:
        """1 for the earliest alarming candidate down to 1/n for the last."""
        n = len(self.order)
        return {key: 1.0 - i / n for i, key in enumerate(self.order)}


def _key(cause: RootCause) -> str:
    """The candidate key a cause was ranked under (node id, else the raw entity)."""
    return cause.node_id or cause.entity


class CausalTopologyRanker:
    def __init__(self, topology: TopologyGraph, relations: TypeRelations | None = None,
                 weights: RankWeights | None = None, top_k: int = 5,
                 priors: RootCausePriors | None = None,
                 learned: LearnedRanker | None = None,
                 seen_in: str = "past co-occurrences"):
        # ports merged into their devices (``TopologyGraph.device_view``)
        self.topology = topology.device_view()
        self.relations = relations
        # What the precedence counts were read from, for the evidence: history for a
        # trained model, the alerts seen so far for an untrained engine's live pace.
        self.seen_in = seen_in
        # Ticket-learned priors count only once enough tickets taught them.
        self.priors = priors if priors is not None and priors.usable else None
        # A ranking learned from resolved tickets replaces the hand-weighted order once
        # enough tickets taught it (``aiops.learning.learned_rank``).
        self.learned = learned if learned is not None and learned.usable else None
        self.weights = weights or RankWeights()
        self.top_k = top_k
        self.placement = Placement()
        self._rings: dict[str, tuple[float, float]] = {}  # node -> ``_ring_logs``
        self._shadows: dict[str, frozenset[str]] = {}  # node -> ``shadow_of`` it
        self._leads = (relations.leads() if relations is not None and relations.precedence_
                       else {})

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
            rootness = self.relations.rootness(name, types)
            shares = {b: self.relations.precedes(name, b) for b in others}
            b, (share, seen) = max(shares.items(), key=lambda kv: (kv[1][1], kv[0]))
            line = (f"its {name} started before {b} nearby in {round(100 * share)}% of "
                    f"{seen} {self.seen_in}") if seen else None
            return rootness, caused, line
        out = sum(self.relations.strength(name, b) for b in others)
        into = sum(self.relations.strength(b, name) for b in others)
        total = out + into
        return (out / total if total else 0.5), caused, None

    def rank(self, incident: IncidentRecord) -> list[RootCause]:
        hand = self.hand_ranking(incident)
        if hand is None:
            return []
        ranked = hand.ranked
        if self.learned is not None and hand.inc.total <= MAX_TRACED_ALERTS:
            ranked = self._learned_order(hand)
        top = ranked[: self.top_k]
        _capped_in_order(top)
        return top

    def hand_ranking(self, incident: IncidentRecord) -> HandRanking | None:
        """Every candidate in the hand-weighted order (module doc), with what was
        computed on the way; None for an incident without alerts."""
        inc = _Incident.of(incident.alerts.values())
        if not inc.first:
            return None
        order = sorted(inc.first, key=lambda k: (inc.first[k].starts_at, inc.first[k].id))
        precedence = {key: 1.0 - i / len(order) for i, key in enumerate(order)}
        roots = {t: self._rootness(t, inc.types) for t in inc.types}
        alarming = set(inc.first)
        named = ports_named(incident.alerts.values(), self.topology) \
            if self.topology.port_links else {}
        around = ports_facing_down(named, self.topology) if named else {}
        if around:
            inc.witnesses = _witnesses(inc, around)
        candidates = set(alarming)
        for key in alarming:
            candidates.update(self.topology.neighbours(key))

        ranked: list[RootCause] = []
        causes: dict[str, RootCause] = {}
        near: dict[str, set[str]] = {}  # silent candidate -> its alarming neighbours
        for cand in candidates:
            neighbours = self.topology.neighbours(cand) & alarming
            if cand in alarming:
                cause = self._alarming(cand, inc, roots, precedence, order[0])
            else:
                if self._downstream_only(cand, inc):
                    continue
                near[cand] = neighbours
                if len(neighbours) < 2:  # a silent node is only implicated by several
                    continue
                cause = self._silent(cand, inc, neighbours, roots, precedence)
            causes[cand] = self._with_dependency(cause, cand, neighbours, inc)
            ranked.append(causes[cand])
        if self.topology.port_links:
            self._with_links(named, around, inc, causes)
        ranked.sort(key=lambda rc: (-rc.score, rc.entity))
        if self._leads and self.weights.untraced:
            ranked = self._by_tracing(ranked, inc, alarming)
        pool = self._slot_pool(near, alarming, inc)
        if self.weights.silent_slots:
            ranked = self._reserve_silent_slots(ranked, inc, pool, roots, precedence)
            for cause in ranked:  # the slots' silent devices are topology nodes
                causes.setdefault(_key(cause), cause)
        return HandRanking(inc, ranked, near, pool, roots, order, causes)

    def _with_links(self, named: dict[str, tuple[str, str, float, int]],
                    around: dict[str, list[tuple[str, str, int]]], inc: _Incident,
                    causes: dict[str, RootCause]) -> None:
        """Each end of a link whose two ports both alarmed gets the alarms at the other
        end in its alarm share, and the evidence (``aiops.engine.links``); ``named``:
        the ports the incident's alerts name; ``around``: the ports that went down
        around a device that said nothing of its own end (``ports_facing_down``)."""
        for link in links_down(named, self.topology):
            for mine, device in enumerate(link.devices):
                cause = causes.get(device)
                if cause is None or cause.alert_id is None:
                    continue
                far = link.devices[1 - mine]
                cause.score += self.weights.alarm_share * link.alerts[1 - mine] / inc.total
                cause.evidence.append(link.line(device, self._name(far)))
        # Evidence only (the score stays as the topology gave it): which of a silent
        # candidate's neighbours logged their port to it down.
        for device, ports in around.items():
            cause = causes.get(device)
            if cause is None or cause.alert_id is not None:
                continue
            shown = ", ".join(f"{self._name(n)}'s {port}" for n, port, _ in ports[:5])
            more = f" and {len(ports) - 5} more" if len(ports) > 5 else ""
            cause.evidence.append(
                f"{len(ports)} port{'s' if len(ports) != 1 else ''} leading to it went "
                f"down ({shown}{more}) and it logged nothing of its own end: dead, or "
                "cut off")

    def _name(self, node_id: str) -> str:
        """A node's display name (its id where the topology no longer has it)."""
        node = self.topology.nodes.get(node_id)
        return node.name if node is not None else node_id

    def _learned_order(self, hand: HandRanking) -> list[RootCause]:
        """All candidates, silent ones next to a single alarming device or two hops out
        (``HandRanking.pool``) included, in the order of the ranking learned from
        tickets; each keeps its hand-weighted evidence and gets the learned probability
        as its score.

        Why: on the development scenarios (docs/architecture.md, "A ranking learned
        from tickets") it named the root first in 0.735 of the faults instead of 0.705
        (silent roots 0.109 instead of 0.000, alarmed roots 0.918 instead of 0.912).
        Above ``MAX_TRACED_ALERTS`` alerts the hand order stays (an incident that large
        is several faults, and its features cost the most)."""
        assert self.learned is not None
        try:
            keys, features = candidate_features(self, hand)
            if not keys:
                return hand.ranked
            probability = self.learned.probabilities(features)
            best = sorted(range(len(keys)), key=lambda i: (-probability[i], keys[i]))
            chosen = [(self._learned_cause(hand, keys[i]), float(probability[i]),
                       self._learned_lines(features, i, probability[i],
                                           keys[i] in hand.inc.first))
                      for i in best[: self.top_k]]
        except Exception:  # ranking runs inside ingestion: never fail a batch over it
            logger.exception("learned root-cause ranking failed; the hand-weighted order stands")
            return hand.ranked
        # Changed only once all of it was computed: a failure above leaves the hand
        # ranking as it was.
        for cause, score, lines in chosen:
            cause.score = score
            cause.evidence[:0] = lines
        return [cause for cause, _, _ in chosen]

    def _learned_cause(self, hand: HandRanking, key: str) -> RootCause:
        """The hand ranking's cause for ``key``, or a new one for a silent device the
        hand ranking left out (next to a single alarming device, or two hops from one)."""
        cause = hand.causes.get(key)
        if cause is None:
            near = hand.pool[key]
            cause = self._with_dependency(self._silent(
                key, hand.inc, near, hand.roots, hand.precedence), key, near, hand.inc)
        return cause

    def _learned_lines(self, features: np.ndarray, row: int, probability: float,
                       alarming: bool) -> list[str]:
        """The evidence the learned ranking puts first: its probability, and the features
        of the candidate's own kind that lifted it most."""
        assert self.learned is not None
        lines = [f"ranked by a model learned from {self.learned.tickets_} past tickets: "
                 f"{round(100 * probability)}% likely the device at fault"]
        columns = ALARMING_COLUMNS if alarming else SILENT_COLUMNS
        weighed = [f"{LABELS[FEATURE_NAMES[k]]} {features[row, k]:.2f} (the candidates' "
                   f"mean {features[:, k].mean():.2f})"
                   for k in self.learned.reasons(features, row, columns)]
        if weighed:
            lines.append("what weighed most for it: " + "; ".join(weighed))
        return lines

    def _alarming(self, cand: str, inc: _Incident, roots: dict[str, tuple[float, list[str],
                  str | None]], precedence: dict[str, float], earliest: str) -> RootCause:
        """An alarming device: how root-like its alarm types are, its share of the
        alarms, the learned ticket prior of its types.

        The alarming devices in its shadow (``aiops.engine.shadow``) are named in the
        evidence but not scored: on the development scenarios, where a fault's effects
        land by a causal graph between alarm types rather than by reachability, adding
        0.1 / 0.3 / 0.5 × their share lowered AC@1 from 0.652 to 0.644 / 0.625 / 0.606
        (docs/experiments.md)."""
        w = self.weights
        rootness, name = max((roots[t][0], t) for t in inc.types_at[cand])
        seen = inc.witnesses.get(cand)
        if seen:
            rootness = 0.0
        inc.rootness[cand] = rootness
        share = inc.count[cand] / inc.total
        score = w.rootness * rootness + w.alarm_share * share
        if not seen:
            score += w.precedence * precedence[cand]
        evidence: list[str] = []
        _, caused, line = roots[name]
        if seen:
            names = ", ".join(self._name(n) for n in seen[:5])
            more = f" and {len(seen) - 5} more" if len(seen) > 5 else ""
            evidence.append(
                f"all its alarms are on ports to devices that alarm themselves ({names}"
                f"{more}) and logged nothing of their own end: it saw them fail, so neither "
                "its alarm types nor how early they came make it their cause")
        else:
            if caused:
                evidence.append(f"its {name} is a learned cause of "
                                f"{', '.join(sorted(caused))} in this incident")
            if line:
                evidence.append(line)
        evidence.append(f"{inc.count[cand]} of {inc.total} alarms are on it")
        if cand == earliest:
            evidence.append("earliest alarm in the group")
        if w.silent_shadow:  # evidence only: scored, it lowered AC@1 (the method doc)
            cut = self._alarming_in(self._shadow(cand), inc.first, ())
            if cut:
                evidence.append(f"{len(cut)} of the {len(inc.first)} alarming devices reach "
                                "the rest of the network only through it")
        if self.priors is not None and w.ticket_prior:
            prior, line = self._type_prior(inc.types_at[cand])
            score += w.ticket_prior * prior
            if line:
                evidence.append(line)
        return self._cause(cand, score, inc.first.get(cand), evidence)

    def _silent(self, cand: str, inc: _Incident, neighbours: set[str],
                roots: _Roots,
                precedence: dict[str, float]) -> RootCause:
        """A device that raised nothing, scored by how many alarming devices its failure
        explains: its alarming neighbours and the alarming devices two hops out that
        reach the network only through it (its shadow, ``silent_shadow``), these
        counted at the share of the neighbours it cuts off that alarm; and, if weighted,
        by the incident lacking a cascade-starting type.

        Why the shadow: a dead core router's neighbours shout (link down), and so do
        the hosts behind its access switches (unreachable); counting only the
        neighbours, those hosts diluted its coverage and the router ranked below the
        switches it cut off (docs/architecture.md, "Root-cause ranking"). Why at that
        share: a dead device cuts off all of its shadow at once, so all the neighbours
        it cuts off lose their link to it. And only when at least two of them alarm: the
        alarms behind a single one are explained as well by that neighbour's own
        failure. Counted in full, on the tree scenarios an aggregation switch took rank
        1 or the top 3 from the one alarming access switch it cuts off, whose hosts
        alarmed (docs/experiments.md)."""
        w = self.weights
        best_rootness = max(r[0] for r in roots.values())
        behind = self._shadow(cand) if w.silent_shadow else frozenset()
        beyond = self._alarming_in(behind, inc.first, neighbours)
        cut = len(neighbours & behind)  # alarming neighbours it cuts off
        cut_off = [n for n in self.topology.neighbours(cand) if n in behind] \
            if beyond and cut >= 2 else []
        shouting = cut / len(cut_off) if cut_off else 0.0
        # Alarming nodes two hops out that need it (services on a hypervisor's VMs) are
        # explained by its failure as surely as its neighbours are (``_needed_by``).
        needing = [a for a in self._needed_by(inc).get(cand, ()) if a not in neighbours]
        beyond = [b for b in beyond if b not in needing]
        coverage = (len(neighbours) + len(needing)
                    + w.silent_shadow * shouting * len(beyond)) / len(inc.first)
        score = (w.silent_coverage * coverage + w.silent_missing_root * (1.0 - best_rootness)
                 + w.silent_bias + w.precedence * max((precedence[a] for a in neighbours),
                                                      default=0.0))
        evidence = ["raised no alarm itself: implicated by the topology",
                    f"{len(neighbours)} of {len(inc.first)} alarming devices are its neighbours"]
        if needing:
            evidence.append(f"its failure also explains {len(needing)} alarming nodes two "
                            "hops out that need it")
        line = self._shadow_line(cand, behind, neighbours, len(beyond), shouting,
                                 len(inc.first))
        if line:
            evidence.append(line)
        credit, alarmed, dependents = self._dependents_credit(cand, inc)
        if credit < 1.0:
            evidence.append(f"only {alarmed} of the {dependents} nodes that need it alarm: "
                            "its failure would have taken them all, so its score counts "
                            f"{credit:.2f}")
        if self.priors is not None and w.ticket_prior:
            score += w.ticket_prior * self.priors.silent_share()
            evidence.append(f"the device at fault raised no alarm in {self.priors.silent_} of "
                            f"{self.priors.tickets_} past tickets")
        return self._cause(cand, score, None, evidence)

    def _shadow(self, node: str) -> frozenset[str]:
        """``shadow_of`` the node (cached: a ranker's topology does not change)."""
        found = self._shadows.get(node)
        if found is None:
            found = self._shadows[node] = shadow_of(self.topology, node)
        return found

    @staticmethod
    def _alarming_in(behind: Collection[str], alarming: Collection[str],
                     besides: Collection[str]) -> list[str]:
        """The ``alarming`` devices in a shadow (``behind``) other than ``besides``,
        walking the smaller of the two."""
        smaller, larger = (behind, alarming) if len(behind) < len(alarming) else (alarming,
                                                                                behind)
        return [a for a in smaller if a in larger and a not in besides]

    def _shadow_line(self, cand: str, behind: frozenset[str], neighbours: set[str],
                     beyond: int, shouting: float, alarming: int) -> str | None:
        """The evidence an engineer reads of a candidate's shadow: how many of its
        alarming neighbours, and how many devices behind them, reach the network only
        through it, and what the alarming devices two hops out in it (``beyond``)
        counted for (``shouting`` each); None when no alarming device is in its
        shadow."""
        cut = neighbours & behind
        if not cut and not beyond:
            return None
        adjacent = self.topology.neighbours(cand)
        hidden = len({n for a in cut for n in self.topology.neighbours(a)
                      if n in behind and n not in adjacent})
        quiet = sum(1 for n in adjacent if n in behind and n not in neighbours)
        line = f"{len(cut)} of its {len(neighbours)} alarming neighbours"
        if hidden:
            line += f" and the {hidden} devices behind them"
        line += " reach the rest of the network only through it"
        if quiet:
            line += f", as do {quiet} of its neighbours that raised nothing"
        if not beyond:
            return line
        devices = (f"the {beyond} alarming devices two hops out in its shadow" if beyond > 1
                   else "the alarming device two hops out in its shadow")
        if shouting == 1.0:
            return (f"{line}; with {devices}, its failure explains {len(neighbours) + beyond} "
                    f"of the {alarming} alarming devices")
        if shouting:
            return (f"{line}; {devices} count {len(cut)}/{len(cut) + quiet} each, the share "
                    "of the neighbours it cuts off that alarm")
        return (f"{line}; {devices} not counted: fewer than two of the neighbours it cuts "
                "off alarm, and one of those failing would explain them as well")

    def _with_dependency(self, cause: RootCause, cand: str, neighbours: set[str],
                         inc: _Incident) -> RootCause:
        """Add the share of the alarming nodes near it that need the candidate
        (``dependency_share``)."""
        share, depending = self.dependency_share(inc, cand, neighbours)
        cause.score += self.weights.dependency * share
        if cause.alert_id is None:  # silent: as much as its dependents say it died
            cause.score *= self._dependents_credit(cand, inc)[0]
        if depending:
            near = round(len(depending) / share)
            line = (f"{len(depending)} of the {near} alarming nodes within two hops "
                    f"{'needs' if len(depending) == 1 else 'need'} it")
            through = sum(1 for a in depending if a not in neighbours)
            if through:
                line += f" ({through} through a node between)"
            cause.evidence.append(line)
        return cause

    def _dependents_credit(self, cand: str, inc: _Incident) -> tuple[float, int, int]:
        """For a node that raised nothing: how much of its score counts, from the share
        of the nodes with an edge that needs it (``depends_on``, ``runs_on``,
        ``part_of`` it) that alarm, with that count and the number of them; 1 when
        nothing does.

        Why: a dead node takes down what needs it. A site that 60 devices are
        ``part_of`` is next to every alarming device of the site, and they all need it,
        so when the 11 access switches behind a dead distribution switch alarmed the
        site outscored the switch (``benchmarks.inventory_probes``, sites, seeds 1 and
        2: the switch named first for 0.000 of the faults, against 1.000 and 0.950 on
        the same network without site nodes; 1.000 and 0.950 with this). Full credit
        from 40 % of them alarming up, in proportion below: monitoring reports the VMs
        of a dead hypervisor one by one, minutes apart, and the incident is ranked at
        its first two (2 of 6 VMs: credit 0.83, enough to stay ahead of the first VM
        found down). A site where 40 % of the devices alarm is named as a possible
        site-wide failure. Topologies without dependency edges (every simulated one)
        are unchanged.
        """
        deps = self.topology.dependencies
        if cand not in deps:
            return 1.0, 0, 0
        dependents = list(deps.predecessors(cand))
        if not dependents:
            return 1.0, 0, 0
        alarmed = sum(1 for n in dependents if n in inc.first)
        return min(1.0, alarmed / (0.4 * len(dependents))), alarmed, len(dependents)

    def _needed_by(self, inc: _Incident) -> dict[str, list[str]]:
        """Node -> the incident's alarming nodes that need it (``TopologyGraph.needs``),
        built once per ranking."""
        if inc.needed_by is None:
            needed_by: dict[str, list[str]] = defaultdict(list)
            for key in inc.first:
                for node in self.topology.needs(key):
                    needed_by[node].append(key)
            inc.needed_by = needed_by
        return inc.needed_by

    def _downstream_only(self, cand: str, inc: _Incident) -> bool:
        """Whether a node that raised nothing needs an alarming node while nothing
        alarming needs it: a Service on a VM whose disk fills, a pod of a deployment
        that alarms. Its failure cannot have raised what it depends on, so it is no
        candidate; the probe that found it named a service that runs on a VM "raised no
        alarm itself ... a dead device reports nothing" second for that VM's full disk
        (docs/architecture.md, "Root-cause ranking"). Topologies without dependency
        edges (every simulated one) have no such node."""
        mine = self.topology.needs(cand)
        if not mine or not any(node in inc.first for node in mine):
            return False
        return not self._needed_by(inc).get(cand)

    def dependency_share(self, inc: _Incident, cand: str, neighbours: Collection[str]
                         ) -> tuple[float, list[str]]:
        """Of the alarming nodes within two hops of ``cand`` (its ``neighbours`` given
        among them), the share that need it (``TopologyGraph.needs``: directly, or
        through one node between), and those.

        Why two steps: a dead Kubernetes node's alerts land on it and on its pods'
        deployments, two hops away through pods that raise nothing themselves; read one
        hop only, the deployments that lost replicas said nothing for the node, and the
        first of them to alarm was named the root (docs/benchmarks.md, "A Kubernetes
        node failure"). Why over two hops and not over its neighbours: a deployment
        that one alarming Service needs would otherwise read 1 of 1, as much as the
        node that six alarming objects need.
        """
        depending = self._needed_by(inc).get(cand, [])
        if not depending:
            return 0.0, []
        ball = self.topology.neighbourhood(cand, 2)
        near = {n for n in inc.first if n in ball}
        near.update(neighbours, depending)
        near.discard(cand)
        return len(depending) / len(near), depending

    def _by_tracing(self, ranked: list[RootCause], inc: _Incident,
                    alarming: set[str]) -> list[RootCause]:
        """Lower each of the best alarming candidates by the share of the incident's
        alarms its own cannot be traced to (the module doc), relative to the best of
        them; re-sort.

        Why: on the true groups of the development scenarios this named the alarmed
        root first in 0.893 of faults instead of 0.856 (0.912 with precedence counted
        within 60 s; docs/architecture.md); only the
        ``traced_candidates`` best-scored are traced (more changed nothing), the other
        alarming ones lose the most any traced one loses.
        """
        if inc.total > MAX_TRACED_ALERTS:
            return ranked
        trace = _Tracing(inc.types_at, self._leads, self.topology)
        if trace.size < 2:
            return ranked
        shares: dict[str, float] = {}
        for cause in ranked:
            key = _key(cause)
            if key in alarming and key not in inc.witnesses:
                shares[key] = trace.untraced_from(key)
                if len(shares) == self.weights.traced_candidates:
                    break
        if not shares:
            return ranked
        inc.untraced = shares
        best, worst = min(shares.values()), max(shares.values())
        for cause in ranked:
            key = _key(cause)
            if key not in alarming:
                continue
            share = shares.get(key, worst)
            cause.score -= self.weights.untraced * (share - best)
            if key in shares:
                traced = trace.size - round(share * trace.size)
                cause.evidence.append(
                    f"{traced} of {trace.size} alarms in the incident trace back to its own "
                    "through types that usually start before the next nearby")
        ranked.sort(key=lambda rc: (-rc.score, rc.entity))
        return ranked

    def _reserve_silent_slots(self, ranked: list[RootCause], inc: _Incident,
                              pool: dict[str, set[str]], roots: _Roots,
                              precedence: dict[str, float]) -> list[RootCause]:
        """Put the best-placed silent devices at ranks 2 and 3 (``silent_slots``, at
        most 2, of them, ending at rank 3), each unless it is in the top 3 already or the
        candidate it would displace keeps its place (``_yields_slot``).

        Why: a silent root next to one alarming device is outscored by that device's
        own alarms, yet it is usually among the few devices that explain where the
        alarms are; a candidate below rank 1 with no learned sign of starting the
        cascade is rarely the root. On the true groups of the development scenarios
        the best-placed silent device is the root in 44 % of silent-root faults and
        the second best in another 18 %, while an alarmed root sits at rank 2 in 6 %
        and at rank 3 in 1 % (docs/architecture.md).
        """
        slots = min(self.weights.silent_slots, 2)  # rank 1 stays as scored
        top = {_key(rc) for rc in ranked[:3]}
        alarms = {key: len(names) for key, names in inc.types_at.items()}
        placed = [(i, *p) for i, p in enumerate(self._best_placed_silent(
            pool, alarms, slots)) if p[0] not in top]
        out = list(ranked)
        for position in range(3 - slots, 3):
            if not placed:
                break
            current = out[position] if position < len(out) else None
            if current is not None and not self._yields_slot(inc, _key(current), position):
                continue
            (nth, cand, one, two), placed = placed[0], placed[1:]
            cause = next((rc for rc in out if _key(rc) == cand), None)
            if cause is None:
                cause = self._with_dependency(
                    self._silent(cand, inc, pool[cand], roots, precedence), cand, pool[cand],
                    inc)
            which = ("it best explains", "it is the second best to explain")[nth]
            cause.evidence.append(
                f"kept in the top 3: of the silent devices {which} where the alarms are "
                f"({one} alarming at 1 hop, {two} at 2 hops), and a dead device reports nothing")
            rest = [rc for rc in out if rc is not cause]
            out = [*rest[:position], cause, *rest[position:]]
        return out

    def _slot_pool(self, near: dict[str, set[str]], alarming: set[str], inc: _Incident
                   ) -> dict[str, set[str]]:
        """The silent devices the slots choose from, each with its alarming neighbours:
        ``near`` and, in an incident of at most ``two_hop_devices`` alarming devices,
        those two hops from one (``Placement``). Not a node that fewer than a fifth of
        the nodes needing it alarm about (``_dependents_credit`` under 0.5): a site next
        to the one device whose fan failed is no dead device (the inventory probes'
        sites took a slot for 472 single alarms, each "only 1 of the 60 nodes that need
        it alarm")."""
        p = self.placement
        pool = {c: n for c, n in near.items()
                if self._dependents_credit(c, inc)[0] >= SLOT_CREDIT}
        if len(alarming) > p.two_hop_devices:
            return pool
        for key in alarming:
            if key not in self.topology.nodes:
                continue
            hops = self.topology.neighbourhood(key, 2)
            if len(hops) > p.two_hop_reach:
                continue
            for node, h in hops.items():
                if h == 2 and node not in alarming and node not in pool \
                        and not self._downstream_only(node, inc) \
                        and self._dependents_credit(node, inc)[0] >= SLOT_CREDIT:
                    pool[node] = set()
        return pool

    @staticmethod
    def _yields_slot(inc: _Incident, key: str, position: int) -> bool:
        """Whether the candidate at ``position`` (0-based) gives its place to a silent
        device: at rank 3 unless its alarm types are learned to start before the
        others (rootness above 0.5); at rank 2 only if they are learned to start after
        them (below 0.5), so without a trained model (every rootness 0.5) rank 2 stays
        as scored."""
        rootness = inc.rootness.get(key, 0.0)  # silent candidates: 0.0
        return rootness <= 0.5 if position == 2 else rootness < 0.5

    def _best_placed_silent(self, near: dict[str, set[str]], alarms: dict[str, int],
                            count: int) -> list[tuple[str, int, int]]:
        """Of the silent candidates (``near``: each with its alarming neighbours), the
        ``count`` whose surroundings best explain the incident's alarms (``alarms``:
        alarming device -> its distinct alarms; ``Placement``), best first, each with
        how many alarming devices are at 1 and at 2 hops from it; ties go to the first
        name.

        A candidate is skipped unseen when even all its other alarms at 2 hops could
        not beat the ``count``-th best so far (most of them, in a large incident)."""
        floor = log(self.placement.floor)
        total = sum(alarms.values())
        best: list[tuple[float, str, int, int]] = []  # (-fit, name, one, two), sorted
        for cand, neighbours in near.items():
            one = sum(alarms[a] for a in neighbours)
            near_log, far_log = self._ring_logs(cand)
            rest = total - one
            if len(best) == count and one * near_log + rest * max(far_log, floor) < -best[-1][0]:
                continue
            fit, at_two = self.placement_fit(cand, alarms, neighbours, total)
            insort(best, (-fit, cand, len(neighbours), len(at_two)))
            del best[count:]
        return [(cand, one, two) for _, cand, one, two in best]

    def placement_fit(self, cand: str, alarms: dict[str, int], at_one: Collection[str],
                      total: int) -> tuple[float, list[str]]:
        """The log-likelihood that a failure of ``cand`` put the alarms where they are
        (``Placement``: each distinct alarm counts; ``alarms``: alarming device -> its
        distinct alarms, ``total`` of them; ``at_one``: those of the devices next to
        ``cand``), and the alarming devices two hops from it. The slots and the learned
        ranking's features (``aiops.engine.rank_features``) both read it, so the two
        place silent devices alike."""
        near_log, far_log = self._ring_logs(cand)
        at_two = self._alarming_at_two_hops(cand, alarms)
        one = sum(alarms[a] for a in at_one)
        two = sum(alarms[a] for a in at_two)
        return (one * near_log + two * far_log
                + (total - one - two) * log(self.placement.floor)), at_two

    def _alarming_at_two_hops(self, cand: str, alarming: Collection[str]) -> list[str]:
        """The ``alarming`` devices exactly two hops from ``cand``."""
        hops = self.topology.neighbourhood(cand, 2)
        if len(hops) < len(alarming):
            return [node for node, h in hops.items() if h == 2 and node in alarming]
        return [a for a in alarming if hops.get(a) == 2]

    def _ring_logs(self, node: str) -> tuple[float, float]:
        """log(share / devices) at 1 and at 2 hops from ``node``: the chance that an
        effect of a silent failure there lands on one given device at that distance
        (``Placement``; cached: a ranker's topology does not change)."""
        logs = self._rings.get(node)
        if logs is None:
            hops = self.topology.neighbourhood(node, 2)
            ring2 = sum(1 for h in hops.values() if h == 2)
            ring1 = len(hops) - 1 - ring2
            p = self.placement
            logs = self._rings[node] = (log(p.one_hop / max(ring1, 1)),
                                        log(p.two_hops / max(ring2, 1)))
        return logs

    def _type_prior(self, names: set[str]) -> tuple[float, str | None]:
        """The best ticket-learned share among a candidate's alert types, and the
        evidence line for it."""
        assert self.priors is not None
        share, root, seen, name = max((*self.priors.type_root_share(n), n) for n in names)
        line = (f"in {root} of {seen} past tickets with {name}, the device raising it "
                "was at fault") if seen else None
        return share, line

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
