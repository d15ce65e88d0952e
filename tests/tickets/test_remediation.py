"""Remediations: learned from resolved tickets, ranked for incidents in replay, API and view."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aiops.api import create_app
from aiops.config import DataDir
from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.remediation import (
    RemediationCase,
    RemediationModel,
    RemediationParams,
    RemediationQuery,
    ticket_worked,
)
from aiops.runtime import open_runtime
from tests.tickets.history import T0, fault, history, topology


def case(ticket_id: str, action: str, root_type: str, worked: bool = True) -> RemediationCase:
    return RemediationCase(ticket_id, action, worked, symptoms=f"{root_type.lower()} at site",
                           alert_texts=[f"{root_type.lower()}: on device"],
                           alert_types=[root_type], root_type=root_type, entity_role="core")


def test_paraphrases_become_one_action_and_failed_tries_do_not_score() -> None:
    cases = [case("P1", "Replaced the failed PSU", "POWER_FAIL"),
             case("P2", "Replaced the failed PSU on ne-12", "POWER_FAIL"),
             case("P3", "replaced failed PSU 2", "POWER_FAIL"),
             case("P4", "Rebooted the router", "POWER_FAIL", worked=False),
             case("P5", "Rebooted the router", "POWER_FAIL", worked=False),
             case("F1", "Cleaned the fibre connectors", "LOS"),
             case("F2", "Cleaned the fibre connectors on ne-03", "LOS")]
    embedder = TemplateEmbedder()
    model = RemediationModel().fit(cases, embedder)
    assert len(model.actions_) == 3  # PSU, reboot, fibre
    query = RemediationQuery(alert_texts=["power fail: on device"], alert_types=["POWER_FAIL"],
                             root_type="POWER_FAIL", entity_role="core")
    ranked = model.predict(query, embedder)
    assert ranked[0]["action"] in {"Replaced the failed PSU", "Replaced the failed PSU on ne-12",
                                   "replaced failed PSU 2"}
    assert sorted(ranked[0]["ticket_ids"]) == ["P1", "P2", "P3"]
    assert (ranked[0]["worked"], ranked[0]["tried"]) == (3, 3)
    assert all(r["action"] != "Rebooted the router" for r in ranked)  # never worked
    assert ranked == sorted(ranked, key=lambda r: -r["score"]) and ranked[0]["score"] <= 1.0
    again = RemediationModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert again.predict(query, embedder) == ranked
    assert RemediationModel().fit([], embedder).predict(query, embedder) == []


def test_a_case_votes_with_its_fault_class_not_only_its_own_action() -> None:
    """One case matches the incident best but took its class's rare action; the
    class (root type, role) mostly took another, which must rank first."""
    def power(ticket_id: str, action: str, types: list[str]) -> RemediationCase:
        return RemediationCase(ticket_id, action, symptoms="power alarm at site",
                               alert_texts=["power fail: on device"], alert_types=types,
                               root_type="POWER_FAIL", entity_role="core")

    cases = [power(f"P{i}", "Replaced the failed PSU", ["POWER_FAIL", "FAN", "TEMP"])
             for i in range(4)]
    cases.append(power("B1", "Cleaned the fibre connectors", ["POWER_FAIL", "LINK_DOWN"]))
    cases += [case(f"F{i}", "Cleaned the fibre connectors", "LOS") for i in range(3)]
    query = RemediationQuery(alert_texts=["power fail: on device"],
                             alert_types=["POWER_FAIL", "LINK_DOWN"],
                             root_type="POWER_FAIL", entity_role="core")
    embedder = TemplateEmbedder()
    pooled = RemediationModel().fit(cases, embedder).predict(query, embedder)
    assert pooled[0]["action"] == "Replaced the failed PSU"
    assert sorted(pooled[0]["ticket_ids"]) == ["P0", "P1", "P2", "P3"]
    assert pooled[1]["ticket_ids"][0] == "B1"
    # The case vote alone (the version before) follows the single nearest case.
    alone = RemediationModel(RemediationParams(class_mix=0.0)).fit(cases, embedder)
    assert alone.predict(query, embedder)[0]["action"] == "Cleaned the fibre connectors"


def test_actions_for_the_same_root_type_on_different_roles_stay_apart() -> None:
    """Grouping compares what resolutions were used for by fault class (root type and
    role) as well as by root type: two actions for power faults, one on core routers
    and one on access switches, are not one action because their texts are 0.42 alike."""
    def power(ticket_id: str, action: str, role: str) -> RemediationCase:
        return RemediationCase(ticket_id, action, root_type="POWER_FAIL", entity_role=role,
                               alert_types=["POWER_FAIL"])

    cases = [power(f"P{i}", "Replaced the failed PSU", "core") for i in range(4)]
    cases += [power(f"S{i}", "Swapped the faulty power supply unit", "core") for i in range(4)]
    cases += [power(f"B{i}", "Reset the tripped breaker", "access") for i in range(4)]
    model = RemediationModel().fit(cases, TemplateEmbedder())
    label = dict(zip((c.ticket_id for c in model.cases_), model.case_action_, strict=True))
    assert label["P0"] == label["S0"] != label["B0"]


def test_models_stored_before_class_pooling_still_load() -> None:
    old = {"params": {"b_type": 1.0, "b_root": 2.0, "b_types": 5.0, "prior": 0.5,
                      "grouping": {"threshold": 0.6}},
           "actions": ["Replaced the failed PSU"],
           "cases": [{**vars(case("P1", "Replaced the failed PSU", "POWER_FAIL")),
                      "action_id": 0}]}
    model = RemediationModel.from_dict(old)
    # It ranks as it did when stored: no class vote (found by review).
    assert (model.params.b_types, model.params.class_mix) == (5.0, 0.0)
    assert (model.params.kernel_scale, model.loo_) == (1.0, {})
    query = RemediationQuery(alert_texts=["power fail: on device"], alert_types=["POWER_FAIL"],
                             root_type="POWER_FAIL", entity_role="core")
    ranked = model.predict(query, TemplateEmbedder())
    assert [(r["action"], r["ticket_ids"]) for r in ranked] == [
        ("Replaced the failed PSU", ["P1"])]


def test_outcome_from_resolution_codes() -> None:
    assert ticket_worked({"resolution_code": "Solved (Permanently)"})
    assert ticket_worked({})
    assert not ticket_worked({"resolution_code": "Not Solved (Not Reproducible)"})
    assert not ticket_worked({"resolution": "Won't Fix"})
    assert not ticket_worked({"outcome": "failed"})


def aiops(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=300)


def write_lines(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A data dir trained on the planted history, then an eval replay through the CLI."""
    tmp = tmp_path_factory.mktemp("remediation")
    data = tmp / "data"
    (tmp / "topology.json").write_text(json.dumps(topology()))
    alerts, tickets = history()
    write_lines(tmp / "history.jsonl", alerts)
    write_lines(tmp / "tickets.jsonl", tickets)
    later = T0 + 30 * 7200
    eval_alerts = fault("power", 90, later, "ne-05", "e") + fault("fibre", 91, later + 9000,
                                                                 "ne-10", "e")
    write_lines(tmp / "eval.jsonl", eval_alerts)
    results = {"import": aiops(data, "topology", "import", str(tmp / "topology.json")),
               "train": aiops(data, "train", "--alerts", str(tmp / "history.jsonl"),
                              "--tickets", str(tmp / "tickets.jsonl")),
               "replay": aiops(data, "replay", str(tmp / "eval.jsonl"), "--output",
                               str(tmp / "incidents.json"))}
    for name, r in results.items():
        assert r.returncode == 0, f"{name}: {r.stderr}"
    return {"data": data, "tmp": tmp, "results": results,
            "incidents": json.loads((tmp / "incidents.json").read_text())["incidents"]}


def test_train_learns_and_promotes_a_remediation_model(trained: dict) -> None:
    out = trained["results"]["train"].stdout
    assert "trained remediation model v1 on 24 resolved tickets of 24" in out
    models = trained["data"] / "models" / "remediation"
    assert (models / "PROMOTED").read_text().strip() == "1"
    stored = json.loads((models / "v0001.json").read_text())
    assert stored["meta"]["cases"] == 24 and stored["meta"]["with_alerts"] == 24
    assert stored["meta"]["actions"] == 3


def test_train_learns_root_cause_priors_from_the_same_tickets(trained: dict) -> None:
    out = trained["results"]["train"].stdout
    assert "learned root-cause priors from 24 tickets" in out
    assert "used by root-cause ranking" in out
    # 24 tickets teach the priors but are too few for the learned ranking: no replay
    assert ("no root-cause ranking learned: it needs 200 tickets that name a known device "
            "and match past alerts, 24 do (root_priors v1, promoted)") in out
    priors = trained["data"] / "models" / "root_priors"
    assert (priors / "PROMOTED").read_text().strip() == "1"
    # the replayed incidents quote them in their root causes' evidence
    evidence = [line for inc in trained["incidents"] for rc in inc["root_causes"]
                for line in rc["evidence"]]
    assert any("past tickets with" in line for line in evidence)


def test_replay_output_ranks_remediations_best_first(trained: dict) -> None:
    by_alert = {a: inc for inc in trained["incidents"] for a in inc["alert_ids"]}
    power, fibre = by_alert["e90-0"], by_alert["e91-0"]
    assert power is not fibre
    for incident, word in ((power, "PSU"), (fibre, "fibre")):
        remediations = incident["remediations"]
        assert remediations, incident
        assert word in remediations[0]["action"]
        assert set(remediations[0]) >= {"action", "score", "ticket_ids"}
        assert all(t.startswith("INC") for t in remediations[0]["ticket_ids"])
        scores = [r["score"] for r in remediations]
        assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1


def test_api_and_view_show_remediations(trained: dict, tmp_path: Path) -> None:
    runtime = open_runtime(DataDir.from_env(trained["data"]))
    try:
        client = create_app(runtime=runtime).test_client()
        incident_id = next(inc["id"] for inc in trained["incidents"]
                           if "e90-0" in inc["alert_ids"])
        detail = client.get(f"/api/v1/incidents/{incident_id}").get_json()
        assert "PSU" in detail["remediations"][0]["action"] and detail["tickets"] == []
        page = client.get(f"/incidents/{incident_id}").get_data(as_text=True)
        assert "Recommended remediations" in page and "PSU" in page
    finally:
        runtime.close()


def test_tickets_import_links_to_replayed_incidents(trained: dict, tmp_path: Path) -> None:
    # On a copy: the module's data dir is shared, and a ticket imported into it showed
    # in test_api_and_view_show_remediations' incident whenever that ran after this.
    data, tmp = tmp_path / "data", tmp_path
    shutil.copytree(trained["data"], data)
    later = T0 + 30 * 7200
    write_lines(tmp / "new.jsonl", [{"id": "NEW1", "opened_at": later + 120,
                                     "title": "Power failure at ne-05", "entity": "ne-05",
                                     "resolution": "Replaced the failed PSU"}])
    r = aiops(data, "tickets", "import", str(tmp / "new.jsonl"))
    assert r.returncode == 0, r.stderr
    assert "imported 1 tickets" in r.stdout and "1 links to incidents" in r.stdout
    r = aiops(data, "tickets", "export", "--output", str(tmp / "export.jsonl"))
    assert r.returncode == 0 and "wrote 1 tickets" in r.stdout
    assert json.loads((tmp / "export.jsonl").read_text())["id"] == "NEW1"
    bad = write_lines(tmp / "bad.jsonl", [{"id": "X", "title": "no opened_at"}])
    r = aiops(data, "tickets", "import", str(bad))
    assert r.returncode == 2 and "bad.jsonl:1: field 'opened_at' is required" in r.stderr


def _loo_history() -> list[RemediationCase]:
    """60 tickets of 3 root types × 2 roles; each class mostly takes one action."""
    import random

    rng = random.Random(7)
    actions = ["Replaced the failed PSU", "Cleaned the fibre connectors",
               "Rolled back the configuration", "Rebooted the router"]
    types = ["POWER_FAIL", "LOS", "BGP_DOWN"]
    out = []
    for i in range(60):
        root, role = rng.choice(types), rng.choice(["core", "access"])
        favourite = actions[(types.index(root) + (role == "access")) % 4]
        action = favourite if rng.random() < 0.6 else rng.choice(actions)
        others = rng.sample(types, rng.randint(0, 2))
        out.append(RemediationCase(
            f"T{i}", action, rng.random() > 0.1, symptoms=f"{root.lower()} at {role} site",
            alert_texts=[f"{t.lower()}: on device" for t in [root, *others]],
            alert_types=sorted({root, *others}), root_type=root, entity_role=role,
            entity_kind="router"))
    return out


def test_the_vote_mix_and_kernel_scale_are_chosen_by_leave_one_out() -> None:
    """The vectorised leave-one-out equals refitting without each ticket, and the
    chosen values are stored with the model."""
    from dataclasses import replace

    from aiops.learning import remediation

    embedder = TemplateEmbedder()
    cases = _loo_history()
    model = RemediationModel(RemediationParams(learn_vote=True)).fit(cases, embedder)
    assert model.loo_["tickets"] == sum(c.worked for c in model.cases_)
    chosen = (model.params.class_mix, model.params.kernel_scale)
    assert chosen == (model.loo_["class_mix"], model.loo_["kernel_scale"])
    assert model.params.class_mix in remediation.LOO_MIXES
    # Brute force: the same grouping, each labelled ticket left out of a refitted model.
    mrr = {}
    for mix, scale in [(0.0, 1.0), chosen, (1.0, 2.0)]:
        reciprocal = []
        for i, held in enumerate(model.cases_):
            if not held.worked:
                continue
            other = RemediationModel(replace(model.params, class_mix=mix, kernel_scale=scale,
                                             learn_vote=False))
            other.cases_ = model.cases_[:i] + model.cases_[i + 1:]
            other.case_action_ = model.case_action_[:i] + model.case_action_[i + 1:]
            other.actions_ = model.actions_
            query = RemediationQuery(held.alert_texts, held.alert_types, held.root_type,
                                     held.root_types, None, held.entity_kind, held.entity_role)
            score, _ = other._scores(query, embedder)
            truth = model.case_action_[i]
            reciprocal.append(1.0 / (1 + int((score > score[truth]).sum())))
        mrr[(mix, scale)] = sum(reciprocal) / len(reciprocal)
    grid = {(m, k): v for m, k, v in model.loo_["grid"]}
    assert all(abs(grid[key] - value) < 1e-4 for key, value in mrr.items())
    assert grid[chosen] == model.loo_["mrr"] == max(grid.values())
    again = RemediationModel.from_dict(json.loads(json.dumps(model.to_dict())))
    assert (again.params.class_mix, again.params.kernel_scale) == chosen
    assert again.loo_ == model.loo_
    # Few tickets: the defaults stay.
    few = RemediationModel(RemediationParams(learn_vote=True)).fit(cases[:20], embedder)
    assert few.loo_ == {} and few.params == RemediationParams(learn_vote=True)
    assert RemediationModel().fit(cases, embedder).loo_ == {}  # off by default


@pytest.mark.parametrize("name", ["class_alpha", "type_beta"])
def test_a_zero_pseudo_count_is_refused_by_name(name: str) -> None:
    # Found by review: 0 divided 0 by 0 for a class with no fixes and every score was NaN.
    with pytest.raises(ValueError, match=name):
        RemediationParams(**{name: 0.0})
