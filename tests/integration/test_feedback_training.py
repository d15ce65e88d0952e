"""Operator feedback end to end on simulated scenarios: correct the history period's
incidents from its ground truth through the API, run ``aiops train``, and compare the
fitted weights with the defaults on the *later* evaluation period, which neither the
operators nor the fit saw.

Two scenarios of the earlier sweep in docs/architecture.md ("Fitting the scoring
weights"), seeds the correlation benchmark does not use; the simulated operator and the
scoring are ``benchmarks/feedback.py``'s. A test can only pin single seeds; the sweep
and that benchmark have the rest, including the seeds where the fit lowered the later
period's F1:

* huawei, seed 16, everything reviewed: the defaults were chosen on this generator,
  so there is little to gain; the fitted weights must not make the later period worse;
* ba (scale-free), seed 11, operators reviewing only the last 30 % of the history:
  the fit must improve the later period. When this test was written the defaults
  split cascades here (eval F1 0.887, fitted 0.961); since the restart and fan-out
  rules they score 0.948, and an unbounded fit over-corrected from 28 corrections
  (0.887), which is why the fitter's ``max_change`` keeps every weight within ±0.1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from aiops.cli import main
from aiops.config import DataDir
from aiops.engine.scored_correlator import ScoringWeights
from aiops.learning.registry import ModelRegistry
from aiops.learning.training import CorrelationModel, load_promoted
from aiops.replay import load_alerts, replay_alerts
from aiops.runtime import open_runtime
from benchmarks.correlation.scenario import ScenarioConfig, generate, write_scenario
from benchmarks.feedback import correct_from_truth, import_topology, score_eval


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
    fitted = score_eval(tmp_path / "fitted", paths, truth["eval"], trained)["f1"]
    default = score_eval(tmp_path / "default", paths, truth["eval"],
                         CorrelationModel(relations=trained.relations,
                                          weights=ScoringWeights()))["f1"]
    return default, fitted, meta["weights"], result.output


def test_fitted_weights_do_not_lower_f1_where_the_defaults_were_tuned(tmp_path: Path) -> None:
    default, fitted, meta, output = feedback_then_train(tmp_path, "huawei", 16, 1.0)
    assert meta["fitted"] and meta["corrected_incidents"] > 20
    assert meta["f1_after"] >= meta["f1_before"]
    assert "scoring weights fitted to" in output and "fitting weights: replay 1" in output
    # Measured when written: 0.8656 with the defaults, 0.8788 fitted.
    assert fitted >= default, (default, fitted, meta)


def test_fitted_weights_raise_f1_on_a_later_period(tmp_path: Path) -> None:
    default, fitted, meta, _ = feedback_then_train(tmp_path, "ba", 11, 0.3)
    assert meta["fitted"] and meta["weak_incidents"] > 0
    assert all(abs(new - old) <= 0.1 + 1e-9 for old, new in meta["changed"].values())
    # Measured with max_change: 0.9484 with the defaults, 0.9755 fitted (0.8865 without).
    assert fitted >= default + 0.02, (default, fitted, meta)


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
