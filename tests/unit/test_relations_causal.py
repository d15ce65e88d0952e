"""Causal edges between alert types (``TypeRelations``): planted structures come back,
noise gives nothing, late reports do not flip a direction, the model survives storage."""

from __future__ import annotations

import random

from aiops.learning.alarm_pairs import AlarmEvents, lag_pairs
from aiops.learning.relations import TypeRelations
from aiops.models import Alert
from topology.graph import TopologyGraph
from topology.model import Edge, Node

DEVICES = 30


def ring() -> TopologyGraph:
    nodes = [Node(f"d{i}", "device", f"d{i}") for i in range(DEVICES)]
    return TopologyGraph(nodes, [Edge(f"d{i}", f"d{(i + 1) % DEVICES}") for i in range(DEVICES)])


def stream(children: dict[str, list[str]], roots: list[str], seed: int, *,
           count: int = 400, noise: tuple[str, ...] = ("N1", "N2", "N3"),
           delay: float = 10.0, report: float = 0.0, p_effect: float = 0.8,
           local: bool = False) -> list[Alert]:
    """Root alarms at random times and devices; each sets off its children (with
    probability ``p_effect``, after an exponential ``delay``, on the same device or a
    neighbour, or with ``local`` on the same device), recursively; unrelated noise
    types everywhere; every alarm is stamped up to ``report`` seconds late."""
    rng = random.Random(seed)
    span = count * 600.0
    events: list[tuple[str, int, float]] = []
    for _ in range(count):
        frontier = [(rng.choice(roots), rng.randrange(DEVICES), rng.uniform(0, span))]
        while frontier:
            name, device, at = frontier.pop()
            events.append((name, device, at))
            for child in children.get(name, []):
                if rng.random() < p_effect:
                    where = device if local else (device + rng.choice((0, 0, 1, -1))) % DEVICES
                    frontier.append((child, where, at + rng.expovariate(1.0 / delay)))
    for name in noise:
        events += [(name, rng.randrange(DEVICES), rng.uniform(0, span)) for _ in range(count)]
    return [Alert(f"a{k}", "test", name, f"d{device}", "major", "",
                  at + rng.uniform(0.0, report))
            for k, (name, device, at) in enumerate(events)]


def causal_edges(model: TypeRelations) -> set[tuple[str, str]]:
    return set(model.edges_)


def test_a_chain_is_recovered_without_its_shortcut() -> None:
    # A -> B -> C: A and C co-occur too, but B explains C; no A -> C edge
    alerts = stream({"A": ["B"], "B": ["C"]}, ["A"], seed=1)
    model = TypeRelations().fit(alerts, ring())
    assert causal_edges(model) == {("A", "B"), ("B", "C")}
    assert model.strength("A", "B") > 0.5


def test_two_effects_of_one_cause_are_related_but_not_causal() -> None:
    alerts = stream({"ROOT": ["X", "Y"]}, ["ROOT"], seed=2,
                    noise=("N1", "N2", "N3", "N4", "N5", "N6"))
    model = TypeRelations().fit(alerts, ring())
    assert causal_edges(model) == {("ROOT", "X"), ("ROOT", "Y")}
    assert model.related("X", "Y") > 0.0  # siblings still belong in one incident
    assert model.related("N1", "X") == 0.0


def test_pure_noise_gives_no_edges() -> None:
    alerts = stream({}, ["R1", "R2"], seed=3, count=600, noise=("N1", "N2", "N3", "N4"))
    model = TypeRelations().fit(alerts, ring())
    assert model.edges() == []


def test_direction_survives_late_reports() -> None:
    # Effects follow causes by ~5 s but every alarm is stamped up to 15 s late, so a
    # good share of effects are stamped before their cause.
    alerts = stream({"POWER": ["LINK"], "LINK": ["BGP"]}, ["POWER"], seed=4, count=500,
                    delay=5.0, report=15.0)
    model = TypeRelations().fit(alerts, ring())
    found = causal_edges(model)
    assert ("POWER", "LINK") in found and ("LINK", "BGP") in found
    assert ("LINK", "POWER") not in found and ("BGP", "LINK") not in found


def test_unresolved_entities_relate_to_themselves_only() -> None:
    # no topology at all: relations are learned between alarms on the same entity
    # no topology at all: only alarms on the same entity relate (half the B's here)
    alerts = stream({"A": ["B"]}, ["A"], seed=5, count=300)
    model = TypeRelations().fit(alerts, TopologyGraph())
    assert causal_edges(model) == {("A", "B")}


def test_round_trip_and_older_stored_parameters() -> None:
    alerts = stream({"A": ["B"]}, ["A"], seed=6, count=200)
    model = TypeRelations(causal_window=120.0, penalty=4.0).fit(alerts, ring())
    stored = model.to_dict()
    again = TypeRelations.from_dict(stored)
    assert again.get_params() == model.get_params()
    assert again.edges() == model.edges() and again.cooccur_ == model.cooccur_
    assert again.type_counts_ == model.type_counts_
    assert again.strength("A", "B") == round(model.strength("A", "B"), 4)
    stored["params"].update(min_lift=3.0, min_conditional=0.2)  # written by version 0.1
    assert TypeRelations.from_dict(stored).edges() == model.edges()


def test_empty_history() -> None:
    model = TypeRelations().fit([], ring())
    assert model.edges() == [] and model.type_counts_ == {} and model.cooccur_ == {}


def test_report_jitter_is_learned_and_screens_off_the_shortcut() -> None:
    # A -> B -> C on one device, effects 3 s after their causes but every alarm stamped
    # up to 30 s late: C is often stamped before B. With exact clocks assumed, A (which
    # is stamped earlier) takes the credit for those C's and A -> C appears; with the
    # report jitter estimated from the stamps, B explains them and A -> C does not.
    alerts = stream({"A": ["B"], "B": ["C"]}, ["A"], seed=1, count=400, delay=3.0,
                    report=30.0, local=True)
    model = TypeRelations().fit(alerts, TopologyGraph())
    assert causal_edges(model) == {("A", "B"), ("B", "C")}
    assert model.jitter_ is not None and model.jitter_ >= 4.0
    exact = TypeRelations(report_jitter=0.0).fit(alerts, TopologyGraph())
    assert ("A", "C") in causal_edges(exact)


def test_exact_clocks_keep_a_sharp_kernel() -> None:
    alerts = stream({"A": ["B"], "B": ["C"]}, ["A"], seed=2, local=True)
    model = TypeRelations().fit(alerts, TopologyGraph())
    assert causal_edges(model) == {("A", "B"), ("B", "C")}
    assert model.jitter_ is not None and model.jitter_ <= 1.0
    assert TypeRelations.from_dict(model.to_dict()).jitter_ == model.jitter_


def test_order_rule_forbids_only_the_effect_as_cause() -> None:
    # A -> B, effects 3 s later but stamped up to 30 s late: A still starts first more
    # often than B, so B -> A is forbidden and A -> B is not; unrelated noise types
    # are left free either way.
    alerts = stream({"A": ["B"]}, ["A"], seed=3, delay=3.0, report=30.0, local=True)
    model = TypeRelations()
    ev = AlarmEvents(alerts, TopologyGraph(), model.causal_hops)
    cause, effect, _ = lag_pairs(ev, model.causal_window)
    allowed = model.causal_search().order_allowed(ev, cause, effect,
                                                  ev.times[effect] - ev.times[cause])
    a, b, n1 = (ev.names.index(name) for name in ("A", "B", "N1"))
    assert allowed[a, b] and not allowed[b, a]
    assert allowed[a, n1] and allowed[n1, a]
