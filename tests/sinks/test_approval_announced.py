"""A playbook run waiting for an operator's approval is a change of its incident that
its receivers hear of: a webhook gets a version listing the run when a policy asks, and
another when the run is approved (over the API), rejected (by the CLI, another process
without the receiver's settings) or given up at its deadline, and one naming both
changes when the run was asked for and decided between two sends; a ServiceNow record
gets a work note, a Jira issue a comment, naming the playbook (RT: test_rt_sink.py);
with no receiver configured nothing is queued."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from aiops.api import create_app
from aiops.playbooks import runs
from aiops.playbooks.auto import AutoRuns
from aiops.runtime import Runtime
from aiops.sinks.delivery import DeliveryLoop
from aiops.sinks.setup import start_delivery
from aiops.sinks.tables import sink_deliveries
from aiops.store.tables import playbook_runs
from tests.http_server import serving
from tests.playbooks.test_approval import ASKING
from tests.playbooks.test_auto import book
from tests.playbooks.test_runs import Receiver as Endpoint
from tests.playbooks.test_runs import playbook
from tests.polling import wait_for
from tests.sinks.jira_standin import JiraSite, jira_handler
from tests.sinks.receiver import (
    Receiver,
    ServiceNowTable,
    servicenow_handler,
    serving_on,
    webhook_handler,
)
from tests.sinks.runtimes import open_sink_runtime
from tests.sinks.test_jira_sink import jira_settings
from tests.sinks.test_servicenow_sink import servicenow_settings
from tests.sinks.test_webhook_outbox import T0, Clock, alert, loop_for

LOOKED_AT = T0 + 600  # the incident's age when the policy looks: past its ``after``


@pytest.fixture
def endpoint() -> Iterator[str]:
    """What the playbook's step calls when a run is approved."""
    Endpoint.seen = []
    with serving(Endpoint) as url:
        yield url


@pytest.fixture
def webhook() -> Iterator[tuple[Receiver, str]]:
    got = Receiver()
    with serving_on(webhook_handler(got)) as url:
        yield got, url + "/hook"


def ask(rt: Runtime, endpoint: str) -> dict:
    """An incident of two alerts, told to the receivers, and the run a policy with
    ``approval`` asks for on it."""
    rt.engine.ingest([alert("a1"), alert("a2", "r2", 5)])
    playbook(rt, "fix-link", book(endpoint, ASKING))
    (run,) = AutoRuns(rt).look(now=LOOKED_AT)
    assert run["status"] == "needs-approval"
    return run


def send(loop: DeliveryLoop, clock: Clock) -> int:
    """A round of the delivery loop now: the runs' changes are queued on the wall clock."""
    clock.now = time.time() + 1
    return loop.run_once()


def test_a_webhook_hears_a_run_asked_for_and_approved(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: tuple[Receiver, str],
        endpoint: str) -> None:
    got, url = webhook
    clock = Clock()
    rt = open_sink_runtime(tmp_path / "data", monkeypatch, webhook_urls=url)
    loop = loop_for(rt, clock)
    assert send(loop, clock) == 0
    run = ask(rt, endpoint)
    assert send(loop, clock) == 1
    (opened,) = got.documents()
    # Asked for before the first send (queued as a second version): the receiver's
    # first document lists it.
    assert opened["event"] == "opened" and opened["version"] == 2
    (waiting,) = opened["playbook_runs_waiting"]
    base = f"http://aiops.example:8080/api/v1/playbook-runs/{run['id']}"
    assert waiting == {
        "run_id": run["id"], "playbook": "fix-link", "requested_by": run["requested_by"],
        "requested_at": runs.run_view(run)["requested_at"],
        "approve_by": runs.run_view(run)["start_by"], "api_url": base,
        "approve_url": f"{base}/approve", "reject_url": f"{base}/reject"}
    assert send(loop, clock) == 0  # nothing else changed

    client = create_app(runtime=rt).test_client()
    answer = client.post(f"/api/v1/playbook-runs/{run['id']}/approve", json={"by": "ana"})
    assert answer.status_code == 202, answer.get_json()
    assert send(loop, clock) == 1
    decided = got.documents()[-1]
    assert (decided["event"], decided["version"]) == ("updated", 3)
    assert decided["changes"] == ["playbook_run_decided"]
    assert decided["playbook_runs_waiting"] == []
    wait_for(lambda: Endpoint.seen, "the approved run's step", timeout=20)
    assert send(loop, clock) == 0  # the run's own progress is no change of the incident
    rt.close()


def test_a_run_asked_for_after_the_first_send_is_a_new_version_and_its_expiry_another(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: tuple[Receiver, str],
        endpoint: str, db_url: str) -> None:
    """On SQLite and on a real PostgreSQL."""
    got, url = webhook
    clock = Clock()
    rt = open_sink_runtime(tmp_path / "data", monkeypatch, db_url, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1"), alert("a2", "r2", 5)])
    assert send(loop, clock) == 1
    run = ask(rt, endpoint)  # the same incident, no alert changed
    assert send(loop, clock) == 1
    asked = got.documents()[-1]
    assert (asked["event"], asked["version"], asked["changes"]) == \
        ("updated", 2, ["playbook_run_waiting"])
    assert [w["run_id"] for w in asked["playbook_runs_waiting"]] == [run["id"]]
    # Its deadline passes (moved, not waited for: approve_within is at least 60 s); the
    # server's next look gives it up and the receiver hears it no longer waits.
    with rt.db.begin() as conn:
        conn.execute(playbook_runs.update().where(playbook_runs.c.id == run["id"])
                     .values(start_by=time.time() - 1))
    assert AutoRuns(rt).look(now=LOOKED_AT + 60) == []
    with rt.db.connect() as conn:
        assert runs.get_run(conn, run["id"])["status"] == "rejected"
    assert send(loop, clock) == 1
    expired = got.documents()[-1]
    assert (expired["version"], expired["changes"]) == (3, ["playbook_run_decided"])
    assert expired["playbook_runs_waiting"] == []
    assert Endpoint.seen == []
    rt.close()


def test_a_run_rejected_by_the_cli_reaches_the_servers_delivery_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: tuple[Receiver, str],
        endpoint: str) -> None:
    """The CLI is another process, here without any ``AIOPS_SINK_*`` setting: what it
    writes is found by the server's delivery thread, which it cannot wake."""
    got, url = webhook
    rt = open_sink_runtime(tmp_path / "data", monkeypatch, webhook_urls=url)
    run = ask(rt, endpoint)
    start_delivery(rt, "http://engine.example")
    wait_for(lambda: len(got.requests) == 1, "the incident with its waiting run", timeout=10)
    assert got.documents()[0]["playbook_runs_waiting"][0]["run_id"] == run["id"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIOPS_SINK_")}
    done = subprocess.run([sys.executable, "-m", "aiops", "--data-dir",
                           str(rt.data_dir.path), "playbooks", "reject", str(run["id"]),
                           "--by", "ana", "--comment", "change freeze"],
                          capture_output=True, text=True, timeout=120,
                          env={**env, "AIOPS_TEXT_SIMILARITY": "off"})
    assert done.returncode == 0, done.stderr
    wait_for(lambda: len(got.requests) == 2, "the rejection", timeout=10)
    rejected = got.documents()[1]
    assert (rejected["version"], rejected["changes"]) == (3, ["playbook_run_decided"])
    assert rejected["playbook_runs_waiting"] == []
    rt.close()
    assert Endpoint.seen == []


def test_a_jira_issue_gets_a_comment_naming_the_playbook_that_waits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    site = JiraSite()
    with serving_on(jira_handler(site)) as url:
        clock = Clock()
        rt = open_sink_runtime(tmp_path / "data", monkeypatch,
                               **jira_settings(tmp_path, url, user="ops@example.com"))
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1"), alert("a2", "r2", 5)])
        send(loop, clock)
        run = ask(rt, endpoint)
        send(loop, clock)
        runs.decide(rt.db, run["id"], False, "ana", "change freeze", rt.data_dir.playbook)
        send(loop, clock)
    asked, decided = site.comments["OPS-1"]
    deadline = runs.run_view(run)["start_by"]
    assert asked.startswith("aiops v2: playbook_run_waiting;")
    assert (f"Playbook fix-link (run {run['id']}, asked by {run['requested_by']}) waits "
            f"for an operator's approval until {deadline}") in asked
    assert f"/api/v1/playbook-runs/{run['id']}/approve" in asked
    assert decided.startswith("aiops v3: playbook_run_decided;")
    assert "No playbook run waits for approval any more" in decided
    assert "fix-link" not in decided
    rt.close()


def test_a_run_asked_for_and_decided_between_two_sends_is_named_in_the_next(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook: tuple[Receiver, str],
        endpoint: str) -> None:
    """Asked for and rejected while the receiver waited for its next send (down, or
    the loop busy): the version it got compared the runs waiting at its last send
    (none) with those waiting now (none) and named no change at all."""
    got, url = webhook
    clock = Clock()
    rt = open_sink_runtime(tmp_path / "data", monkeypatch, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1"), alert("a2", "r2", 5)])
    assert send(loop, clock) == 1
    run = ask(rt, endpoint)
    runs.decide(rt.db, run["id"], False, "ana", "change freeze", rt.data_dir.playbook)
    assert send(loop, clock) == 1
    both = got.documents()[-1]
    assert (both["event"], both["version"]) == ("updated", 3)
    assert both["changes"] == ["playbook_run_waiting", "playbook_run_decided"]
    assert both["playbook_runs_waiting"] == []
    assert send(loop, clock) == 0
    # Told once: the incident's next change names only itself.
    rt.engine.ingest([alert("a3", "r1", 9, port="x")])
    assert send(loop, clock) == 1
    grown = got.documents()[-1]
    assert (grown["version"], grown["changes"]) == (4, ["alerts_added"])
    rt.close()


def test_a_servicenow_record_gets_work_notes_of_a_run_asked_for_and_approved(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Against the Table API stand-in: the PATCH after the run is asked for carries a
    work note naming the playbook, who asked and until when, and where to decide; the
    one after its approval (over the API, as the incident view's button does) says that
    no run waits any more."""
    table = ServiceNowTable()
    with serving_on(servicenow_handler(table)) as url:
        clock = Clock()
        rt = open_sink_runtime(tmp_path / "data", monkeypatch,
                               **servicenow_settings(tmp_path, url))
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1"), alert("a2", "r2", 5)])
        assert send(loop, clock) == 1
        run = ask(rt, endpoint)
        assert send(loop, clock) == 1
        client = create_app(runtime=rt).test_client()
        answer = client.post(f"/api/v1/playbook-runs/{run['id']}/approve",
                             json={"by": "ana"})
        assert answer.status_code == 202, answer.get_json()
        assert send(loop, clock) == 1
        wait_for(lambda: Endpoint.seen, "the approved run's step", timeout=20)
    (record,) = table.records.values()
    patches = [(path, body) for method, path, body in table.calls if method == "PATCH"]
    assert [path for path, _ in patches] == \
        [f"/api/now/table/incident/{record['sys_id']}"] * 2
    (_, asked), (_, decided) = patches
    deadline = runs.run_view(run)["start_by"]
    assert asked["work_notes"].startswith("aiops v2: playbook_run_waiting;")
    assert (f"Playbook fix-link (run {run['id']}, asked by {run['requested_by']}) waits "
            f"for an operator's approval until {deadline}") in asked["work_notes"]
    assert (f"POST http://aiops.example:8080/api/v1/playbook-runs/{run['id']}/approve"
            in asked["work_notes"])
    assert "state" not in asked  # the record stays as it is: only the note is added
    assert decided["work_notes"].startswith("aiops v3: playbook_run_decided;")
    assert "No playbook run waits for approval any more" in decided["work_notes"]
    assert "fix-link" not in decided["work_notes"]
    rt.close()


def test_no_receiver_configured_queues_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Existing behaviour kept: asking and deciding write no outbox row without a
    receiver."""
    rt = open_sink_runtime(tmp_path / "data", monkeypatch)
    run = ask(rt, endpoint)
    runs.decide(rt.db, run["id"], False, "ana", None, rt.data_dir.playbook)
    with rt.db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(sink_deliveries)
                            ).scalar_one() == 0
    assert rt.delivery is None
    rt.close()
