"""The retention loop of ``aiops serve`` over several rounds on its real thread, and its
stop (between two transactions of a prune; on SIGTERM to a real ``aiops serve``), on
SQLite and PostgreSQL. The rounds come every 0.2 s and the wall clock moves 15 days
between them: the loop's ``every`` and ``clock`` parameters, not the settings (whose
floor of a minute and a day's keep stay as they are)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from aiops import retention
from aiops.retention_loop import RetentionLoop
from aiops.runtime import Runtime
from tests.integration.test_retention import DAY, event, fill, ingest, open_store, rows
from tests.polling import wait_for
from tests.serve_process import serving, stops_on_sigterm
from topology.model import Edge, Node

KEEP = 30 * DAY


@pytest.fixture
def keeping(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runtime:
    monkeypatch.setenv("AIOPS_RETENTION_KEEP", str(KEEP))
    rt = open_store(tmp_path / "data", db_url)
    yield rt
    rt.close()


def test_two_rounds_each_prune_what_became_old_between_them(keeping: Runtime) -> None:
    """Round 1 (now) deletes what ended 40 days ago; what ended 20 days ago is still
    inside the 30 days kept. Round 2, 15 days later by its clock, deletes it."""
    rt, now = keeping, time.time()
    rt.import_topology([Node(n, "device", n) for n in ("r1", "r2", "r3")], [Edge("r1", "r2")],
                       "test")
    ingest(rt, event("old", "r1", now - 40 * DAY))
    ingest(rt, event("old", "r1", now - 40 * DAY, now - 40 * DAY + 60))
    ingest(rt, event("mid", "r2", now - 20 * DAY))
    ingest(rt, event("mid", "r2", now - 20 * DAY, now - 20 * DAY + 60))
    ingest(rt, event("new", "r3", now - 60))  # firing: stays
    second = threading.Event()
    loop: RetentionLoop

    def clock() -> float:
        if loop.rounds == 0:
            return now
        second.wait(30)  # until the test has looked at round 1
        return now + 15 * DAY

    loop = RetentionLoop(rt.db, rt.data_dir, every=0.2, clock=clock).start()
    try:
        wait_for(lambda: loop.rounds >= 1, "the first round")
        assert loop.last is not None and loop.last.cutoff == now - KEEP
        assert (loop.last.deleted["alerts"], loop.last.deleted["incidents"]) == (1, 1)
        assert rows(rt)["alerts"] == {"mid", "new"}
        second.set()
        wait_for(lambda: loop.rounds >= 2, "the second round")
        assert loop.last.cutoff == now + 15 * DAY - KEEP
        assert (loop.last.deleted["alerts"], loop.last.deleted["incidents"]) == (1, 1)
        assert rows(rt)["alerts"] == {"new"}
        wait_for(lambda: loop.rounds >= 3, "a third round")
        assert loop.last.total == 0  # nothing became old since
    finally:
        assert loop.stop(timeout=10)
    assert not loop.alive


def test_a_stop_during_a_prune_ends_it_after_its_transaction(keeping: Runtime) -> None:
    """Asked to stop while it prunes, the loop ends after the transaction it is in
    (raw events before their alerts: only those went), and the next prune finishes."""
    rt, now = keeping, time.time()
    fill(rt, now - 100 * DAY, now - 60)
    before = rows(rt)
    loop: RetentionLoop

    def clock() -> float:
        loop._stop.set()  # as stop() does, from inside the round
        return now

    loop = RetentionLoop(rt.db, rt.data_dir, every=0.05, clock=clock).start()
    wait_for(lambda: not loop.alive, "the loop to end")
    assert loop.rounds == 1 and loop.last is None  # the round did not finish
    midway = rows(rt)
    assert midway["alerts"] == before["alerts"]
    assert midway["raw_events"] == before["raw_events"] - {"a1", "a2"}
    done = retention.prune(rt.db, retention.plan(rt.db, now - KEEP, rt.data_dir.settings))
    assert done.deleted["alerts"] == 2 and rows(rt)["alerts"] == before["alerts"] - {"a1", "a2"}


def test_aiops_serve_closes_its_retention_loop_on_sigterm(db_url: str, tmp_path: Path) -> None:
    with serving(tmp_path / "d", db_url, AIOPS_RETENTION_KEEP=str(KEEP)) as (server, said):
        assert any("pruning what ended more than 2592000 s ago" in s for s in said), said
        stops_on_sigterm(server, within=15)  # not the loop's hour, nor its stop's 10 s
