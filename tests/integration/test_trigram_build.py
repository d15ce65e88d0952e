"""Migration 0025 on PostgreSQL builds its trigram indexes without holding off writes
(aiops/store/trigram_build.py), and a build stopped half-way, which leaves an INVALID
index, is repaired by the next run of the migration.

How the build is caught in the act, deterministically: a concurrent build ends by
waiting for every transaction whose snapshot is older than its second pass ("waiting
for old snapshots"). A REPEATABLE READ transaction that read nothing of ``alerts``
(``SELECT 1``: a snapshot, no lock) keeps the first index's build there for as long as
it stays open, its SHARE UPDATE EXCLUSIVE lock on ``alerts`` held. A plain ``CREATE
INDEX`` waits for no snapshot (and holds a SHARE lock, which inserts wait for): it
never shows that phase, and the tests fail.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command

from aiops.store.db import alembic_config, create_db_engine, migrate, stored_revision
from aiops.store.tables import alerts
from tests.integration.test_text_search import expected_objects, found, objects, store
from tests.pg_server import create_database
from tests.polling import wait_for

pytestmark = pytest.mark.postgres

FIRST = "ix_alerts_name_trgm"  # text_search.TRIGRAM_INDEXES' first: built first


@contextmanager
def building_0025(url: str) -> Iterator[tuple[int, dict[str, BaseException]]]:
    """A store at 0024 with ``STORED`` in it, upgraded to 0025 on a thread, held in the
    first index's build: yields the building backend's pid and where the upgrade's
    error goes. The hold ends (and the upgrade is waited for) on the way out."""
    old = create_db_engine(url)
    command.upgrade(alembic_config(old), "0024")
    store(old)
    old.dispose()
    holder = psycopg.connect(url)
    holder.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    holder.execute("SELECT 1")  # the snapshot the build will wait for; no table read
    engine = create_db_engine(url)
    failed: dict[str, BaseException] = {}

    def upgrade() -> None:
        try:
            command.upgrade(alembic_config(engine), "0025")
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            failed["upgrade"] = exc

    thread = threading.Thread(target=upgrade, daemon=True)
    thread.start()
    try:
        with psycopg.connect(url, autocommit=True) as watcher:
            pid = wait_for(lambda: watcher.execute(
                "SELECT pid FROM pg_stat_progress_create_index "
                "WHERE relid = 'alerts'::regclass AND phase = 'waiting for old snapshots'"
            ).fetchone(), "the index build waiting for the older snapshot", timeout=30)[0]
        yield pid, failed
    finally:
        holder.rollback()
        holder.close()
        thread.join(timeout=60)
        engine.dispose()
    assert not thread.is_alive(), "the upgrade did not end once the snapshot was gone"


def insert_alert(url: str, alert_id: int, summary: str) -> None:
    """One alert written the way the engine writes (a short transaction), told to fail
    rather than wait more than 5 s for a lock."""
    engine = create_db_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("SET LOCAL lock_timeout = '5s'")
            conn.execute(sa.insert(alerts).values(
                id=alert_id, fingerprint=f"w{alert_id}", first_event_id=f"w{alert_id}",
                source="nms", name="LINK_FLAP", entity="ne", node_id=None,
                severity="major", summary=summary, labels={}, status="firing",
                starts_at=9.0, last_event_at=9.0, event_count=1, transitions=0,
                flapping=False, incident_id="inc-1"))
            conn.execute(sa.update(alerts).where(alerts.c.id == 10).values(status="resolved"))
    finally:
        engine.dispose()


def test_writes_to_alerts_go_on_while_0025_builds_its_indexes(postgres_url: str) -> None:
    url = create_database(postgres_url, "aiops_trgm_concurrent")
    with building_0025(url) as (pid, failed):
        with psycopg.connect(url, autocommit=True) as watcher:
            locks = {mode for (mode,) in watcher.execute(
                "SELECT mode FROM pg_locks WHERE pid = %s AND granted "
                "AND relation = 'alerts'::regclass", (pid,))}
        assert locks == {"ShareUpdateExclusiveLock"}, locks  # not ShareLock: writes go on
        insert_alert(url, 900, "written during the index build")
        with psycopg.connect(url, autocommit=True) as watcher:  # still building
            assert watcher.execute("SELECT count(*) FROM pg_stat_progress_create_index "
                                   "WHERE pid = %s", (pid,)).fetchone() == (1,)
    assert failed == {}
    engine = create_db_engine(url)
    try:
        assert stored_revision(engine) == "0025"
        assert objects(engine) == expected_objects(engine)  # all there, all valid
        with engine.connect() as conn:
            assert found(conn, "during the index build") == {"inc-1"}
    finally:
        engine.dispose()


def test_an_index_left_invalid_by_a_stopped_build_is_built_again(
        postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A build cancelled half-way (as a killed migration or a lost connection would
    leave it): the index stays, INVALID, and the store at 0024; migrating again drops
    it and builds it, and says so."""
    url = create_database(postgres_url, "aiops_trgm_invalid")
    with (building_0025(url) as (pid, failed),
          psycopg.connect(url, autocommit=True) as watcher):
        watcher.execute("SELECT pg_cancel_backend(%s)", (pid,))
        wait_for(lambda: "upgrade" in failed, "the upgrade failing", timeout=30)
        assert watcher.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = %s::regclass",
            (FIRST,)).fetchone() == (False,)
    assert "canceling statement" in str(failed["upgrade"])
    caplog.set_level(logging.WARNING, logger="aiops.store.migrations")
    engine = create_db_engine(url)
    try:
        assert stored_revision(engine) == "0024"
        insert_alert(url, 901, "written after the failed build")
        migrate(engine)
        assert objects(engine) == expected_objects(engine)
        assert f"index {FIRST} is INVALID" in caplog.text
        with engine.connect() as conn:
            assert found(conn, "after the failed build") == {"inc-1"}
            assert found(conn, "peer 10") == {"inc-1"}
    finally:
        engine.dispose()
