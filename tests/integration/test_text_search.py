"""The incident filters' text search on SQLite and PostgreSQL (aiops/store/text_search.py,
migration 0025): the trigram indexes give exactly the scan's answer, serve the query
(its plan), follow every write, are filled from a store migrated with rows in it, and
go on a downgrade; PostgreSQL without the right to create pg_trgm migrates anyway."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from alembic import command

from aiops.store import queries, text_search
from aiops.store.db import alembic_config, create_db_engine, migrate, open_database
from aiops.store.incident_filter import IncidentFilter, conditions
from aiops.store.tables import alerts, incidents
from aiops.store.text_catchup import index_tail

# (incident title, ((alert name, summary), ...))
STORED = {
    "inc-1": ("BGP_SESSION_DOWN on pe-3", (("BGP_SESSION_DOWN", "peer 10.0.0.1 idle"),)),
    "inc-2": ("PACKET_LOSS on r2", (("PACKET_LOSS", "100% loss on uplink"),
                                    ("CPU_HIGH", "cpu_busy at 97%"))),
    "inc-3": ("DISK_FULL on box-x", (("DISK_FULL", "/var full"),
                                     ("DISK_FULL", "it's C:\\temp\\x; --"))),
    "inc-4": ("Störung Übertragung on r9", (("STÖRUNG", "Zähler überschritten"),)),
    "inc-5": ('quote "q" on r5', (("FAN_FAIL", 'fan * tray: "two"'),)),
}

# The query and the incidents it finds (ASCII: any case on both backends).
EXPECTED = {
    "bgp": {"inc-1"}, "BGP_SESSION": {"inc-1"}, "session_down": {"inc-1"},  # start
    "GP_SESS": {"inc-1"}, "peer 10.0": {"inc-1"}, "0.0.1 idl": {"inc-1"},  # middle
    "_DOWN": {"inc-1"}, "on pe-3": {"inc-1"}, "IDLE": {"inc-1"},  # end
    "100%": {"inc-2"}, "0% l": {"inc-2"}, "%": {"inc-2"},  # % is a character
    "cpu_busy": {"inc-2"}, "cpu_b_sy": set(), "c_u": set(),  # so is _
    "/var": {"inc-3"}, "box-x": {"inc-3"},
    "it's": {"inc-3"}, "c:\\temp": {"inc-3"}, "\\x": {"inc-3"}, "'s C:\\": {"inc-3"},  # quoted
    "; --": {"inc-3"}, "\\": {"inc-3"}, "''": set(),
    "Über": {"inc-4"}, "Zähler": {"inc-4"}, "Störung Ü": {"inc-4"},  # unicode, same case
    '"q"': {"inc-5"}, '"two"': {"inc-5"}, "* tray": {"inc-5"}, "q\"": {"inc-5"},
    "on r": {"inc-2", "inc-4", "inc-5"}, "on": {"inc-1", "inc-2", "inc-3", "inc-4",
                                                 "inc-5"},
    "x": {"inc-3"}, "pe": {"inc-1"}, "97": {"inc-2"},  # one and two characters: a scan
    "no-such-text": set(), "pe-3 BGP": set(),  # not across the title and an alert
}
# Letters outside ASCII in another case: SQLite's LIKE folds ASCII only, PostgreSQL's
# ILIKE by the database's locale; the index must answer as the scan does, whatever.
OTHER_CASE = ("über", "STÖRUNG ÜBER", "zähler", "ÜBERSCHRITTEN", "ströung")


def store(engine: sa.Engine) -> None:
    """``STORED``: incident i started at i, its alerts numbered from i * 10."""
    with engine.begin() as conn:
        for n, (incident_id, (title, members)) in enumerate(STORED.items(), start=1):
            conn.execute(sa.insert(incidents).values(
                id=incident_id, seq=n, status="open", title=title, severity="major",
                started_at=float(n), updated_at=float(n), alert_count=len(members),
                root_causes=[]))
            for k, (name, summary) in enumerate(members):
                conn.execute(sa.insert(alerts).values(
                    id=n * 10 + k, fingerprint=f"{n}-{k}", first_event_id=f"e{n}-{k}",
                    source="nms", name=name, entity="ne", node_id=None, severity="major",
                    summary=summary, labels={}, status="firing", starts_at=float(n),
                    last_event_at=float(n), event_count=1, transitions=0, flapping=False,
                    incident_id=incident_id))


def found(conn: sa.Connection, text: str) -> set[str]:
    """The incidents the list finds for ``text`` (the API's path: indexes if there)."""
    page = queries.list_incidents(conn, limit=10_000, chosen=IncidentFilter(text=text))
    counted = queries.count_incidents(conn, IncidentFilter(text=text))
    assert sum(counted.values()) == len(page)
    return {item["id"] for item in page}


def scanned(conn: sa.Connection, text: str) -> set[str]:
    """The same search with no index: every row read."""
    return set(conn.execute(sa.select(incidents.c.id).where(
        *conditions(IncidentFilter(text=text)))).scalars())


def test_text_search_finds_substrings_in_any_case_with_wildcards_as_text(db_url: str) -> None:
    engine = open_database(db_url)
    try:
        store(engine)
        with engine.connect() as conn:
            assert conn.dialect.name != "sqlite" or text_search.has_sqlite_index(conn)
            for text, expected in EXPECTED.items():
                assert found(conn, text) == expected, text
                if text.isascii():
                    assert found(conn, text.swapcase()) == expected, text.swapcase()
            for text in OTHER_CASE + tuple(EXPECTED):
                assert found(conn, text) == scanned(conn, text), text
    finally:
        engine.dispose()


def test_the_index_follows_inserts_updates_and_deletes(db_url: str) -> None:
    """Renamed titles and summaries are found by the new text only; a deleted alert
    (``aiops prune`` deletes them) and a deleted incident are gone from the index."""
    engine = open_database(db_url)
    try:
        store(engine)
        index_tail(engine)  # SQLite: the stored alerts in the index, as serve's loop does
        with engine.begin() as conn:
            conn.execute(sa.update(alerts).where(alerts.c.id == 20)
                         .values(summary="jitter on uplink", status="resolved"))
            conn.execute(sa.update(alerts).where(alerts.c.id == 21)
                         .values(status="resolved"))  # no searched column: no re-index
            conn.execute(sa.update(incidents).where(incidents.c.id == "inc-1")
                         .values(title="renamed incident"))
            conn.execute(sa.delete(alerts).where(alerts.c.id == 30))
        with engine.connect() as conn:
            assert found(conn, "jitter") == {"inc-2"} and found(conn, "100% loss") == set()
            assert found(conn, "cpu_busy") == {"inc-2"}
            assert found(conn, "renamed") == {"inc-1"}
            assert found(conn, "on pe-3") == set() and found(conn, "idle") == {"inc-1"}
            assert found(conn, "/var full") == set()
            if conn.dialect.name == "sqlite":
                assert fts_rows(conn, text_search.ALERT_TEXT, "/var full") == []
                assert fts_rows(conn, text_search.ALERT_TEXT, "jitter") == [20]
                assert fts_rows(conn, text_search.INCIDENT_TEXT, "renamed") == [1]
                check_integrity(conn)
        with engine.begin() as conn:
            conn.execute(sa.delete(alerts).where(alerts.c.incident_id == "inc-2"))
            conn.execute(sa.delete(incidents).where(incidents.c.id == "inc-2"))
        with engine.connect() as conn:
            assert found(conn, "jitter") == set() and found(conn, "r2") == set()
            if conn.dialect.name == "sqlite":
                assert fts_rows(conn, text_search.INCIDENT_TEXT, "PACKET_LOSS") == []
                check_integrity(conn)
    finally:
        engine.dispose()


def fts_rows(conn: sa.Connection, table: str, text: str) -> list[int]:
    """What the FTS5 table itself holds for ``text``, rows that are gone included."""
    return [r for (r,) in conn.exec_driver_sql(
        f"SELECT rowid FROM {table} WHERE {table} MATCH ? ORDER BY rowid",
        (text_search._fts_phrase(text),))]


def check_integrity(conn: sa.Connection) -> None:
    """FTS5's own check of the index against the rows of its content table."""
    for table in (text_search.ALERT_TEXT, text_search.INCIDENT_TEXT):
        conn.exec_driver_sql(f"INSERT INTO {table}({table}, rank) VALUES ('integrity-check', 1)")


def plan_of(conn: sa.Connection, query: sa.Select) -> str:
    sql = str(query.compile(conn, compile_kwargs={"literal_binds": True}))
    if conn.dialect.name == "sqlite":
        return "\n".join(str(row[-1]) for row in
                         conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
    return "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql))


def test_the_text_search_uses_the_trigram_indexes(db_url: str) -> None:
    """The page and the count of a search of three characters or more read the trigram
    indexes, not every alert; shorter ones scan (no trigram to look up). PostgreSQL
    runs the search as a statement of its own, told not to scan (its planner rightly
    prefers a scan of a few rows): what is checked is that the indexes can answer it,
    and that the page and count then read the incidents it found by their key."""
    engine = open_database(db_url)
    try:
        store(engine)
        index_tail(engine)
        with engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                with conn.begin():
                    conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
                    plan = plan_of(conn, sa.select(incidents.c.id).where(
                        text_search._indexed("bgp", False)))
                assert all(name in plan for name, _, _ in text_search.TRIGRAM_INDEXES), plan
            for text in ("bgp", "x"):
                chosen = queries.filter_conditions(conn, IncidentFilter(text=text))
                page = (sa.select(incidents.c.id)
                        .where(incidents.c.status != "merged", *chosen)
                        .order_by(incidents.c.started_at.desc(), incidents.c.seq.desc())
                        .limit(100))
                count = (sa.select(incidents.c.status, sa.func.count()).where(*chosen)
                         .group_by(incidents.c.status))
                for query in (page, count):
                    plan = plan_of(conn, query)
                    if conn.dialect.name == "sqlite":
                        indexed = (f"{text_search.ALERT_TEXT} VIRTUAL TABLE" in plan
                                   and f"{text_search.INCIDENT_TEXT} VIRTUAL TABLE" in plan
                                   and "SCAN alerts" not in plan
                                   and "SCAN incidents" not in plan)
                        assert indexed == (len(text) >= 3), (text, plan)
                    elif len(text) >= 3:
                        assert "= ANY ('{inc-1}'" in plan, plan
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_postgres_settings_for_the_search_end_with_it(postgres_url: str) -> None:
    """The settings the trigram search runs under (no seq scan, custom plans) are back
    to their defaults when the list's page and counts run in the same transaction."""
    from tests.pg_server import create_database

    engine = open_database(create_database(postgres_url, "aiops_text_settings"))
    try:
        store(engine)
        with engine.connect() as conn:
            for text in ("bgp", "on", "no-such-text"):
                queries.filter_conditions(conn, IncidentFilter(text=text))
                assert conn.exec_driver_sql("SHOW enable_seqscan").scalar() == "on", text
                assert conn.exec_driver_sql("SHOW plan_cache_mode").scalar() == "auto", text
    finally:
        engine.dispose()


def test_migration_0025_indexes_what_is_stored_and_goes_back(db_url: str) -> None:
    """A store at 0024 with incidents and alerts: the upgrade fills the index from
    them (found through it), the downgrade removes every trace and the search scans."""
    old = create_db_engine(db_url)
    command.upgrade(alembic_config(old), "0024")
    store(old)
    old.dispose()
    engine = open_database(db_url)
    try:
        assert objects(engine) == expected_objects(engine)
        with engine.connect() as conn:
            assert found(conn, "peer 10") == {"inc-1"} and found(conn, "Zähler") == {"inc-4"}
            if conn.dialect.name == "sqlite":
                assert fts_rows(conn, text_search.ALERT_TEXT, "peer 10") == [10]
                assert fts_rows(conn, text_search.INCIDENT_TEXT, "box-x") == [3]
                check_integrity(conn)
        command.downgrade(alembic_config(engine), "0024")
        assert objects(engine) == set()
        with engine.connect() as conn:
            assert not text_search.has_sqlite_index(conn)
            assert found(conn, "peer 10") == {"inc-1"} and found(conn, "cpu_b_sy") == set()
        migrate(engine)  # and up again
        assert objects(engine) == expected_objects(engine)
    finally:
        engine.dispose()


def expected_objects(engine: sa.Engine) -> set[str]:
    if engine.dialect.name == "sqlite":
        return {text_search.ALERT_TEXT, text_search.INCIDENT_TEXT,
                *text_search.SQLITE_TRIGGERS}
    return {name for name, _, _ in text_search.TRIGRAM_INDEXES}


def objects(engine: sa.Engine) -> set[str]:
    """The text search's tables, triggers (SQLite) and valid indexes (PostgreSQL:
    an INVALID one, left by a failed concurrent build, serves no query) there."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            names = conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')").scalars()
            wanted = {text_search.ALERT_TEXT, text_search.INCIDENT_TEXT,
                      *text_search.SQLITE_TRIGGERS}
            return set(names) & wanted
        return set(conn.execute(sa.text(
            "SELECT indexrelid::regclass::text FROM pg_index "
            "WHERE indisvalid AND indexrelid::regclass::text IN :names")
            .bindparams(sa.bindparam("names", expanding=True)),
            {"names": [name for name, _, _ in text_search.TRIGRAM_INDEXES]}).scalars())


@pytest.mark.postgres
def test_without_the_right_to_create_pg_trgm_the_migration_warns_and_search_scans(
        postgres_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """A role that may create tables in its schema but not extensions in the database:
    the store migrates to the newest revision without the indexes, a warning names what
    to run, and the search still answers (by a scan)."""
    from tests.pg_server import create_database

    url = create_database(postgres_url, "aiops_no_trgm")
    admin = create_db_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql("DROP ROLE IF EXISTS aiops_limited")
        conn.exec_driver_sql("CREATE ROLE aiops_limited LOGIN")
        conn.exec_driver_sql("CREATE SCHEMA limited AUTHORIZATION aiops_limited")
        conn.exec_driver_sql("ALTER ROLE aiops_limited SET search_path = limited")
        conn.exec_driver_sql("REVOKE CREATE ON DATABASE aiops_no_trgm FROM PUBLIC")
    admin.dispose()
    limited_url = url.replace("//aiops@", "//aiops_limited@")
    caplog.set_level(logging.WARNING, logger="aiops.store.migrations")
    engine = open_database(limited_url)
    try:
        assert objects(engine) == set()
        warning = " ".join(r.getMessage() for r in caplog.records)
        assert "CREATE EXTENSION IF NOT EXISTS pg_trgm" in warning
        assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_alerts_summary_trgm" in warning
        store(engine)
        with engine.connect() as conn:
            assert found(conn, "bgp") == {"inc-1"} and found(conn, "100%") == {"inc-2"}
    finally:
        engine.dispose()


def test_the_sqlite_triggers_are_there_at_the_newest_revision(tmp_path) -> None:
    """SQLite drops a table's triggers with it: a later migration that copies alerts or
    incidents to a new table (a batch migration) must create them again, or the index
    silently stops following the writes. This fails if one does not."""
    engine = open_database(f"sqlite:///{tmp_path / 'head.db'}")
    try:
        with engine.connect() as conn:
            if not text_search.sqlite_supports_trigrams(conn):
                pytest.skip("this SQLite has no FTS5 trigram tokenizer")
        assert objects(engine) == expected_objects(engine)
    finally:
        engine.dispose()


def test_a_text_in_many_alerts_is_scanned_for_and_a_rare_one_looked_up(db_url: str) -> None:
    """Over an eighth of the alerts holding the text (and past ``MIN_PROBE``), the index
    would look up, recheck and count more rows than a scan reads: the page walks the
    incidents newest first instead. Either way the answer is the scan's."""
    engine = open_database(db_url)
    try:
        many = text_search.MIN_PROBE + 200
        with engine.begin() as conn:
            conn.execute(sa.insert(incidents), [{
                "id": f"inc-{n}", "seq": n, "status": "open", "title": f"LINK_DOWN on dev-{n}",
                "severity": "major", "started_at": float(n), "updated_at": float(n),
                "alert_count": 1, "root_causes": []} for n in range(many)])
            conn.execute(sa.insert(alerts), [{
                "id": n, "fingerprint": str(n), "first_event_id": f"e{n}", "source": "nms",
                "name": "LINK_DOWN", "entity": f"dev-{n}", "severity": "major",
                "summary": f"port {n} down", "labels": {}, "status": "firing",
                "starts_at": float(n), "last_event_at": float(n), "event_count": 1,
                "transitions": 0, "flapping": False, "incident_id": f"inc-{n}"}
                for n in range(many)])
        with engine.connect() as conn:
            for text, is_common in (("link_down", True), ("port 1000 ", False)):
                assert (queries.filter_conditions(conn, IncidentFilter(text=text))[0]
                        .compare(text_search.scan(text))) == is_common, text
                assert found(conn, text) == scanned(conn, text) != set(), text
    finally:
        engine.dispose()
