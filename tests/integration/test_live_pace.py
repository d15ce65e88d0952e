"""An engine with no trained model correlates at the pace its alerts show (``LivePace``):
slow cascades (monitoring that polls) are no longer split for want of ``aiops train``;
a restart goes on at that pace; a trained model's own scale wins; it can be switched
off."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from aiops.config import DataDir
from aiops.learning.training import train
from aiops.models import parse_alert
from aiops.replay import replay_alerts
from aiops.runtime import Runtime, open_runtime
from benchmarks.correlation.metrics import evaluate
from benchmarks.correlation.run import engine_prediction
from benchmarks.correlation.scenario import Scenario, ScenarioConfig, generate
from topology.model import parse_topology


@pytest.fixture(scope="module")
def slow() -> Scenario:
    """Twelve hours of cascades on the 45-node Huawei topology, reported three times as
    slowly as the correlator's times were chosen for."""
    return generate(ScenarioConfig(topology="huawei", seed=43, faults=96.0, hours=12.0,
                                   history_hours=24.0, noise=2.0, delay_scale=3.0))


def _open(path: Path, live: bool = True) -> Runtime:
    data_dir = DataDir.from_env(path)
    settings = dataclasses.replace(data_dir.settings, live_time_scale=live)
    return open_runtime(dataclasses.replace(data_dir, settings=settings))


def _replay(runtime: Runtime, scenario: Scenario, tmp_path: Path) -> float:
    """Pair F1 of the engine's grouping of the eval period against the truth."""
    nodes, edges = parse_topology(scenario.topology.document())
    runtime.import_topology(nodes, edges, "test")
    alerts = [parse_alert(a) for a in scenario.eval.alerts]
    output = tmp_path / "incidents.json"
    replay_alerts(runtime, alerts, output)
    return float(evaluate(engine_prediction(output), scenario.eval.truth())["f1"])


def test_an_untrained_engine_follows_the_pace_of_its_alerts(slow: Scenario,
                                                             tmp_path: Path) -> None:
    runtime = _open(tmp_path / "paced")
    try:
        paced = _replay(runtime, slow, tmp_path)
        stats = runtime.engine.stats()
    finally:
        runtime.close()
    assert stats["time_scale"] >= 1.5, stats["live_pace"]
    assert stats["live_pace"]["cascade_lag_seconds"] > 20.0
    fixed_runtime = _open(tmp_path / "fixed", live=False)
    try:
        fixed = _replay(fixed_runtime, slow, tmp_path)
        assert fixed_runtime.engine.stats()["time_scale"] == 1.0
        assert fixed_runtime.engine.stats()["live_pace"] is None
    finally:
        fixed_runtime.close()
    # The fixed reference pace splits these cascades: the pace read from them does not.
    assert paced >= fixed + 0.03, (paced, fixed)


def test_a_restart_goes_on_at_the_pace_it_had(slow: Scenario, tmp_path: Path) -> None:
    runtime = _open(tmp_path / "data")
    try:
        nodes, edges = parse_topology(slow.topology.document())
        runtime.import_topology(nodes, edges, "test")
        alerts = [parse_alert(a) for a in slow.eval.alerts]
        runtime.engine.ingest(alerts[: len(alerts) // 2])
        before = runtime.engine.stats()["time_scale"]
    finally:
        runtime.close()
    assert before >= 1.5
    again = _open(tmp_path / "data")
    try:
        assert again.engine.stats()["time_scale"] == pytest.approx(before, rel=0.15)
    finally:
        again.close()


def test_a_trained_models_scale_wins(slow: Scenario, tmp_path: Path) -> None:
    runtime = _open(tmp_path / "data")
    try:
        nodes, edges = parse_topology(slow.topology.document())
        runtime.import_topology(nodes, edges, "test")
        history = [parse_alert(a) for a in slow.history.alerts]
        model, _ = train(runtime.registry, history, runtime.engine.topology, "history")
        runtime.use_model(model)
        stats = runtime.engine.stats()
        assert stats["live_pace"] is None and stats["time_scale"] == model.time_scale
        runtime.engine.ingest([parse_alert(a) for a in slow.eval.alerts[:2000]])
        assert runtime.engine.stats()["time_scale"] == model.time_scale
    finally:
        runtime.close()
