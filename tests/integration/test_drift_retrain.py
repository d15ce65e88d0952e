"""Drift of the promoted correlation model and retraining it from the database: the
verdict follows the alarm mix, a retrain saves an unpromoted version and promotes it
only by policy; API, CLI (real subprocesses) and bad input."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from aiops.api import create_app
from aiops.learning.drift import model_drift
from aiops.learning.retrain import retrain
from aiops.learning.training import MODEL_NAME
from aiops.runtime import Runtime
from aiops.store.tables import alerts
from aiops.tasks import make_app, retrain_correlation
from tests.integration.mlops_data import EVAL_HOURS, build_trained, copy_of, opened, other_mix
from tests.integration.test_cli import aiops

WINDOW = EVAL_HOURS * 3600


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_trained(tmp_path_factory.mktemp("mlops") / "trained")


@pytest.fixture
def same_mix(trained: Path, tmp_path: Path) -> Iterator[Runtime]:
    """The model v1 promoted; the latest alerts are of the mix it was trained on."""
    runtime = opened(copy_of(trained, tmp_path / "d"))
    yield runtime
    runtime.close()


@pytest.fixture
def other_mix_runtime(same_mix: Runtime) -> Runtime:
    """The same, then alerts of another causal graph's types on the same devices."""
    same_mix.engine.ingest(other_mix())
    return same_mix


def promoted(runtime: Runtime) -> int | None:
    return runtime.registry.promoted_version(MODEL_NAME)


def meta_of(runtime: Runtime, version: int) -> dict:
    return runtime.registry.load(MODEL_NAME, version)["meta"]


def recent_incident(runtime: Runtime, size: int) -> tuple[str, list[str]]:
    """An incident of the last hour with at least ``size`` alerts (first event ids)."""
    with runtime.db.connect() as conn:
        latest = conn.execute(sa.select(sa.func.max(alerts.c.starts_at))).scalar()
        rows = conn.execute(sa.select(alerts.c.incident_id, alerts.c.first_event_id)
                            .where(alerts.c.starts_at > latest - 3600)
                            .order_by(alerts.c.starts_at, alerts.c.id)).all()
    members: dict[str, list[str]] = {}
    for incident_id, event_id in rows:
        members.setdefault(incident_id, []).append(event_id)
    return next((i, e) for i, e in members.items() if len(e) >= size)


# --- drift -----------------------------------------------------------------------------

def test_drift_is_ok_on_the_mix_the_model_was_trained_on(same_mix: Runtime) -> None:
    report = model_drift(same_mix, WINDOW)
    assert report["verdict"] == "ok", report["reasons"]
    assert report["model_version"] == 1 and report["reasons"] == []
    measures = report["measures"]
    assert report["window"]["alerts"] >= 300
    assert measures["unseen_type_share"]["value"] < 0.02
    assert measures["type_divergence"]["value"] < measures["type_divergence"]["chance"]
    # the training period is stored, so its noise reduction and unresolved share are known
    assert measures["noise_reduction"]["training"] > 0.5
    assert measures["unresolved_share"]["training"] == 0.0
    assert not any(m["drifting"] for m in measures.values())


def test_drift_flips_when_the_alarm_mix_changes(other_mix_runtime: Runtime) -> None:
    report = model_drift(other_mix_runtime, WINDOW)
    assert report["verdict"] == "drifting"
    measures = report["measures"]
    assert measures["unseen_type_share"]["value"] > 0.9
    assert set(measures["unseen_type_share"]["types"]) <= {f"WLS_{i}" for i in range(18)}
    assert measures["type_divergence"]["value"] > 0.9 and measures["type_divergence"]["drifting"]
    assert any("never saw" in r for r in report["reasons"])
    assert any("Jensen-Shannon" in r for r in report["reasons"])
    # a window reaching back over the old mix still sees it, less strongly
    wide = model_drift(other_mix_runtime, 3 * WINDOW)
    assert wide["verdict"] == "drifting"
    assert measures["unseen_type_share"]["value"] > wide["measures"]["unseen_type_share"]["value"]


def test_drift_api_and_bad_input(other_mix_runtime: Runtime) -> None:
    client = create_app(runtime=other_mix_runtime).test_client()
    answer = client.get("/api/v1/models/correlation/drift?window=8h")
    assert answer.status_code == 200
    assert answer.get_json()["verdict"] == "drifting"
    assert client.get("/api/v1/models/correlation/drift?window=8h&version=1").get_json()[
        "model_version"] == 1
    for query, field, words in (
            ("window=soon", "window", "duration such as 24h"),
            ("window=-3h", "window", "duration"),
            ("window=0", "window", "duration"),
            ("window=1s", "window", "at least 50 are needed"),
            ("version=7", "version", "no correlation model version 7"),
            ("version=x", "version", "must be an integer")):
        response = client.get(f"/api/v1/models/correlation/drift?{query}")
        assert response.status_code == 400, query
        error = response.get_json()["error"]
        assert error["field"] == field and words in error["message"], (query, error)


def test_drift_needs_a_model_and_alerts(runtime: Runtime) -> None:
    client = create_app(runtime=runtime).test_client()
    error = client.get("/api/v1/models/correlation/drift").get_json()["error"]
    assert "no correlation model promoted yet" in error["message"]


def test_drift_from_the_command_line(other_mix_runtime: Runtime) -> None:
    data = other_mix_runtime.data_dir.path
    other_mix_runtime.close()
    shown = aiops(data, "model", "drift", "--window", "8h")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("model v1: drifting") and "never saw" in shown.stdout
    report = json.loads(aiops(data, "model", "drift", "--window", "8h", "--json").stdout)
    assert report["verdict"] == "drifting"
    for args, words in ((("--window", "yesterday"), "'window' must be a duration"),
                        (("--version", "9"), "no correlation model version 9"),
                        (("--window", "2s"), "at least 50 are needed")):
        bad = aiops(data, "model", "drift", *args)
        assert bad.returncode == 2 and words in bad.stderr, (args, bad.stderr)
    empty = aiops(data.parent / "empty", "model", "drift")
    assert empty.returncode == 2 and "no correlation model promoted yet" in empty.stderr


# --- retraining --------------------------------------------------------------------------

def test_auto_keeps_the_promoted_model_when_nothing_says_the_candidate_is_better(
        same_mix: Runtime) -> None:
    # Shadow only the hours v1 grouped live: the history before them was grouped by the
    # untrained default model (no learned clock offsets), which v1 need not reproduce.
    retrain_settings = dataclasses.replace(same_mix.data_dir.retrain,
                                           shadow_window=(EVAL_HOURS - 1) * 3600)
    same_mix.data_dir = dataclasses.replace(same_mix.data_dir, retrain=retrain_settings)
    report = retrain(same_mix, days=2, promote="auto", fit_seconds=5)
    assert report["version"] == 2 and not report["promoted"]
    assert promoted(same_mix) == 1  # saved, not promoted
    assert "is not drifting" in report["reasons"][0]
    meta = meta_of(same_mix, 2)
    decision = meta["retrain"]
    assert decision["policy"] == "auto" and decision["promoted"] is False
    assert decision["reasons"] == report["reasons"]
    assert decision["drift_of_promoted"]["verdict"] == "ok"
    shadow = decision["shadow"]
    assert shadow["promoted"]["version"] == 1 and shadow["candidate"]["version"] == 2
    assert shadow["promoted"]["agreement"]["f1"] == 1.0  # the live grouping, reproduced
    assert shadow["alerts"] > 300
    assert meta["trained_on"].startswith("stored alerts ") and meta["alerts"] > 2000
    assert 0.0 < meta["noise_reduction"] < 1.0 and meta["unresolved_share"] == 0.0


def test_auto_promotes_when_the_promoted_model_drifts(other_mix_runtime: Runtime) -> None:
    report = retrain(other_mix_runtime, days=2, promote="auto", fit_seconds=5)
    assert report["promoted"] and promoted(other_mix_runtime) == report["version"] == 2
    assert report["reasons"][0].startswith("the promoted model v1 is drifting")
    relations = other_mix_runtime.registry.load(MODEL_NAME)["model"]["relations"]
    assert any(name.startswith("WLS_") for name in relations["type_counts"])
    # the new model knows the new types (its training mix, two days of both, still
    # differs from the last hours' mix of one)
    after = model_drift(other_mix_runtime, WINDOW)
    assert after["model_version"] == 2
    assert after["measures"]["unseen_type_share"]["value"] == 0.0
    assert not any("never saw" in r for r in after["reasons"])
    # a second retrain on the same alerts: the promoted v2 fits, v3 is kept out
    again = retrain(other_mix_runtime, days=2, promote="auto", fit_seconds=5)
    assert again["version"] == 3 and not again["promoted"] and promoted(other_mix_runtime) == 2


def test_never_and_always(other_mix_runtime: Runtime) -> None:
    never = retrain(other_mix_runtime, days=2, promote="never", fit_seconds=5)
    assert not never["promoted"] and promoted(other_mix_runtime) == 1
    assert "policy 'never'" in never["reasons"][0]
    always = retrain(other_mix_runtime, days=1, promote="always", fit_seconds=5)
    assert always["promoted"] and promoted(other_mix_runtime) == always["version"] == 3
    assert meta_of(other_mix_runtime, 3)["retrain"]["days"] == 1


def test_corrections_of_the_last_day_judge_the_candidate(same_mix: Runtime) -> None:
    """Operator feedback in the shadow window is held out of the fit and decides."""
    incident, events = recent_incident(same_mix, 3)
    same_mix.engine.split_incident(incident, [events[-1]], author="test")
    report = retrain(same_mix, days=2, promote="auto", fit_seconds=5)
    decision = meta_of(same_mix, report["version"])["retrain"]
    assert decision["held_out_corrected_incidents"] == 2
    candidate = decision["shadow"]["candidate"]["corrected"]
    assert candidate["incidents"] == 2 and candidate["alerts"] == len(events)
    assert report["promoted"] and report["reasons"][0].startswith("at least as good on the 2")
    weights = meta_of(same_mix, report["version"])["weights"]
    assert not weights["fitted"] and "held out" in weights["reason"]


def _store_tickets_of_recent_incidents(runtime: Runtime, count: int) -> int:
    """Resolved tickets for the ``count`` latest multi-alert incidents, each naming the
    entity of the incident's first alert and listing its alerts, as a connector stores
    them; how many were stored."""
    from aiops.models import Ticket
    from aiops.tickets.store import store_tickets

    with runtime.db.connect() as conn:
        rows = conn.execute(sa.select(alerts.c.incident_id, alerts.c.first_event_id,
                                      alerts.c.entity, alerts.c.starts_at)
                            .order_by(alerts.c.starts_at.desc(), alerts.c.id)).all()
    members: dict[str, list] = {}
    for row in rows:
        members.setdefault(row.incident_id, []).append(row)
    chosen = [m[::-1] for m in members.values() if len(m) >= 3][:count]
    items = [Ticket(f"INC{k}", opened_at=m[0].starts_at + 60, title="outage",
                    entity=m[0].entity, resolution=("replaced the power supply" if k % 2
                                                    else "restarted the line card"),
                    resolved_at=m[0].starts_at + 3600, alert_ids=[r.first_event_id for r in m])
             for k, m in enumerate(chosen)]
    with runtime.db.begin() as conn:
        store_tickets(conn, items, "test", runtime.engine.topology.resolve)
    return len(items)


def test_retrain_learns_from_the_stored_tickets(other_mix_runtime: Runtime,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Tickets a connector stored teach the scheduled retrain too (CONTRACTS.md §4: the
    same code as 'aiops train --tickets'); 'never' saves without promoting; fewer
    tickets never replace what more taught; a failure there leaves the correlation
    step standing."""
    from aiops.cli_models import _describe_retrain
    from aiops.learning import rank_training
    from aiops.learning.remediation import MODEL_NAME as REMEDIATION
    from aiops.learning.root_priors import MODEL_NAME as PRIORS

    registry = other_mix_runtime.registry
    none = retrain(other_mix_runtime, days=2, promote="never", fit_seconds=5)
    assert none["tickets"] == {"skipped": "no stored tickets were opened in the days "
                                          "trained on"}
    assert registry.versions(PRIORS) == [] and registry.versions(REMEDIATION) == []
    stored = _store_tickets_of_recent_incidents(other_mix_runtime, 30)
    assert stored == 30
    never = retrain(other_mix_runtime, days=2, promote="never", fit_seconds=5)
    learned = never["tickets"]
    assert learned["tickets"] == stored
    assert learned["remediation"]["cases"] == stored and not learned["remediation"]["promoted"]
    assert learned["root_priors"]["tickets"] == stored and learned["root_priors"]["usable"]
    assert not learned["root_priors"]["promoted"]
    assert registry.versions(PRIORS) == [1] and registry.promoted_version(PRIORS) is None
    assert registry.promoted_version(REMEDIATION) is None
    always = retrain(other_mix_runtime, days=2, promote="always", fit_seconds=5)
    assert registry.promoted_version(PRIORS) == always["tickets"]["root_priors"]["version"] == 2
    assert registry.promoted_version(REMEDIATION) == 2
    assert other_mix_runtime.model_versions == (always["version"], 2)  # in use at once
    text = _describe_retrain(always)
    assert "trained remediation model v2 on 30 resolved tickets of 30" in text
    assert "(root_priors v2, promoted)" in text
    json.dumps(always["tickets"])  # the Celery task's result is JSON
    # A shorter window sees fewer of the tickets: saved, the larger lesson kept.
    fewer = retrain(other_mix_runtime, days=0.1, promote="always", fit_seconds=5)
    assert 0 < fewer["tickets"]["root_priors"]["tickets"] < stored
    assert registry.promoted_version(PRIORS) == 2 and registry.promoted_version(REMEDIATION) == 2
    assert "the promoted v2 learned from 30 tickets" in _describe_retrain(fewer)
    # An operator lists and rolls back what tickets taught, as for correlation.
    data = other_mix_runtime.data_dir.path
    listed = aiops(data, "model", "versions", "--model", "root_priors")
    assert listed.returncode == 0 and "* v2" in listed.stdout and "tickets 30" in listed.stdout
    rolled = aiops(data, "model", "promote", "1", "--model", "root_priors")
    assert rolled.returncode == 0 and "promoted root priors model v1" in rolled.stdout
    assert registry.promoted_version(PRIORS) == 1
    bad = aiops(data, "model", "promote", "9", "--model", "root_priors")
    assert bad.returncode == 2 and "no root_priors model version 9" in bad.stderr
    assert registry.promoted_version(PRIORS) == 1
    # A failure while learning from tickets is reported; the correlation step stands.
    def broken(*args: object, **kwargs: object) -> None:
        raise MemoryError("out of memory")
    monkeypatch.setattr(rank_training, "past_incidents", broken)
    monkeypatch.setattr(rank_training.RootCausePriors, "fit", broken)
    failed = retrain(other_mix_runtime, days=2, promote="always", fit_seconds=5)
    assert failed["promoted"] and promoted(other_mix_runtime) == failed["version"]
    assert failed["tickets"]["error"].startswith("learning from the stored tickets failed: "
                                                 "MemoryError")
    assert registry.promoted_version(PRIORS) == 1


def test_retrain_bad_input(same_mix: Runtime, runtime: Runtime) -> None:
    for kwargs, words in (({"days": 0}, "'days' must be a positive number"),
                          ({"days": float("nan")}, "'days' must be a positive number"),
                          ({"promote": "sometimes"}, "'promote' must be one of"),
                          ({"days": 0.0001}, "at least 100 are needed to train")):
        with pytest.raises(ValueError, match=words):
            retrain(same_mix, **kwargs)
    assert same_mix.registry.versions(MODEL_NAME) == [1]  # nothing saved
    with pytest.raises(ValueError, match="no alerts stored yet"):
        retrain(runtime)


def test_retrain_task_eagerly(trained: Path, tmp_path: Path) -> None:
    """Without a broker the Celery task runs in this process (the embedded default)."""
    data = copy_of(trained, tmp_path / "d")
    assert retrain_correlation.app.conf.task_always_eager
    report = retrain_correlation.delay(str(data), None, 2, "never").get()
    assert report["version"] == 2 and report["promoted"] is False
    assert report["shadow"]["candidate"]["version"] == 2
    assert (data / "models" / MODEL_NAME / "PROMOTED").read_text().strip() == "1"
    json.dumps(report)  # a JSON result, as a real backend stores it


def test_beat_entry_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOPS_RETRAIN_SCHEDULE", "0 3 * * *")
    monkeypatch.setenv("AIOPS_RETRAIN_DAYS", "3")
    entry = make_app().conf.beat_schedule["retrain-correlation"]
    assert entry["task"] == "aiops.retrain" and entry["kwargs"] == {"days": 3.0,
                                                                   "promote": "auto"}
    assert entry["schedule"].hour == {3} and entry["schedule"].minute == {0}
    monkeypatch.setenv("AIOPS_RETRAIN_SCHEDULE", "6h")
    assert make_app().conf.beat_schedule["retrain-correlation"]["schedule"].total_seconds() \
        == 6 * 3600
    monkeypatch.setenv("AIOPS_RETRAIN_SCHEDULE", "whenever")
    with pytest.raises(ValueError, match="AIOPS_RETRAIN_SCHEDULE: expected a duration"):
        make_app()
    monkeypatch.delenv("AIOPS_RETRAIN_SCHEDULE")
    assert "retrain-correlation" not in (make_app().conf.beat_schedule or {})


def test_retrain_train_and_schedule_from_the_command_line(trained: Path,
                                                          tmp_path: Path) -> None:
    data = copy_of(trained, tmp_path / "d")
    # the store holds about 1.3 days: 2 are refused, by name, unless told
    short = aiops(data, "model", "retrain", "--days", "2", "--promote", "never")
    assert short.returncode == 2 and "--days 2 asks for the alerts" in short.stderr
    done = aiops(data, "model", "retrain", "--days", "2", "--promote", "never",
                 "--allow-short-history")
    assert done.returncode == 0, done.stderr
    assert "trained correlation model v2" in done.stdout
    assert "not promoted (policy never)" in done.stdout
    report = json.loads(aiops(data, "model", "retrain", "--days", "1", "--json").stdout)
    assert report["version"] == 3 and report["promoted"] is False  # auto: not drifting
    bad = aiops(data, "model", "retrain", "--days", "0")
    assert bad.returncode == 2 and "'days' must be a positive number" in bad.stderr
    bad = aiops(data, "model", "retrain", "--promote", "maybe")
    assert bad.returncode == 2 and "maybe" in bad.stderr
    short = aiops(data, "model", "schedule", "--every", "1d", "--once")  # 7 days
    assert short.returncode == 2 and "--days 7 asks for the alerts" in short.stderr
    once = aiops(data, "model", "schedule", "--every", "1d", "--once", "--promote", "never",
                 "--days", "1")
    assert once.returncode == 0, once.stderr
    assert "retrain-correlation: v4 not promoted" in once.stderr
    bad = aiops(data, "model", "schedule", "--every", "soon", "--once")
    assert bad.returncode == 2 and "expected a duration" in bad.stderr
    bad = aiops(data, "model", "schedule", "--once")
    assert bad.returncode == 2 and "no schedule" in bad.stderr
    listed = aiops(data, "model", "versions").stdout
    assert "* v1 " in listed and "  v4 " in listed


def test_train_no_promote(trained: Path, tmp_path: Path) -> None:
    from tests.integration.mlops_data import scenario
    from tests.integration.test_cli import write_lines

    data = copy_of(trained, tmp_path / "d")
    history = write_lines(tmp_path / "history.jsonl", scenario().history.alerts)
    done = aiops(data, "train", "--alerts", str(history), "--no-promote")
    assert done.returncode == 0, done.stderr
    assert "trained correlation model v2" in done.stdout and "saved, not promoted" in done.stdout
    assert (data / "models" / MODEL_NAME / "PROMOTED").read_text().strip() == "1"
    done = aiops(data, "train", "--alerts", str(history))
    assert done.returncode == 0 and "; promoted" in done.stdout
    assert (data / "models" / MODEL_NAME / "PROMOTED").read_text().strip() == "3"


def test_drift_and_retrain_on_each_database(db_url: str, tmp_path: Path) -> None:
    """The grouped reads, JSON feedback columns and raw-event payloads on SQLite and on a
    real PostgreSQL."""
    from aiops.config import DataDir
    from aiops.learning.training import train
    from aiops.runtime import open_runtime
    from tests.conftest import load_demo

    runtime = open_runtime(DataDir(path=tmp_path / "d", database_url=db_url))
    try:
        load_demo(runtime)
        from aiops.learning.retrain import load_history

        with runtime.db.connect() as conn:
            history = load_history(conn, 0.0, float("inf"))
        train(runtime.registry, history, runtime.engine.topology, "demo", None)
        incident, events = recent_incident(runtime, 2)
        runtime.engine.split_incident(incident, [events[0]])
        report = model_drift(runtime, 6 * 3600)
        assert report["verdict"] == "ok", report["reasons"]
        assert report["measures"]["corrected_share"]["corrected_incidents"] == 2
        assert report["window"]["events"] == len(history)
        done = retrain(runtime, days=1, promote="never", fit_seconds=5)
        assert done["version"] == 2 and not done["promoted"]
        assert done["meta"]["retrain"]["held_out_corrected_incidents"] == 2
    finally:
        runtime.close()
