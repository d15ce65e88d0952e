"""SQLite's text search with new alerts indexed off the ingest path
(aiops/store/text_catchup.py, aiops/text_index_loop.py): alerts above the mark are
found by a scan of their range, then through the index once caught up; a deleted alert
is found neither way; the mark survives a restart and follows a prune of the newest
ids; ``aiops serve`` runs the catch-up and stops it on SIGTERM."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from aiops.cli import main
from aiops.store import text_search
from aiops.store.db import open_database
from aiops.store.tables import alerts, incidents
from aiops.store.text_catchup import index_tail, tail_size
from aiops.text_index_loop import TextIndexLoop
from tests.integration.test_text_search import check_integrity, found, fts_rows, store
from tests.polling import wait_for
from tests.serve_process import serving, stops_on_sigterm


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def engine(sqlite_url: str) -> Iterator[sa.Engine]:
    db = open_database(sqlite_url)
    with db.connect() as conn:
        if not text_search.has_sqlite_index(conn):
            db.dispose()
            pytest.skip("this SQLite has no FTS5 trigram tokenizer")
    yield db
    db.dispose()


def mark(db: sa.Engine, indexed: text_search.Indexed = text_search.ALERTS) -> int:
    with db.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT mark FROM {indexed.mark}").scalar_one())


def test_new_alerts_are_found_in_the_tail_then_through_the_index(engine: sa.Engine) -> None:
    store(engine)  # after the migration: no insert trigger indexed them
    with engine.connect() as conn:
        assert tail_size(conn) == 7 and fts_rows(conn, text_search.ALERT_TEXT, "peer 10") == []
        assert tail_size(conn, text_search.INCIDENTS) == 5
        assert fts_rows(conn, text_search.INCIDENT_TEXT, "on pe-3") == []
        assert found(conn, "peer 10") == {"inc-1"} and found(conn, "cpu_busy") == {"inc-2"}
        assert found(conn, "on pe-3") == {"inc-1"} and found(conn, "on r") == {
            "inc-2", "inc-4", "inc-5"}
    assert index_tail(engine, chunk=3) == 12  # 7 alerts and 5 titles, 3 per transaction
    assert mark(engine) == 50 and mark(engine, text_search.INCIDENTS) == 5
    with engine.connect() as conn:
        assert tail_size(conn) == 0 and tail_size(conn, text_search.INCIDENTS) == 0
        assert fts_rows(conn, text_search.ALERT_TEXT, "peer 10") == [10]
        assert fts_rows(conn, text_search.INCIDENT_TEXT, "on pe-3") == [1]
        assert found(conn, "peer 10") == {"inc-1"} and found(conn, "cpu_busy") == {"inc-2"}
        assert found(conn, "on pe-3") == {"inc-1"}
        check_integrity(conn)
    assert index_tail(engine) == 0


def test_a_deleted_alert_is_found_neither_indexed_nor_in_the_tail(engine: sa.Engine) -> None:
    store(engine)
    index_tail(engine)
    with engine.begin() as conn:
        conn.execute(sa.insert(alerts).values(
            id=60, fingerprint="6-0", first_event_id="e6-0", source="nms", name="NEW_ONE",
            entity="ne", severity="major", summary="tail only", labels={}, status="firing",
            starts_at=6.0, last_event_at=6.0, event_count=1, transitions=0, flapping=False,
            incident_id="inc-5"))
        conn.execute(sa.delete(alerts).where(alerts.c.id.in_((10, 60))))  # indexed, tail
        conn.execute(sa.delete(alerts).where(alerts.c.incident_id == "inc-3"))
        conn.execute(sa.delete(incidents).where(incidents.c.id == "inc-3"))  # indexed
    with engine.connect() as conn:
        assert found(conn, "peer 10") == set() and found(conn, "tail only") == set()
        assert found(conn, "box-x") == set()
        assert fts_rows(conn, text_search.INCIDENT_TEXT, "box-x") == []
        assert fts_rows(conn, text_search.ALERT_TEXT, "peer 10") == []
        check_integrity(conn)
    assert mark(engine) == 50 and index_tail(engine) == 0


def test_a_prune_of_the_newest_alerts_lowers_the_mark_for_their_ids(engine: sa.Engine) -> None:
    """A restart numbers new alerts from the highest id stored: an id the prune freed
    must be in the tail again, not below the mark and never indexed."""
    store(engine)
    index_tail(engine)
    with engine.begin() as conn:
        conn.execute(sa.delete(alerts).where(alerts.c.id >= 40))
    assert mark(engine) == 31
    with engine.begin() as conn:
        conn.execute(sa.insert(alerts).values(
            id=40, fingerprint="re", first_event_id="re", source="nms", name="REUSED",
            entity="ne", severity="major", summary="id used again", labels={},
            status="firing", starts_at=7.0, last_event_at=7.0, event_count=1,
            transitions=0, flapping=False, incident_id="inc-3"))
    with engine.connect() as conn:
        assert found(conn, "used again") == {"inc-3"}
    assert index_tail(engine) == 1
    with engine.connect() as conn:
        assert fts_rows(conn, text_search.ALERT_TEXT, "used again") == [40]
        check_integrity(conn)


def test_the_mark_survives_a_restart(engine: sa.Engine, sqlite_url: str) -> None:
    store(engine)
    index_tail(engine, chunk=5)
    engine.dispose()
    again = open_database(sqlite_url)
    try:
        assert mark(again) == 50
        with again.connect() as conn:
            assert tail_size(conn) == 0 and found(conn, "Zähler") == {"inc-4"}
            check_integrity(conn)
    finally:
        again.dispose()


def test_the_loop_indexes_what_is_stored_while_it_runs_and_stops(engine: sa.Engine) -> None:
    loop = TextIndexLoop(engine, every=0.1).start()
    try:
        store(engine)

        def caught_up() -> bool:
            with engine.connect() as conn:
                return tail_size(conn) == 0 and mark(engine) == 50
        wait_for(caught_up, "the loop indexing the new alerts", timeout=10)
        assert loop.indexed == 12
    finally:
        assert loop.stop(timeout=5) and not loop.alive


def test_aiops_serve_indexes_new_alerts_and_stops_on_sigterm(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'served.db'}"
    engine = open_database(db_url)
    try:
        with engine.connect() as conn:
            if not text_search.has_sqlite_index(conn):
                pytest.skip("this SQLite has no FTS5 trigram tokenizer")
        store(engine)  # stored while nothing served: the loop's first round indexes it
    finally:
        engine.dispose()
    with serving(tmp_path / "d", db_url) as (server, said):
        assert any("indexing new alerts and incidents for the text search" in s for s in said), said
        engine = open_database(db_url)
        try:
            wait_for(lambda: mark(engine) == 50, "serve indexing the stored alerts", timeout=20)
        finally:
            engine.dispose()
        stops_on_sigterm(server, within=10)


def stored_while_nothing_served(db_url: str) -> None:
    engine = open_database(db_url)
    try:
        with engine.connect() as conn:
            if not text_search.has_sqlite_index(conn):
                pytest.skip("this SQLite has no FTS5 trigram tokenizer")
        store(engine)
    finally:
        engine.dispose()


def test_aiops_serve_catches_up_at_the_interval_it_is_given(tmp_path: Path) -> None:
    """``--text-index-every 0.2``: said at start, and an alert stored while it serves
    is indexed within a few rounds, sooner than the default 5 s allows for."""
    db_url = f"sqlite:///{tmp_path / 'served.db'}"
    stored_while_nothing_served(db_url)
    with serving(tmp_path / "d", db_url, "--text-index-every", "0.2") as (server, said):
        assert any("for the text search every 0.2 s" in s for s in said), said
        engine = open_database(db_url)
        try:
            wait_for(lambda: mark(engine) == 50, "serve indexing the stored alerts", timeout=20)
            with engine.begin() as conn:
                conn.execute(sa.insert(alerts).values(
                    id=60, fingerprint="60", first_event_id="e60", source="nms",
                    name="LINK_FLAP", entity="ne", severity="major", summary="flapping",
                    labels={}, status="firing", starts_at=6.0, last_event_at=6.0,
                    event_count=1, transitions=0, flapping=False, incident_id="inc-1"))
            wait_for(lambda: mark(engine) == 60, "serve indexing the new alert", timeout=4)
        finally:
            engine.dispose()
        stops_on_sigterm(server, within=10)


def test_aiops_serve_with_the_catch_up_off_says_so_and_indexes_nothing(
        tmp_path: Path) -> None:
    """``AIOPS_TEXT_INDEX_EVERY=0``: no catch-up thread, a line saying what that costs,
    and what was stored stays in the tail (found all the same, by the scan)."""
    db_url = f"sqlite:///{tmp_path / 'served.db'}"
    stored_while_nothing_served(db_url)
    with serving(tmp_path / "d", db_url, AIOPS_TEXT_INDEX_EVERY="0") as (server, said):
        assert any("text search catch-up off" in s and "scans" in s for s in said), said
        assert not any("indexing new alerts" in s for s in said), said
        stops_on_sigterm(server, within=10)
    engine = open_database(db_url)
    try:
        with engine.connect() as conn:
            assert tail_size(conn) + tail_size(conn, text_search.INCIDENTS) == 12
            assert found(conn, "peer 10") == {"inc-1"}
    finally:
        engine.dispose()


def test_rows_numbered_from_zero_are_deleted_safely_before_any_catch_up(
        engine: sa.Engine) -> None:
    """An empty table's mark is below every key: a row of key 0 stored and deleted
    before any catch-up was never indexed, and no trigger may take it out of the
    index (that corrupts an FTS5 table of external content)."""
    with engine.begin() as conn:
        conn.execute(sa.insert(incidents).values(
            id="inc-0", seq=0, status="open", title="zero", severity="major",
            started_at=0.0, updated_at=0.0, alert_count=1, root_causes=[]))
        conn.execute(sa.insert(alerts).values(
            id=0, fingerprint="0", first_event_id="e0", source="nms", name="ZERO",
            entity="ne", severity="major", summary="zero", labels={}, status="firing",
            starts_at=0.0, last_event_at=0.0, event_count=1, transitions=0,
            flapping=False, incident_id="inc-0"))
    with engine.begin() as conn:
        conn.execute(sa.delete(alerts))
        conn.execute(sa.delete(incidents))
    with engine.connect() as conn:
        check_integrity(conn)
        assert found(conn, "zero") == set()


@pytest.mark.parametrize(("env", "args", "named"), [
    ({"AIOPS_TEXT_INDEX_EVERY": "-3"}, [], "AIOPS_TEXT_INDEX_EVERY"),
    ({"AIOPS_TEXT_INDEX_EVERY": "often"}, [], "AIOPS_TEXT_INDEX_EVERY"),
    ({}, ["--text-index-every", "1e9"], "--text-index-every"),
])
def test_a_bad_catch_up_interval_names_where_it_came_from(
        tmp_path: Path, env: dict[str, str], args: list[str], named: str) -> None:
    """An interval out of 0..86400 s or not a number stops serve before it starts,
    naming what the operator set: the variable when it came from the environment,
    not a flag they never typed."""
    result = CliRunner().invoke(
        main, ["--data-dir", str(tmp_path / "d"), "serve", *args], env=env)
    assert result.exit_code == 2, result.output
    assert f"Invalid value for {named}" in result.output, result.output
    assert not (tmp_path / "d").exists()  # nothing was opened or created


@pytest.mark.parametrize(("value", "running"), [(None, True), ("2.5", True), ("0", False)])
def test_a_wsgi_server_s_app_runs_the_catch_up_as_serve_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str | None,
        running: bool) -> None:
    """``create_app()`` with no runtime (gunicorn, deploy/systemd) keeps SQLite's text
    search indexed at AIOPS_TEXT_INDEX_EVERY (default 5 s; 0: off), like ``aiops serve``:
    without it every search of a gunicorn-served store scans all it ever stored."""
    from aiops.api import create_app

    if value is None:
        monkeypatch.delenv("AIOPS_TEXT_INDEX_EVERY", raising=False)
    else:
        monkeypatch.setenv("AIOPS_TEXT_INDEX_EVERY", value)
    runtime = create_app({"AIOPS_DATA_DIR": str(tmp_path / "d")}).extensions["aiops"]
    try:
        loop = runtime.text_index
        assert (loop is not None) is running
        if loop is not None:
            assert loop.every == (float(value) if value else 5.0)
            wait_for(lambda: loop.rounds >= 1, what="a first catch-up round")
            assert loop.alive
    finally:
        runtime.close()
    assert loop is None or not loop.alive


@pytest.mark.parametrize("value", ["-1", "soon", "nan", "90000"])
def test_a_wsgi_server_s_app_refuses_a_bad_interval_naming_the_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from aiops.api import create_app

    monkeypatch.setenv("AIOPS_TEXT_INDEX_EVERY", value)
    with pytest.raises(ValueError, match=r"Invalid value for AIOPS_TEXT_INDEX_EVERY: "):
        create_app({"AIOPS_DATA_DIR": str(tmp_path / "d")})
    assert not (tmp_path / "d").exists()  # refused before anything was opened
