"""Asking twice for a playbook run: a retry with the same idempotency key returns the
run it made, and a second request while a run of the same playbook on the same
incident is queued or running is refused (409, naming the run) unless forced; on
SQLite and PostgreSQL, and with the requests racing each other."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from aiops.config import DataDir
from aiops.errors import Conflict
from aiops.playbooks import runs
from aiops.playbooks.request import request_run, submit_run
from aiops.runtime import Runtime, open_runtime
from aiops.store.tables import playbook_runs
from tests.playbooks import test_cli, test_runs
from tests.playbooks.test_cli import aiops
from tests.playbooks.test_runs import Receiver, finished, one_incident, playbook

# The fixtures of the API and CLI tests, shared.
client, incident, receiver = test_runs.client, test_runs.incident, test_runs.receiver
data_dir = test_cli.data_dir

SLOW = "import time; time.sleep(1.5)"


def post(client: FlaskClient, incident_id: str, name: str, body: dict | None = None,
         key: str | None = None):
    headers = {"Idempotency-Key": key} if key is not None else {}
    return client.post(f"/api/v1/incidents/{incident_id}/playbooks/{name}/runs",
                       json=body or {}, headers=headers)


def all_runs(client: FlaskClient) -> list[dict]:
    return client.get("/api/v1/playbook-runs").get_json()["runs"]


def test_a_retry_with_the_same_key_returns_the_run_and_calls_the_endpoint_once(
        client: FlaskClient, runtime: Runtime, incident: dict, receiver: str) -> None:
    """A client that timed out and asked again (the header), or a script that sends
    the key in the body: one run, one call to the endpoint."""
    playbook(runtime, "call", f"steps: [{{http: {{url: '{receiver}/once'}}}}]")
    first = post(client, incident["id"], "call", key="k-1")
    assert first.status_code == 202 and first.get_json()["replayed"] is False
    run_id = first.get_json()["run"]["id"]
    assert first.get_json()["run"]["idempotency_key"] == "k-1"
    finished(client, run_id)
    again = post(client, incident["id"], "call", key="k-1")
    assert again.status_code == 200, again.get_json()
    assert again.get_json()["replayed"] is True and again.get_json()["dispatched"] is None
    assert again.get_json()["run"]["id"] == run_id
    assert again.get_json()["run"]["status"] == "succeeded"  # as it is now
    body = post(client, incident["id"], "call", {"idempotency_key": "k-1"})
    assert body.status_code == 200 and body.get_json()["run"]["id"] == run_id
    time.sleep(0.2)
    assert len(Receiver.seen) == 1 and [r["id"] for r in all_runs(client)] == [run_id]
    # Another key is another request: the run before has ended, so it runs.
    other = post(client, incident["id"], "call", key="k-2")
    assert other.status_code == 202 and other.get_json()["run"]["id"] != run_id


def test_a_second_request_while_a_run_is_in_flight_is_refused_unless_forced(
        client: FlaskClient, runtime: Runtime, incident: dict, tmp_path: Path) -> None:
    """A double click: the second request is a 409 naming the run under way and
    records nothing; ``force`` runs it anyway; once the run ended, a new one runs."""
    playbook(runtime, "slow", f'steps: [{{command: [{sys.executable}, -c, "{SLOW}"]}}]')
    first = post(client, incident["id"], "slow", {"requested_by": "ana"})
    assert first.status_code == 202
    run_id = first.get_json()["run"]["id"]
    second = post(client, incident["id"], "slow", {"requested_by": "bo"})
    assert second.status_code == 409, second.get_json()
    error = second.get_json()["error"]
    assert error["run_id"] == run_id
    assert ("playbook 'slow' is already " in error["message"]
            and f"on incident '{incident['id']}': run {run_id}, asked for by ana"
            in error["message"] and "force" in error["message"])
    assert [r["id"] for r in all_runs(client)] == [run_id]
    # A dry run records the steps only: never refused.
    assert post(client, incident["id"], "slow", {"dry_run": True}).status_code == 201
    forced = post(client, incident["id"], "slow", {"force": True})
    assert forced.status_code == 202 and forced.get_json()["run"]["forced"] is True
    finished(client, run_id)
    finished(client, forced.get_json()["run"]["id"])
    assert post(client, incident["id"], "slow").status_code == 202


def test_a_run_nothing_will_finish_does_not_block_the_next_request(
        runtime: Runtime, incident: dict) -> None:
    """A queued run past its ``start_by`` (no worker took it) is given up first."""
    playbook(runtime, "any", "steps: [{command: ['true']}]")
    stuck = request_run(runtime, incident["id"], "any")
    with pytest.raises(Conflict, match=f"run {stuck['id']}"):
        request_run(runtime, incident["id"], "any")
    with runtime.db.begin() as conn:
        conn.execute(sa.update(playbook_runs).where(playbook_runs.c.id == stuck["id"])
                     .values(start_by=time.time() - 1))
    record, created = submit_run(runtime, incident["id"], "any")
    assert created and record["id"] != stuck["id"]
    with runtime.db.connect() as conn:
        assert runs.get_run(conn, stuck["id"])["status"] == "failed"


@pytest.mark.parametrize(("body", "key", "message"), [
    ({"idempotency_key": 7}, None, "'idempotency_key' must be a string"),
    ({"idempotency_key": "x" * 257}, None, "'idempotency_key' must be 1 to 256 characters"),
    ({"idempotency_key": " "}, None, "'idempotency_key' must be 1 to 256 characters"),
    ({}, "k\u00e9" * 200, "'idempotency_key' must be 1 to 256 characters"),
    ({"idempotency_key": "a"}, "b", "the Idempotency-Key header and 'idempotency_key' differ"),
    ({"force": "yes"}, None, "'force' must be true or false"),
])
def test_bad_keys_and_force_values_are_refused_by_name_and_record_nothing(
        client: FlaskClient, runtime: Runtime, incident: dict, body: dict, key: str | None,
        message: str) -> None:
    playbook(runtime, "any", "steps: [{command: ['true']}]")
    r = post(client, incident["id"], "any", body, key=key)
    assert r.status_code == 400, r.get_json()
    assert message in r.get_json()["error"]["message"]
    assert all_runs(client) == []


def test_a_key_used_for_a_dry_run_is_not_taken_for_a_real_run(
        client: FlaskClient, runtime: Runtime, incident: dict) -> None:
    playbook(runtime, "any", "steps: [{command: ['true']}]")
    assert post(client, incident["id"], "any", {"dry_run": True}, key="k").status_code == 201
    r = post(client, incident["id"], "any", key="k")
    assert r.status_code == 400
    assert "idempotency key 'k' was used for run 1, a dry run" in r.get_json()["error"]["message"]


def test_racing_requests_store_one_run_on_sqlite_and_postgresql(
        db_url: str, tmp_path: Path) -> None:
    """Both requests pass the check before either is stored; the unique indexes of
    migration 0013 let one in: the other gets the run (same key) or a Conflict."""
    with one_incident(db_url, tmp_path) as (runtime, incident_id):
        playbook(runtime, "any", "steps: [{command: ['true']}]")
        for key in ("same", None):
            gate = threading.Barrier(4)
            answers: list[object] = []

            def ask(key: str | None = key, gate: threading.Barrier = gate,
                    answers: list[object] = answers) -> None:
                gate.wait()
                try:
                    answers.append(submit_run(runtime, incident_id, "any",
                                              idempotency_key=key))
                except Conflict as exc:
                    answers.append(exc)

            threads = [threading.Thread(target=ask) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=60)
            with runtime.db.connect() as conn:
                stored = runs.in_flight_runs(conn, incident_id, "any")
            assert len(answers) == 4 and len(stored) == 1, answers
            made = [a for a in answers if isinstance(a, tuple) and a[1]]
            assert len(made) == 1 and made[0][0]["id"] == stored[0]["id"]
            if key is not None:  # every other request got that same run back
                assert {a[0]["id"] for a in answers} == {stored[0]["id"]}
            else:
                assert sum(isinstance(a, Conflict) for a in answers) == 3
            runs.finish(runtime.db, stored[0]["id"], runs.SUCCEEDED, [])


def test_runs_in_flight_before_migration_0013_count_as_forced(db_url: str) -> None:
    """A database at 0012 may hold two queued runs of one playbook on one incident
    (a double click before this check): the upgrade keeps both and builds the index."""
    from alembic import command

    from aiops.store.db import alembic_config, create_db_engine, open_database

    old = create_db_engine(db_url)
    command.upgrade(alembic_config(old), "0012")
    with old.begin() as conn:
        for _ in range(2):
            conn.execute(sa.text(
                "INSERT INTO playbook_runs (incident_id, playbook, status, dry_run,"
                " requested_at, start_by, reasons, steps) VALUES ('INC-1', 'p', 'queued',"
                " false, 1.0, 9e9, '[]', '[]')"))
    old.dispose()
    db = open_database(db_url)
    try:
        with db.connect() as conn:
            stored = runs.in_flight_runs(conn, "INC-1", "p")
        assert [r["forced"] for r in stored] == [True, True]
        assert [r["idempotency_key"] for r in stored] == [None, None]
    finally:
        db.dispose()


def test_the_cli_runs_once_per_key_and_refuses_a_second_run_while_one_is_queued(
        data_dir: tuple[Path, str], tmp_path: Path) -> None:
    path, incident_id = data_dir
    out = tmp_path / "count.txt"
    count = "import sys; open(sys.argv[1], 'a').write('x')"
    (path / "playbooks" / "act.yml").write_text(
        f'steps: [{{command: [{sys.executable}, -c, "{count}", "{out}"]}}]')
    r = aiops(path, "playbooks", "run", incident_id, "act", "--idempotency-key", "c1")
    assert r.returncode == 0, r.stderr
    r = aiops(path, "playbooks", "run", incident_id, "act", "--idempotency-key", "c1")
    assert r.returncode == 0, r.stderr
    assert "was already asked for with this key; not run again" in r.stderr
    assert ": succeeded" in r.stdout and out.read_text() == "x"
    # A run queued for a worker that has not started it: a second one is refused.
    (path / "playbooks" / "act.yml").write_text("steps: [{command: ['true']}]")
    runtime = open_runtime(DataDir(path=path))
    try:
        queued = request_run(runtime, incident_id, "act")
    finally:
        runtime.close()
    r = aiops(path, "playbooks", "run", incident_id, "act")
    assert r.returncode == 2 and f"is already queued on incident '{incident_id}': run " \
        f"{queued['id']}" in r.stderr
    r = aiops(path, "playbooks", "run", incident_id, "act", "--force")
    assert r.returncode == 0, r.stderr
    listed = json.loads(aiops(path, "playbooks", "runs", "--json").stdout)["runs"]
    assert [x["status"] for x in listed] == ["succeeded", "queued", "succeeded"]
