"""The Request Tracker sink against a real RT 5 (Debian's request-tracker5 on SQLite):
a ticket created, commented on as the incident grows, resolved when it clears; a create
whose answer was lost is found by its subject tag, not made twice; a refusal (an
unknown queue) is recorded with RT's answer; a playbook run waiting for approval is
named in the ticket, and its end in a comment."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from aiops.playbooks import runs
from aiops.playbooks.auto import AutoRuns
from aiops.sinks.tables import sink_deliveries
from aiops.store.tables import playbook_runs
from tests.conftest import free_port
from tests.sinks.runtimes import open_sink_runtime, secret_file
from tests.sinks.test_approval_announced import (  # noqa: F401 (the endpoint fixture)
    LOOKED_AT,
    ask,
    endpoint,
    send,
)
from tests.sinks.test_webhook_outbox import Clock, alert, loop_for
from tests.tickets.rt_server import AUTH, rt_available, rt_server

pytestmark = pytest.mark.skipif(rt_available() is not None, reason=str(rt_available()))


@pytest.fixture(scope="module")
def rt_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with rt_server(tmp_path_factory.mktemp("rt"), free_port()) as url:
        yield url


def rest(url: str, path: str) -> dict:
    response = requests.get(f"{url}/REST/2.0/{path}", auth=AUTH, timeout=30)
    assert response.ok, response.text
    return response.json()


def rt_settings(path: Path, url: str, queue: str = "General") -> dict[str, str]:
    """The settings of the RT sink at ``url`` and ``queue``, its password file in
    ``path`` (for ``open_sink_runtime``)."""
    return {"rt_url": url, "rt_queue": queue, "rt_user": AUTH[0],
            "rt_password_file": secret_file(path, "rt-password", AUTH[1])}


def own_queue(url: str, name: str) -> str:
    """A queue for one test. The RT server is the module's, and every data dir numbers
    its incidents from inc-1: in one queue a test found (and its sink commented on) the
    "[aiops inc-1]" tickets of whichever tests ran before it."""
    created = requests.post(f"{url}/REST/2.0/queue", auth=AUTH, timeout=30,
                            json={"Name": name})
    assert created.status_code == 201, created.text
    return name


def tickets_of(url: str, incident_id: str, queue: str) -> list[dict]:
    found = rest(url, f"tickets?query=Queue = '{queue}' AND Subject LIKE "
                      f"'[aiops {incident_id}]'&fields=Subject,Status,Priority,Queue")
    return found["items"]


def history(url: str, ticket: str) -> list[str]:
    items = rest(url, f"ticket/{ticket}/history?fields=Type,Content&per_page=100")["items"]
    return [i.get("Type") for i in items]


def test_create_comment_resolve_on_a_real_rt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             rt_url: str) -> None:
    queue = own_queue(rt_url, "aiops-create")
    clock = Clock()
    runtime = open_sink_runtime(tmp_path / "a" / "data", monkeypatch,
                                **rt_settings(tmp_path / "a", rt_url, queue))
    loop = loop_for(runtime, clock)
    runtime.engine.ingest([alert("a1")])
    loop.run_once()
    (ticket,) = tickets_of(rt_url, "inc-1", queue)
    assert ticket["Subject"].startswith("[aiops inc-1] LINK_DOWN on r1")
    assert ticket["Status"] == "new" and int(ticket["Priority"]) == 70  # major
    runtime.engine.ingest([alert("a2", "r2", 5)])
    loop.run_once()
    runtime.engine.ingest([alert("a1-end", ends=30), alert("a2-end", "r2", 5, ends=31)])
    loop.run_once()
    (ticket,) = tickets_of(rt_url, "inc-1", queue)
    assert ticket["Status"] == "resolved"
    kinds = history(rt_url, ticket["id"])
    assert kinds.count("Comment") == 2 and "Create" in kinds and "Status" in kinds
    with runtime.db.connect() as conn:
        row = conn.execute(sa.select(sink_deliveries)).one()
    assert (row.sink, row.external_id, row.status) == ("rt", str(ticket["id"]), "delivered")
    runtime.close()


def test_a_lost_create_answer_makes_no_second_ticket(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rt_url: str) -> None:
    queue = own_queue(rt_url, "aiops-lost-answer")
    clock = Clock()
    runtime = open_sink_runtime(tmp_path / "b" / "data", monkeypatch,
                                **rt_settings(tmp_path / "b", rt_url, queue))
    loop = loop_for(runtime, clock)
    # The second send has no ticket id: it must find the ticket by its tag, not make a
    # second. (The engine cannot tell two data dirs apart in one RT queue, as their
    # incident ids both start at inc-1: one queue per engine, docs/sinks.md.)
    runtime.engine.ingest([alert("b1", "r1", 100)])
    loop.run_once()
    before = tickets_of(rt_url, "inc-1", queue)
    with runtime.db.begin() as conn:  # as if the POST's answer never arrived
        conn.execute(sink_deliveries.update().values(external_id=None))
    runtime.engine.ingest([alert("b2", "r2", 105)])
    loop.run_once()
    assert tickets_of(rt_url, "inc-1", queue) == before and len(before) == 1
    runtime.close()


def test_an_unknown_queue_is_a_failure_with_rts_answer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rt_url: str) -> None:
    clock = Clock()
    runtime = open_sink_runtime(tmp_path / "c" / "data", monkeypatch,
                                **rt_settings(tmp_path / "c", rt_url, queue="No Such Queue"))
    loop = loop_for(runtime, clock)
    runtime.engine.ingest([alert("c1", "r1", 200)])
    loop.run_once()
    with runtime.db.connect() as conn:
        row = conn.execute(sa.select(sink_deliveries)).one()
    assert row.status == "failed" and "POST" in row.last_error and "ticket" in row.last_error
    runtime.close()


def test_an_ended_incident_and_a_reopening_after_pruning_on_a_real_rt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rt_url: str) -> None:
    """Resolved before its first send: a ticket created and resolved at once. Merged
    before it: no ticket. Re-opened after its outbox row was pruned: the ticket is
    found by its tag and opened again (it stayed resolved)."""
    queue = own_queue(rt_url, "aiops-lifecycle")
    clock = Clock()
    runtime = open_sink_runtime(tmp_path / "d" / "data", monkeypatch,
                                **rt_settings(tmp_path / "d", rt_url, queue))
    loop = loop_for(runtime, clock)
    runtime.engine.ingest([alert("d1", "r1", 300)])
    runtime.engine.ingest([alert("d1-end", "r1", 300, ends=330)])
    runtime.engine.ingest([alert("e1", "r2", 4300)])
    runtime.engine.ingest([alert("f1", "r1", 8300, port="f")])
    runtime.engine.merge_incidents("inc-2", ["inc-3"])
    assert loop.run_once() == 3

    def in_queue(incident_id: str) -> list[dict]:
        return tickets_of(rt_url, incident_id, queue)

    (ended,) = in_queue("inc-1")
    assert ended["Status"] == "resolved"
    assert in_queue("inc-3") == [] and len(in_queue("inc-2")) == 1
    clock.now += 8 * 86400
    assert loop.maybe_prune() == 2  # inc-1 and the merged inc-3
    runtime.engine.ingest([alert("d1-again", "r1", 400)])  # re-fires: inc-1 re-opens
    loop.run_once()
    (again,) = in_queue("inc-1")
    assert again["id"] == ended["id"] and again["Status"] == "open"
    runtime.close()


def texts(url: str, ticket: str) -> list[tuple[str, str]]:
    """(transaction type, its text) of the ticket's transactions that have one, oldest
    first: what RT shows in the ticket's history."""
    kinds = {str(i["id"]): i.get("Type") for i in rest(
        url, f"ticket/{ticket}/history?fields=Type&per_page=100")["items"]}
    found = rest(url, f"ticket/{ticket}/attachments?fields=TransactionId,ContentType,"
                      f"Content&per_page=100")["items"]
    out = []
    for attachment in found:
        if not str(attachment.get("ContentType", "")).startswith("text/plain"):
            continue
        # RT 5 here: the id as a string, the text as it was sent
        out.append((kinds.get(str(attachment["TransactionId"])),
                    str(attachment.get("Content") or "")))
    return out


def test_a_run_waiting_for_approval_on_a_real_rt(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rt_url: str,
        endpoint: str) -> None:  # noqa: F811
    """Asked for before the incident's first send: the new ticket's first message names
    the playbook, who asked, until when and where to decide. Given up at its deadline
    (nobody decided): a comment says no run waits any more."""
    queue = own_queue(rt_url, "aiops-approval")
    clock = Clock()
    runtime = open_sink_runtime(tmp_path / "e" / "data", monkeypatch,
                                **rt_settings(tmp_path / "e", rt_url, queue))
    loop = loop_for(runtime, clock)
    run = ask(runtime, endpoint)
    assert send(loop, clock) == 1
    (ticket,) = tickets_of(rt_url, "inc-1", queue)
    ((kind, created),) = texts(rt_url, ticket["id"])
    deadline = runs.run_view(run)["start_by"]
    assert kind == "Create"
    assert (f"Playbook fix-link (run {run['id']}, asked by {run['requested_by']}) waits "
            f"for an operator's approval until {deadline}") in created
    assert f"/api/v1/playbook-runs/{run['id']}/reject" in created

    with runtime.db.begin() as conn:  # its deadline passes (approve_within >= 60 s)
        conn.execute(playbook_runs.update().where(playbook_runs.c.id == run["id"])
                     .values(start_by=time.time() - 1))
    assert AutoRuns(runtime).look(now=LOOKED_AT + 60) == []
    assert send(loop, clock) == 1
    (_, created), (kind, expired) = texts(rt_url, ticket["id"])
    assert kind == "Comment"
    assert expired.startswith("aiops v3: playbook_run_decided;")
    assert "No playbook run waits for approval any more" in expired
    assert "fix-link" not in expired
    (ticket,) = tickets_of(rt_url, "inc-1", queue)
    assert ticket["Status"] == "new"  # a decision is a comment, not a status
    runtime.close()
