"""Storage on both backends: SQLite (embedded default) and a real PostgreSQL server."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import topology.tables  # noqa: F401  (registers the topology tables)
from aiops.config import DataDir
from aiops.models import parse_alert
from aiops.runtime import open_runtime
from aiops.store import queries
from aiops.store.db import HEAD_REVISION, alembic_config, migrate, open_database, stored_revision
from aiops.store.metadata import metadata
from aiops.store.tables import alerts, raw_events
from aiops.store.text_search import is_index_object
from tests.conftest import load_demo
from topology.embedded import EmbeddedGraphStore
from topology.model import Edge, Node


def test_migrations_match_the_tables(db_url: str) -> None:
    engine = open_database(db_url)
    try:
        migrate(engine)  # a second run is a no-op
        # The text search's FTS5 tables and GIN indexes are migration 0025's alone.
        skip = {"include_name": lambda name, _type, _parents: not is_index_object(name)}
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts=skip), metadata)
        assert diff == []
    finally:
        engine.dispose()


def test_head_revision_is_the_newest_migration(db_url: str) -> None:
    """``migrate`` skips Alembic when the database is at ``HEAD_REVISION``: a new
    migration must move that constant too, or databases would never reach it."""
    from alembic.script import ScriptDirectory

    engine = open_database(db_url)
    try:
        assert ScriptDirectory.from_config(alembic_config(engine)).get_current_head() \
            == HEAD_REVISION
        assert stored_revision(engine) == HEAD_REVISION
    finally:
        engine.dispose()


def test_engine_round_trip_and_restart(db_url: str, tmp_path) -> None:
    data_dir = DataDir(path=tmp_path / "d", database_url=db_url)
    rt = open_runtime(data_dir)
    try:
        load_demo(rt, faults=6)
        with rt.db.connect() as conn:
            listed = queries.list_incidents(conn, limit=1000)
            n_alerts = conn.execute(sa.select(sa.func.count()).select_from(alerts)).scalar()
            n_events = conn.execute(sa.select(sa.func.count()).select_from(raw_events)).scalar()
        assert listed and n_events >= n_alerts > 0
        detail = None
        with rt.db.connect() as conn:
            detail = queries.get_incident(conn, listed[0]["id"])
        assert len(detail["alerts"]) == detail["alert_count"]
        assert detail["root_causes"] and detail["root_causes"][0]["evidence"]
    finally:
        rt.close()
    again = open_runtime(data_dir)
    try:
        assert len(again.engine.topology) == 45
        live = again.engine.stats()["live_incidents"]
        assert live >= sum(1 for i in listed if i["status"] == "open")
    finally:
        again.close()


def test_raw_events_of_no_alert_across_migration_0008(db_url: str, tmp_path) -> None:
    """A clear of a condition never seen firing is stored with no alert (0008 made
    ``alert_id`` nullable); a downgrade drops only such events, and the upgrade on the
    next open keeps every other one."""
    from alembic import command

    from aiops.store.db import alembic_config

    data_dir = DataDir(path=tmp_path / "d", database_url=db_url)
    rt = open_runtime(data_dir)
    try:
        clear = {"id": "up", "source": "syslog", "name": "LINK_DOWN", "entity": "r9",
                 "severity": "info", "summary": "up", "starts_at": 1_800_000_060,
                 "ends_at": 1_800_000_060}
        problem = {**clear, "id": "down", "entity": "r8", "ends_at": None}
        result = rt.engine.ingest([parse_alert(problem), parse_alert(clear)],
                                  start_unknown=[1])
        assert dict(result.dispositions) == {"new": 1, "unmatched_clear": 1}
    finally:
        rt.close()

    def events(engine: sa.Engine) -> list[tuple[str, bool]]:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(raw_events.c.event_id, raw_events.c.alert_id)
                                .order_by(raw_events.c.seq)).all()
        return [(event_id, alert_id is not None) for event_id, alert_id in rows]

    def nullable(engine: sa.Engine) -> bool:
        columns = sa.inspect(engine).get_columns("raw_events")
        return next(c["nullable"] for c in columns if c["name"] == "alert_id")

    engine = open_database(db_url)
    try:
        assert events(engine) == [("down", True), ("up", False)] and nullable(engine)
        command.downgrade(alembic_config(engine), "0007")
        assert events(engine) == [("down", True)] and not nullable(engine)
        migrate(engine)
        assert events(engine) == [("down", True)] and nullable(engine)
    finally:
        engine.dispose()


def test_a_late_clear_after_a_restart_does_not_end_the_condition_fired_again(
        db_url: str, tmp_path) -> None:
    """When a re-fired episode began is stored (migration 0009), so after a restart the
    late clear of the episode before is still a duplicate; it used to end the alert."""
    data_dir = DataDir(path=tmp_path / "d", database_url=db_url)
    t = 1_800_000_000
    down = {"id": "e1", "source": "alertmanager", "name": "LINK_DOWN", "entity": "r1",
            "severity": "major", "summary": "down", "starts_at": t, "ends_at": None}
    rt = open_runtime(data_dir)
    try:
        for event in (down, {**down, "id": "e2", "ends_at": t + 100},
                      {**down, "id": "e3", "starts_at": t + 200}):  # fires again
            rt.engine.ingest([parse_alert(event)])
    finally:
        rt.close()
    again = open_runtime(data_dir)
    try:
        late = again.engine.ingest([parse_alert({**down, "id": "e4", "ends_at": t + 100})])
        assert dict(late.dispositions) == {"duplicate": 1}
        with again.db.connect() as conn:
            rows = conn.execute(sa.select(alerts.c.status, alerts.c.episode_start)).all()
        assert [tuple(r) for r in rows] == [("firing", t + 200)]
    finally:
        again.close()


def test_incidents_stored_before_migration_0010_count_as_settled(db_url: str,
                                                                   tmp_path) -> None:
    """The hindsight split looks at an incident once, when it first settles; an
    incident stored before its state was (0010) was forwarded long ago and is never
    split after the fact: the upgrade marks it settled. A downgrade drops the state."""
    from alembic import command

    from aiops.store.db import alembic_config
    from aiops.store.tables import incidents

    data_dir = DataDir(path=tmp_path / "d", database_url=db_url)
    rt = open_runtime(data_dir)
    try:
        down = {"id": "e1", "source": "nms", "name": "LINK_DOWN", "entity": "r1",
                "severity": "major", "summary": "down", "starts_at": 1_800_000_000}
        rt.engine.ingest([parse_alert(down)])
    finally:
        rt.close()

    def state(engine: sa.Engine) -> list[tuple]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(
                sa.select(incidents.c.settled, incidents.c.split_note)).all()]

    engine = open_database(db_url)
    try:
        assert state(engine) == [(False, None)]  # live, not yet looked at
        command.downgrade(alembic_config(engine), "0009")
        columns = {c["name"] for c in sa.inspect(engine).get_columns("incidents")}
        assert not {"settled", "split_note"} & columns
        migrate(engine)
        assert state(engine) == [(True, None)]
    finally:
        engine.dispose()


def test_topology_upsert_keeps_first_seen(db_url: str) -> None:
    engine = open_database(db_url)
    try:
        store = EmbeddedGraphStore(engine)
        store.upsert([Node("a", "device", "a"), Node("b", "device", "b")], [Edge("a", "b")],
                     source="t", seen_at=100.0)
        store.upsert([Node("a", "device", "a-renamed"), Node("c", "device", "c")],
                     [Edge("a", "c")], source="t", seen_at=200.0)
        assert store.counts() == (3, 2)
        with engine.connect() as conn:
            row = conn.execute(sa.text(
                "SELECT name, first_seen, last_seen FROM topo_nodes WHERE id = 'a'")).one()
        assert tuple(row) == ("a-renamed", 100.0, 200.0)
        graph = store.load()
        assert graph.distance("b", "c", 3) == 2
    finally:
        engine.dispose()


def test_unicode_and_large_labels_survive(db_url: str, tmp_path) -> None:
    rt = open_runtime(DataDir(path=tmp_path / "d", database_url=db_url))
    try:
        a = parse_alert({"id": "ü-1", "source": "nms", "name": "ÜBERLAST", "entity": "gerät-1",
                         "severity": "minor", "summary": "Überlast 温度 🔥",
                         "starts_at": 1_800_000_000, "labels": {"k": "v" * 8000}})
        rt.engine.ingest([a])
        with rt.db.connect() as conn:
            row = conn.execute(sa.select(alerts.c.summary, alerts.c.labels)).one()
        assert row.summary == "Überlast 温度 🔥" and len(row.labels["k"]) == 8000
    finally:
        rt.close()


def test_an_alert_on_a_node_id_past_256_characters_is_stored(db_url: str,
                                                              tmp_path) -> None:
    """alerts.node_id was VARCHAR(256): on PostgreSQL an alert that resolved to a
    Kubernetes pod ``pod/NS/NAME`` of more than 256 characters failed its whole batch
    (and the topology tables refused the pod itself). Migration 0012 widens both."""
    name = "batch-" + "x" * 247
    pod = f"pod/{'n' * 63}/{name}"
    rt = open_runtime(DataDir(path=tmp_path / "data", database_url=db_url))
    try:
        rt.import_topology([Node(pod, "pod", name)], [], "kubernetes")
        rt.engine.ingest([parse_alert({"id": "p1", "source": "k8s", "name": "CrashLoop",
                                       "entity": name, "severity": "major",
                                       "summary": "restarting", "starts_at": 1000.0})])
        with rt.db.connect() as conn:
            assert conn.execute(sa.select(alerts.c.node_id)).scalar_one() == pod
    finally:
        rt.close()


def test_migration_0012_widens_node_ids_keeping_what_is_stored(db_url: str) -> None:
    """A database at 0011 with a node, an edge and an alert on it: the upgrade keeps
    them (SQLite's schema text is rewritten in place, PostgreSQL's columns altered),
    and ids up to 512 characters fit afterwards."""
    from alembic import command

    from aiops.store.db import alembic_config, create_db_engine

    old = create_db_engine(db_url)
    command.upgrade(alembic_config(old), "0011")
    with old.begin() as conn:
        for node in ("r1", "r2"):
            conn.execute(sa.text("INSERT INTO topo_nodes VALUES (:id, 'device', :id, '{}', "
                                 "'t', 1.0, 1.0)"), {"id": node})
        conn.execute(sa.text("INSERT INTO topo_edges VALUES ('r1', 'r2', 'connected_to', '{}',"
                             " 't', 1.0, 1.0)"))
    old.dispose()
    engine = open_database(db_url)
    try:
        long_id = "pod/" + "n" * 63 + "/" + "p" * 253
        store = EmbeddedGraphStore(engine)
        assert store.counts() == (2, 1)
        store.upsert([Node(long_id, "pod", long_id)], [Edge(long_id, "r1", "runs_on")],
                     source="t", seen_at=2.0)
        assert store.load().neighbours(long_id) == {"r1"}
        widths = {c["name"]: getattr(c["type"], "length", None)
                  for c in sa.inspect(engine).get_columns("alerts")}
        assert widths["node_id"] == 512
    finally:
        engine.dispose()


def test_an_alert_and_a_ticket_naming_a_long_pod_id_as_entity_are_stored(db_url: str,
                                                                        tmp_path) -> None:
    """An alert's and a ticket's ``entity`` held 256 characters while a node id holds
    512: an alert naming a Kubernetes pod by its id ``pod/NS/NAME`` past 256 was refused
    at the edge ("field 'entity' is 257 characters long"), though the pod was in the
    topology. Migration 0015 widens both columns; the alert resolves to the pod."""
    from aiops.models import MAX_ENTITY_LENGTH, parse_ticket
    from aiops.tickets.store import load_tickets, store_tickets

    pod = f"pod/{'n' * 63}/{'p' * 253}"
    assert len(pod) > 256 and MAX_ENTITY_LENGTH == 512
    rt = open_runtime(DataDir(path=tmp_path / "data", database_url=db_url))
    try:
        rt.import_topology([Node(pod, "pod", pod)], [], "kubernetes")
        rt.engine.ingest([parse_alert({"id": "p1", "source": "k8s", "name": "CrashLoop",
                                       "entity": pod, "severity": "major",
                                       "summary": "restarting", "starts_at": 1000.0})])
        ticket = parse_ticket({"id": "INC1", "opened_at": 1000.0, "title": "pod restarts",
                               "entity": pod})
        with rt.db.begin() as conn:
            store_tickets(conn, [ticket], "csv", lambda entity: entity)
        with rt.db.connect() as conn:
            row = conn.execute(sa.select(alerts.c.entity, alerts.c.node_id)).one()
            assert load_tickets(conn)[0].entity == pod
        assert (row.entity, row.node_id) == (pod, pod)
    finally:
        rt.close()


def test_an_entity_past_512_characters_is_refused_naming_the_field() -> None:
    import pytest

    from aiops.errors import InputError

    with pytest.raises(InputError, match="field 'entity' is 513 characters long, the limit "
                                         "is 512") as info:
        parse_alert({"id": "p1", "source": "k8s", "name": "CrashLoop", "entity": "e" * 513,
                     "severity": "major", "summary": "", "starts_at": 1000.0})
    assert info.value.field == "entity"


def test_migration_0015_widens_entities_keeping_what_is_stored(db_url: str) -> None:
    """A database at 0014 with an alert and a ticket: the upgrade keeps them, the
    entity columns are 512 wide afterwards, and the downgrade narrows them again."""
    from alembic import command

    from aiops.store.db import create_db_engine

    old = create_db_engine(db_url)
    command.upgrade(alembic_config(old), "0014")
    with old.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO alerts (id, fingerprint, first_event_id, source, name, entity, "
            "severity, summary, labels, status, starts_at, last_event_at, event_count, "
            "transitions, flapping) VALUES (1, 'f', 'e1', 's', 'n', 'ne-1', 'major', '', "
            "'{}', 'firing', 1.0, 1.0, 1, 0, false)"))
        conn.execute(sa.text("INSERT INTO tickets (id, source, opened_at, title, entity, "
                             "alert_ids, labels, stored_at) VALUES ('T1', 'csv', 1.0, 't', "
                             "'ne-1', '[]', '{}', 1.0)"))
    old.dispose()
    engine = open_database(db_url)
    try:
        def widths() -> tuple[int, int]:
            inspector = sa.inspect(engine)
            return tuple(next(c["type"].length for c in inspector.get_columns(t)
                              if c["name"] == "entity") for t in ("alerts", "tickets"))

        assert widths() == (512, 512)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT entity FROM alerts")).scalar_one() == "ne-1"
            assert conn.execute(sa.text("SELECT entity FROM tickets")).scalar_one() == "ne-1"
        command.downgrade(alembic_config(engine), "0014")
        engine.dispose()
        assert widths() == (256, 256)
    finally:
        engine.dispose()


def test_migration_0016_folds_reversed_connected_to_edges(db_url: str) -> None:
    """A database at 0015 where an import stored ``edge-9 -> core-1`` beside discovery's
    ``core-1 -> edge-9`` (one link, two rows) and ``b -> a`` alone: the upgrade keeps one
    row per link, ends sorted, with both rows' sightings; directed kinds are untouched."""
    from alembic import command

    from aiops.store.db import create_db_engine

    old = create_db_engine(db_url)
    command.upgrade(alembic_config(old), "0015")
    with old.begin() as conn:
        for node in ("core-1", "edge-9", "a", "b"):
            conn.execute(sa.text("INSERT INTO topo_nodes VALUES (:id, 'device', :id, '{}', "
                                 "'t', 1.0, 1.0)"), {"id": node})
        for row in (("edge-9", "core-1", "connected_to", '{"speed": "10G"}', "import", 1.0, 5.0),
                    ("core-1", "edge-9", "connected_to", '{"port": "1"}', "lldp", 2.0, 3.0),
                    ("b", "a", "connected_to", "{}", "import", 4.0, 4.0),
                    ("b", "a", "depends_on", "{}", "import", 4.0, 4.0)):
            conn.execute(sa.text("INSERT INTO topo_edges VALUES (:s, :t, :k, :a, :src, :f, "
                                 ":l)"), dict(zip(("s", "t", "k", "a", "src", "f", "l"), row,
                                                  strict=True)))
    old.dispose()
    engine = open_database(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT source_id, target_id, kind, source, first_seen, last_seen "
                "FROM topo_edges ORDER BY source_id, target_id, kind")).all()
        assert [tuple(r) for r in rows] == [
            ("a", "b", "connected_to", "import", 4.0, 4.0),
            ("b", "a", "depends_on", "import", 4.0, 4.0),
            ("core-1", "edge-9", "connected_to", "import", 1.0, 5.0)]
        assert EmbeddedGraphStore(engine).load().relations("core-1", "edge-9")[0].attrs == {
            "speed": "10G"}
    finally:
        engine.dispose()


def test_migration_0018_dates_pending_outbox_rows_and_adds_the_claim(db_url: str) -> None:
    """A database at 0017 with a pending and a delivered outbox row: the pending one is
    dated from its latest change (all the table knew), the delivered one waits for
    nothing, neither is claimed; the downgrade drops the columns again."""
    from alembic import command

    from aiops.store.db import create_db_engine

    old = create_db_engine(db_url)
    command.upgrade(alembic_config(old), "0017")
    with old.begin() as conn:
        for incident, status in (("inc-1", "pending"), ("inc-2", "delivered")):
            conn.execute(sa.text(
                "INSERT INTO sink_deliveries (sink, incident_id, version, fingerprint, "
                "status, changed_at, next_attempt_at, attempts, delivered_version) VALUES "
                "('rt', :i, 2, '{}', :s, 1000.0, 1000.0, 0, 1)"), {"i": incident, "s": status})
    old.dispose()
    engine = open_database(db_url)
    try:
        with engine.connect() as conn:
            got = conn.execute(sa.text(
                "SELECT incident_id, pending_since, claimed_by, claimed_until "
                "FROM sink_deliveries ORDER BY incident_id")).all()
        assert [tuple(r) for r in got] == [("inc-1", 1000.0, None, None),
                                           ("inc-2", None, None, None)]
        command.downgrade(alembic_config(engine), "0017")
        engine.dispose()
        columns = {c["name"] for c in sa.inspect(engine).get_columns("sink_deliveries")}
        assert not columns & {"pending_since", "claimed_by", "claimed_until"}
    finally:
        engine.dispose()


def test_time_windows_on_the_alerts_use_their_index(tmp_path) -> None:
    """Restarts, the live pace's seed, drift checks, shadow regrouping and retraining
    all read a window of ``starts_at``: a look-up, not a scan of the whole history."""
    engine = open_database(f"sqlite:///{tmp_path / 'plan.db'}")
    try:
        migrate(engine)
        window = sa.select(alerts.c.id).where(alerts.c.starts_at >= 1.0,
                                              alerts.c.starts_at < 2.0)
        latest = sa.select(sa.func.max(alerts.c.starts_at))
        with engine.connect() as conn:
            for query in (window, latest):
                sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
                plan = " ".join(str(row[-1]) for row in
                                conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
                assert "ix_alerts_starts_at" in plan, plan
    finally:
        engine.dispose()


def test_migration_0022_adds_the_sessions_table_keeping_what_is_stored(db_url: str) -> None:
    """A database at 0021 with an engine state row: the upgrade adds the sessions table
    (empty: cookies from before it carry no session id, so their users sign in again)
    and keeps the row; the downgrade drops the table again."""
    from alembic import command

    from aiops.store.db import create_db_engine

    old = create_db_engine(db_url)
    command.upgrade(alembic_config(old), "0021")
    with old.begin() as conn:
        conn.execute(sa.text("INSERT INTO engine_state (name, state) VALUES "
                             "('pace', '{\"scale\": 1.5}')"))
    old.dispose()
    engine = open_database(db_url)
    try:
        assert stored_revision(engine) == HEAD_REVISION
        with engine.begin() as conn:
            assert conn.execute(sa.text("SELECT name FROM engine_state")).scalars().all() \
                == ["pace"]
            conn.execute(sa.text(
                "INSERT INTO sessions (id, user_name, created_at, expires_at) "
                "VALUES ('h', 'ann', 1.0, 2.0)"))
            assert conn.execute(sa.text("SELECT user_name, ended_at FROM sessions")).all() \
                == [("ann", None)]
        command.downgrade(alembic_config(engine), "0021")
        engine.dispose()
        assert not sa.inspect(engine).has_table("sessions")
    finally:
        engine.dispose()


def test_migration_0023_adds_the_re_check_columns_keeping_the_sessions(db_url: str) -> None:
    """A database at 0022 with a live session: the upgrade keeps it, with no scopes
    (its cookie's count), no check time and no refresh token (it is not re-checked);
    the downgrade drops the columns again and keeps the row."""
    from alembic import command

    from aiops.api.session_store import SessionStore
    from aiops.store.db import create_db_engine

    old = create_db_engine(db_url)
    command.upgrade(alembic_config(old), "0022")
    with old.begin() as conn:
        conn.execute(sa.text("INSERT INTO sessions (id, user_name, created_at, expires_at) "
                             "VALUES ('h', 'ann', 1.0, 9e9)"))
    old.dispose()
    engine = open_database(db_url)
    try:
        assert stored_revision(engine) == HEAD_REVISION
        with engine.connect() as conn:
            assert conn.execute(sa.text(
                "SELECT user_name, scopes, checked_at, refresh_sealed FROM sessions")).all() \
                == [("ann", None, None, None)]
        store = SessionStore(engine)
        store.start("s", "wall", expires=9e9, scopes=frozenset({"read"}), sealed=b"\x01x")
        live = store.live("s")
        assert live is not None and live.scopes == {"read"} and live.sealed == b"\x01x"
        command.downgrade(alembic_config(engine), "0022")
        engine.dispose()
        columns = {c["name"] for c in sa.inspect(engine).get_columns("sessions")}
        assert "refresh_sealed" not in columns and "checked_at" not in columns
        with engine.connect() as conn:
            assert sorted(conn.execute(sa.text("SELECT user_name FROM sessions"))
                          .scalars()) == ["ann", "wall"]
    finally:
        engine.dispose()


def insert_an_incident_with_its_alert(conn: sa.Connection) -> None:
    """One open incident ``inc-1`` and its firing alert ``a1``, written as SQL so that
    it fits a schema older than the tables' (a migration test's starting point)."""
    conn.execute(sa.text(
        "INSERT INTO incidents (id, seq, status, title, severity, started_at, "
        "updated_at, alert_count, root_causes) VALUES "
        "('inc-1', 1, 'open', 'LINK_DOWN on r1', 'major', 1.0, 1.0, 1, '[]')"))
    conn.execute(sa.text(
        "INSERT INTO alerts (id, fingerprint, first_event_id, source, name, entity, "
        "node_id, severity, summary, labels, status, starts_at, last_event_at, "
        "event_count, transitions, flapping, incident_id) VALUES (1, 'f', 'a1', 'nms', "
        "'LINK_DOWN', 'ne-1', 'r1', 'major', 'down', '{}', 'firing', 1.0, 1.0, 1, 0, "
        "false, 'inc-1')"))


def test_migration_0024_indexes_the_incident_filters_and_goes_back(db_url: str) -> None:
    """A database at 0023 with an incident and its alert: the upgrade adds the filters'
    indexes (the status index becomes status and incident) and keeps the rows; the
    downgrade restores the indexes of 0023 and keeps them too."""
    from alembic import command

    from aiops.store.db import create_db_engine

    def indexes(engine: sa.Engine) -> set[str]:
        inspector = sa.inspect(engine)
        return {i["name"] for table in ("alerts", "incidents")
                for i in inspector.get_indexes(table)}

    added = {"ix_incidents_started", "ix_alerts_node", "ix_alerts_entity",
             "ix_alerts_status_incident"}
    old = create_db_engine(db_url)
    command.upgrade(alembic_config(old), "0023")
    with old.begin() as conn:
        insert_an_incident_with_its_alert(conn)
    old.dispose()
    engine = open_database(db_url)
    try:
        assert stored_revision(engine) == HEAD_REVISION
        assert added <= indexes(engine) and "ix_alerts_status" not in indexes(engine)
        with engine.connect() as conn:
            assert queries.count_incidents(conn) == {"open": 1}
        command.downgrade(alembic_config(engine), "0023")
        engine.dispose()
        assert not added & indexes(engine) and "ix_alerts_status" in indexes(engine)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT incident_id FROM alerts")).scalars().all() \
                == ["inc-1"]
    finally:
        engine.dispose()


def test_the_incident_filters_use_their_indexes(tmp_path) -> None:
    """The entity filter looks alerts up by node and entity, the acknowledged filter
    reads the firing alerts by incident, and a filtered page walks the incidents
    newest first: no scan of every alert, no sort of every incident."""
    from aiops.store.incident_filter import IncidentFilter, conditions
    from aiops.store.tables import incidents

    engine = open_database(f"sqlite:///{tmp_path / 'plan.db'}")
    try:
        migrate(engine)
        newest = (incidents.c.started_at.desc(), incidents.c.seq.desc())
        expected = {
            IncidentFilter(entity="ne-1", node_id="r1"): ("ix_alerts_entity",
                                                          "ix_alerts_node"),
            IncidentFilter(acknowledged=False): ("ix_alerts_status_incident",
                                                 "ix_incidents_started"),
            IncidentFilter(severities=("critical",)): ("ix_incidents_started",),
        }
        with engine.connect() as conn:
            for chosen, names in expected.items():
                query = (sa.select(incidents.c.id)
                         .where(incidents.c.status != "merged", *conditions(chosen))
                         .order_by(*newest).limit(100))
                sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
                plan = " ".join(str(row[-1]) for row in
                                conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
                assert all(name in plan for name in names), (chosen, plan)
                assert "SCAN alerts" not in plan, (chosen, plan)
    finally:
        engine.dispose()


def test_migration_0026_adds_alert_placement_and_goes_back(db_url: str, tmp_path) -> None:
    """A database at 0024 with an incident and its alert: the upgrade keeps them, the
    alert's placement is NULL and reads "not recorded"; an alert placed afterwards
    stores why; the downgrade drops the column and keeps the rows."""
    from alembic import command

    from aiops.store.db import create_db_engine

    old = create_db_engine(db_url)
    command.upgrade(alembic_config(old), "0024")
    with old.begin() as conn:
        insert_an_incident_with_its_alert(conn)
    old.dispose()
    rt = open_runtime(DataDir(path=tmp_path / "d", database_url=db_url))
    try:
        rt.engine.ingest([parse_alert({
            "id": "a2", "source": "nms", "name": "LINK_DOWN", "entity": "r9",
            "severity": "major", "summary": "down", "starts_at": 1_800_000_000})])
        with rt.db.connect() as conn:
            [before] = queries.get_incident(conn, "inc-1", placement=True)["alerts"]
            [after] = queries.get_incident(conn, "inc-2", placement=True)["alerts"]
    finally:
        rt.close()
    assert before["placement"] is None
    assert before["why_here"] == "not recorded (placed before migration 0026)"
    assert after["placement"]["decision"] == "opened"
    engine = open_database(db_url)
    try:
        command.downgrade(alembic_config(engine), "0024")
        engine.dispose()
        columns = {c["name"] for c in sa.inspect(engine).get_columns("alerts")}
        assert "placement" not in columns
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT first_event_id FROM alerts ORDER BY id")
                                ).scalars().all() == ["a1", "a2"]
    finally:
        engine.dispose()


def test_migration_0027_keeps_the_beat_of_a_firing_condition_and_goes_back(
        db_url: str, tmp_path) -> None:
    """A database at 0026 with a firing alert: the upgrade keeps it, with no starts kept
    (NULL); a condition re-sent every 5 minutes stores its latest two starts, and after
    a restart its next start keeps the beat (one alert); the downgrade drops the column
    and keeps the rows."""
    from alembic import command

    from aiops.store.db import create_db_engine

    old = create_db_engine(db_url)
    command.upgrade(alembic_config(old), "0026")
    with old.begin() as conn:
        insert_an_incident_with_its_alert(conn)
    old.dispose()
    t = 1_800_000_000
    fan = {"source": "syslog", "name": "FAN_FAIL", "entity": "sw1", "severity": "major",
           "summary": "fan 2 failed"}
    data_dir = DataDir(path=tmp_path / "d", database_url=db_url)

    def starts() -> list[tuple]:
        with rt.db.connect() as conn:
            return [tuple(r) for r in conn.execute(
                sa.select(alerts.c.first_event_id, alerts.c.recent_starts)
                .order_by(alerts.c.id)).all()]

    rt = open_runtime(data_dir)
    try:
        for i in range(2):
            rt.engine.ingest([parse_alert({**fan, "id": f"f{i}", "starts_at": t + 300 * i})])
        assert starts() == [("a1", None), ("f0", [t, t + 300])]
    finally:
        rt.close()
    rt = open_runtime(data_dir)
    try:
        third = rt.engine.ingest([parse_alert({**fan, "id": "f2", "starts_at": t + 600})])
        assert dict(third.dispositions) == {"duplicate": 1}
        assert starts() == [("a1", None), ("f0", [t + 300, t + 600])]
    finally:
        rt.close()
    engine = open_database(db_url)
    try:
        command.downgrade(alembic_config(engine), "0026")
        engine.dispose()
        columns = {c["name"] for c in sa.inspect(engine).get_columns("alerts")}
        assert "recent_starts" not in columns
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT first_event_id FROM alerts ORDER BY id")
                                ).scalars().all() == ["a1", "f0"]
    finally:
        engine.dispose()
