"""What a learned root-cause ranking sees of each candidate of an incident.

The hand-weighted ranker (``aiops.engine.rank``) adds fixed multiples of a few
signals, which cannot say when a device that raised nothing is the likelier root: a
silent device next to one alarming device always loses to that device's own alarms.
Resolved tickets name the device at fault, silent or not, so a ranking can be learned
from them (``aiops.learning.learned_rank``) over richer features: the hand score's
own components, where the candidate sits among the alarms, and, for a silent device,
what the incident looks like as a whole (how many devices and types alarm, whether
any alarm type is learned to start cascades, whether the neighbours' alarms look
like effects). Alarming and silent candidates get separate feature blocks (zeros in
the other), so the estimator weighs each kind on its own terms and a linear model
can still use incident-wide facts to choose between the kinds.

Silent devices are placed as the hand ranking's slots place them: the same
placement likelihood, each distinct alarm counted where it landed
(``CausalTopologyRanker.placement_fit``), over the same devices (``HandRanking.pool``:
next to an alarming device, and two hops from one in an incident of one or two
alarming devices). Otherwise the learned order, which replaces the hand order, would
drop the two-hop devices the slots keep and judge placement by another count
(docs/architecture.md, "The learned ranking places silent devices as the slots do").

Training and use compute the features with this one function, so they agree; a
model fitted on features of another meaning is not used (``FEATURE_SCHEMA``).
"""

from __future__ import annotations

from math import log, log1p
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from aiops.engine.rank import CausalTopologyRanker, HandRanking
    from topology.graph import TopologyGraph

ALARMING = ("rootness", "rootness_gap", "share", "share_gap", "precedence", "dependency",
            "untraced", "ticket_prior", "unled_types", "placement_gap", "degree", "hand_rank",
            "hand_score", "earliest", "types")
SILENT = ("neighbours", "coverage", "placement_gap", "best_placed", "second_placed", "degree",
          "neighbour_rootness", "neighbour_unled_types", "hand_rank", "hand_score",
          "dependency", "bias", "incident_devices", "incident_alerts", "incident_types",
          "incident_one_type", "incident_best_rootness", "incident_traced",
          "incident_unled_types", "incident_top_share")
# What each feature is, for the evidence of a learned ranking (``reasons``).
LABELS = {
    "alarming_rootness": "how often its alarm types started first nearby",
    "alarming_rootness_gap": "that, against the incident's most root-like device",
    "alarming_share": "its share of the alarms",
    "alarming_share_gap": "its share of the alarms against the largest",
    "alarming_precedence": "how early its first alarm came",
    "alarming_dependency": "share of the alarming nodes near it that need it",
    "alarming_untraced": "share of the alarms its own cannot be traced to (over the best)",
    "alarming_ticket_prior": "how often past tickets found its alarm types at the fault",
    "alarming_unled_types": "share of its alarm types no other type here usually precedes",
    "alarming_placement_gap": "how well a failure here explains where the other alarms "
                              "are, against the best",
    "alarming_degree": "its number of neighbours (log)",
    "alarming_hand_rank": "its place in the hand-weighted order (1 / rank)",
    "alarming_hand_score": "its hand-weighted score",
    "alarming_earliest": "whether it alarmed first",
    "alarming_types": "how many alarm types it raised (log)",
    "silent_neighbours": "its alarming neighbours (log)",
    "silent_coverage": "share of the alarming devices that are its neighbours",
    "silent_placement_gap": "how well its failure explains where the alarms are, against "
                            "the best",
    "silent_best_placed": "whether it is the silent device that explains them best",
    "silent_second_placed": "whether it is the second best",
    "silent_degree": "its number of neighbours (log)",
    "silent_neighbour_rootness": "how root-like its alarming neighbours' alarms are "
                                 "(two hops out if none is next to it)",
    "silent_neighbour_unled_types": "share of its neighbours' alarm types no other "
                                    "precedes (two hops out if none is next to it)",
    "silent_hand_rank": "its place in the hand-weighted order (1 / rank)",
    "silent_hand_score": "its hand-weighted score",
    "silent_dependency": "share of the alarming nodes near it that need it",
    "silent_bias": "that it raised no alarm",
    "silent_incident_devices": "alarming devices in the incident (log)",
    "silent_incident_alerts": "alarms in the incident (log)",
    "silent_incident_types": "alarm types in the incident (log)",
    "silent_incident_one_type": "whether the incident holds one alarm type only",
    "silent_incident_best_rootness": "how root-like the incident's most root-like alarm is",
    "silent_incident_traced": "whether some alarming device traces every alarm",
    "silent_incident_unled_types": "share of the incident's types no other precedes",
    "silent_incident_top_share": "the largest share of the alarms on one device",
}
MAX_SILENT_CANDIDATES = 30  # silent devices given features per incident (``_silent_candidates``)
# Saved with a fitted model, with the names: a model fitted on features of another
# meaning is not used. 1: placement counted each alarming device once, silent
# candidates only next to an alarming device; 2: placement per distinct alarm and
# silent candidates two hops out as the hand ranking's slots have them.
FEATURE_SCHEMA = 2
FEATURE_NAMES = tuple(f"alarming_{n}" for n in ALARMING) + tuple(f"silent_{n}" for n in SILENT)
assert set(LABELS) == set(FEATURE_NAMES)
ALARMING_COLUMNS = tuple(range(len(ALARMING)))  # of FEATURE_NAMES
SILENT_COLUMNS = tuple(range(len(ALARMING), len(FEATURE_NAMES)))


def candidate_features(ranker: CausalTopologyRanker, hand: HandRanking
                       ) -> tuple[list[str], np.ndarray]:
    """The candidates (every alarming device and the silent devices the hand ranking
    places, ``_silent_candidates``; sorted) and one row of ``FEATURE_NAMES`` each."""
    inc, topology = hand.inc, ranker.topology
    alarming = set(inc.first)
    rank_of = {(rc.node_id or rc.entity): i for i, rc in enumerate(hand.ranked)}
    score_of = {(rc.node_id or rc.entity): rc.score for rc in hand.ranked}
    # A type is "led" when another type here usually starts before it nearby: what
    # is left unled is where the cascade seems to start.
    leads = ranker._leads
    led = {t for a in inc.types for t in leads.get(a, ()) if t != a and t in inc.types}
    unled = {t: float(t not in led) for t in inc.types}
    rootness = {c: max(hand.roots[t][0] for t in inc.types_at[c]) for c in alarming}
    share = {c: inc.count[c] / inc.total for c in alarming}
    best_rootness, best_share = max(rootness.values()), max(share.values())
    untraced = inc.untraced
    best_untraced = min(untraced.values(), default=0.0)
    worst_untraced = max(untraced.values(), default=0.0)
    precedence = hand.precedence
    # Placement explains where the devices of the topology are: an alarming entity no
    # node resolves to explains nothing and is explained by nothing (review: scored 0,
    # the best fit, it jumped to rank 1), so it is left out of the others and gets the
    # worst fit of the known candidates.
    known = {c for c in alarming if c in topology.nodes}
    silent = _silent_candidates(hand, topology)
    fits, far = _placements(ranker, hand, known, silent)
    worst_fit = min(fits.values(), default=0.0)
    fits.update((c, worst_fit) for c in alarming - known)
    best_fit = max(fits.values())
    placed = {c: i for i, c in enumerate(sorted(silent, key=lambda c: (-fits[c], c)))}
    incident = [log(len(alarming)), log(inc.total), log(len(inc.types)),
                float(len(inc.types) == 1), best_rootness,
                float(bool(untraced) and best_untraced == 0.0),
                sum(unled.values()) / len(unled), best_share]
    keys: list[str] = []
    rows: list[list[float]] = []
    for cand in sorted((*alarming, *silent)):
        in_topology = cand in topology.nodes
        neighbours = topology.neighbours(cand) & alarming if in_topology else frozenset()
        degree = log1p(len(topology.neighbours(cand))) if in_topology else 0.0
        depending = ranker.dependency_share(inc, cand, neighbours)[0]
        position = rank_of.get(cand)
        hand_rank = 1.0 / (1 + position) if position is not None else 0.0
        hand_score = score_of.get(cand, 0.0)
        if cand in alarming:
            own = inc.types_at[cand]
            prior = (max(ranker.priors.type_root_share(t)[0] for t in own)
                     if ranker.priors is not None else 0.5)
            row = [rootness[cand], rootness[cand] - best_rootness, share[cand],
                   share[cand] - best_share, precedence[cand], depending,
                   untraced.get(cand, worst_untraced) - best_untraced, prior,
                   sum(unled[t] for t in own) / len(own), fits[cand] - best_fit, degree,
                   hand_rank, hand_score, float(hand.order[0] == cand), log(len(own))]
            row += [0.0] * len(SILENT)
        else:
            # The alarming devices nearest to it: its neighbours, else (a candidate two
            # hops out, ``HandRanking.pool``) those two hops from it.
            nearest = neighbours or far[cand]
            if not nearest:
                continue
            types = set().union(*(inc.types_at[n] for n in nearest))
            row = [0.0] * len(ALARMING)
            row += [log1p(len(neighbours)), len(neighbours) / len(alarming),
                    fits[cand] - best_fit, float(placed[cand] == 0), float(placed[cand] == 1),
                    degree, max(rootness[n] for n in nearest),
                    sum(unled[t] for t in types) / len(types), hand_rank, hand_score,
                    depending, 1.0, *incident]
        keys.append(cand)
        rows.append(row)
    return keys, np.asarray(rows, dtype=float).reshape(len(rows), len(FEATURE_NAMES))


def _silent_candidates(hand: HandRanking, topology: TopologyGraph) -> list[str]:
    """The silent candidates given features: of the devices the hand ranking places
    (``HandRanking.pool``: those next to an alarming device and, in an incident of one
    or two alarming devices, those two hops from one), at most
    ``MAX_SILENT_CANDIDATES``, those next to the most alarming devices, then of the
    fewest neighbours (a failure there explains the alarms best), then by name.

    Why a cap: an alarm on a hub of a large network makes each of its hundreds of
    neighbours a silent candidate, and the placement of each walks two hops (review:
    a 40-alert hub incident of a 100,000-node Barabási–Albert graph took 49 ms to
    rank instead of 6); the devices left out are those least placed to be the root."""
    def order(cand: str) -> tuple[int, int, str]:
        return (-len(hand.pool[cand]), len(topology.neighbours(cand)), cand)

    return sorted(hand.pool, key=order)[:MAX_SILENT_CANDIDATES]


def _placements(ranker: CausalTopologyRanker, hand: HandRanking, known: set[str],
                silent: list[str]) -> tuple[dict[str, float], dict[str, list[str]]]:
    """How well a failure of each candidate explains where the alarms of the other
    ``known`` devices are, counted per distinct alarm as the slots count them
    (``CausalTopologyRanker.placement_fit``), and for each silent one the alarming
    devices two hops from it."""
    alarms = {c: len(hand.inc.types_at[c]) for c in known}
    total = sum(alarms.values())
    neighbours = ranker.topology.neighbours
    fits: dict[str, float] = {}
    far: dict[str, list[str]] = {}
    for cand in known:  # its own alarms are neither one nor two hops from it
        fits[cand], _ = ranker.placement_fit(cand, alarms, neighbours(cand) & known,
                                             total - alarms[cand])
    for cand in silent:
        fits[cand], far[cand] = ranker.placement_fit(cand, alarms, neighbours(cand) & known,
                                                     total)
    return fits, far
