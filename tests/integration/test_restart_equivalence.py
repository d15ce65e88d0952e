"""A trained engine restarted in the middle of a stream decides as one run through:
the same incidents (placement, hindsight splits, absorbing by the Hawkes parents)."""

from __future__ import annotations

from pathlib import Path

from aiops.learning.training import train
from aiops.models import parse_alert
from benchmarks.correlation.scenario import ScenarioConfig, generate
from tests.integration.test_live_pace import _import, _open, _stored_groups


def test_a_trained_engine_restarted_mid_stream_groups_as_one_run(tmp_path: Path) -> None:
    scenario = generate(ScenarioConfig(topology="huawei", seed=31, faults=32.0, hours=4.0,
                                       history_hours=24.0, noise=5.0))
    history = sorted((parse_alert(a) for a in scenario.history.alerts),
                     key=lambda a: a.starts_at)
    alerts = sorted((parse_alert(a) for a in scenario.eval.alerts), key=lambda a: a.starts_at)

    def run(restart_after: set[int]) -> set[frozenset[str]]:
        path = tmp_path / ("run-" + "-".join(map(str, sorted(restart_after))))
        runtime = _open(path)
        try:
            _import(runtime, scenario)
            model, _ = train(runtime.registry, history, runtime.engine.topology, "history")
            assert model.parents is not None  # the absorbing is part of what is compared
            runtime.use_model(model)
            for n, start in enumerate(range(0, len(alerts), 100)):
                runtime.engine.ingest(alerts[start:start + 100])
                if n in restart_after:
                    runtime.close()
                    runtime = _open(path)
            return _stored_groups(runtime)
        finally:
            runtime.close()

    whole = run(set())
    assert len(alerts) >= 500 and len(whole) >= 100
    assert run({2, 5}) == whole
