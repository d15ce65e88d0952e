"""Learning where a fault's alarms lie around its origin (the hindsight split's shares)."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from aiops.engine.hindsight import RING_SHARES, HindsightSplitter
from aiops.engine.state import AlertRecord
from aiops.learning.registry import ModelRegistry
from aiops.learning.ring_shares import RingSharesEstimator, valid_shares
from aiops.learning.training import CorrelationModel, load_promoted, train
from aiops.models import Alert
from aiops.runtime import Runtime
from topology.graph import TopologyGraph
from topology.model import Edge, Node

WIDE = (0.10, 0.20, 0.40, 0.25, 0.05)  # faults that reach far (a ring core's, say)
NARROW = (0.50, 0.30, 0.15, 0.05, 0.00)  # faults that stay near their device


def grid(n: int) -> tuple[list[Node], list[Edge]]:
    """An ``n`` × ``n`` grid: 1, 4, 8, 12 and 16 devices at 0-4 hops from an inner one."""
    names = {(i, j): f"g{i}-{j}" for i in range(n) for j in range(n)}
    edges = [Edge(names[i, j], names[i + 1, j]) for i in range(n - 1) for j in range(n)]
    edges += [Edge(names[i, j], names[i, j + 1]) for i in range(n) for j in range(n - 1)]
    return [Node(v, "device", v, {}) for v in names.values()], edges


def faults(topology: TopologyGraph, shares: tuple[float, ...], count: int, alarms: int,
           seed: int = 3) -> list[list[Alert]]:
    """``count`` faults an hour apart, each of ``alarms`` alarms within 30 s whose hops
    from a random origin are drawn from ``shares`` (device uniform within the ring)."""
    rng = random.Random(seed)
    ids = sorted(topology.nodes)
    out = []
    for f in range(count):
        origin = rng.choice(ids)
        rings: dict[int, list[str]] = {}
        for node, hops in sorted(topology.neighbourhood(origin, len(shares) - 1).items()):
            rings.setdefault(hops, []).append(node)
        at = 3600.0 * (f + 1)
        fault = []
        for k in range(alarms):
            hops = rng.choices(range(len(shares)), weights=shares)[0]
            node = rng.choice(rings.get(hops) or [origin])
            fault.append(Alert(f"f{f}-{k}", "sim", f"T{k}", node, "major", "",
                               at + rng.uniform(0.0, 30.0)))
        out.append(fault)
    return out


def as_incidents(grouped: list[list[Alert]]) -> list[list[AlertRecord]]:
    return [[AlertRecord(id=100 * f + k, fingerprint=a.id, event=a, node_id=a.entity,
                         starts_at=a.starts_at) for k, a in enumerate(fault)]
            for f, fault in enumerate(grouped)]


@pytest.mark.parametrize("shares", [WIDE, NARROW, RING_SHARES])
def test_learning_recovers_known_shares_from_the_faults(shares: tuple[float, ...]) -> None:
    topology = TopologyGraph(*grid(30))
    incidents = as_incidents(faults(topology, shares, count=60, alarms=20))
    fitted = RingSharesEstimator().fit_incidents(incidents, topology)
    assert fitted.learned_ and fitted.incidents_ == 60
    assert math.fsum(fitted.shares_) == pytest.approx(1.0)
    for learned, true in zip(fitted.shares_, shares, strict=True):
        assert learned == pytest.approx(true, abs=0.03)


def test_two_faults_in_one_incident_are_counted_from_their_own_origins() -> None:
    # Each settled incident holds two narrow faults far apart: from one origin the
    # other fault's alarms would be out of reach, or read as a far ring.
    topology = TopologyGraph(*grid(30))
    left = [n for n in topology.nodes if int(n.split("-")[1]) < 10]
    right = [n for n in topology.nodes if int(n.split("-")[1]) >= 20]
    pairs = []
    for half in (left, right):
        sub = TopologyGraph([Node(n, "device", n, {}) for n in half],
                            [e for e in grid(30)[1] if e.source in half and e.target in half])
        pairs.append(faults(sub, NARROW, count=40, alarms=15, seed=len(half)))
    merged = [a + b for a, b in zip(*pairs, strict=True)]
    fitted = RingSharesEstimator(gain=5.0).fit_incidents(as_incidents(merged), topology)
    assert fitted.incidents_ == 80  # every incident split in two
    assert fitted.shares_[0] == pytest.approx(NARROW[0], abs=0.05)


def test_too_few_faults_keep_the_defaults() -> None:
    topology = TopologyGraph(*grid(30))
    incidents = as_incidents(faults(topology, WIDE, count=10, alarms=20))
    fitted = RingSharesEstimator(min_incidents=30).fit_incidents(incidents, topology)
    assert not fitted.learned_ and fitted.shares_ == RING_SHARES
    assert fitted.incidents_ == 10


def test_learning_from_history_groups_it_with_the_correlator(tmp_path: Path) -> None:
    """Through ``aiops train``: no labels, the faults grouped by the engine's own
    placement. Its links reach two hops, so a wide fault's far alarms are partly lost
    (docs/architecture.md): the test asks for the direction, not the numbers."""
    topology = TopologyGraph(*grid(30))
    learned = {}
    for name, shares in (("narrow", NARROW), ("wide", WIDE)):
        alerts = [a for fault in faults(topology, shares, count=80, alarms=12) for a in fault]
        model, meta = train(ModelRegistry(tmp_path / name), alerts, topology, name)
        assert meta["ring_shares"]["learned"] and meta["ring_shares"]["faults"] >= 30
        assert meta["ring_shares"]["shares"] == [round(s, 4) for s in model.ring_shares]
        learned[name] = model.ring_shares
    assert learned["narrow"][0] > RING_SHARES[0] + 0.1  # more on the faulty device
    assert learned["wide"][0] < RING_SHARES[0] - 0.02  # less on it
    assert learned["wide"][2] > learned["narrow"][2] + 0.1


def test_model_round_trip_and_models_saved_without_shares() -> None:
    model = CorrelationModel(ring_shares=(0.4, 0.3, 0.2, 0.1))
    assert CorrelationModel.from_dict(model.to_dict()).ring_shares == pytest.approx(
        (0.4, 0.3, 0.2, 0.1))
    old = CorrelationModel().to_dict()
    del old["ring_shares"]  # saved before the shares were learned
    assert CorrelationModel.from_dict(old).ring_shares == RING_SHARES


@pytest.mark.parametrize("damaged", [
    None, "0.3,0.7", [], [1.0], [0.0, 1.0], [0.5, -0.1, 0.6], [0.5, float("nan")],
    [0.5, float("inf")], [0.0, 0.0, 0.0], [True, False], ["0.5", "0.5"], [0.1] * 9,
    {"0": 0.5}])
def test_damaged_shares_load_as_the_defaults(damaged: object) -> None:
    data = {**CorrelationModel().to_dict(), "ring_shares": damaged}
    assert CorrelationModel.from_dict(data).ring_shares == RING_SHARES


def test_shares_are_normalised_and_no_ring_is_impossible() -> None:
    shares = valid_shares([2, 1, 1, 0])
    assert math.fsum(shares) == pytest.approx(1.0)
    assert shares[0] == pytest.approx(0.5) and 0 < shares[3] < 1e-5


def test_the_engine_splits_with_the_models_shares(runtime: Runtime) -> None:
    assert runtime.engine.splitter is not None
    assert runtime.engine.splitter.shares == RING_SHARES  # untrained: the defaults
    shares = (0.5, 0.3, 0.15, 0.04, 0.01)
    runtime.registry.save("correlation", CorrelationModel(ring_shares=shares).to_dict(), {})
    runtime.registry.promote("correlation", 1)
    model = load_promoted(runtime.registry)
    runtime.use_model(model)
    assert runtime.engine.splitter.shares == pytest.approx(shares)
    # a topology switch builds the splitter anew, still with the model's shares
    runtime.engine.set_topology(TopologyGraph(*grid(3)))
    assert runtime.engine.splitter.shares == pytest.approx(shares)
    # and so does the regrouping of shadow mode and retraining trials
    seen: list[tuple[float, ...]] = []
    original = HindsightSplitter.__init__

    def spy(self: HindsightSplitter, *args: object, **kwargs: object) -> None:
        original(self, *args, **kwargs)  # type: ignore[arg-type]
        seen.append(self.shares)

    import aiops.engine.hindsight as hindsight
    try:
        hindsight.HindsightSplitter.__init__ = spy  # type: ignore[method-assign]
        runtime.regroup(model, [], runtime.engine.topology)
    finally:
        hindsight.HindsightSplitter.__init__ = original  # type: ignore[method-assign]
    assert seen and seen[-1] == pytest.approx(shares)


def test_shares_change_what_is_split() -> None:
    """The same incident: two tight bunches two hops apart on a chain. Shares that keep
    a fault on its device see two faults; shares that put most of a fault's alarms one
    hop out see one, on the device between them."""
    names = [f"n{i}" for i in range(25)]
    topology = TopologyGraph([Node(n, "device", n, {}) for n in names],
                             [Edge(a, b) for a, b in zip(names, names[1:], strict=False)])
    spec = [("n10", 0.0), ("n10", 1.0), ("n10", 2.0), ("n12", 3.0), ("n12", 4.0),
            ("n12", 5.0)]
    records = [AlertRecord(id=i, fingerprint=f"f{i}", node_id=node, starts_at=at,
                           event=Alert(f"e{i}", "s", f"T{i}", node, "major", "", at))
               for i, (node, at) in enumerate(spec)]
    assert HindsightSplitter(topology, 1.0, shares=(0.9, 0.05, 0.03, 0.01, 0.01)).split(
        records) is not None
    assert HindsightSplitter(topology, 1.0, shares=(0.05, 0.6, 0.25, 0.08, 0.02)).split(
        records) is None


def test_train_says_what_shares_it_learned() -> None:
    from aiops.cli_learning import _describe_ring_shares
    meta = {"shares": [0.3, 0.35, 0.25, 0.08, 0.02], "learned": True, "faults": 340,
            "alarms": 4900, "min_faults": 30}
    assert "30 %, 35 %, 25 %, 8 %, 2 %" in _describe_ring_shares(meta)
    assert "340 incidents" in _describe_ring_shares(meta)
    assert "the defaults" in _describe_ring_shares({**meta, "learned": False, "faults": 4})
