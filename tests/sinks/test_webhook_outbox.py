"""Outbound incident delivery to a webhook, through the durable outbox, against real
HTTP receivers: order and versions, a receiver down and back, 5xx/429 retried with
back-off and Retry-After, a 4xx recorded for good, a restart resuming, a storm
coalesced."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from click.testing import CliRunner

from aiops.api import create_app
from aiops.cli import main
from aiops.config import DataDir
from aiops.models import parse_alert
from aiops.runtime import Runtime
from aiops.sinks.delivery import DeliveryLoop, DeliverySettings
from aiops.sinks.outbox import OutboxSink
from aiops.sinks.setup import build_targets, start_delivery
from aiops.sinks.tables import sink_deliveries
from tests.conftest import free_port, serving_app
from tests.polling import wait_for
from tests.sinks.receiver import Receiver, serving_on, webhook_handler
from tests.sinks.runtimes import open_sink_runtime

T0 = 1_800_000_000


class Clock:
    """The wall clock the outbox and the loop read, moved by the test."""

    def __init__(self) -> None:
        self.now = time.time()  # what a restart's outbox sink reads before a test swaps it

    def __call__(self) -> float:
        return self.now


def alert(i: str, entity: str = "r1", at: float = 0, ends: float | None = None,
          **labels: str):
    return parse_alert({"id": i, "source": "nms", "name": "LINK_DOWN", "entity": entity,
                        "severity": "major", "summary": "link down", "starts_at": T0 + at,
                        "ends_at": None if ends is None else T0 + ends, "labels": labels})


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("AIOPS_TEXT_SIMILARITY", "off")
    monkeypatch.setenv("AIOPS_SINK_MIN_INTERVAL", "0")
    return monkeypatch


def loop_for(rt: Runtime, clock: Clock) -> DeliveryLoop:
    outbox = next(s for s in rt.engine.sinks if isinstance(s, OutboxSink))
    outbox.clock = clock
    return DeliveryLoop(rt.db, build_targets(rt.data_dir.sinks),
                        DeliverySettings(public_url="http://aiops.example:8080",
                                         min_interval=rt.data_dir.sinks.min_interval),
                        clock=clock)


def rows(rt: Runtime) -> list:
    with rt.db.connect() as conn:
        return conn.execute(sa.select(sink_deliveries)
                            .order_by(sink_deliveries.c.incident_id)).all()


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    got = Receiver()
    with serving_on(webhook_handler(got)) as url:
        yield got, url + "/hook?token=s3cret"


def test_changes_are_delivered_in_order_with_growing_versions(
        tmp_path: Path, env: pytest.MonkeyPatch, receiver: tuple[Receiver, str]) -> None:
    got, url = receiver
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    assert loop.run_once() == 1
    rt.engine.ingest([alert("a2", "r2", 5)])
    rt.engine.ingest([alert("a2-again", "r2", 6)])  # a duplicate: nothing to tell
    loop.run_once()
    rt.engine.ingest([alert("a1-end", ends=30), alert("a2-end", "r2", 5, ends=31)])
    loop.run_once()
    assert loop.run_once() == 0  # nothing left
    docs = got.documents()
    assert [(d["event"], d["version"]) for d in docs] == \
        [("opened", 1), ("updated", 2), ("resolved", 3)]
    assert docs[1]["changes"][0] == "alerts_added" and docs[1]["alert_count"] == 2
    assert len({d["incident_id"] for d in docs}) == 1
    last = docs[-1]
    assert last["status"] == "resolved" and last["resolved_at"] and last["firing_alerts"] == 0
    assert last["root_causes"][0]["entity"] in ("r1", "r2")
    assert last["root_causes"][0]["evidence"]
    assert last["url"] == f"http://aiops.example:8080/incidents/{last['incident_id']}"
    assert last["remediations"] == []  # no remediation model trained
    headers = got.requests[-1]["headers"]
    assert headers["Idempotency-Key"] == f"{last['incident_id']}:3"
    assert got.requests[0]["path"] == "/hook?token=s3cret"
    (row,) = rows(rt)
    assert (row.status, row.version, row.delivered_version) == ("delivered", 3, 3)
    # the secret of the URL's query is not part of the name operators see
    assert "s3cret" not in row.sink
    rt.close()


def test_receiver_down_then_back_loses_nothing(tmp_path: Path,
                                               env: pytest.MonkeyPatch) -> None:
    port = free_port()
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=f"http://127.0.0.1:{port}/hook")
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    rt.engine.ingest([alert("b1", "r1", 4000)])  # a second incident, much later
    assert loop.run_once() == 1  # the first fails; the receiver is left alone after it
    clock.now += 0.5
    assert loop.run_once() == 0  # backing off
    (r1, r2) = rows(rt)
    assert r1.status == r2.status == "pending"
    assert r1.attempts + r2.attempts == 1 and "ConnectionError" in (r1.last_error or r2.last_error)
    clock.now += 1.0
    assert loop.run_once() == 1  # down still: the other incident's first attempt
    clock.now += 1.0
    assert loop.run_once() == 1  # and the first's second: its back-off doubles
    (again,) = [r for r in rows(rt) if r.attempts == 2]
    assert again.next_attempt_at == pytest.approx(clock.now + 2)
    got = Receiver()
    with serving_on(webhook_handler(got), port):
        clock.now += 2.0
        while loop.run_once():
            pass
    assert sorted(d["incident_id"] for d in got.documents()) == sorted(r.incident_id
                                                                       for r in rows(rt))
    assert all(r.status == "delivered" and r.last_error is None for r in rows(rt))
    rt.close()


def test_5xx_and_429_are_retried_honouring_retry_after(
        tmp_path: Path, env: pytest.MonkeyPatch, receiver: tuple[Receiver, str]) -> None:
    got, url = receiver
    got.answers = [(503, {}, "maintenance"), (429, {"Retry-After": "7"}, "slow down"),
                   (200, {}, "ok")]
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    loop.run_once()
    (row,) = rows(rt)
    assert row.status == "pending" and row.next_attempt_at == clock.now + 1
    assert "HTTP 503" in row.last_error and "maintenance" in row.last_error
    clock.now += 1
    loop.run_once()
    (row,) = rows(rt)
    assert row.next_attempt_at == clock.now + 7 and "HTTP 429" in row.last_error
    clock.now += 6
    assert loop.run_once() == 0  # Retry-After not over yet
    clock.now += 1
    loop.run_once()
    assert len(got.requests) == 3
    (row,) = rows(rt)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 0, None)
    # the same document each time: the incident did not change meanwhile
    assert {(d["version"], d["event"]) for d in got.documents()} == {(1, "opened")}
    rt.close()


def test_a_4xx_is_recorded_as_failed_with_the_answer(
        tmp_path: Path, env: pytest.MonkeyPatch, receiver: tuple[Receiver, str]) -> None:
    got, url = receiver
    got.answers = [(400, {}, '{"error": "field severity refused"}')]
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    loop.run_once()
    clock.now += 3600
    assert loop.run_once() == 0  # never sent again as it is
    assert len(got.requests) == 1
    (row,) = rows(rt)
    assert row.status == "failed" and "HTTP 400" in row.last_error
    assert "field severity refused" in row.last_error
    status = create_app(runtime=rt).test_client().get("/api/v1/sinks").get_json()
    (sink,) = status["sinks"]
    assert (sink["failed"], sink["pending"], sink["configured"]) == (1, 0, True)
    assert "field severity refused" in sink["failures"][0]["error"]
    rt.close()
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "sinks", "status"])
    assert result.exit_code == 1, result.output
    assert "1 failed" in result.output and "field severity refused" in result.output
    # a later change of the incident is queued again and delivered
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a2", "r2", 5)])
    loop.run_once()
    assert got.documents()[-1]["version"] == 2
    (row,) = rows(rt)
    assert row.status == "delivered"
    rt.close()


def test_a_restart_resumes_the_outbox(tmp_path: Path, env: pytest.MonkeyPatch) -> None:
    port = free_port()
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=f"http://127.0.0.1:{port}/hook")
    loop_for(rt, clock).run_once()
    rt.engine.ingest([alert("a1"), alert("a2", "r2", 3)])
    loop_for(rt, clock).run_once()  # the receiver is down
    rt.close()
    got = Receiver()
    with serving_on(webhook_handler(got), port):
        rt = open_sink_runtime(tmp_path, env, webhook_urls=f"http://127.0.0.1:{port}/hook")
        rt.engine.ingest([alert("a2-dup", "r2", 4)])  # restored state: not a change
        loop = loop_for(rt, clock)
        clock.now += 5
        loop.run_once()
    assert [(d["event"], d["version"], d["alert_count"]) for d in got.documents()] == \
        [("opened", 1, 2)]
    rt.close()


def test_a_storm_is_coalesced(tmp_path: Path, env: pytest.MonkeyPatch,
                              receiver: tuple[Receiver, str]) -> None:
    """300 alerts of one fault in 30 requests: the receiver gets the incident opened,
    at most one update per min_interval, and its final state; not 300 requests."""
    got, url = receiver
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, min_interval="30", webhook_urls=url)
    loop = loop_for(rt, clock)
    for batch in range(30):
        rt.engine.ingest([alert(f"s{batch}-{i}", "r1" if i % 2 else "r2", batch + i / 10,
                                port=f"{batch}/{i}") for i in range(10)])
        loop.run_once()
        clock.now += 2  # a request every 2 s: the storm lasts a minute
    clock.now += 30
    loop.run_once()
    with rt.db.connect() as conn:
        incidents = conn.execute(sa.text(
            "SELECT id, alert_count FROM incidents WHERE status != 'merged'")).all()
    docs = got.documents()
    # per incident: opened, <= 2 updates in the minute, the final state
    assert len(docs) <= 4 * len(incidents) < 30, [d["version"] for d in docs]
    latest = {d["incident_id"]: d for d in docs}
    assert {i: latest[i]["alert_count"] for i, _ in incidents} == dict(incidents)
    assert sum(n for _, n in incidents) == 300
    assert all(r.status == "delivered" for r in rows(rt))
    rt.close()


def test_the_served_app_delivers_in_the_background(
        tmp_path: Path, env: pytest.MonkeyPatch, receiver: tuple[Receiver, str]) -> None:
    """``aiops serve``'s path: alerts posted over HTTP, the delivery thread woken by
    the outbox sink, the document at the receiver, the outbox status over HTTP."""
    got, url = receiver
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = start_delivery(rt, "http://engine.example")
    assert loop is not None and rt.delivery is loop
    with serving_app(rt) as served:
        posted = requests.post(f"{served.url}/api/v1/alerts", timeout=10, json={
            "id": "a1", "source": "nms", "name": "LINK_DOWN", "entity": "r1",
            "severity": "critical", "summary": "down", "starts_at": T0})
        assert posted.status_code == 200
        wait_for(lambda: got.requests, "a delivery to the webhook", timeout=10)
        status = requests.get(f"{served.url}/api/v1/sinks", timeout=10).json()
    (doc,) = got.documents()
    assert doc["severity"] == "critical" and doc["url"].startswith("http://engine.example/")
    assert status["sinks"][0]["delivered"] == 1
    rt.close()
    assert not loop._thread.is_alive()


def test_a_change_stored_but_never_queued_is_queued_at_restart(
        tmp_path: Path, env: pytest.MonkeyPatch, receiver: tuple[Receiver, str]) -> None:
    """The outbox is written after the batch commits: a crash in between (here: the
    sink left out) must not lose the change; the next start queues it."""
    got, url = receiver
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    loop.run_once()
    outbox = next(s for s in rt.engine.sinks if isinstance(s, OutboxSink))
    rt.engine.sinks.remove(outbox)  # as if the process died before publishing
    rt.engine.ingest([alert("a2", "r2", 5)])
    rt.close()
    # queued at the wall clock of this start
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    clock.now = time.time() + 1
    loop_for(rt, clock).run_once()
    assert [(d["version"], d["alert_count"]) for d in got.documents()] == [(1, 1), (2, 2)]
    rt.close()


def test_the_outbox_on_each_database(tmp_path: Path, env: pytest.MonkeyPatch,
                                     db_url: str) -> None:
    """Queue, fail, retry, deliver and collapse on SQLite and on a real PostgreSQL."""
    port = free_port()
    clock = Clock()
    rt = open_sink_runtime(tmp_path / "data", env, db_url,
                           webhook_urls=f"http://127.0.0.1:{port}/hook")
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    loop.run_once()  # down
    rt.engine.ingest([alert("a2", "r2", 5)])
    rt.engine.ingest([alert("a1-end", ends=30), alert("a2-end", "r2", 5, ends=31)])
    (row,) = rows(rt)
    assert (row.status, row.version, row.attempts) == ("pending", 3, 1)
    got = Receiver()
    with serving_on(webhook_handler(got), port):
        clock.now += 1
        loop.run_once()
    # three changes collapsed into the latest state: the incident's end, which is
    # what the event says (it said "opened", filing an ended incident as open)
    assert [(d["event"], d["changes"], d["version"], d["status"])
            for d in got.documents()] == [("resolved", ["opened", "resolved"], 3, "resolved")]
    (row,) = rows(rt)
    assert (row.status, row.delivered_version, row.last_error) == ("delivered", 3, None)
    rt.close()


def test_a_failed_outbox_write_is_queued_with_the_next_batch(
        tmp_path: Path, env: pytest.MonkeyPatch, receiver: tuple[Receiver, str]) -> None:
    """The outbox table unreachable for one batch (here: renamed away, a real database
    error) fails the sink, not the batch; the next batch queues the change it missed,
    though that batch is of another incident."""
    got, url = receiver
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    loop.run_once()
    with rt.db.begin() as conn:
        conn.execute(sa.text("ALTER TABLE sink_deliveries RENAME TO sink_deliveries_away"))
    rt.engine.ingest([alert("a1-end", ends=30)])  # resolves inc-1: its last change
    assert rt.engine.sink_failures == 1
    with rt.db.begin() as conn:
        conn.execute(sa.text("ALTER TABLE sink_deliveries_away RENAME TO sink_deliveries"))
    rt.engine.ingest([alert("b1", "r2", 4000)])  # another incident
    clock.now += 1
    while loop.run_once():
        pass
    assert sorted((d["incident_id"], d["event"]) for d in got.documents()) == \
        [("inc-1", "opened"), ("inc-1", "resolved"), ("inc-2", "opened")]
    rt.close()


def test_a_refusal_of_a_state_does_not_hide_a_newer_one(
        tmp_path: Path, env: pytest.MonkeyPatch, receiver: tuple[Receiver, str]) -> None:
    """The incident changes while the receiver is refusing its previous state: the
    refusal is recorded, and the newer state is still sent."""
    got, url = receiver
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    target = next(iter(loop.targets.values()))
    send = target.send

    def change_while_sending(document: dict, external_id: str | None):
        if document["version"] == 1:
            rt.engine.ingest([alert("a2", "r2", 5)])  # queued while v1 is on the wire
        return send(document, external_id)

    target.send = change_while_sending  # type: ignore[method-assign]
    got.answers = [(422, {}, "version 1 refused")]
    loop.run_once()
    (row,) = rows(rt)
    assert row.status == "pending" and "version 1 refused" in row.last_error
    loop.run_once()
    assert [(d["version"], d["alert_count"]) for d in got.documents()] == [(1, 1), (2, 2)]
    (row,) = rows(rt)
    assert row.status == "delivered"
    rt.close()


def test_rows_deleted_by_hand_are_written_again(
        tmp_path: Path, env: pytest.MonkeyPatch, receiver: tuple[Receiver, str]) -> None:
    """An operator clearing the outbox (DELETE FROM sink_deliveries) under a running
    engine: the next change of an incident it had queued is queued again, as new."""
    got, url = receiver
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    loop.run_once()
    with rt.db.begin() as conn:
        conn.execute(sa.text("DELETE FROM sink_deliveries"))
    rt.engine.ingest([alert("a2", "r2", 5)])
    assert rt.engine.sink_failures == 0
    loop.run_once()
    assert [(d["event"], d["alert_count"]) for d in got.documents()] == \
        [("opened", 1), ("opened", 2)]
    rt.close()


def test_a_signing_secret_signs_every_request_as_documented(
        tmp_path: Path, env: pytest.MonkeyPatch, receiver: tuple[Receiver, str]) -> None:
    """The receiver's check from docs/sinks.md, on the bytes a real server got: the
    HMAC of timestamp, '.', body verifies with the secret and fails with another; an
    unreadable secret file stops start-up naming the setting."""
    import hashlib
    import hmac

    got, url = receiver
    secret = tmp_path / "signing.secret"
    secret.write_text("correct horse battery staple\n", encoding="utf-8")
    env.setenv("AIOPS_SINK_WEBHOOK_SIGNING_SECRET_FILE", str(secret))
    clock = Clock()
    rt = open_sink_runtime(tmp_path / "d", env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    assert loop.run_once() == 1
    (request,) = got.requests
    headers, body = request["headers"], request["raw"]
    stamp = headers["X-Aiops-Timestamp"]
    assert abs(int(stamp) - time.time()) < 60

    def verifies(key: bytes) -> bool:
        expected = "sha256=" + hmac.new(key, stamp.encode() + b"." + body,
                                        hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, headers["X-Aiops-Signature"])

    assert verifies(b"correct horse battery staple") and not verifies(b"another secret")
    assert not verifies(b"correct horse battery staple"[:-1])
    genuine = documented_check()
    key = b"correct horse battery staple"
    assert genuine(key, headers, body) and not genuine(b"another secret", headers, body)
    # What a receiver gets from anyone: refused, not an exception (a 500 to the sender).
    assert not genuine(key, {}, body)
    assert not genuine(key, {**headers, "X-Aiops-Timestamp": "soon"}, body)
    assert not genuine(key, {**headers, "X-Aiops-Signature": "sha256=\u00e9"}, body)
    rt.close()
    env.setenv("AIOPS_SINK_WEBHOOK_SIGNING_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ValueError, match="AIOPS_SINK_WEBHOOK_SIGNING_SECRET_FILE .* cannot "
                                         "be read"):
        build_targets(DataDir.from_env(tmp_path / "d").sinks)


def documented_check() -> Any:
    """The receiver's ``genuine`` exactly as docs/sinks.md "Signed requests" gives it."""
    text = (Path(__file__).parents[2] / "docs" / "sinks.md").read_text(encoding="utf-8")
    section = text.split("## Signed requests", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, Any] = {}
    exec(compile(code, "docs/sinks.md", "exec"), scope)  # noqa: S102 - our own docs
    return scope["genuine"]
