"""Writes one batch of engine decisions in one transaction.

Either the whole batch (its raw events, new and changed alerts and incidents) is
stored or none of it is, so a failure never leaves an event without its alert or
an alert pointing at an incident that does not exist.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterable
from operator import itemgetter
from typing import Any

import sqlalchemy as sa

from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.store.json_column import column_json, plain_json
from aiops.store.tables import alerts, incidents, raw_events

_ALERT_UPDATE = (
    alerts.update()
    .where(alerts.c.id == sa.bindparam("_id"))
    .values({c: sa.bindparam(c) for c in (
        "node_id", "status", "ends_at", "last_event_at", "event_count", "transitions",
        "flapping", "incident_id", "severity", "summary", "episode_start",
        "recent_transitions", "recent_starts", "labels", "placement")})
)
_INCIDENT_UPDATE = (
    incidents.update()
    .where(incidents.c.id == sa.bindparam("_id"))
    .values({c: sa.bindparam(c) for c in (
        "status", "title", "severity", "started_at", "updated_at", "resolved_at",
        "merged_into", "alert_count", "root_causes", "settled", "split_note")})
)


class _Plan:
    """A statement compiled once for one dialect, with its DBAPI parameter layout.

    ``conn.execute(stmt, rows)`` rebuilds every row's parameters through the compiler
    (a dict per row, then a bind-processor lookup per key); at replay rates that was
    most of the write time. Here the bind order and the processors (JSON encoding,
    SQLite booleans, psycopg's JSON wrapper) are worked out once and each row becomes
    one tuple (or dict) for the driver's ``executemany``. SQL text, processors and
    driver call are the dialect's own, so what is stored does not change.
    """

    def __init__(self, compiled: Any, dialect: sa.Dialect, sample: dict[str, Any],
                 sources: dict[str, str]):
        binds = {name: bind for bind, name in compiled.bind_names.items()}
        names = list(compiled.positiontup) if compiled.positional else list(binds)
        escaped = compiled.escaped_bind_names or {}
        self.sql: str = compiled.string
        self.binds = [(binds[n].key, sources.get(binds[n].key, binds[n].key)) for n in names]
        self.keys = [source for _, source in self.binds]
        self._pick = _picker(self.keys)
        # Anything the rows do not carry (a Python-side default, an expanding IN) is
        # left to SQLAlchemy's own path.
        self.fast = not (compiled.post_compile_params or compiled.literal_execute_params
                         or any(key not in sample for key in self.keys))
        self._names = None if compiled.positional else [escaped.get(n, n) for n in names]
        self._sequence = dialect.execute_sequence_format
        self._processors = [
            (i, proc) for i, n in enumerate(names)
            if (proc := binds[n].type.dialect_impl(dialect).bind_processor(dialect))
        ]

    def parameters(self, rows: list[dict[str, Any]]) -> list[Any]:
        """One DBAPI parameter set per row, in the statement's bind order."""
        processors, names, sequence = self._processors, self._names, self._sequence
        pick = self._pick
        out = []
        for row in rows:
            values = list(pick(row))
            for i, proc in processors:
                values[i] = proc(values[i])
            out.append(sequence(values) if names is None else dict(zip(names, values, strict=True)))
        return out

    def bound_only(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows cut to the statement's binds, for ``conn.execute`` (an UPDATE given a
        column it does not bind would set that column too)."""
        pairs = [(key, source) for key, source in self.binds if source in rows[0]]
        return [{key: row[source] for key, source in pairs} for row in rows]


def _picker(keys: list[str]) -> Any:
    """A row's values for ``keys``, in order, as a tuple: one C call per row
    (``itemgetter``) rather than a Python loop over twenty-odd keys."""
    if len(keys) > 1:
        return itemgetter(*keys)
    return lambda row: tuple(row[key] for key in keys)  # itemgetter of one: no tuple


_PLANS: weakref.WeakKeyDictionary[sa.Dialect, dict[Any, _Plan]] = weakref.WeakKeyDictionary()


def _plan(dialect: sa.Dialect, stmt: Any, sample: dict[str, Any], insert: bool,
          sources: dict[str, str]) -> _Plan:
    """The plan of ``stmt`` for rows shaped like ``sample``, compiled on first use.

    Statements are module constants, so the cache stays as small as their number.
    """
    shape = (stmt, tuple(sample), tuple(sources.items()))
    plans = _PLANS.setdefault(dialect, {})
    plan = plans.get(shape)
    if plan is None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(sample) if insert else None)
        plan = plans[shape] = _Plan(compiled, dialect, sample, sources)
    return plan


def _execute_many(conn: sa.Connection, stmt: Any, rows: list[dict[str, Any]], *,
                  insert: bool, sources: dict[str, str] | None = None) -> None:
    """``conn.execute(stmt, rows)`` minus the per-row compiler work: same SQL, same
    transaction, same driver ``executemany``. Inserts take every key of the rows;
    updates only their bound ones. ``sources`` maps a bind to the row key holding its
    value (``_id`` -> ``id``: an UPDATE may not name a bind after a column)."""
    plan = _plan(conn.dialect, stmt, rows[0], insert, sources or {})
    if plan.fast:
        conn.exec_driver_sql(plan.sql, plan.parameters(rows))
    else:
        conn.execute(stmt, rows if insert else plan.bound_only(rows))


_INCIDENT_INSERT = incidents.insert()
_ALERT_INSERT = alerts.insert()
_EVENT_INSERT = raw_events.insert()
_BY_ID = {"_id": "id"}  # the updates' WHERE bind, filled from the row's ``id``


def _split(records: Iterable[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of records not yet stored (to insert) and of stored ones (to update)."""
    new: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    for record in records:
        (changed if record.persisted else new).append(record.row())
    return new, changed


def write_batch(conn: sa.Connection, dirty_incidents: Iterable[IncidentRecord],
                dirty_alerts: Iterable[AlertRecord], events: list[dict[str, Any]]) -> None:
    """Insert or update everything the batch touched; caller owns the transaction.

    Incidents first, then alerts, then events: each refers to the one before. An
    update sets only the columns its statement binds, so an alert's identity columns
    (fingerprint, first event, ...) and an incident's ``seq`` never change; its labels
    do, for the labels that do not identify it (an acknowledgement: ``alert_status``).
    """
    new_inc, changed_inc = _split(dirty_incidents)
    new_al, changed_al = _split(dirty_alerts)
    if getattr(conn.dialect, "_json_serializer", None) is not column_json:
        # As ``_payloads_for``: an alert's placement is encoded text (JsonText).
        new_al, changed_al = ([{**row, "placement": plain_json(row["placement"])}
                               for row in rows] for rows in (new_al, changed_al))
    if new_inc:
        _execute_many(conn, _INCIDENT_INSERT, new_inc, insert=True)
    if changed_inc:
        _execute_many(conn, _INCIDENT_UPDATE, changed_inc, insert=False, sources=_BY_ID)
    if new_al:
        _execute_many(conn, _ALERT_INSERT, new_al, insert=True)
    if changed_al:
        _execute_many(conn, _ALERT_UPDATE, changed_al, insert=False, sources=_BY_ID)
    if events:
        _execute_many(conn, _EVENT_INSERT, _payloads_for(conn.dialect, events), insert=True)


def _payloads_for(dialect: sa.Dialect, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The event rows as ``dialect`` can store them: a payload given as encoded text
    (``JsonText``) is stored as it is by a data dir's engine, whose JSON serializer is
    ``column_json``; any other engine would store the text as a JSON string, so it gets
    the value decoded again."""
    if getattr(dialect, "_json_serializer", None) is column_json:
        return events
    return [{**row, "payload": plain_json(row["payload"])} for row in events]


def mark_persisted(records: Iterable[AlertRecord | IncidentRecord]) -> None:
    """Called only after the transaction committed."""
    for record in records:
        record.persisted = True
