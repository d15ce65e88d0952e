"""An outbox row's life against real receivers: how long it has been pending, the
first send of an incident that already ended, and the retention that deletes the
rows of ended incidents, with an incident re-opening after its row is gone."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from aiops.runtime import Runtime
from aiops.sinks.status import outbox_status
from aiops.sinks.tables import sink_deliveries
from tests.conftest import free_port
from tests.sinks.receiver import Receiver, ServiceNowTable, servicenow_handler, serving_on
from tests.sinks.receiver import webhook_handler as webhook
from tests.sinks.runtimes import open_sink_runtime
from tests.sinks.test_servicenow_sink import servicenow_settings
from tests.sinks.test_webhook_outbox import (  # noqa: F401 (fixtures)
    Clock,
    alert,
    env,
    loop_for,
    receiver,
    rows,
)

DAY = 86400.0


def oldest_pending(rt: Runtime, now: float) -> float | None:
    with rt.db.connect() as conn:
        (sink,) = outbox_status(conn, [], now)["sinks"]
    return sink["oldest_pending_seconds"]


def test_oldest_pending_counts_from_when_the_row_became_pending(
        tmp_path: Path, env: pytest.MonkeyPatch) -> None:  # noqa: F811
    """An incident changing every 10 s while its receiver is down waited 100 s, not
    the 10 s since its latest change that the status measured (it looked fresh for as
    long as it kept changing)."""
    port = free_port()
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=f"http://127.0.0.1:{port}/hook")
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    for i in range(10):
        loop.run_once()  # the receiver is down: every due attempt fails
        clock.now += 10
        rt.engine.ingest([alert(f"b{i}", "r2", 5 + i, port=str(i))])
    assert oldest_pending(rt, clock.now) == pytest.approx(100, abs=0.2)
    got = Receiver()
    with serving_on(webhook(got), port):
        clock.now += 600  # past any back-off
        assert loop.run_once() == 1
        assert oldest_pending(rt, clock.now) is None
        clock.now += 30
        rt.engine.ingest([alert("c1", "r2", 50, port="c")])  # pending again from now
        clock.now += 5
        assert oldest_pending(rt, clock.now) == pytest.approx(5, abs=0.2)
    rt.close()


def test_the_first_send_of_an_incident_that_ended_says_so(
        tmp_path: Path, env: pytest.MonkeyPatch,  # noqa: F811
        receiver: tuple[Receiver, str]) -> None:  # noqa: F811
    """Opened and resolved before the receiver heard of it: its one document is the
    end (it said "opened", so a receiver opened a ticket that nothing would close)."""
    got, url = receiver
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    rt.engine.ingest([alert("a1-end", ends=30)])
    rt.engine.ingest([alert("b1", "r2", 4000)])
    rt.engine.ingest([alert("c1", "r1", 8000, port="c")])
    rt.engine.merge_incidents("inc-2", ["inc-3"])
    assert loop.run_once() == 3
    by_id = {d["incident_id"]: d for d in got.documents()}
    assert (by_id["inc-1"]["event"], by_id["inc-1"]["changes"]) == \
        ("resolved", ["opened", "resolved"])
    assert (by_id["inc-3"]["event"], by_id["inc-3"]["changes"]) == \
        ("merged", ["opened", "merged"])
    assert by_id["inc-2"]["event"] == "opened"
    rt.close()


def test_servicenow_creates_and_resolves_an_ended_incident_and_skips_a_merged_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = ServiceNowTable()
    with serving_on(servicenow_handler(table)) as url:
        clock = Clock()
        rt = open_sink_runtime(tmp_path / "data", monkeypatch, **servicenow_settings(tmp_path, url))
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        rt.engine.ingest([alert("a1-end", ends=30)])
        rt.engine.ingest([alert("b1", "r2", 4000)])
        rt.engine.ingest([alert("c1", "r1", 8000, port="c")])
        rt.engine.merge_incidents("inc-2", ["inc-3"])
        assert loop.run_once() == 3
    by_id = {r["correlation_id"]: r for r in table.records.values()}
    assert sorted(by_id) == ["inc-1", "inc-2"]  # none for the merged inc-3
    assert (by_id["inc-1"]["state"], by_id["inc-1"]["close_code"]) == ("6", "Solution provided")
    assert by_id["inc-2"]["state"] == "1"
    merged = [c for c in table.calls if "inc-3" in c[1]]
    assert [m for m, _, _ in merged] == ["GET"]  # looked for (a lost create), nothing made
    with rt.db.connect() as conn:
        status = {r.incident_id: (r.status, r.last_error) for r in
                  conn.execute(sa.select(sink_deliveries))}
    assert status == {"inc-1": ("delivered", None), "inc-2": ("delivered", None),
                      "inc-3": ("delivered", None)}
    rt.close()


def test_the_outbox_is_pruned_of_ended_incidents_after_the_retention(
        tmp_path: Path, env: pytest.MonkeyPatch,  # noqa: F811
        receiver: tuple[Receiver, str], db_url: str) -> None:  # noqa: F811
    """Rows of incidents resolved and delivered over AIOPS_SINK_RETENTION ago are
    deleted, by the loop, at most once per prune interval; a pending row (the
    incident's end not sent yet), an open incident's row and a recent end stay. On
    SQLite and PostgreSQL (the queued state's status is read from its JSON)."""
    got, url = receiver
    clock = Clock()
    rt = open_sink_runtime(tmp_path / "data", env, db_url, webhook_urls=url)
    loop = loop_for(rt, clock)
    start = clock.now
    rt.engine.ingest([alert("a1")])
    rt.engine.ingest([alert("b1", "r2", 4000)])
    rt.engine.ingest([alert("c1", "r1", 8000, port="c")])
    rt.engine.ingest([alert("d1", "r2", 12000, port="d")])
    loop.run_once()
    rt.engine.ingest([alert("a1-end", ends=30)])
    loop.run_once()  # inc-1's end delivered now
    clock.now += 3 * DAY
    rt.engine.ingest([alert("c1-end", "r1", 8000, ends=8030, port="c")])
    loop.run_once()  # inc-3's end delivered three days later
    rt.engine.ingest([alert("b1-end", "r2", 4000, ends=4030)])  # inc-2's end, not sent
    clock.now = start + 7 * DAY + 1
    assert loop.maybe_prune() == 1
    kept = {r.incident_id: r.status for r in rows(rt)}
    assert kept == {"inc-2": "pending", "inc-3": "delivered", "inc-4": "delivered"}
    with rt.db.begin() as conn:  # inc-3's end as old as inc-1's was
        conn.execute(sink_deliveries.update().where(sink_deliveries.c.incident_id == "inc-3")
                     .values(delivered_at=start))
    clock.now += 60
    assert loop.maybe_prune() == 0  # not per round: once per prune interval
    clock.now += loop.settings.prune_every
    assert loop.maybe_prune() == 1
    assert {r.incident_id for r in rows(rt)} == {"inc-2", "inc-4"}
    assert loop.pruned == 2
    rt.close()


def test_an_incident_reopening_after_its_row_was_pruned(
        tmp_path: Path, env: pytest.MonkeyPatch,  # noqa: F811
        receiver: tuple[Receiver, str], db_url: str) -> None:  # noqa: F811
    """The row is gone, its tombstone is not: the webhook hears of the incident as
    re-opened, its version going on from the last one sent (it started again at 1 as
    ``opened``, and a receiver keeping the highest version per incident dropped it, or
    took ``inc-1:1`` for a repeat of the first delivery). Twice: the row takes its
    tombstone's place, and a second prune leaves a new one. On SQLite and PostgreSQL."""
    got, url = receiver
    clock = Clock()
    rt = open_sink_runtime(tmp_path / "data", env, db_url, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    rt.engine.ingest([alert("a1-end", ends=30)])
    loop.run_once()
    for again in (100, 200):
        clock.now += 8 * DAY
        assert loop.maybe_prune() == 1 and rows(rt) == []
        rt.engine.ingest([alert(f"a1-again-{again}", at=again)])  # re-fires
        assert rt.engine.sink_failures == 0
        loop.run_once()
        rt.engine.ingest([alert(f"a1-end-{again}", at=again, ends=again + 30)])
        loop.run_once()
    sent = [(r["body"]["event"], r["body"]["version"], r["body"]["status"],
             r["headers"]["Idempotency-Key"]) for r in got.requests]
    assert sent == [("resolved", 2, "resolved", "inc-1:2"),
                    ("reopened", 3, "open", "inc-1:3"), ("resolved", 4, "resolved", "inc-1:4"),
                    ("reopened", 5, "open", "inc-1:5"), ("resolved", 6, "resolved", "inc-1:6")]
    assert got.documents()[1]["changes"] == ["reopened"]
    rt.close()


def test_an_incident_never_delivered_before_its_prune_is_news_when_it_reopens(
        tmp_path: Path, env: pytest.MonkeyPatch,  # noqa: F811
        receiver: tuple[Receiver, str]) -> None:  # noqa: F811
    """Refused for good at its one send, then pruned: the receiver never had it, so
    it hears of it as opened, at a version that still goes on from the pruned row's."""
    got, url = receiver
    got.answers = [(400, {}, "refused")]
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    rt.engine.ingest([alert("a1-end", ends=30)])
    loop.run_once()
    assert [r.status for r in rows(rt)] == ["failed"]
    clock.now += 8 * DAY
    assert loop.maybe_prune() == 1
    rt.engine.ingest([alert("a1-again", at=100)])
    loop.run_once()
    last = got.documents()[-1]
    assert (last["event"], last["changes"], last["version"]) == ("opened", ["opened"], 3)
    rt.close()


def test_servicenow_reopens_its_record_when_the_incident_reopens_after_pruning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The new row has no sys_id: the record is found by correlation_id, as after a
    lost create, and set back to In Progress (it stayed Resolved, and the re-opened
    incident went to a record nobody looks at); a record closed for good is left
    closed and a new one made."""
    table = ServiceNowTable()
    with serving_on(servicenow_handler(table)) as url:
        clock = Clock()
        rt = open_sink_runtime(tmp_path / "data", monkeypatch, **servicenow_settings(tmp_path, url))
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        loop.run_once()
        rt.engine.ingest([alert("a1-end", ends=30)])
        loop.run_once()
        (record,) = table.records.values()
        assert record["state"] == "6"
        clock.now += 8 * DAY
        assert loop.maybe_prune() == 1
        rt.engine.ingest([alert("a1-again", at=100)])
        loop.run_once()
        assert len(table.records) == 1 and record["state"] == "2"
        assert table.calls[-1][0] == "PATCH"
        assert table.calls[-1][2]["work_notes"].startswith("aiops v3: reopened")
        # resolved, closed by ServiceNow's own workflow, pruned, re-opened: a new record
        rt.engine.ingest([alert("a1-end2", at=100, ends=130)])
        loop.run_once()
        record["state"] = "7"
        clock.now += 8 * DAY
        assert loop.maybe_prune() == 1
        rt.engine.ingest([alert("a1-third", at=200)])
        loop.run_once()
    assert len(table.records) == 2 and record["state"] == "7"
    (new,) = [r for r in table.records.values() if r is not record]
    assert new["correlation_id"] == "inc-1" and new["state"] == "1"
    rt.close()


def test_the_running_loop_prunes_at_its_start(
        tmp_path: Path, env: pytest.MonkeyPatch,  # noqa: F811
        receiver: tuple[Receiver, str]) -> None:  # noqa: F811
    """``aiops serve``'s thread prunes (at its start, then hourly): the retention is
    applied without anyone calling it."""
    import time

    from tests.polling import wait_for

    got, url = receiver
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    rt.engine.ingest([alert("a1-end", ends=30)])
    loop.run_once()
    with rt.db.begin() as conn:  # delivered eight days ago
        conn.execute(sink_deliveries.update().values(delivered_at=time.time() - 8 * DAY))
    running = loop_for(rt, time.time).start()  # type: ignore[arg-type]
    try:
        wait_for(lambda: rows(rt) == [], "the outbox row pruned", timeout=10)
    finally:
        running.stop()
    assert running.pruned == 1
    rt.close()
