"""The batch writer stores what ``conn.execute(statement, rows)`` stored, on both backends.

``write_batch`` hands pre-built parameter rows to the driver's ``executemany`` instead
of letting SQLAlchemy rebuild them per row. These tests replay the same stream once
through it and once through the plain SQLAlchemy statements it replaced, and compare
every stored row; and check that a failing batch still leaves nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import aiops.engine.engine as engine_module
from aiops.config import DataDir
from aiops.demo.generate import demo_alerts
from aiops.models import parse_alert
from aiops.runtime import open_runtime
from aiops.store import recorder
from aiops.store.db import open_database
from aiops.store.tables import alerts, incidents, raw_events
from topology.model import parse_topology

T0 = 1_800_000_000.0


def sqlalchemy_write_batch(conn: sa.Connection, dirty_incidents: Any, dirty_alerts: Any,
                           events: list[dict[str, Any]]) -> None:
    """The writer as it was: every statement through ``conn.execute``."""
    def split(records: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        new, changed = [], []
        for record in records:
            row = record.row()
            if record.persisted:
                row["_id"] = row.pop("id")
                changed.append(row)
            else:
                new.append(row)
        return new, changed

    new_inc, changed_inc = split(dirty_incidents)
    for row in changed_inc:
        row.pop("seq", None)
    new_al, changed_al = split(dirty_alerts)
    for row in changed_al:
        for key in ("fingerprint", "first_event_id", "source", "name", "entity",
                    "description", "starts_at"):
            row.pop(key, None)
    if new_inc:
        conn.execute(incidents.insert(), new_inc)
    if changed_inc:
        conn.execute(recorder._INCIDENT_UPDATE, changed_inc)
    if new_al:
        conn.execute(alerts.insert(), new_al)
    if changed_al:
        conn.execute(recorder._ALERT_UPDATE, changed_al)
    if events:
        conn.execute(raw_events.insert(), events)


@pytest.fixture
def reference_url(db_url: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A second, empty database on the same backend as ``db_url``."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'reference.db'}"
    from tests.pg_server import create_database

    return create_database(request.getfixturevalue("postgres_url"),
                           db_url.rsplit("/", 1)[1] + "_ref")


def replay_demo(url: str, data_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    """The demo stream in small batches (so later ones update stored alerts and
    incidents), then every stored row of the three tables."""
    data = demo_alerts(T0, faults=8, noise=15, seed=3)
    rt = open_runtime(DataDir(path=data_dir, database_url=url))
    try:
        rt.import_topology(*parse_topology(data.topology), source="demo")
        events = sorted((parse_alert(a) for a in data.alerts), key=lambda a: a.starts_at)
        for start in range(0, len(events), 40):
            rt.engine.ingest(events[start:start + 40], received_at=T0 + start)
        with rt.db.connect() as conn:
            return {table.name: [tuple(r) for r in conn.execute(
                        sa.select(table).order_by(*table.primary_key.columns))]
                    for table in (incidents, alerts, raw_events)}
    finally:
        rt.close()


def test_stored_rows_match_sqlalchemy_execute(db_url: str, reference_url: str,
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    fast = replay_demo(db_url, tmp_path / "fast")
    monkeypatch.setattr(engine_module, "write_batch", sqlalchemy_write_batch)
    reference = replay_demo(reference_url, tmp_path / "reference")
    assert fast == reference
    assert len(fast["raw_events"]) > len(fast["alerts"]) > len(fast["incidents"]) > 1
    column = alerts.c.keys().index
    assert all(type(r[column("flapping")]) is bool for r in fast["alerts"])
    assert all(type(r[column("labels")]) is dict for r in fast["alerts"])
    assert any(r[column("event_count")] > 1 for r in fast["alerts"])  # updated later


class Stored:
    """A record as the writer sees it."""

    def __init__(self, row: dict[str, Any], persisted: bool = False):
        self._row, self.persisted = row, persisted

    def row(self) -> dict[str, Any]:
        return dict(self._row)


INCIDENT = {"id": "inc-1", "seq": 1, "status": "open", "title": "t", "severity": "major",
            "started_at": T0, "updated_at": T0, "resolved_at": None, "merged_into": None,
            "alert_count": 1, "root_causes": [{"entity": "r1", "evidence": ["ü"]}]}
ALERT = {"id": 1, "fingerprint": "f", "first_event_id": "a1", "source": "nms", "name": "n",
         "entity": "r1", "node_id": "r1", "severity": "major", "summary": "s",
         "description": None, "labels": {"k": "v"}, "status": "firing", "starts_at": T0,
         "ends_at": None, "last_event_at": T0, "episode_start": None,
         "recent_transitions": None, "recent_starts": None, "event_count": 1,
         "transitions": 0, "flapping": False, "incident_id": "inc-1", "placement": None}


def event(seq: int) -> dict[str, Any]:
    return {"seq": seq, "event_id": f"a{seq}", "source": "nms", "received_at": T0,
            "alert_id": 1, "disposition": "new", "payload": {"id": f"a{seq}"}}


@pytest.fixture
def db(db_url: str) -> Iterator[sa.Engine]:
    engine = open_database(db_url)
    yield engine
    engine.dispose()


def counts(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return [conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (incidents, alerts, raw_events)]


def test_failed_batch_stores_nothing(db: sa.Engine) -> None:
    """The last statement of the batch fails (a repeated event seq): the incident and
    alert inserted before it in the same transaction are gone too."""
    with pytest.raises(sa.exc.IntegrityError), db.begin() as conn:
        recorder.write_batch(conn, [Stored(INCIDENT)], [Stored(ALERT)],
                             [event(1), event(2), event(2)])
    assert counts(db) == [0, 0, 0]


def test_update_sets_only_its_columns(db: sa.Engine) -> None:
    with db.begin() as conn:
        recorder.write_batch(conn, [Stored(INCIDENT)], [Stored(ALERT)], [event(1)])
    changed = {**ALERT, "status": "resolved", "ends_at": T0 + 5, "flapping": True,
               "summary": "the latest", "labels": {"k": "v", "acknowledged": "true"},
               "fingerprint": "not-stored", "first_event_id": "not-stored"}
    with db.begin() as conn:
        recorder.write_batch(conn, [], [Stored(changed, persisted=True)], [event(2)])
    with db.connect() as conn:
        row = conn.execute(sa.select(alerts)).one()
    assert (row.status, row.ends_at, row.flapping) == ("resolved", T0 + 5, True)
    # The summary follows the latest event (Dedup._take_latest_state), and so do the
    # labels that do not identify the condition (an acknowledgement: alert_status);
    # the fingerprint and first event never change.
    assert (row.summary, row.labels) == ("the latest", {"k": "v", "acknowledged": "true"})
    assert (row.fingerprint, row.first_event_id) == (ALERT["fingerprint"],
                                                     ALERT["first_event_id"])
    assert counts(db) == [1, 1, 2]


def test_python_side_default_takes_sqlalchemy_path(tmp_path: Path) -> None:
    """A column whose value SQLAlchemy computes is not skipped by the fast path."""
    table = sa.Table("t", sa.MetaData(), sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("doc", sa.JSON, nullable=False),
                     sa.Column("made", sa.String, default=lambda: "by default"))
    engine = sa.create_engine(f"sqlite:///{tmp_path / 't.db'}")
    table.metadata.create_all(engine)
    stmt = table.insert()
    rows = [{"id": 1, "doc": {"a": 1}}, {"id": 2, "doc": None}]
    with engine.begin() as conn:
        plan = recorder._plan(conn.dialect, stmt, rows[0], True, {})
        assert not plan.fast
        recorder._execute_many(conn, stmt, rows, insert=True)
        recorder._execute_many(conn, stmt, [{"id": 3, "doc": [], "made": "given"}],
                               insert=True)
        assert recorder._plan(conn.dialect, stmt, {"id": 3, "doc": [], "made": "x"}, True,
                              {}).fast
        stored = conn.execute(sa.select(table).order_by(table.c.id)).all()
    engine.dispose()
    assert [tuple(r) for r in stored] == [(1, {"a": 1}, "by default"), (2, None, "by default"),
                                          (3, [], "given")]
