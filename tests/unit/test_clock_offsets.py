"""Learned per-device clock offsets: recovered from history, used by the correlator."""

from __future__ import annotations

import random

from aiops.config import EngineSettings
from aiops.engine.scored_correlator import ScoredCorrelator
from aiops.engine.state import IncidentRecord
from aiops.learning.alarm_pairs import AlarmPairs
from aiops.learning.clock import ClockOffsets
from aiops.learning.registry import ModelRegistry
from aiops.learning.relations import TypeRelations
from aiops.learning.training import CorrelationModel, train
from aiops.models import Alert
from tests.unit.placement import later_alert, one_alert_incident
from topology.graph import TopologyGraph
from topology.model import Edge, Node

DEVICES = 12


def skewed_history(seed: int = 3) -> tuple[list[Alert], TopologyGraph, dict[str, float]]:
    """POWER_FAIL on a device, LINK_DOWN on a neighbour 2-6 s later, NOISE at random;
    every device stamps its alarms a fixed number of seconds off (its true offset)."""
    rng = random.Random(seed)
    names = [f"d{i}" for i in range(DEVICES)]
    topo = TopologyGraph([Node(n, "device", n) for n in names],
                         [Edge(names[i], names[(i + 1) % DEVICES]) for i in range(DEVICES)]
                         + [Edge(names[i], names[(i + 5) % DEVICES]) for i in range(DEVICES)])
    offset = {n: rng.uniform(-20.0, 20.0) for n in names}
    alerts: list[Alert] = []
    t = 0.0
    for _ in range(600):
        t += rng.uniform(600, 1200)
        cause = rng.randrange(DEVICES)
        effect = (cause + rng.choice((1, -1, 5, -5))) % DEVICES
        for name, device, at in (("POWER_FAIL", names[cause], t),
                                 ("LINK_DOWN", names[effect], t + rng.uniform(2, 6)),
                                 ("NOISE", rng.choice(names), t + rng.uniform(0, 600))):
            alerts.append(Alert(f"a{len(alerts)}", "s", name, device, "major", "",
                                at + offset[device]))
    mean = sum(offset.values()) / DEVICES
    return alerts, topo, {n: o - mean for n, o in offset.items()}


def test_offsets_are_recovered_from_history() -> None:
    alerts, topo, truth = skewed_history()
    learned = ClockOffsets().fit(alerts, topo).offsets_
    errors = [abs(learned.get(n, 0.0) - o) for n, o in truth.items()]
    assert max(errors) < 3.0, errors
    # without the correction devices are off by a median of about 10 s
    assert sorted(abs(o) for o in truth.values())[DEVICES // 2] > 5.0


def test_shared_wider_pairs_give_the_same_offsets_and_relations() -> None:
    # One set of alarm pairs, as wide as the type relations need (300 s), can serve
    # both estimators: the clock offsets take their 60 s from it.
    alerts, topo, _ = skewed_history()
    relations = TypeRelations()
    pairs = AlarmPairs.build(alerts, topo, *relations.pair_reach())
    assert pairs.window > ClockOffsets().window
    shared = ClockOffsets().fit(alerts, topo, pairs=pairs).offsets_
    assert shared and shared == ClockOffsets().fit(alerts, topo).offsets_
    alone = TypeRelations().fit(alerts, topo)
    relations.fit(alerts, topo, pairs=pairs)
    assert relations.edges_ == alone.edges_ and relations.precedence_ == alone.precedence_
    # pairs narrower than an estimator needs are not used: it builds its own
    narrow = AlarmPairs.build(alerts, topo, 1, 5.0)
    assert ClockOffsets().fit(alerts, topo, pairs=narrow).offsets_ == shared


def test_corrected_clocks_show_which_type_starts_first() -> None:
    # POWER_FAIL starts 2-6 s before LINK_DOWN, but clocks ±20 s off hide it.
    alerts, topo, _ = skewed_history()
    stamped = TypeRelations().fit(alerts, topo)
    share, seen = stamped.precedes("POWER_FAIL", "LINK_DOWN")
    assert seen == 600 and share < 0.6
    offsets = ClockOffsets().fit(alerts, topo).offsets_
    corrected = TypeRelations().fit(alerts, topo, offsets=offsets)
    share, seen = corrected.precedes("POWER_FAIL", "LINK_DOWN")
    assert seen == 600 and share > 0.99
    # the causal edges model report jitter themselves and stay on the stamps
    assert corrected.edges_ == stamped.edges_
    assert TypeRelations().fit(alerts, topo, offsets={}).precedence_ == stamped.precedence_


def test_training_learns_relations_on_corrected_clocks(tmp_path) -> None:
    alerts, topo, _ = skewed_history()
    model, meta = train(ModelRegistry(tmp_path / "models"), alerts, topo, "history")
    assert meta["clock_offsets"]["nodes"] > 0
    assert model.relations is not None
    share, _ = model.relations.precedes("POWER_FAIL", "LINK_DOWN")
    assert share > 0.99  # 0.58 on the clocks as stamped


def test_no_neighbouring_pairs_means_no_offsets() -> None:
    topo = TopologyGraph([Node("a", "device", "a")], [])
    alerts = [Alert(f"x{k}", "s", "X", "a", "major", "", 10.0 * k) for k in range(50)]
    assert ClockOffsets().fit(alerts, topo).offsets_ == {}
    assert ClockOffsets().fit([], topo).offsets_ == {}


def _place(correlator: ScoredCorrelator) -> list[IncidentRecord]:
    """An incident with one alert on ``a`` at 0 s; where does an alert on ``b``,
    stamped 55 s later by a clock 50 s fast, go?"""
    return correlator.place(later_alert("b", 55.0), one_alert_incident("a"))


def test_correlator_compares_corrected_times() -> None:
    topo = TopologyGraph([Node("a", "device", "a"), Node("b", "device", "b")], [Edge("a", "b")])
    settings = EngineSettings()
    assert _place(ScoredCorrelator(topo, settings)) == []
    joined = _place(ScoredCorrelator(topo, settings, offsets={"b": 50.0}))
    assert [inc.id for inc in joined] == ["inc-1"]


def test_models_without_offsets_still_load() -> None:
    old = CorrelationModel().to_dict()
    del old["clock_offsets"]
    assert CorrelationModel.from_dict(old).clock_offsets == {}
    model = CorrelationModel(clock_offsets={"a": 1.5})
    assert CorrelationModel.from_dict(model.to_dict()).clock_offsets == {"a": 1.5}
