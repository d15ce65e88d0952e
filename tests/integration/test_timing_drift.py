"""Drift of pace: a model trained where cascades were fast, then alerts that arrive as
slowly as polled monitoring reports them; `aiops model drift` says so, and not when the
pace stayed."""

from __future__ import annotations

import pytest

from aiops.learning.drift import model_drift
from aiops.learning.training import train
from aiops.models import parse_alert
from aiops.runtime import Runtime
from benchmarks.correlation.scenario import ScenarioConfig, generate
from topology.model import parse_topology


def _scenario(delay_scale: float):
    return generate(ScenarioConfig(topology="huawei", seed=41, faults=24.0, hours=6.0,
                                   history_hours=24.0, noise=2.0, delay_scale=delay_scale))


@pytest.mark.parametrize(("delay_scale", "drifting"), [(1.0, False), (3.0, True)])
def test_a_slower_pace_of_cascades_is_drift(runtime: Runtime, delay_scale: float,
                                            drifting: bool) -> None:
    trained_on = _scenario(1.0)
    nodes, edges = parse_topology(trained_on.topology.document())
    runtime.import_topology(nodes, edges, "test")
    history = [parse_alert(a) for a in trained_on.history.alerts]
    model, _ = train(runtime.registry, history, runtime.engine.topology, "history")
    runtime.use_model(model)
    assert model.time_scale == 1.0
    recent = [parse_alert(a) for a in _scenario(delay_scale).eval.alerts]
    for start in range(0, len(recent), 500):
        runtime.engine.ingest(recent[start:start + 500])
    report = model_drift(runtime, window=6 * 3600.0)
    timing = report["measures"]["time_scale"]
    assert timing["drifting"] is drifting, timing
    assert timing["training"] == 1.0 and timing["training_cascade_lag_seconds"] is not None
    if drifting:
        assert timing["value"] >= 1.5
        assert any("cascades unfold at another pace" in r for r in report["reasons"])
