"""Regrouping stored alerts after the fact and shadow-testing a model version:
API and CLI, on a real SQLite data dir, with bad input."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
from pathlib import Path

from aiops.api import create_app
from aiops.config import DataDir
from aiops.engine.regroup import compare, load_window, regroup
from aiops.learning.training import MODEL_NAME, CorrelationModel, load_promoted
from aiops.runtime import Runtime, correlator_factory, open_runtime
from tests.conftest import load_demo


def _window(runtime: Runtime) -> tuple[float, float]:
    with runtime.db.connect() as conn:
        records = load_window(conn, 0.0, time.time() + 86_400)
    return records[0].starts_at, records[-1].starts_at + 1.0


def _save_strict_model(runtime: Runtime) -> int:
    """A version whose threshold no link reaches: every alert alone."""
    strict = CorrelationModel(weights=dataclasses.replace(
        load_promoted(runtime.registry).weights, threshold=1.01))
    return runtime.registry.save(MODEL_NAME, strict.to_dict(), {"trained_on": "test"})


def test_regrouping_with_the_live_model_reproduces_the_stored_incidents(
        demo_runtime: Runtime) -> None:
    since, until = _window(demo_runtime)
    with demo_runtime.db.connect() as conn:
        records = load_window(conn, since, until)
    settings = demo_runtime.data_dir.settings
    correlator = correlator_factory(load_promoted(demo_runtime.registry), settings,
                                    demo_runtime.embedder)(demo_runtime.engine.topology,
                                                           settings)
    groups = regroup(records, correlator)
    stored = {r.id: r.incident_id for r in records}
    result = compare(stored, groups)
    assert result.alerts == len(records) > 50
    assert result.agreement["f1"] == 1.0 and not result.splits and not result.merges
    assert result.regrouped_incidents == result.stored_incidents < len(records)


def test_shadow_api_compares_a_version_with_the_promoted_model(demo_runtime: Runtime) -> None:
    version = _save_strict_model(demo_runtime)
    since, until = _window(demo_runtime)
    client = create_app(runtime=demo_runtime).test_client()
    listed = client.get("/api/v1/models/correlation").get_json()
    assert version in [v["version"] for v in listed["versions"]]
    assert listed["promoted"] != version
    report = client.get(f"/api/v1/models/correlation/shadow?since={since}&until={until}"
                        f"&version={version}").get_json()
    assert report["promoted"]["agreement"]["f1"] == 1.0
    candidate = report["candidate"]
    assert candidate["version"] == version
    assert candidate["regrouped_incidents"] == report["alerts"]  # every alert alone
    assert candidate["splits"] and candidate["agreement"]["recall"] < 0.5
    assert report["candidate_vs_promoted"]["f1"] < 0.5
    # bad input: named, nothing changes
    for query, field in ((f"until={until}", "since"),
                         (f"since={until}&until={since}", "until"),
                         (f"since=yesterday&until={until}", "since"),
                         (f"since={since}&until={until}&version=99", "version"),
                         (f"since={since}&until={until}&version=x", "version")):
        response = client.get(f"/api/v1/models/correlation/shadow?{query}")
        assert response.status_code == 400, query
        assert field in response.get_json()["error"]["message"] or \
            response.get_json()["error"].get("field") == field
    assert demo_runtime.registry.promoted_version(MODEL_NAME) != version


def aiops(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=180)


def test_cli_versions_shadow_and_promote(tmp_path: Path) -> None:
    data = tmp_path / "data"
    runtime = open_runtime(DataDir.from_env(data))
    try:
        load_demo(runtime)
        version = _save_strict_model(runtime)
        since, until = _window(runtime)
    finally:
        runtime.close()
    listed = aiops(data, "model", "versions")
    assert listed.returncode == 0 and f"v{version}" in listed.stdout
    shown = aiops(data, "model", "shadow", "--since", str(since), "--until", str(until),
                  "--version", str(version))
    assert shown.returncode == 0, shown.stderr
    assert "promoted (vNone)" in shown.stdout  # nothing trained: the default model
    assert f"candidate (v{version})" in shown.stdout
    bad = aiops(data, "model", "shadow", "--since", str(until), "--until", str(since))
    assert bad.returncode == 2 and "until" in bad.stderr
    missing = aiops(data, "model", "promote", "99")
    assert missing.returncode == 2 and "no correlation model version 99" in missing.stderr
    promoted = aiops(data, "model", "promote", str(version))
    assert promoted.returncode == 0
    assert f"* v{version} " in aiops(data, "model", "versions").stdout


def test_a_running_engine_follows_a_promotion_made_elsewhere(demo_runtime: Runtime) -> None:
    """Another process (a scheduled retrain, `aiops model promote`) moves the data
    dir's PROMOTED pointer; the serving process switches at its next look."""
    from aiops.learning.registry import ModelRegistry

    version = _save_strict_model(demo_runtime)
    assert demo_runtime.engine.correlator.weights.threshold < 1.0
    assert demo_runtime.follow_promotions(every=0) is False  # nothing changed yet
    ModelRegistry(demo_runtime.registry.root).promote(MODEL_NAME, version)  # elsewhere
    demo_runtime.models_checked_at = 0.0
    client = create_app(runtime=demo_runtime).test_client()
    answer = client.post("/api/v1/alerts", json={
        "id": "after-promotion", "source": "nms", "name": "LINK_DOWN", "entity": "ne-01",
        "severity": "major", "summary": "down", "starts_at": time.time()})
    assert answer.status_code == 200
    assert demo_runtime.engine.correlator.weights.threshold == 1.01
    assert demo_runtime.model_versions[0] == version
    assert demo_runtime.follow_promotions(every=0) is False


def test_a_damaged_promoted_pointer_is_named_and_repaired_by_promoting(tmp_path: Path) -> None:
    """A hand-edited PROMOTED read as "nothing promoted": commands and a serving engine
    ran the untrained defaults without a word. Now every command names the file, and
    listing and promoting (the repair) still work."""
    data = tmp_path / "data"
    runtime = open_runtime(DataDir.from_env(data))
    try:
        load_demo(runtime)
        version = _save_strict_model(runtime)
        runtime.registry.promote(MODEL_NAME, version)
    finally:
        runtime.close()
    pointer = data / "models" / MODEL_NAME / "PROMOTED"
    pointer.write_text(f"v{version}\n")
    export = aiops(data, "model", "export-causal-graph", "--output", str(tmp_path / "g.json"))
    assert export.returncode == 1
    assert f"{pointer}: holds 'v{version}\\n', not a version number" in export.stderr
    listed = aiops(data, "model", "versions")
    assert listed.returncode == 0 and f"  v{version}  trained on test" in listed.stdout
    assert "not a version number" in listed.stderr
    promoted = aiops(data, "model", "promote", str(version))
    assert promoted.returncode == 0, promoted.stderr
    assert f"* v{version} " in aiops(data, "model", "versions").stdout


def test_a_running_engine_keeps_its_model_when_the_pointer_is_damaged(
        demo_runtime: Runtime) -> None:
    version = _save_strict_model(demo_runtime)
    demo_runtime.registry.promote(MODEL_NAME, version)
    assert demo_runtime.follow_promotions(every=0) is True
    assert demo_runtime.engine.correlator.weights.threshold == 1.01
    (demo_runtime.registry.root / MODEL_NAME / "PROMOTED").write_text("latest\n")
    client = create_app(runtime=demo_runtime).test_client()
    demo_runtime.models_checked_at = 0.0
    answer = client.post("/api/v1/alerts", json={
        "id": "after-damage", "source": "nms", "name": "LINK_DOWN", "entity": "ne-01",
        "severity": "major", "summary": "down", "starts_at": time.time()})
    assert answer.status_code == 200  # ingestion goes on, with the model it ran
    assert demo_runtime.engine.correlator.weights.threshold == 1.01
    assert demo_runtime.model_versions[0] == version
    listing = client.get("/api/v1/models/correlation")
    assert listing.status_code == 500
    assert "PROMOTED: holds 'latest\\n', not a version number" in (
        listing.get_json()["error"]["message"])


def test_shadow_refuses_a_window_without_alerts(demo_runtime: Runtime) -> None:
    """An empty window reported both models in perfect agreement with what is stored
    (pairwise F1 1.000 on no alerts): an operator would promote on no evidence."""
    version = _save_strict_model(demo_runtime)
    client = create_app(runtime=demo_runtime).test_client()
    answer = client.get(f"/api/v1/models/correlation/shadow?since=0&until=3600"
                        f"&version={version}")
    assert answer.status_code == 400
    error = answer.get_json()["error"]
    assert error["field"] == "since"
    assert error["message"] == ("no stored alerts started from 1970-01-01T00:00:00Z to "
                                "1970-01-01T01:00:00Z: nothing to compare the models on; "
                                "choose another window")
