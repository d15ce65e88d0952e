"""The Hawkes parent model learned from history (``aiops.learning.parents``)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from aiops.learning.parents import EDGES, ParentModel, lag_bin
from aiops.learning.training import CorrelationModel
from aiops.models import Alert, parse_alert
from benchmarks.polled_hosts import generate
from topology.graph import TopologyGraph
from topology.model import Edge, Node, parse_topology

T0 = 1_800_000_000.0
CHAIN = [f"n{i}" for i in range(30)]


def chain() -> TopologyGraph:
    return TopologyGraph([Node(n, "device", n, {}) for n in CHAIN],
                         [Edge(a, b) for a, b in zip(CHAIN, CHAIN[1:], strict=False)])


def history(causes: int = 300, noise: int = 300, seed: int = 5) -> list[Alert]:
    """A day of alarms: each CAUSE is followed by an EFFECT on its own device 1-2 s
    later and one on a neighbour 4-8 s later; plus background alarms of both types
    anywhere at any time. Each clears 20 s after it starts."""
    rng = random.Random(seed)
    out: list[Alert] = []

    def add(name: str, node: str, at: float) -> None:
        out.append(Alert(id=f"e{len(out)}", source="nms", name=name, entity=node,
                         severity="major", summary="", starts_at=T0 + at,
                         ends_at=T0 + at + 20))

    for _ in range(causes):
        k, at = rng.randrange(1, len(CHAIN) - 1), rng.uniform(0, 86_400)
        add("CAUSE", CHAIN[k], at)
        add("EFFECT", CHAIN[k], at + rng.uniform(1, 2))
        add("EFFECT", CHAIN[k + rng.choice((-1, 1))], at + rng.uniform(4, 8))
    for _ in range(noise):
        add(rng.choice(("CAUSE", "EFFECT")), rng.choice(CHAIN), rng.uniform(0, 86_400))
    return out


def test_fit_recovers_the_lags_hops_and_direction_of_a_known_cascade() -> None:
    model = ParentModel().fit(history(), chain())
    # A re-fire within ten minutes of its clear folds into its alert, as the engine does.
    assert model.learned_ and 1000 < model.alerts_ < 1200
    own, near = model.kernel_[0], model.kernel_[1]
    assert int(np.argmax(own)) == lag_bin(1.5)  # same device: 1-2 s
    assert int(np.argmax(near)) == lag_bin(6.0)  # a neighbour: 4-8 s
    assert near[lag_bin(6.0)] > 20 * near[lag_bin(100.0)]
    assert model.kernel_[2].sum() < 0.05 * near.sum()  # nothing two hops out
    cause, effect = model.type_of("CAUSE"), model.type_of("EFFECT")
    # A CAUSE has two EFFECT children (one on its device, one next to it).
    assert 1.5 < model.alpha_[cause, effect] * (own * np.diff(EDGES)).sum() * 2 < 2.5
    # The other way round only through the lags of skewed clocks (a CAUSE stamped
    # before its EFFECT reads as that EFFECT's child 1-8 s early): much weaker.
    assert model.alpha_[effect, cause] < 0.5 * model.alpha_[cause, effect]
    # An EFFECT 6 s after a CAUSE next door is its child, not background.
    rate = model.excitation(cause, effect, 1, 6.0)
    assert rate / (rate + model.rate(effect, "n4")) > 0.9
    assert model.excitation(cause, effect, 1, 301.0) == 0.0
    assert model.excitation(cause, effect, 3, 6.0) == 0.0


def test_a_cascade_whose_alarms_seldom_share_a_device_is_still_learned() -> None:
    """A campus network: a switch's LINK_DOWN and its hosts' HOST_DOWN, one alarm per
    device, so almost no pair of a fault shares one. The kernel was once normalised on
    its hop-0 part, nearly empty here, and the whole model underflowed to zeros by the
    twentieth round (nothing absorbed)."""
    net, past, _ = generate(seed=1, history_hours=12.0, eval_hours=1.0)
    nodes, edges = parse_topology(net.document())
    model = ParentModel().fit([parse_alert(a) for a in past.alerts], TopologyGraph(nodes, edges))
    assert model.learned_
    assert np.isfinite(model.kernel_).all() and model.alpha_.max() > 0.01
    down = model.type_of("HOST_DOWN")
    # Hosts behind one switch go down together: one is another's likely parent.
    rate = model.excitation(down, down, 2, 30.0)
    assert rate / (rate + model.rate(down, "h0-0")) > 0.9


def test_a_short_history_learns_nothing() -> None:
    model = ParentModel(min_alerts=200).fit(history(causes=20, noise=20), chain())
    assert not model.learned_
    assert CorrelationModel.from_dict(CorrelationModel().to_dict()).parents is None


def test_round_trip_keeps_what_was_learned() -> None:
    model = ParentModel().fit(history(), chain())
    data = CorrelationModel(parents=model).to_dict()
    back = CorrelationModel.from_dict(json.loads(json.dumps(data))).parents
    assert back is not None and back.types_ == model.types_
    for parent in ("CAUSE", "EFFECT", "NEVER_SEEN"):
        for child in ("CAUSE", "EFFECT"):
            for hops, lag in ((0, 1.5), (1, 6.0), (2, -5.0)):
                a = model.excitation(model.type_of(parent), model.type_of(child), hops, lag)
                b = back.excitation(back.type_of(parent), back.type_of(child), hops, lag)
                assert b == pytest.approx(a)
    for node in ("n3", "unknown-node"):
        assert back.rate(back.type_of("EFFECT"), node) == pytest.approx(
            model.rate(model.type_of("EFFECT"), node), rel=1e-4)


def test_a_model_saved_before_parents_loads_without_them() -> None:
    data = CorrelationModel(parents=ParentModel().fit(history(), chain())).to_dict()
    del data["parents"]
    assert CorrelationModel.from_dict(data).parents is None


@pytest.mark.parametrize("damage", [
    {"format": 99}, {"edges": [0, 1, 2]}, {"alpha": [[1.0]]}, {"kernel": "x"},
    {"span": 0}, {"background": [[7, "n1", 1.0]]}])
def test_a_damaged_model_loads_as_none(damage: dict) -> None:
    data = ParentModel().fit(history(), chain()).to_dict()
    assert ParentModel.from_dict(data) is not None
    assert ParentModel.from_dict({**data, **damage}) is None


def test_untyped_model_has_one_type() -> None:
    model = ParentModel(typed=False).fit(history(), chain())
    assert model.learned_ and model.types_ == [""]
    assert model.type_of("CAUSE") == model.type_of("EFFECT") == 0
