"""A policy that asks an operator first (``auto.approval``): the run waits
``needs-approval`` and runs nothing until an operator says yes (then it calls the real
endpoint) or no (nothing runs), or until its time is up (rejected); it holds the
playbook on the incident meanwhile; two decisions at once cannot both win; the CLI
and the incident view (in Chromium) decide too."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from aiops.api import create_app
from aiops.errors import Conflict, InputError
from aiops.playbooks import runs
from aiops.playbooks.auto import AutoRuns
from aiops.playbooks.request import request_run
from aiops.runtime import Runtime
from aiops.store.tables import playbook_runs
from tests.playbooks.test_auto import NOW, book
from tests.playbooks.test_runs import Receiver, finished, incident, playbook, receiver

__all__ = ["incident", "receiver"]  # fixtures

ASKING = "{min_score: 0.0, after: 60, approval: true, approve_within: 600}"


def waiting_run(runtime: Runtime, receiver: str) -> dict:
    playbook(runtime, "fix-link", book(receiver, ASKING))
    (run,) = AutoRuns(runtime).look(now=NOW)
    assert run["status"] == "needs-approval" and run["requested_by"].startswith("aiops auto")
    assert run["start_by"] == pytest.approx(run["requested_at"] + 600)
    return run


def test_a_run_waits_for_approval_and_runs_when_an_operator_says_yes(
        runtime: Runtime, incident: dict, receiver: str) -> None:
    run = waiting_run(runtime, receiver)
    time.sleep(0.3)
    assert Receiver.seen == []  # nothing ran while it waited
    assert AutoRuns(runtime).look(now=NOW + 60) == []  # and it is not asked for twice
    client = create_app(runtime=runtime).test_client()
    answer = client.post(f"/api/v1/playbook-runs/{run['id']}/approve",
                         json={"by": "ana", "comment": "go"})
    assert answer.status_code == 202, answer.get_json()
    assert answer.get_json()["run"]["status"] == "queued"
    done = finished(client, run["id"])
    assert done["status"] == "succeeded" and done["decided_by"] == "ana"
    assert done["decision_note"] == "go" and done["decided_at"].endswith("Z")
    assert [s["path"] for s in Receiver.seen] == [f"/change/{incident['id']}"]
    again = client.post(f"/api/v1/playbook-runs/{run['id']}/approve", json={})
    assert again.status_code == 409
    assert "is succeeded, not waiting for approval" in again.get_json()["error"]["message"]


def test_a_rejected_run_runs_nothing_and_records_why(
        runtime: Runtime, incident: dict, receiver: str) -> None:
    run = waiting_run(runtime, receiver)
    client = create_app(runtime=runtime).test_client()
    answer = client.post(f"/api/v1/playbook-runs/{run['id']}/reject",
                         json={"by": "ana", "comment": "change freeze"})
    assert answer.status_code == 200
    rejected = answer.get_json()["run"]
    assert rejected["status"] == "rejected" and rejected["error"] == "rejected by ana: " \
                                                                      "change freeze"
    assert {s["status"] for s in rejected["steps"]} == {"not run"}
    time.sleep(0.3)
    assert Receiver.seen == []
    assert AutoRuns(runtime).look(now=NOW + 60) == []  # a no is not asked again


def test_a_run_nobody_approves_in_time_is_rejected(
        runtime: Runtime, incident: dict, receiver: str) -> None:
    run = waiting_run(runtime, receiver)
    later = run["start_by"] + 1
    assert runs.expire_stale(runtime.db, runtime.data_dir.playbook, now=later) == 1
    with runtime.db.connect() as conn:
        stored = runs.get_run(conn, run["id"])
    assert stored["status"] == "rejected"
    assert stored["error"].startswith("not approved: no operator approved it within 600 s")
    with pytest.raises(Conflict, match="is rejected, not waiting for approval"):
        runs.decide(runtime.db, run["id"], True, "ana", None, runtime.data_dir.playbook)


def test_a_decision_past_the_deadline_finds_it_rejected(
        runtime: Runtime, incident: dict, receiver: str) -> None:
    run = waiting_run(runtime, receiver)
    with pytest.raises(Conflict, match="not approved: no operator approved it"):
        runs.decide(runtime.db, run["id"], True, "ana", None, runtime.data_dir.playbook,
                    now=run["start_by"] + 5)
    assert Receiver.seen == []


def test_a_waiting_run_holds_the_playbook_and_two_decisions_cannot_both_win(
        runtime: Runtime, incident: dict, receiver: str) -> None:
    run = waiting_run(runtime, receiver)
    with pytest.raises(Conflict, match="waits for approval .* approve or reject it"):
        request_run(runtime, incident["id"], "fix-link", "bob")
    # The partial unique index (migration 0017) holds it too, whatever the checks.
    with pytest.raises(sa.exc.IntegrityError), runtime.db.begin() as conn:
        conn.execute(playbook_runs.insert().values(
            incident_id=incident["id"], playbook="fix-link", status="queued", dry_run=False,
            requested_at=time.time(), reasons=[], steps=[], forced=False))
    first = runs.decide(runtime.db, run["id"], False, "ana", None, runtime.data_dir.playbook)
    assert first["status"] == "rejected"
    with pytest.raises(Conflict, match="is rejected"):
        runs.decide(runtime.db, run["id"], True, "bob", None, runtime.data_dir.playbook)


@pytest.mark.parametrize(("body", "message"), [
    ({"by": 5}, "field 'by' must be a string"),
    ({"comment": "x" * 9000}, "field 'comment' must be at most 8192 characters"),
    ({"who": "ana"}, "who"),
])
def test_a_bad_decision_is_refused_naming_the_field(
        runtime: Runtime, incident: dict, receiver: str, body: dict, message: str) -> None:
    run = waiting_run(runtime, receiver)
    client: FlaskClient = create_app(runtime=runtime).test_client()
    answer = client.post(f"/api/v1/playbook-runs/{run['id']}/approve", json=body)
    assert answer.status_code == 400 and message in answer.get_json()["error"]["message"]
    assert client.post("/api/v1/playbook-runs/999999/approve", json={}).status_code == 404
    with runtime.db.connect() as conn:
        assert runs.get_run(conn, run["id"])["status"] == "needs-approval"


@pytest.mark.parametrize(("auto", "error"), [
    ("{approval: sometimes}", "auto.approval must be true or false"),
    ("{approval: true, approve_within: 10}", "auto.approve_within must be a number in [60, "),
    ("{approve_within: 600}", "auto.approve_within is only read with approval: true"),
])
def test_a_bad_approval_policy_is_refused(tmp_path: Path, auto: str, error: str) -> None:
    import yaml

    from aiops.playbooks.definition import parse_playbook

    with pytest.raises(InputError, match=error.replace("[", r"\[")):
        parse_playbook(yaml.safe_load(book("http://127.0.0.1:1", auto)), tmp_path / "f.yml")


def test_the_cli_approves_and_runs_it_in_the_foreground(
        runtime: Runtime, incident: dict, receiver: str) -> None:
    run = waiting_run(runtime, receiver)
    done = subprocess.run([sys.executable, "-m", "aiops", "--data-dir",
                           str(runtime.data_dir.path), "playbooks", "approve", str(run["id"]),
                           "--by", "ana"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "AIOPS_TEXT_SIMILARITY": "off"})
    assert done.returncode == 0, done.stderr
    assert f"run {run['id']}: fix-link on {incident['id']}: succeeded" in done.stdout
    assert len(Receiver.seen) == 1
    again = subprocess.run([sys.executable, "-m", "aiops", "--data-dir",
                            str(runtime.data_dir.path), "playbooks", "reject", str(run["id"])],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "AIOPS_TEXT_SIMILARITY": "off"})
    assert again.returncode == 2 and "is succeeded, not waiting for approval" in again.stderr


def test_migration_0017_keeps_runs_and_rebuilds_the_in_flight_index(tmp_path: Path) -> None:
    from alembic import command

    from aiops.store.db import alembic_config, create_db_engine, open_database

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = create_db_engine(url)
    command.upgrade(alembic_config(old), "0016")
    with old.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO playbook_runs (incident_id, playbook, status, dry_run, requested_at, "
            "reasons, steps, forced, revision) VALUES ('inc-1', 'p', 'queued', 0, 1.0, '[]', "
            "'[]', 0, 0)"))
    old.dispose()
    engine = open_database(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.select(playbook_runs)).one()
        assert (row.status, row.decided_by) == ("queued", None)
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as conn:
            conn.execute(playbook_runs.insert().values(
                incident_id="inc-1", playbook="p", status="needs-approval", dry_run=False,
                requested_at=2.0, reasons=[], steps=[], forced=False))
    finally:
        engine.dispose()
