"""A core failure seen through slow host checks (syslog in seconds, Nagios host checks
30 s to minutes later) is one incident once ``aiops train`` has learned the network's
pace from its history; untrained it is dozens (docs/benchmarks.md, "A core failure
seen through slow host checks")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aiops.config import DataDir
from aiops.learning.training import CorrelationModel, train
from aiops.models import parse_alert
from aiops.replay import replay_alerts
from aiops.runtime import Runtime, open_runtime
from benchmarks.correlation.metrics import Prediction, evaluate
from benchmarks.polled_hosts import Network, Period, core_failure, generate, pieces_per_fault
from topology.model import parse_topology

NETWORK = Network()


@pytest.fixture(scope="module")
def periods() -> tuple[Period, Period]:
    """Three days of this network's history, then twelve hours to evaluate on."""
    _, history, evaluation = generate(seed=3, history_hours=72.0, eval_hours=12.0)
    return history, evaluation


@pytest.fixture(scope="module")
def model(periods: tuple[Period, Period], tmp_path_factory: pytest.TempPathFactory
          ) -> CorrelationModel:
    runtime = _open(tmp_path_factory.mktemp("train"))
    try:
        learned, meta = train(runtime.registry, [parse_alert(a) for a in periods[0].alerts],
                              runtime.engine.topology, "history", embedder=runtime.embedder)
    finally:
        runtime.close()
    # Host detection of 30-300 s after syslog's seconds: a cascade lag of a minute or more.
    assert 3.0 <= meta["time_scale"]["scale"] <= 6.0, meta["time_scale"]
    return learned


def _open(path: Path) -> Runtime:
    runtime = open_runtime(DataDir(path=path))
    nodes, edges = parse_topology(NETWORK.document())
    runtime.import_topology(nodes, edges, "test")
    return runtime


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Runtime]:
    runtime = _open(tmp_path / "engine")
    try:
        yield runtime
    finally:
        runtime.close()


def _groups(runtime: Runtime, period: Period) -> Prediction:
    document = replay_alerts(runtime, [parse_alert(a) for a in period.alerts], None)
    return Prediction(groups=[list(i["alert_ids"]) for i in document["incidents"]],
                      root_causes=[[rc["entity"] for rc in i.get("root_causes") or []]
                                   for i in document["incidents"]])


def test_a_core_failure_is_one_incident_after_training(model: CorrelationModel,
                                                       engine: Runtime) -> None:
    cascade = core_failure(seed=11)
    engine.use_model(model)
    groups = _groups(engine, cascade).groups
    assert len(cascade.alerts) == 171
    assert [len(g) for g in groups] == [171]


def test_untrained_the_same_failure_is_dozens_of_incidents(engine: Runtime) -> None:
    groups = _groups(engine, core_failure(seed=11)).groups
    assert len(groups) >= 20
    assert max(map(len, groups)) < 60


def test_training_lifts_grouping_on_the_evaluation_period(
        periods: tuple[Period, Period], model: CorrelationModel, engine: Runtime,
        tmp_path: Path) -> None:
    truth = periods[1].truth()
    untrained = _groups(engine, periods[1])
    trained_runtime = _open(tmp_path / "trained")
    try:
        trained_runtime.use_model(model)
        trained = _groups(trained_runtime, periods[1])
    finally:
        trained_runtime.close()
    before, after = evaluate(untrained, truth), evaluate(trained, truth)
    # Measured (seed 3, 72 h + 12 h): pair F1 0.144 → 0.968, pieces per fault 6.67 → 1.36
    # (0.912 and 2.06 before the parent model's normalisation over every hop).
    assert before["f1"] < 0.4 < 0.94 < after["f1"]
    assert after["precision"] > 0.9
    assert pieces_per_fault(trained.groups, truth) < pieces_per_fault(untrained.groups, truth) - 0.5
