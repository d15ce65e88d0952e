"""Learning from operator feedback: labels, pairwise F1, and fitting the scoring weights."""

from __future__ import annotations

import itertools
import random
from dataclasses import fields, replace

import pytest

from aiops.config import EngineSettings
from aiops.engine.scored_correlator import ScoringWeights
from aiops.learning.labels import GroupLabels, labels_from_feedback
from aiops.learning.pairwise import pair_score
from aiops.learning.registry import ModelRegistry
from aiops.learning.training import CorrelationModel, load_promoted, train
from aiops.learning.weights import ScoringWeightsFitter, weight_names, weights_from_dict
from aiops.learning.windows import Windows
from aiops.models import Alert
from topology.graph import TopologyGraph
from topology.model import Edge, Node

NO_TEXT = EngineSettings(text_similarity=False)


def brute_force_f1(predicted: dict[str, str], labels: dict[str, str]) -> float:
    both = claimed = true = 0
    for x, y in itertools.combinations(labels, 2):
        p = predicted.get(x, "~" + x) == predicted.get(y, "~" + y)
        t = labels[x] == labels[y]
        both += p and t
        claimed += p
        true += t
    precision = both / claimed if claimed else 1.0
    recall = both / true if true else 1.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def test_pair_score_matches_counting_every_pair() -> None:
    rng = random.Random(3)
    for _ in range(50):
        ids = [f"a{i}" for i in range(rng.randint(2, 30))]
        labels = {a: f"g{rng.randrange(5)}" for a in ids}
        predicted = {a: f"p{rng.randrange(6)}" for a in ids if rng.random() < 0.9}
        assert pair_score(predicted, labels).f1 == pytest.approx(brute_force_f1(predicted,
                                                                                labels))
    perfect = pair_score({"a": "x", "b": "x", "c": "y"}, {"a": "1", "b": "1", "c": "2"})
    assert (perfect.precision, perfect.recall, perfect.f1) == (1.0, 1.0, 1.0)


def test_windows_merge_overlaps_and_answer_membership() -> None:
    windows = Windows.around([(100.0, 110.0), (130.0, 140.0), (500.0, 500.0)], pad=15.0)
    assert len(windows) == 2  # 85..125 and 115..155 overlap
    assert 85.0 in windows and 155.0 in windows and 156.0 not in windows
    assert 484.0 not in windows and 485.0 in windows and 515.0 in windows
    assert 0.0 not in Windows.around([], pad=10.0)


def record(rid: int, after: dict[str, list[str]]) -> dict:
    return {"id": rid, "alerts_after": after}


def test_labels_later_feedback_wins_and_weak_modes() -> None:
    # inc-1 was split (a,b | c); later c's new incident inc-9 was merged into inc-5.
    records = [record(1, {"inc-1": ["a", "b"], "inc-9": ["c"]}),
               record(2, {"inc-5": ["c", "d"], "inc-9": []})]
    membership = {  # alert -> (incident now, start)
        "a": ("inc-1", 100.0), "b": ("inc-1", 110.0), "c": ("inc-5", 120.0),
        "d": ("inc-5", 125.0), "e": ("inc-1", 400.0),  # joined inc-1 after the split
        "f": ("inc-7", 130.0), "g": ("inc-7", 131.0),  # near, never corrected
        "h": ("inc-8", 5000.0),  # far from every correction
    }
    strong = labels_from_feedback(records, membership, weak="none")
    assert strong.groups["a"] == strong.groups["b"] != strong.groups["c"]
    assert strong.groups["c"] == strong.groups["d"]
    assert set(strong.groups) == {"a", "b", "c", "d"}
    assert (strong.corrected, strong.weak, strong.records) == (2, 0, 2)
    near = labels_from_feedback(records, membership, weak="near", reach=60.0)
    assert set(near.groups) == {"a", "b", "c", "d", "f", "g"}  # e: inc-1 was corrected
    assert near.groups["f"] == near.groups["g"] and near.weak == 1
    every = labels_from_feedback(records, membership, weak="all", reach=60.0)
    assert set(every.groups) == {"a", "b", "c", "d", "f", "g", "h"} and every.weak == 2
    assert every.restricted_to(["a", "h"]).summary() == {
        "feedback_records": 2, "corrected_incidents": 1, "weak_incidents": 1,
        "labelled_alerts": 2}
    with pytest.raises(ValueError, match="near, all, none"):
        labels_from_feedback(records, membership, weak="some")


def test_weights_are_handled_generically() -> None:
    names = weight_names(ScoringWeights())
    assert set(names) == {f.name for f in fields(ScoringWeights)
                          if isinstance(getattr(ScoringWeights(), f.name), float)}
    assert "threshold" in names and "merge_ratio" in names
    loaded = weights_from_dict({"threshold": 0.4, "gone_in_a_later_version": 3.0})
    assert loaded == replace(ScoringWeights(), threshold=0.4)
    model = CorrelationModel.from_dict({"relations": None, "weights": {"text": 0.2,
                                                                       "retired": 1.0}})
    assert model.weights.text == 0.2 and model.weights_fit is None


def two_hop_history(faults: int = 12) -> tuple[list[Alert], dict[str, str], TopologyGraph]:
    """A ring of 30 devices; each fault raises alarms on two devices two hops apart,
    5 s apart (one fault, which the default weights split), and a background alarm
    far away at the same time (its own group, which must stay apart). Faults are an
    hour apart and every alarm clears after a minute."""
    nodes = [Node(f"d{i}", "device", f"d{i}") for i in range(30)]
    topology = TopologyGraph(nodes, [Edge(f"d{i}", f"d{(i + 1) % 30}") for i in range(30)])
    alerts: list[Alert] = []
    labels: dict[str, str] = {}
    for k in range(faults):
        t, d = 1_800_000_000.0 + 3600.0 * k, 3 * k % 30
        for alert_id, device, at in ((f"f{k}a", d, t), (f"f{k}b", (d + 2) % 30, t + 5.0),
                                     (f"n{k}", (d + 15) % 30, t + 2.0)):
            alerts.append(Alert(alert_id, "s", "LINK_DOWN", f"d{device}", "major", "down", at,
                                ends_at=at + 60.0))
            labels[alert_id] = f"fault{k}" if alert_id.startswith("f") else alert_id
    return alerts, labels, topology


def test_fitter_learns_to_group_what_operators_grouped() -> None:
    alerts, labels, topology = two_hop_history()
    seen = []
    fitter = ScoringWeightsFitter(settings=NO_TEXT).fit(alerts, labels, topology,
                                                        progress=seen.append)
    assert fitter.score_before_.f1 == 0.0  # the defaults split every fault
    assert fitter.score_after_.f1 == 1.0  # and the fitted weights group them, no more
    assert fitter.weights_ != ScoringWeights() and fitter.trace_
    assert fitter.evaluations_ == len(seen) and seen[0].name == "" and seen[-1].kept_f1 == 1.0
    assert fitter.labelled_alerts_ == len(alerts) and not fitter.stopped_early_
    again = ScoringWeightsFitter.from_dict(fitter.to_dict())
    assert again.weights_ == fitter.weights_ and again.score_after_ == fitter.score_after_
    assert again.get_params() == fitter.get_params()


def test_fitter_moves_no_weight_further_than_max_change() -> None:
    alerts, labels, topology = two_hop_history()
    start = ScoringWeights()
    for reach in (0.05, 0.1, 0.3):
        fitter = ScoringWeightsFitter(settings=NO_TEXT, max_change=reach).fit(alerts, labels,
                                                                            topology)
        moved = {n: abs(getattr(fitter.weights_, n) - getattr(start, n))
                 for n in start.to_dict()}
        assert max(moved.values()) <= reach + 1e-9, (reach, moved)
        assert fitter.score_after_.f1 == 1.0  # small moves suffice here


def test_fitter_keeps_weights_that_already_agree_and_respects_its_budget() -> None:
    alerts, labels, topology = two_hop_history()
    apart = {a: a for a in labels}  # operators say: every alarm is its own incident
    kept = ScoringWeightsFitter(settings=NO_TEXT).fit(alerts, apart, topology)
    assert kept.weights_ == ScoringWeights() and kept.score_before_.f1 == 1.0
    quick = ScoringWeightsFitter(settings=NO_TEXT, max_seconds=0.0).fit(alerts, labels,
                                                                        topology)
    assert quick.stopped_early_ and quick.evaluations_ == 1
    assert quick.weights_ == ScoringWeights()
    with pytest.raises(ValueError, match="none of the labelled alerts"):
        ScoringWeightsFitter(settings=NO_TEXT).fit(alerts, {"zz": "g"}, topology)
    assert ScoringWeightsFitter().set_params(min_gain=0.01).min_gain == 0.01
    with pytest.raises(ValueError, match="unknown parameter"):
        ScoringWeightsFitter().set_params(speed=2)


def test_train_fits_weights_only_with_feedback_and_stores_them(tmp_path) -> None:
    alerts, labels, topology = two_hop_history()
    registry = ModelRegistry(tmp_path / "models")
    plain, meta = train(registry, alerts, topology, "h.jsonl", settings=NO_TEXT)
    assert plain.weights == ScoringWeights() and meta["weights"] == {
        "fitted": False, "reason": "no operator feedback stored"}
    feedback = GroupLabels({a: "fb1/" + g for a, g in labels.items()}, records=4)
    model, meta = train(registry, alerts, topology, "h.jsonl", labels=feedback,
                        settings=NO_TEXT)
    fit = meta["weights"]
    assert fit["fitted"] and fit["corrected_incidents"] == 24 and fit["feedback_records"] == 4
    assert (fit["f1_before"], fit["f1_after"]) == (0.0, 1.0) and fit["changed"]
    stored = load_promoted(registry)
    assert stored.version == model.version == 2 and stored.weights == model.weights
    assert stored.weights_fit is not None and stored.weights_fit["after"]["f1"] == 1.0
    elsewhere = GroupLabels({"not-in-history": "fb1/x"}, records=1)
    _, meta = train(registry, alerts, topology, "h.jsonl", labels=elsewhere, settings=NO_TEXT)
    assert not meta["weights"]["fitted"] and "none of the alerts" in meta["weights"]["reason"]
