"""Operator feedback end to end on simulated scenarios: correct the history period's
incidents from its ground truth through the API, run ``aiops train``, and compare the
fitted weights with the defaults on the *later* evaluation period, which neither the
operators nor the fit saw.

Two scenarios of the sweep in docs/architecture.md ("Fitting the scoring weights"),
seeds the correlation benchmark does not use. A test can only pin single seeds; the
sweep has the rest, including the 2 of 10 huawei seeds where the fit lowered the later
period's F1 (by at most 0.005):

* huawei, seed 16, everything reviewed: the defaults were chosen on this generator,
  so there is little to gain; the fitted weights must not make the later period worse;
* ba (scale-free), seed 11, operators reviewing only the last 30 % of the history:
  the defaults split cascades here, and the fit must improve the later period.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner

from aiops.api import create_app
from aiops.cli import main
from aiops.config import DataDir
from aiops.engine.scored_correlator import ScoringWeights
from aiops.learning.registry import ModelRegistry
from aiops.learning.training import CorrelationModel, load_promoted
from aiops.replay import load_alerts, replay_alerts
from aiops.runtime import Runtime, open_runtime
from aiops.store.tables import alerts as alerts_table
from aiops.store.tables import incidents as incidents_table
from benchmarks.correlation.metrics import Prediction, evaluate
from benchmarks.correlation.scenario import ScenarioConfig, generate, write_scenario
from topology.loader import read_topology


def import_topology(rt: Runtime, path: Path) -> None:
    nodes, edges = read_topology(path)
    rt.import_topology(nodes, edges, "sim")


def membership(rt: Runtime) -> dict[str, str]:
    """First event id of every alert → its incident now."""
    with rt.db.connect() as conn:
        return dict(conn.execute(sa.select(alerts_table.c.first_event_id,
                                           alerts_table.c.incident_id)).all())


def correct_from_truth(rt: Runtime, truth: dict[str, str], reviewed_share: float) -> int:
    """What a diligent operator does to the incidents that started in the last
    ``reviewed_share`` of the period: split out alarms of other faults (keeping the
    largest fault in place), then merge the pieces of one fault. Through the API."""
    client = create_app(runtime=rt).test_client()
    with rt.db.connect() as conn:
        starts = dict(conn.execute(sa.select(incidents_table.c.id,
                                             incidents_table.c.started_at)).all())
    low, high = min(starts.values()), max(starts.values())
    cut = high - reviewed_share * (high - low)
    calls = 0
    by_incident: dict[str, dict[str, list[str]]] = {}
    for alert_id, incident in membership(rt).items():
        by_incident.setdefault(incident, {}).setdefault(truth[alert_id], []).append(alert_id)
    for incident, faults in by_incident.items():
        if starts[incident] < cut or len(faults) < 2:
            continue
        keep = max(faults, key=lambda fault: len(faults[fault]))
        for fault, alert_ids in faults.items():
            if fault != keep:
                answer = client.post(f"/api/v1/incidents/{incident}/split",
                                     json={"alert_ids": alert_ids, "author": "sim"})
                assert answer.status_code == 200, answer.get_json()
                calls += 1
    pieces: dict[str, dict[str, int]] = {}
    for alert_id, incident in membership(rt).items():
        counts = pieces.setdefault(truth[alert_id], {})
        counts[incident] = counts.get(incident, 0) + 1
    for counts in pieces.values():
        target = max(counts, key=lambda incident: counts[incident])
        if len(counts) > 1 and starts.get(target, high) >= cut:
            answer = client.post(f"/api/v1/incidents/{target}/merge", json={
                "incident_ids": [i for i in counts if i != target], "author": "sim"})
            assert answer.status_code == 200, answer.get_json()
            calls += 1
    return calls


def eval_f1(work: Path, paths: dict[str, Path], truth: dict[str, Any],
            model: CorrelationModel) -> float:
    """Pairwise F1 of replaying the evaluation period with ``model`` (benchmark metric)."""
    rt = open_runtime(DataDir.from_env(work))
    try:
        import_topology(rt, paths["topology"])
        rt.use_model(model)
        document = replay_alerts(rt, load_alerts(paths["eval"]), None)
    finally:
        rt.close()
    prediction = Prediction([i["alert_ids"] for i in document["incidents"]])
    return float(evaluate(prediction, truth)["f1"])


def feedback_then_train(tmp_path: Path, topology: str, seed: int,
                        reviewed_share: float) -> tuple[float, float, dict[str, Any], str]:
    """Eval F1 with the default and with the fitted weights, the fit's metadata, and
    what ``aiops train`` printed."""
    paths = write_scenario(generate(ScenarioConfig(topology=topology, seed=seed)),
                           tmp_path / "scenario")
    truth = json.loads(paths["truth"].read_text())["periods"]
    live = tmp_path / "live"
    rt = open_runtime(DataDir.from_env(live))
    try:
        import_topology(rt, paths["topology"])
        replay_alerts(rt, load_alerts(paths["history"]), None)
        assert correct_from_truth(rt, truth["history"]["alerts"], reviewed_share) > 0
    finally:
        rt.close()
    result = CliRunner().invoke(main, ["--data-dir", str(live), "train", "--alerts",
                                       str(paths["history"])])
    assert result.exit_code == 0, result.output
    trained = load_promoted(ModelRegistry(live / "models"))
    meta = json.loads((live / "models" / "correlation" / "v0001.json").read_text())["meta"]
    fitted = eval_f1(tmp_path / "fitted", paths, truth["eval"], trained)
    default = eval_f1(tmp_path / "default", paths, truth["eval"],
                      CorrelationModel(relations=trained.relations, weights=ScoringWeights()))
    return default, fitted, meta["weights"], result.output


def test_fitted_weights_do_not_lower_f1_where_the_defaults_were_tuned(tmp_path: Path) -> None:
    default, fitted, meta, output = feedback_then_train(tmp_path, "huawei", 16, 1.0)
    assert meta["fitted"] and meta["corrected_incidents"] > 20
    assert meta["f1_after"] >= meta["f1_before"]
    assert "scoring weights fitted to" in output and "fitting weights: replay 1" in output
    # Measured when written: 0.8656 with the defaults, 0.8788 fitted.
    assert fitted >= default, (default, fitted, meta)


def test_fitted_weights_raise_f1_where_the_defaults_split_cascades(tmp_path: Path) -> None:
    default, fitted, meta, _ = feedback_then_train(tmp_path, "ba", 11, 0.3)
    assert meta["fitted"] and meta["weak_incidents"] > 0
    # Measured when written: 0.8871 with the defaults, 0.9610 fitted.
    assert fitted >= default + 0.03, (default, fitted, meta)


def test_train_without_feedback_keeps_the_defaults(tmp_path: Path) -> None:
    paths = write_scenario(generate(ScenarioConfig(topology="huawei", seed=16, hours=1,
                                                   history_hours=2)), tmp_path / "s")
    live = tmp_path / "live"
    runner = CliRunner()
    assert runner.invoke(main, ["--data-dir", str(live), "topology", "import",
                                str(paths["topology"])]).exit_code == 0
    result = runner.invoke(main, ["--data-dir", str(live), "train", "--alerts",
                                  str(paths["history"])])
    assert result.exit_code == 0, result.output
    assert "scoring weights: defaults kept (no operator feedback stored)" in result.output
    stored = json.loads((live / "models" / "correlation" / "v0001.json").read_text())
    assert stored["model"]["weights"] == ScoringWeights().to_dict()
    assert stored["meta"]["weights"]["fitted"] is False
