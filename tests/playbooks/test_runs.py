"""Playbook runs through the API: a real HTTP endpoint and a real command, failures
that stop a run, dry runs, and every kind of bad request."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from aiops.api import create_app
from aiops.config import PlaybookSettings
from aiops.playbooks.execute import execute_run
from aiops.runtime import Runtime
from tests.http_server import serving
from tests.ports import free_port
from topology.model import Edge, Node

T0 = 1_800_000_000
WRITE = "import sys; open(sys.argv[1], 'w').write(sys.argv[2])"


class Receiver(BaseHTTPRequestHandler):
    """Records every request; answers with the status the path asks for (/status/500)."""

    seen: list[dict] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        Receiver.seen.append({"method": self.command, "path": self.path,
                              "auth": self.headers.get("Authorization"),
                              "json": json.loads(body) if body else None})
        status = int(self.path.split("/status/")[1]) if "/status/" in self.path else 201
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"change": "CHG0042"}')

    do_POST = do_PUT = do_GET = _answer

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.seen = []
    with serving(Receiver) as url:
        yield url


def playbook(runtime: Runtime, name: str, text: str) -> None:
    folder = runtime.data_dir.path / "playbooks"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.yml").write_text(text, encoding="utf-8")


@pytest.fixture
def incident(runtime: Runtime) -> dict:
    runtime.import_topology([Node("r1", "device", "r1"), Node("r2", "device", "r2")],
                            [Edge("r1", "r2")], "test")
    alerts = [{"id": f"a{i}", "source": "nms", "name": "LINK_DOWN", "entity": e,
               "severity": "major", "summary": "down", "starts_at": T0 + i}
              for i, e in enumerate(["r1", "r2", "r1"])]
    client = create_app(runtime=runtime).test_client()
    assert client.post("/api/v1/alerts", json=alerts).status_code == 200
    (found,) = client.get("/api/v1/incidents").get_json()["incidents"]
    return found


@pytest.fixture
def client(runtime: Runtime, incident: dict) -> FlaskClient:
    return create_app(runtime=runtime).test_client()


def finished(client: FlaskClient, run_id: int, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = client.get(f"/api/v1/playbook-runs/{run_id}").get_json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish: {run}")


def test_a_run_calls_the_endpoint_and_runs_the_command_with_the_incident_filled_in(
        client: FlaskClient, runtime: Runtime, incident: dict, receiver: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ITSM_TOKEN", "s3cret")
    out = tmp_path / "ran.txt"
    playbook(runtime, "fix-link", f"""
description: open a change, then act on the device
match: {{alert_types: [LINK_DOWN]}}
steps:
  - name: open a change
    http:
      url: {receiver}/api/change/{{incident.id}}
      headers: {{Authorization: "Bearer ${{ITSM_TOKEN}}"}}
      json: {{device: "{{root.entity}}", title: "{{incident.title}}"}}
  - name: act
    command: [{sys.executable}, -c, "{WRITE}", "{out}", "{{root.entity}}"]
""")
    listing = client.get(f"/api/v1/incidents/{incident['id']}/playbooks").get_json()
    (fits,) = listing["playbooks"]
    assert fits["name"] == "fix-link" and fits["reasons"] == ["the incident has LINK_DOWN alerts"]
    r = client.post(f"/api/v1/incidents/{incident['id']}/playbooks/fix-link/runs",
                    json={"requested_by": "ana"})
    assert r.status_code == 202 and r.get_json()["dispatched"] == "thread"
    run = finished(client, r.get_json()["run"]["id"])
    root = incident["root_causes"][0]["entity"]
    assert run["status"] == "succeeded" and run["error"] is None and run["requested_by"] == "ana"
    assert [s["status"] for s in run["steps"]] == ["succeeded", "succeeded"]
    assert run["steps"][0]["detail"].startswith("HTTP 201")
    assert Receiver.seen == [{"method": "POST", "path": f"/api/change/{incident['id']}",
                              "auth": "Bearer s3cret",
                              "json": {"device": root, "title": incident["title"]}}]
    assert out.read_text() == root
    # The secret stays out of the record: it holds the ${NAME}, not its value.
    assert run["steps"][0]["request"]["headers"] == {"Authorization": "Bearer ${ITSM_TOKEN}"}
    assert "s3cret" not in json.dumps(run)
    history = client.get(f"/api/v1/playbook-runs?incident_id={incident['id']}").get_json()
    assert [h["id"] for h in history["runs"]] == [run["id"]]


def test_a_step_that_fails_stops_the_run_and_later_steps_are_skipped(
        client: FlaskClient, runtime: Runtime, incident: dict, receiver: str,
        tmp_path: Path) -> None:
    out = tmp_path / "must-not-exist.txt"
    playbook(runtime, "gone", f"""
steps:
  - name: a server that is not there
    http: {{url: "http://127.0.0.1:{free_port()}/x"}}
  - command: [{sys.executable}, -c, "{WRITE}", "{out}", x]
""")
    playbook(runtime, "refused", f"""
steps:
  - name: answers 500
    http: {{url: "{receiver}/status/500"}}
    continue_on_error: true
  - name: no such program
    command: [/nonexistent/bin/fix]
  - command: [{sys.executable}, -c, "{WRITE}", "{out}", x]
""")
    base = f"/api/v1/incidents/{incident['id']}/playbooks"
    run = finished(client, client.post(f"{base}/gone/runs", json={}).get_json()["run"]["id"])
    assert run["status"] == "failed" and run["error"] == "step 'a server that is not there' failed"
    assert [s["status"] for s in run["steps"]] == ["failed", "skipped"]
    assert "ConnectionError" in run["steps"][0]["detail"]
    run = finished(client, client.post(f"{base}/refused/runs", json={}).get_json()["run"]["id"])
    assert [s["status"] for s in run["steps"]] == ["failed", "failed", "skipped"]
    assert run["steps"][0]["detail"].startswith("HTTP 500")
    assert "could not start '/nonexistent/bin/fix'" in run["steps"][1]["detail"]
    assert run["status"] == "failed" and not out.exists()


def test_a_step_past_its_timeout_is_killed(client: FlaskClient, runtime: Runtime,
                                           incident: dict) -> None:
    playbook(runtime, "slow", f"""
steps:
  - command: [{sys.executable}, -c, "import time; time.sleep(30)"]
    timeout: 0.5
""")
    started = time.monotonic()
    r = client.post(f"/api/v1/incidents/{incident['id']}/playbooks/slow/runs", json={})
    run = finished(client, r.get_json()["run"]["id"])
    assert run["steps"][0]["detail"] == "killed after 0.5 s (timeout)"
    assert time.monotonic() - started < 20


def test_a_dry_run_records_the_filled_steps_and_runs_nothing(
        client: FlaskClient, runtime: Runtime, incident: dict, receiver: str) -> None:
    playbook(runtime, "call", f"steps: [{{http: {{url: '{receiver}/c/{{incident.id}}'}}}}]")
    r = client.post(f"/api/v1/incidents/{incident['id']}/playbooks/call/runs",
                    json={"dry_run": True})
    assert r.status_code == 201
    run = r.get_json()["run"]
    assert run["status"] == "dry-run" and run["steps"][0]["status"] == "not run"
    assert run["steps"][0]["request"]["url"] == f"{receiver}/c/{incident['id']}"
    time.sleep(0.2)
    assert Receiver.seen == []


def test_a_run_is_executed_once_even_if_delivered_twice(
        client: FlaskClient, runtime: Runtime, incident: dict, receiver: str) -> None:
    playbook(runtime, "call", f"steps: [{{http: {{url: '{receiver}/once'}}}}]")
    from aiops.playbooks.request import request_run

    record = request_run(runtime, incident["id"], "call")
    first = execute_run(runtime.db, record["id"])
    again = execute_run(runtime.db, record["id"])
    assert first["status"] == again["status"] == "succeeded"
    assert len(Receiver.seen) == 1


@pytest.mark.parametrize(("path", "body", "status", "message"), [
    ("INC-NOPE/playbooks/call/runs", None, 404, "no incident with id 'INC-NOPE'"),
    ("{inc}/playbooks/nope/runs", None, 404, "no playbook named 'nope'"),
    ("{inc}/playbooks/power-only/runs", None, 400,
     "playbook 'power-only' does not match incident"),
    ("{inc}/playbooks/broken/runs", None, 400,
     "playbook 'broken' cannot be used: broken.yml: steps[0]"),
    ("{inc}/playbooks/call/runs", {"dryrun": True}, 400, "unknown field 'dryrun'"),
    ("{inc}/playbooks/call/runs", {"dry_run": "yes"}, 400, "'dry_run' must be true or false"),
    ("{inc}/playbooks/call/runs", {"requested_by": 7}, 400, "'requested_by' must be a string"),
    ("{inc}/playbooks/call/runs", "{not json", 400, "malformed JSON"),
    ("{inc}/playbooks/call/runs", [1], 400, "expected a JSON object"),
    ("{inc}/playbooks/call/runs", "text/plain", 415, "Content-Type: application/json"),
    ("{inc}/playbooks/call/runs", {"requested_by": "x" * 257}, 400, "at most 256 characters"),
    # a NUL was stored by SQLite and refused by PostgreSQL as a 503 "storage unavailable"
    pytest.param("{inc}/playbooks/call/runs", {"requested_by": "ann\u0000"}, 400, "no NUL",
                 id="requested_by-with-NUL"),
])
def test_bad_run_requests_are_refused_by_name_and_record_nothing(
        client: FlaskClient, runtime: Runtime, incident: dict, receiver: str, path: str,
        body: object, status: int, message: str) -> None:
    playbook(runtime, "call", f"steps: [{{http: {{url: '{receiver}/x'}}}}]")
    playbook(runtime, "power-only", "match: {alert_types: [POWER_FAIL]}\n"
                                    "steps: [{command: ['true']}]")
    playbook(runtime, "broken", "steps: [{command: []}]")
    url = "/api/v1/incidents/" + path.format(inc=incident["id"])
    if body == "text/plain":  # what a form or a cross-site fetch without preflight sends
        r = client.post(url, data="", content_type="text/plain")
    elif isinstance(body, str):
        r = client.post(url, data=body, content_type="application/json")
    elif body is None:  # no body at all, but said to be JSON: allowed, as an empty object
        r = client.post(url, headers={"Content-Type": "application/json"})
    else:
        r = client.post(url, json=body)
    assert r.status_code == status, r.get_json()
    assert message in r.get_json()["error"]["message"]
    assert client.get("/api/v1/playbook-runs").get_json()["runs"] == []
    assert Receiver.seen == []


def test_the_listing_shows_refused_files_beside_the_good_ones(
        client: FlaskClient, runtime: Runtime) -> None:
    playbook(runtime, "ok", "steps: [{command: ['true']}]")
    playbook(runtime, "typo", "steps: [{command: ['x', '{root.entty}']}]")
    body = client.get("/api/v1/playbooks").get_json()
    assert [p["name"] for p in body["playbooks"]] == ["ok"]
    assert body["errors"] == ["typo.yml: steps[0].command[1]: unknown placeholder "
                              "'{root.entty}'; known: {incident.id}, {incident.title}, "
                              "{incident.severity}, {root.entity}, {root.node_id}, "
                              "{root.alert_id}, {action}"]
    assert client.get("/api/v1/playbook-runs/999").status_code == 404


def test_a_merged_incident_points_to_the_one_it_was_merged_into(
        client: FlaskClient, runtime: Runtime, incident: dict) -> None:
    other = [{"id": "z1", "source": "nms", "name": "LINK_DOWN", "entity": "r2",
              "severity": "major", "summary": "down", "starts_at": T0 + 3000}]
    client.post("/api/v1/alerts", json=other)
    (second,) = [i for i in client.get("/api/v1/incidents").get_json()["incidents"]
                 if i["id"] != incident["id"]]
    merged = client.post(f"/api/v1/incidents/{incident['id']}/merge",
                         json={"incident_ids": [second["id"]]})
    assert merged.status_code == 200
    playbook(runtime, "any", "steps: [{command: ['true']}]")
    r = client.post(f"/api/v1/incidents/{second['id']}/playbooks/any/runs", json={})
    assert r.status_code == 400
    assert (f"incident '{second['id']}' was merged into '{incident['id']}'; run the playbook "
            "there") in r.get_json()["error"]["message"]


@contextmanager
def one_incident(db_url: str, tmp_path: Path,
                 settings: PlaybookSettings | None = None) -> Iterator[tuple[Runtime, str]]:
    """A runtime on ``db_url`` (SQLite or a real PostgreSQL) holding one incident."""
    from aiops.config import DataDir
    from aiops.models import parse_alert
    from aiops.runtime import open_runtime

    runtime = open_runtime(DataDir(path=tmp_path / "data", database_url=db_url,
                                   playbook=settings or PlaybookSettings()))
    try:
        runtime.import_topology([Node("r1", "device", "r1")], [], "test")
        runtime.engine.ingest([parse_alert({"id": "a1", "source": "nms", "name": "LINK_DOWN",
                                            "entity": "r1", "severity": "major",
                                            "summary": "down", "starts_at": T0})])
        (incident_id,) = runtime.engine.incidents
        yield runtime, incident_id
    finally:
        runtime.close()


def test_runs_are_stored_and_claimed_once_on_sqlite_and_postgresql(
        db_url: str, tmp_path: Path) -> None:
    from aiops.playbooks import runs
    from aiops.playbooks.request import request_run

    with one_incident(db_url, tmp_path) as (runtime, incident_id):
        playbook(runtime, "two", f"""
steps:
  - {{name: nobody there, http: {{url: "http://127.0.0.1:{free_port()}/"}},
     continue_on_error: true}}
  - {{name: ok, command: [{sys.executable}, -c, "print('done {{root.entity}}')"]}}
""")
        record = request_run(runtime, incident_id, "two", "ana")
        assert execute_run(runtime.db, record["id"])["status"] == "succeeded"
        assert not runs.claim(runtime.db, record["id"])  # finished: nobody runs it again
        with runtime.db.connect() as conn:
            (stored,) = runs.list_runs(conn, incident_id)
        assert stored["error"] == "continued past failed steps: nobody there"
        assert [s["status"] for s in stored["steps"]] == ["failed", "succeeded"]
        assert stored["steps"][1]["detail"] == "exit 0: done r1\n"
        assert stored["requested_by"] == "ana" and stored["started_at"] <= stored["finished_at"]


def test_two_workers_delivered_the_same_run_at_once_run_it_once(
        db_url: str, tmp_path: Path, receiver: str) -> None:
    from aiops.playbooks.request import request_run

    with one_incident(db_url, tmp_path) as (runtime, incident_id):
        playbook(runtime, "call", f"steps: [{{http: {{url: '{receiver}/once'}}}}]")
        for _ in range(5):
            record = request_run(runtime, incident_id, "call")
            gate = threading.Barrier(2)

            def deliver(run_id: int = record["id"], gate: threading.Barrier = gate) -> None:
                gate.wait()
                execute_run(runtime.db, run_id)

            workers = [threading.Thread(target=deliver) for _ in range(2)]
            for w in workers:
                w.start()
            for w in workers:
                w.join(timeout=30)
        assert len(Receiver.seen) == 5  # one request per run, never two


