"""Playbooks run unasked by their ``auto`` policy: once per incident, only when every
condition holds, within the hourly budget, never over an operator's run in flight; and
``aiops serve`` as a process runs one against a real HTTP endpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from aiops.api import create_app
from aiops.errors import InputError
from aiops.playbooks.auto import KEY, AutoRuns, requester
from aiops.playbooks.definition import parse_playbook
from aiops.playbooks.request import load, request_run
from aiops.runtime import Runtime
from aiops.store.tables import alerts, incidents
from tests.conftest import free_port
from tests.playbooks.test_runs import T0, Receiver, finished, incident, playbook, receiver
from tests.polling import wait_for

__all__ = ["incident", "receiver"]  # fixtures

NOW = T0 + 600


def book(url: str, auto: str, match: str = "{alert_types: [LINK_DOWN]}") -> str:
    return f"""
description: open a change for a link down
match: {match}
auto: {auto}
steps:
  - name: open a change
    http: {{url: "{url}/change/{{incident.id}}", json: {{device: "{{root.entity}}"}}}}
"""


def test_a_fitting_incident_runs_once_and_an_unfit_one_never(
        runtime: Runtime, incident: dict, receiver: str) -> None:
    playbook(runtime, "fix-link", book(receiver, "{min_score: 0.0, after: 60}"))
    playbook(runtime, "fix-bgp", book(receiver, "{min_score: 0.0, after: 60}",
                                      match="{alert_types: [BGP_DOWN]}"))
    auto = AutoRuns(runtime)
    assert auto.look(now=T0 + 30) == []  # the incident is 30 s old: it may still grow
    (run,) = auto.look(now=NOW)
    assert run["playbook"] == "fix-link" and run["idempotency_key"] == KEY
    assert run["requested_by"] == "aiops auto-run (fix-link.yml)"
    client = create_app(runtime=runtime).test_client()
    assert finished(client, run["id"])["status"] == "succeeded"
    assert [s["path"] for s in Receiver.seen] == [f"/change/{incident['id']}"]
    assert auto.look(now=NOW + 60) == []  # once per incident, failed or not
    assert AutoRuns(runtime).look(now=NOW + 120) == []  # another process: the same
    assert len(Receiver.seen) == 1


@pytest.mark.parametrize("auto", ["{min_score: 5.0, after: 0}", "{min_score: 0, min_alerts: 3}",
                                  "{min_score: 0, severities: [critical]}",
                                  "{min_score: 0, after: 3600}"])
def test_a_condition_that_does_not_hold_runs_nothing(
        runtime: Runtime, incident: dict, receiver: str, auto: str) -> None:
    """Score 5 (its top cause has 0.77), 3 alerts (it has 2: r1's two events are one
    alert), critical (it is major), an hour old (it is 10 minutes)."""
    playbook(runtime, "fix-link", book(receiver, auto))
    assert AutoRuns(runtime).look(now=NOW) == []


def test_the_hourly_budget_and_an_operators_run_in_flight_hold_it_back(
        runtime: Runtime, incident: dict, receiver: str) -> None:
    client = create_app(runtime=runtime).test_client()
    later = [{"id": f"b{i}", "source": "nms", "name": "LINK_DOWN", "entity": "r1",
              "severity": "major", "summary": "down", "labels": {"port": str(i)},
              "starts_at": T0 + 5000 + i} for i in range(3)]
    assert client.post("/api/v1/alerts", json=later).status_code == 200
    ids = [i["id"] for i in client.get("/api/v1/incidents").get_json()["incidents"]]
    assert len(ids) == 2
    playbook(runtime, "fix-link", book(receiver, "{min_score: 0, dry_run: true, max_per_hour: 1}"))
    (first,) = AutoRuns(runtime).look(now=T0 + 5600)
    assert first["status"] == "dry-run" and Receiver.seen == []  # recorded, nothing sent
    assert AutoRuns(runtime).look(now=T0 + 5700) == []  # the hour's one run is taken
    with runtime.db.begin() as conn:  # an hour passes on this host's clock
        conn.exec_driver_sql("UPDATE playbook_runs SET requested_at = requested_at - 3601")
    (second,) = AutoRuns(runtime).look(now=T0 + 5800)
    assert {first["incident_id"], second["incident_id"]} == set(ids)
    # A real policy waits while an operator's run of the playbook is in flight.
    playbook(runtime, "fix-link", book(receiver, "{min_score: 0}"))
    with runtime.db.begin() as conn:
        conn.exec_driver_sql("DELETE FROM playbook_runs")
    queued = request_run(runtime, incident["id"], "fix-link", "ana")  # not dispatched
    assert queued["status"] == "queued"
    started = AutoRuns(runtime).look(now=T0 + 5800)
    assert [r["incident_id"] for r in started] == [i for i in ids if i != incident["id"]]


@pytest.mark.parametrize(("auto", "error"), [
    ("{min_score: -1}", "auto.min_score must be a number in [0, 1000], got -1"),
    ("{min_alerts: 1.5}", "auto.min_alerts must be a whole number"),
    ("{after: -1}", "auto.after must be a number in [0, 86400]"),
    ("{max_per_hour: 0}", "auto.max_per_hour must be a whole number in [1, 1000]"),
    ("{severities: [urgent]}", "'urgent' is not one of critical"),
    ("{dry_run: maybe}", "auto.dry_run must be true or false"),
    ("{every: 5}", "auto: unknown key 'every'"),
    ("[1]", "'auto' must be a mapping of conditions"),
])
def test_a_bad_policy_is_refused_by_file_and_key(tmp_path: Path, auto: str, error: str) -> None:
    import yaml

    doc = yaml.safe_load(book("http://127.0.0.1:1", auto))
    with pytest.raises(InputError) as refused:
        parse_playbook(doc, tmp_path / "fix.yml")
    assert error in str(refused.value) and str(refused.value).startswith("fix.yml: ")


def test_a_policy_without_match_criteria_is_refused_and_true_takes_the_defaults(
        tmp_path: Path) -> None:
    import yaml

    with pytest.raises(InputError, match="'auto' needs 'match' criteria"):
        parse_playbook(yaml.safe_load(book("http://127.0.0.1:1", "true", match="{}")),
                       tmp_path / "any.yml")
    fix = parse_playbook(yaml.safe_load(book("http://127.0.0.1:1", "true")),
                         tmp_path / "fix.yml")
    assert fix.auto is not None and fix.summary()["auto"] == {
        "min_score": 0.7, "min_alerts": 2, "after": 120.0, "max_per_hour": 5,
        "severities": [], "dry_run": False, "approval": False, "approve_within": 3600.0}
    assert requester(fix) == "aiops auto-run (fix.yml)"


def test_aiops_serve_runs_a_policy_against_a_real_endpoint(tmp_path: Path, receiver: str) -> None:
    data = tmp_path / "d"
    (data / "playbooks").mkdir(parents=True)
    (data / "playbooks" / "fix-link.yml").write_text(
        book(receiver, "{min_score: 0, after: 0}"), encoding="utf-8")
    port = free_port()
    env = {**os.environ, "AIOPS_PLAYBOOK_AUTO_EVERY": "0.5", "AIOPS_TEXT_SIMILARITY": "off"}
    server = subprocess.Popen([sys.executable, "-m", "aiops", "--data-dir", str(data), "serve",
                               "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}/api/v1"
        wait_for(lambda: _up(url), "aiops serve to answer")
        now = time.time()
        alerts = [{"id": f"a{i}", "source": "nms", "name": "LINK_DOWN", "entity": "r1",
                   "severity": "major", "summary": "down", "labels": {"port": str(i)},
                   "starts_at": now - 10 + i} for i in range(2)]
        assert requests.post(f"{url}/alerts", json=alerts, timeout=30).status_code == 200
        wait_for(lambda: Receiver.seen, "the policy's request")
        (incident,) = requests.get(f"{url}/incidents", timeout=30).json()["incidents"]
        runs = requests.get(f"{url}/playbook-runs", timeout=30).json()["runs"]
        assert [(r["incident_id"], r["requested_by"]) for r in runs] == [
            (incident["id"], "aiops auto-run (fix-link.yml)")]
        assert Receiver.seen[0]["path"] == f"/change/{incident['id']}"
        assert json.dumps(Receiver.seen[0]["json"]) == json.dumps({"device": "r1"})
    finally:
        server.terminate()
        server.wait(timeout=30)


def _up(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=2).status_code == 200
    except requests.ConnectionError:
        return False


def test_a_playbook_edited_to_match_runs_on_an_incident_it_did_not_fit(
        runtime: Runtime, incident: dict, receiver: str) -> None:
    """The memory of incidents that did not fit is of the criteria too: the operator
    who fixes the playbook's match needs no restart (nor a new alert on the incident)."""
    playbook(runtime, "fix-link", book(receiver, "{min_score: 0.0, after: 60}",
                                       match="{alert_types: [BGP_DOWN]}"))
    auto = AutoRuns(runtime)
    assert auto.look(now=NOW) == []
    playbook(runtime, "fix-link", book(receiver, "{min_score: 0.0, after: 60}"))
    (run,) = auto.look(now=NOW + 60)
    assert run["playbook"] == "fix-link" and run["incident_id"] == incident["id"]


def test_an_incident_resolved_during_the_look_gets_no_run(
        runtime: Runtime, incident: dict, receiver: str) -> None:
    """The look reads the open incidents first and matches them one by one after: one
    the engine resolves in between must not get a remediation."""
    playbook(runtime, "fix-link", book(receiver, "{min_score: 0.0, after: 60}"))
    auto = AutoRuns(runtime)
    policies = [b for b in load(runtime)[0].values() if b.auto is not None]
    (row,) = auto._open_incidents(NOW, policies)
    with runtime.db.begin() as conn:  # as the engine does when the alerts clear
        conn.execute(sa.update(incidents).where(incidents.c.id == incident["id"])
                     .values(status="resolved"))
    assert auto._consider(row, policies[0], NOW) is None
    assert auto.look(now=NOW) == []


def test_an_alert_arriving_late_makes_an_unfit_incident_fit(
        runtime: Runtime, incident: dict, receiver: str) -> None:
    """An alert that started before the incident's latest one (a forwarder's backlog, a
    slow poller) joins it without moving ``updated_at``: it must still be matched."""
    playbook(runtime, "fix-bgp", book(receiver, "{min_score: 0.0, after: 60}",
                                      match="{alert_types: [BGP_DOWN]}"))
    auto = AutoRuns(runtime)
    assert auto.look(now=NOW) == []
    client = create_app(runtime=runtime).test_client()
    late = {"id": "late", "source": "nms", "name": "BGP_DOWN", "entity": "r1",
            "severity": "major", "summary": "bgp down", "starts_at": T0 + 1}
    assert client.post("/api/v1/alerts", json=[late]).status_code == 200
    (found,) = client.get("/api/v1/incidents").get_json()["incidents"]
    assert found["id"] == incident["id"] and found["updated_at"] == incident["updated_at"]
    (run,) = auto.look(now=NOW + 60)
    assert run["playbook"] == "fix-bgp" and run["incident_id"] == incident["id"]


def test_an_incident_that_absorbed_one_already_run_on_is_not_run_on_again(
        runtime: Runtime, incident: dict, receiver: str) -> None:
    """The engine folds an incident into another when an alert shows they are one
    fault: the automatic run on the first is that fault's run, not to be repeated on
    the incident that absorbed it (the state below is what the engine records)."""
    playbook(runtime, "fix-link", book(receiver, "{min_score: 0.0, after: 60}"))
    auto = AutoRuns(runtime)
    (first,) = auto.look(now=NOW)
    assert first["incident_id"] == incident["id"]
    with runtime.db.begin() as conn:
        row = conn.execute(sa.select(incidents).where(incidents.c.id == incident["id"])
                           ).mappings().one()
        seq = conn.execute(sa.select(sa.func.max(incidents.c.seq))).scalar_one() + 1
        conn.execute(sa.insert(incidents).values(
            {**row, "id": "absorber", "seq": seq, "updated_at": row["updated_at"] + 1}))
        conn.execute(sa.update(alerts).where(alerts.c.incident_id == incident["id"])
                     .values(incident_id="absorber"))
        conn.execute(sa.update(incidents).where(incidents.c.id == incident["id"])
                     .values(status="merged", merged_into="absorber"))
    assert auto.look(now=NOW + 60) == []
    assert AutoRuns(runtime).look(now=NOW + 120) == []  # another process: the same


def test_an_incident_the_look_cannot_read_does_not_stop_the_others(
        runtime: Runtime, incident: dict, receiver: str) -> None:
    """Looked at first (the latest changed), an incident whose root causes are not what
    this version writes fails alone: the fitting incident after it still runs."""
    playbook(runtime, "fix-link", book(receiver, "{min_score: 0.0, after: 60}"))
    with runtime.db.begin() as conn:
        row = conn.execute(sa.select(incidents).where(incidents.c.id == incident["id"])
                           ).mappings().one()
        seq = conn.execute(sa.select(sa.func.max(incidents.c.seq))).scalar_one() + 1
        conn.execute(sa.insert(incidents).values(
            {**row, "id": "odd", "seq": seq, "updated_at": row["updated_at"] + 1,
             "root_causes": ["r1"]}))
    (run,) = AutoRuns(runtime).look(now=NOW)
    assert run["incident_id"] == incident["id"]


def test_a_serving_process_runs_policies_only_on_incidents_it_saw_change(
        runtime: Runtime, incident: dict, receiver: str) -> None:
    """The fixture's incident was stored before the server's tracker existed, as an
    `aiops replay` by another process into the same database would store it: no run.
    Once this engine changes it, it is the server's, and the policy runs."""
    from aiops.playbooks.auto import LiveIncidents

    playbook(runtime, "fix-link", book(receiver, "{min_score: 0.0, after: 60}"))
    live = LiveIncidents()
    runtime.engine.sinks.append(live)
    assert AutoRuns(runtime, live).look(now=NOW) == []
    client = create_app(runtime=runtime).test_client()
    more = {"id": "a9", "source": "nms", "name": "LINK_DOWN", "entity": "r2",
            "severity": "major", "summary": "down", "labels": {"port": "9"},
            "starts_at": T0 + 20}
    assert client.post("/api/v1/alerts", json=[more]).status_code == 200
    assert incident["id"] in live
    (run,) = AutoRuns(runtime, live).look(now=NOW)
    assert run["incident_id"] == incident["id"]
    small = LiveIncidents(limit=2)
    small.publish([type("I", (), {"id": f"inc-{i}"})() for i in range(5)], ())
    assert small.snapshot() == ["inc-3", "inc-4"]


def test_a_playbook_an_operator_already_ran_on_the_incident_is_not_run_again(
        runtime: Runtime, incident: dict, receiver: str) -> None:
    """An operator's real run of the playbook on the incident (or on one it absorbed)
    is the fault's run: once it has finished, the policy must not send the same
    change again. An operator's dry run ran nothing and holds nothing back."""
    playbook(runtime, "fix-link", book(receiver, "{min_score: 0.0, after: 60}"))
    client = create_app(runtime=runtime).test_client()
    tried = request_run(runtime, incident["id"], "fix-link", "ana", dry_run=True)
    assert tried["status"] == "dry-run"
    response = client.post(f"/api/v1/incidents/{incident['id']}/playbooks/fix-link/runs",
                           json={"requested_by": "ana"})
    assert response.status_code == 202, response.get_json()
    assert finished(client, response.get_json()["run"]["id"])["status"] == "succeeded"
    assert len(Receiver.seen) == 1
    assert AutoRuns(runtime).look(now=NOW) == []
    time.sleep(0.3)
    assert len(Receiver.seen) == 1, "the policy sent the operator's change again"
