"""Writes one batch of engine decisions in one transaction.

Either the whole batch (its raw events, new and changed alerts and incidents) is
stored or none of it is, so a failure never leaves an event without its alert or
an alert pointing at an incident that does not exist.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.store.tables import alerts, incidents, raw_events

_ALERT_UPDATE = (
    alerts.update()
    .where(alerts.c.id == sa.bindparam("_id"))
    .values({c: sa.bindparam(c) for c in (
        "node_id", "status", "ends_at", "last_event_at", "event_count", "transitions",
        "flapping", "incident_id", "severity")})
)
_INCIDENT_UPDATE = (
    incidents.update()
    .where(incidents.c.id == sa.bindparam("_id"))
    .values({c: sa.bindparam(c) for c in (
        "status", "title", "severity", "started_at", "updated_at", "resolved_at",
        "merged_into", "alert_count", "root_causes")})
)


def _split(records: Iterable[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    new, changed = [], []
    for record in records:
        row = record.row()
        if record.persisted:
            row["_id"] = row.pop("id")
            changed.append(row)
        else:
            new.append(row)
    return new, changed


def write_batch(conn: sa.Connection, dirty_incidents: Iterable[IncidentRecord],
                dirty_alerts: Iterable[AlertRecord], events: list[dict[str, Any]]) -> None:
    """Insert or update everything the batch touched; caller owns the transaction."""
    incident_list = list(dirty_incidents)
    alert_list = list(dirty_alerts)
    new_inc, changed_inc = _split(incident_list)
    for row in changed_inc:
        row.pop("seq", None)
    new_al, changed_al = _split(alert_list)
    for row in changed_al:
        for key in ("fingerprint", "first_event_id", "source", "name", "entity", "summary",
                    "description", "labels", "starts_at"):
            row.pop(key, None)
    if new_inc:
        conn.execute(incidents.insert(), new_inc)
    if changed_inc:
        conn.execute(_INCIDENT_UPDATE, changed_inc)
    if new_al:
        conn.execute(alerts.insert(), new_al)
    if changed_al:
        conn.execute(_ALERT_UPDATE, changed_al)
    if events:
        conn.execute(raw_events.insert(), events)


def mark_persisted(records: Iterable[AlertRecord | IncidentRecord]) -> None:
    """Called only after the transaction committed."""
    for record in records:
        record.persisted = True
