"""Two delivery loops on one database, as two ``aiops serve`` on one PostgreSQL (or
two processes on one SQLite file): each claims a row before sending it, so every
change reaches the receiver once; a claim left by a loop that died expires."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from aiops.sinks.delivery import DeliveryLoop, DeliverySettings
from aiops.sinks.setup import build_targets
from aiops.sinks.tables import sink_deliveries
from aiops.store.db import open_database
from tests.sinks.receiver import Receiver, serving_on, webhook_handler
from tests.sinks.runtimes import open_sink_runtime
from tests.sinks.test_webhook_outbox import (  # noqa: F401 (fixtures)
    Clock,
    alert,
    env,
    loop_for,
    receiver,
    rows,
)

INCIDENTS = 8


def test_two_loops_on_one_database_send_each_change_once(
        tmp_path: Path, env: pytest.MonkeyPatch, db_url: str) -> None:  # noqa: F811
    """Both loops see the same due rows at once (a receiver taking 0.2 s an answer
    keeps them at it together); without the claim each sent most of them."""
    got = Receiver()
    got.delay = 0.2
    with serving_on(webhook_handler(got)) as base:
        rt = open_sink_runtime(tmp_path / "data", env, db_url, webhook_urls=base + "/hook")
        for i in range(INCIDENTS):  # far apart: one incident each
            rt.engine.ingest([alert(f"a{i}", "r1" if i % 2 else "r2", i * 4000,
                                    port=str(i))])
        other = open_database(db_url)  # the second process's own connections
        settings = DeliverySettings(min_interval=0)
        loops = [DeliveryLoop(db, build_targets(rt.data_dir.sinks), settings)
                 for db in (rt.db, other)]
        start = threading.Barrier(len(loops))

        def drain(loop: DeliveryLoop) -> None:
            start.wait()
            while loop.run_once():
                pass

        threads = [threading.Thread(target=drain, args=(loop,)) for loop in loops]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        other.dispose()
    sent = sorted(d["incident_id"] for d in got.documents())
    assert sent == sorted(f"inc-{i}" for i in range(1, INCIDENTS + 1)), sent
    assert all(loop.sent > 0 for loop in loops), [loop.sent for loop in loops]
    assert all(r.status == "delivered" and r.claimed_by is None for r in rows(rt))
    rt.close()


def test_a_claim_left_by_a_dead_loop_expires(
        tmp_path: Path, env: pytest.MonkeyPatch,  # noqa: F811
        receiver: tuple[Receiver, str]) -> None:  # noqa: F811
    got, url = receiver
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    with rt.db.begin() as conn:  # a loop claimed it, then its process was killed
        conn.execute(sink_deliveries.update().values(
            claimed_by="dead-host:4242:0", claimed_until=clock.now + loop.settings.lease))
    assert loop.run_once() == 0 and got.requests == []
    clock.now += loop.settings.lease
    assert loop.run_once() == 1
    (row,) = rows(rt)
    assert (row.status, row.claimed_by, row.claimed_until) == ("delivered", None, None)
    rt.close()


def test_a_send_whose_claim_was_taken_over_records_nothing(
        tmp_path: Path, env: pytest.MonkeyPatch,  # noqa: F811
        receiver: tuple[Receiver, str]) -> None:  # noqa: F811
    """A send that outlived its lease (the other loop took the row over): what it
    learnt is not written over the other loop's claim."""
    got, url = receiver
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    target = next(iter(loop.targets.values()))
    send = target.send

    def slow_send(document: dict, external_id: str | None):
        with rt.db.begin() as conn:
            conn.execute(sink_deliveries.update().values(claimed_by="other:1:x",
                                                         claimed_until=clock.now + 999))
        return send(document, external_id)

    target.send = slow_send  # type: ignore[method-assign]
    assert loop.run_once() == 1 and len(got.requests) == 1
    (row,) = rows(rt)
    assert (row.status, row.delivered_version, row.claimed_by) == ("pending", 0, "other:1:x")
    rt.close()
