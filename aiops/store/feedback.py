"""Storage of operator feedback and the reads that merge, split and training need.

A feedback record names every incident it touched with its alert set before and
after, each alert by the id of its first event (what the API and replay output show
and what a history file for ``aiops train`` contains), so training can use it as
labelled groups without the live engine.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from aiops.store.tables import alerts, feedback, incidents, raw_events
from aiops.timeutil import to_rfc3339


def insert_feedback(conn: sa.Connection, record: dict[str, Any]) -> int:
    """Store one record in the caller's transaction; return its id."""
    columns = ("kind", "incident_id", "incidents", "author", "comment", "created_at",
               "alerts_before", "alerts_after")
    result = conn.execute(feedback.insert().values({c: record[c] for c in columns}))
    return int(result.inserted_primary_key[0])


def feedback_view(record: dict[str, Any]) -> dict[str, Any]:
    """A record as the API and the CLI show it (RFC 3339 time)."""
    return {**record, "created_at": to_rfc3339(record["created_at"])}


def feedback_records(conn: sa.Connection) -> list[dict[str, Any]]:
    """Every record, oldest first (later feedback overrides earlier on the same alerts)."""
    rows = conn.execute(sa.select(feedback).order_by(feedback.c.id)).all()
    return [dict(row._mapping) for row in rows]


def incident_row(conn: sa.Connection, incident_id: str) -> Any | None:
    return conn.execute(sa.select(incidents).where(incidents.c.id == incident_id)).first()


def incident_alert_rows(conn: sa.Connection, incident_id: str) -> list[Any]:
    return list(conn.execute(sa.select(alerts).where(alerts.c.incident_id == incident_id)
                             .order_by(alerts.c.id)).all())


def alerts_of_events(conn: sa.Connection, incident_id: str,
                     event_ids: Iterable[str]) -> dict[str, set[int]]:
    """Event id → the incident's alerts that event belongs to (its first event or one
    folded into it by deduplication); ids of other incidents' alerts are absent."""
    wanted = sorted(set(event_ids))
    found: dict[str, set[int]] = {}
    for start in range(0, len(wanted), 500):  # well under every database's bind limit
        query = (sa.select(raw_events.c.event_id, raw_events.c.alert_id)
                 .join(alerts, alerts.c.id == raw_events.c.alert_id)
                 .where(alerts.c.incident_id == incident_id)
                 .where(raw_events.c.event_id.in_(wanted[start:start + 500])))
        for event_id, alert_id in conn.execute(query):
            found.setdefault(event_id, set()).add(int(alert_id))
    return found


def alert_incidents(conn: sa.Connection) -> dict[str, tuple[str, float]]:
    """First event id of every stored alert → the incident it is in now, and its start."""
    query = (sa.select(alerts.c.first_event_id, alerts.c.incident_id, alerts.c.starts_at)
             .where(alerts.c.incident_id.is_not(None)).order_by(alerts.c.id))
    return {event_id: (incident_id, starts_at)
            for event_id, incident_id, starts_at in conn.execute(query)}
