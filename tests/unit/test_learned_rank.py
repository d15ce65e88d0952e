"""The root-cause ranking learned from resolved tickets: fit, storage, use, training."""

from __future__ import annotations

import random

import numpy as np
import pytest

from aiops.config import EngineSettings
from aiops.engine.rank import CausalTopologyRanker
from aiops.engine.scored_correlator import ScoredCorrelator
from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.learning.learned_rank import LearnedRanker, _newton, _penalised
from aiops.learning.rank_training import (
    fit_learned_ranker,
    load_ticket_models,
    past_incidents,
    ticket_choices,
    train_root_ranking,
)
from aiops.learning.registry import ModelRegistry
from aiops.models import Alert, Ticket
from tests.unit.test_rank import incident as incident_of
from topology.graph import TopologyGraph
from topology.model import Edge, Node

HUBS = 12


def comb() -> TopologyGraph:
    """Hubs h0..h11 in a ring, each with one leaf l0..l11."""
    nodes = [Node(f"h{i}", "device", f"h{i}") for i in range(HUBS)]
    nodes += [Node(f"l{i}", "device", f"l{i}") for i in range(HUBS)]
    edges = [Edge(f"h{i}", f"h{(i + 1) % HUBS}") for i in range(HUBS)]
    edges += [Edge(f"h{i}", f"l{i}") for i in range(HUBS)]
    return TopologyGraph(nodes, edges)


def ticketed_history(faults: int = 240, seed: int = 3) -> tuple[list[Alert], list[Ticket]]:
    """A failing leaf raises POWER_FAIL itself and LINK_DOWN twice on its hub, except
    half the time it is dead and silent: then only its hub's LINK_DOWN alarms show. A
    failing hub raises POWER_FAIL and LINK_DOWN on both neighbouring hubs. Every fault
    has a ticket naming the device at fault and listing its first alert."""
    rng = random.Random(seed)
    alerts: list[Alert] = []
    tickets: list[Ticket] = []
    for k in range(faults):
        t = 3600.0 * (k + 1)
        i = rng.randrange(HUBS)
        if rng.random() < 0.5:
            root = f"l{i}"
            raised = [("LINK_DOWN", f"h{i}", 0.0), ("LINK_DOWN", f"h{i}", 9.0)]
            if rng.random() < 0.5:
                raised.append(("POWER_FAIL", root, 2.0))
        else:
            root = f"h{i}"
            raised = [("POWER_FAIL", root, 0.0), ("LINK_DOWN", f"h{(i + 1) % HUBS}", 4.0),
                      ("LINK_DOWN", f"h{(i - 1) % HUBS}", 5.0)]
        ids = []
        for n, (name, entity, lag) in enumerate(raised):
            ids.append(f"a{k}-{n}")
            alerts.append(Alert(ids[-1], "s", name, entity, "major", "", t + lag))
        tickets.append(Ticket(f"T{k}", opened_at=t + 60, title="outage", entity=root,
                              resolution="replaced", alert_ids=ids[:1]))
    return alerts, tickets


def incident(alarms: list[tuple[str, str, float]]) -> IncidentRecord:
    return incident_of(*alarms)


SILENT_LEAF = [("LINK_DOWN", "h4", 100.0), ("LINK_DOWN", "h4", 109.0)]
LOUD_LEAF = [("LINK_DOWN", "h7", 100.0), ("POWER_FAIL", "l7", 102.0),
             ("LINK_DOWN", "h7", 109.0)]


def fitted(faults: int = 240) -> tuple[TopologyGraph, LearnedRanker]:
    alerts, tickets = ticketed_history(faults)
    topo = comb()
    incidents, incident_of = past_incidents(alerts, topo, EngineSettings(), ScoredCorrelator)
    pairs = ticket_choices(tickets, alerts, topo, incidents, incident_of)
    assert len(pairs) == faults  # each fault its own incident, each ticket matched
    return topo, fit_learned_ranker(pairs, CausalTopologyRanker(topo))


def test_a_learned_ranking_names_a_silent_device_the_hand_score_cannot() -> None:
    topo, learned = fitted()
    assert learned.usable and learned.tickets_ == 240
    # by hand, the hub holding every alarm comes first
    assert CausalTopologyRanker(topo).rank(incident(SILENT_LEAF))[0].entity == "h4"
    ranked = CausalTopologyRanker(topo, learned=learned).rank(incident(SILENT_LEAF))
    assert ranked[0].entity == "l4"  # learned: a lone hub's LINK_DOWN is its dead leaf
    assert ranked[0].score > 0.5
    assert "ranked by a model learned from 240 past tickets" in ranked[0].evidence[0]
    # and why: the features of its own kind that lifted it most, with their values
    assert ranked[0].evidence[1].startswith("what weighed most for it: ")
    assert "whether it is the silent device that explains them best 1.00" in \
        ranked[0].evidence[1]
    assert "raised no alarm itself: implicated by the topology" in ranked[0].evidence
    # an alarming leaf is still named when it alarmed
    assert CausalTopologyRanker(topo, learned=learned).rank(
        incident(LOUD_LEAF))[0].entity == "l7"


def test_too_few_tickets_or_other_features_keep_the_hand_ranking() -> None:
    topo, learned = fitted(faults=60)
    assert learned.tickets_ == 60 and not learned.usable  # fewer than 200
    assert CausalTopologyRanker(topo, learned=learned).rank(
        incident(SILENT_LEAF))[0].entity == "h4"
    _, learned = fitted()
    data = learned.to_dict()
    data["features"] = data["features"][:-1]  # saved by a version with other features
    assert not LearnedRanker.from_dict(data).usable


def test_the_fit_prefers_the_chosen_candidates() -> None:
    # the candidate at fault is the one with the highest first feature
    rng = np.random.default_rng(0)
    choices = []
    for _ in range(150):
        rows = rng.normal(size=(5, 35))
        choices.append((rows, int(np.argmax(rows[:, 0]))))
    learned = LearnedRanker(min_tickets=10).fit(choices)
    assert np.argmax(np.abs(learned.coef_)) == 0 and learned.coef_[0] > 0
    fresh = [rng.normal(size=(4, 35)) for _ in range(200)]
    right = sum(np.argmax(learned.probabilities(r)) == np.argmax(r[:, 0]) for r in fresh)
    assert right > 150  # chance: 50
    rows = fresh[0]
    again = LearnedRanker.from_dict(learned.to_dict())
    assert np.allclose(again.probabilities(rows), learned.probabilities(rows))


def test_the_ranking_is_trained_and_stored_with_the_priors(tmp_path) -> None:
    alerts, tickets = ticketed_history()
    registry = ModelRegistry(tmp_path)
    assert load_ticket_models(registry).ranker is None
    priors, learned, meta = train_root_ranking(
        registry, tickets, alerts, comb(), None, EngineSettings(), ScoredCorrelator,
        "tickets.jsonl")
    assert meta["ranker"] == {"incidents_replayed": 240, "tickets_matched": 240,
                              "tickets_fitted": 240, "usable": True,
                              "correlation_version": None, "feature_schema": 2}
    stored = load_ticket_models(registry)
    loaded, stored_priors = stored.ranker, stored.priors
    assert loaded is not None and loaded.usable and stored_priors is not None
    assert stored_priors.tickets_ == priors.tickets_ == 240
    ranked = CausalTopologyRanker(comb(), priors=stored_priors, learned=loaded).rank(
        incident(SILENT_LEAF))
    assert ranked[0].entity == "l4"


def test_the_fit_reaches_the_penalised_maximum_even_with_features_that_move_together(
        ) -> None:
    rng = np.random.default_rng(7)
    planted = rng.normal(size=6)
    choices = []
    for _ in range(300):
        x = rng.normal(size=(int(rng.integers(2, 12)), 6))
        x[:, 5] = x[:, 4]  # collinear: only the penalty decides how to share weight
        p = np.exp(x @ planted)
        choices.append((x, int(rng.choice(len(x), p=p / p.sum()))))
    w = _newton(choices, 6, 0.1)
    _, grad, _ = _penalised(choices, w, 0.1)
    assert np.abs(grad).max() < 1e-4
    assert abs(w[4] - w[5]) < 1e-6  # shared evenly
    assert np.corrcoef(w[:4], planted[:4])[0, 1] > 0.9
    with pytest.raises(ValueError, match="l2 must be positive"):
        LearnedRanker(l2=0.0)


def test_devices_gone_from_the_topology_or_never_in_it_neither_crash_nor_win() -> None:
    # Review: a record whose node left the topology made the learned order look up a
    # key the hand ranking had filed under the raw entity (KeyError in every later
    # batch of the incident); an entity no node resolves to got the best placement
    # and took rank 1.
    topo, learned = fitted()
    gone = incident(SILENT_LEAF)
    gone.alerts[9] = AlertRecord(id=9, fingerprint="9", node_id="r9", starts_at=104.0,
                                 event=Alert("x9", "s", "LINK_DOWN", "router-9", "major", "",
                                             104.0))
    ranked = CausalTopologyRanker(topo, learned=learned, top_k=20).rank(gone)
    assert ranked[0].entity == "l4" and "router-9" in [rc.entity for rc in ranked]
    unknown = incident([*SILENT_LEAF, ("LINK_DOWN", "unknown-host", 105.0)])
    names = [rc.entity for rc in CausalTopologyRanker(topo, learned=learned).rank(unknown)]
    assert "unknown-host" not in names[:2] and "l4" in names[:2]


def test_a_ranking_read_with_another_correlation_model_is_not_used() -> None:
    from aiops.learning.training import CorrelationModel
    from aiops.runtime import ranking_for

    _, learned = fitted()
    learned.correlation_version_ = 3
    assert ranking_for(CorrelationModel(version=3), learned) is learned
    assert ranking_for(CorrelationModel(version=4), learned) is None  # rolled back / newer
    assert ranking_for(CorrelationModel(version=4), None) is None
    # an operator can switch it off (AIOPS_LEARNED_RANKING=off)
    assert ranking_for(CorrelationModel(version=3), learned, EngineSettings()) is learned
    off = EngineSettings(learned_ranking=False)
    assert ranking_for(CorrelationModel(version=3), learned, off) is None


def test_learned_ranking_is_switched_off_from_the_environment(monkeypatch, tmp_path) -> None:
    from aiops.config import DataDir

    assert DataDir.from_env(tmp_path).settings.learned_ranking
    monkeypatch.setenv("AIOPS_LEARNED_RANKING", "off")
    assert not DataDir.from_env(tmp_path).settings.learned_ranking
    monkeypatch.setenv("AIOPS_LEARNED_RANKING", "sometimes")
    with pytest.raises(ValueError, match="AIOPS_LEARNED_RANKING"):
        DataDir.from_env(tmp_path)


def test_a_damaged_stored_ranking_is_never_used() -> None:
    _, learned = fitted()
    data = learned.to_dict()
    data["features"][0][3] = float("nan")
    assert not LearnedRanker.from_dict(data).usable
    data = learned.to_dict()
    data["params"] = {"l2": 0.1, "min_tickets": 200, "from_a_newer_version": 1}
    assert LearnedRanker.from_dict(data).usable  # unknown parameters are ignored
    data["params"] = {"l2": -1}
    assert not LearnedRanker.from_dict(data).usable


def test_a_ticket_whose_listed_alerts_never_came_is_matched_by_its_device() -> None:
    alerts, tickets = ticketed_history(faults=40)
    arrived = [a for a in alerts if not a.id.endswith("-0")]  # every listed alert lost
    topo = comb()
    incidents, incident_of = past_incidents(arrived, topo, EngineSettings(), ScoredCorrelator)
    pairs = ticket_choices(tickets, arrived, topo, incidents, incident_of)
    assert len(pairs) == 40


def weighted(**weights: float) -> LearnedRanker:
    """A usable ranking with the given weights on standardised-as-is features."""
    from aiops.engine.rank_features import FEATURE_NAMES

    model = LearnedRanker()
    model.tickets_ = model.min_tickets
    model.coef_ = np.array([weights.get(name, 0.0) for name in FEATURE_NAMES])
    assert model.usable
    return model


def test_a_silent_device_two_hops_out_is_a_candidate_of_the_learned_ranking() -> None:
    # As the hand ranking's slots do, in an incident of one or two alarming devices the
    # silent devices two hops from one are candidates too: here l3, h3's leaf, when
    # only h4 alarms; its nearest alarms are h4's.
    from aiops.engine.rank_features import FEATURE_NAMES, candidate_features

    topo = comb()
    ranker = CausalTopologyRanker(topo)
    hand = ranker.hand_ranking(incident(SILENT_LEAF))
    assert hand is not None
    keys, rows = candidate_features(ranker, hand)
    assert {"l3", "l5", "h2", "h6"} <= set(keys)
    row = dict(zip(FEATURE_NAMES, rows[keys.index("l3")], strict=True))
    assert row["silent_bias"] == 1.0 and row["silent_neighbours"] == 0.0
    assert row["silent_coverage"] == 0.0 and row["silent_neighbour_rootness"] == 0.5
    # and the learned order can name it (with the hand ranking's silent evidence)
    far = CausalTopologyRanker(topo, learned=weighted(silent_bias=5.0, silent_coverage=-5.0,
                                                      silent_degree=-1.0)).rank(
        incident(SILENT_LEAF))
    assert far[0].entity in {"l3", "l5"} and far[0].alert_id is None
    assert far[0].evidence[0].startswith("ranked by a model learned from 200 past tickets")
    assert "raised no alarm itself: implicated by the topology" in far[0].evidence


def test_the_placement_features_count_each_alarm_as_the_slots_do() -> None:
    # dev-a raises three alarm types, dev-b one. a-silent hangs off dev-a, which has
    # three more silent leaves; b-silent hangs off dev-b alone. Counting each alarming
    # device once, b-silent explains the alarms best (dev-a is one of four devices two
    # hops from a-silent); counting each alarm, a-silent does, as the slots say.
    from aiops.engine.rank_features import FEATURE_NAMES, candidate_features

    links = [("dev-a", "dev-b"), ("a-silent", "dev-a"), ("b-silent", "dev-b"),
             *((f"x{i}", "dev-a") for i in range(3))]
    names = sorted({n for link in links for n in link})
    topo = TopologyGraph([Node(n, "device", n) for n in names], [Edge(a, b) for a, b in links])
    inc = incident([("LINK_DOWN", "dev-a", 100.0), ("LOS", "dev-a", 101.0),
                    ("CRC_ERRORS", "dev-a", 102.0), ("LINK_DOWN", "dev-b", 103.0)])
    ranker = CausalTopologyRanker(topo, weights=None)
    hand = ranker.hand_ranking(inc)
    assert hand is not None
    slots = [rc.entity for rc in hand.ranked if rc.alert_id is None]
    assert slots[0] == "a-silent"
    keys, rows = candidate_features(ranker, hand)
    best = [k for k, row in zip(keys, rows, strict=True)
            if row[FEATURE_NAMES.index("silent_best_placed")] == 1.0]
    assert best == ["a-silent"]
    gap = rows[:, FEATURE_NAMES.index("silent_placement_gap")]
    assert gap[keys.index("a-silent")] > gap[keys.index("b-silent")]


def test_a_stored_ranking_fitted_on_features_of_another_meaning_is_not_used(caplog) -> None:
    # Stored before placement counted each alarm (no feature schema saved): the same
    # feature names now hold other numbers, so the hand ranking (with the priors) stands
    # until it is trained again.
    from aiops.learning.training import CorrelationModel
    from aiops.runtime import ranking_for

    topo, learned = fitted()
    data = learned.to_dict()
    assert LearnedRanker.from_dict(data).usable
    del data["feature_schema"]
    old = LearnedRanker.from_dict(data)
    assert old.schema_ == 1 and not old.usable
    assert CausalTopologyRanker(topo, learned=old).rank(incident(SILENT_LEAF))[0].entity == "h4"
    assert ranking_for(CorrelationModel(version=None), old) is None
    assert "fitted on features of an earlier version" in caplog.text
    data["feature_schema"] = "two"  # damaged
    assert not LearnedRanker.from_dict(data).usable
    # and `aiops model versions --model root_priors` says which versions are stale
    from aiops.cli_models import _summary

    meta = {"tickets": 240, "ranker": {"tickets_fitted": 240, "correlation_version": 3}}
    assert "features of an earlier version: not used until trained again" in _summary(
        "root_priors", meta)
    meta["ranker"]["feature_schema"] = 2
    assert _summary("root_priors", meta) == ("tickets 240, ranking learned from 240 "
                                             "(correlation v3)")
