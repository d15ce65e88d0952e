"""Read side: what the API, the CLI and replay output ask of the database."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from aiops.engine.alert_status import incident_status
from aiops.engine.placement import describe
from aiops.errors import NotFound
from aiops.store.incident_filter import IncidentFilter, conditions
from aiops.store.tables import alerts, incidents, raw_events
from aiops.timeutil import to_rfc3339

INCIDENT_STATUSES = ("open", "resolved", "merged")


def incident_summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "status": row.status, "title": row.title, "severity": row.severity,
        "started_at": to_rfc3339(row.started_at), "updated_at": to_rfc3339(row.updated_at),
        "resolved_at": to_rfc3339(row.resolved_at), "merged_into": row.merged_into,
        "alert_count": row.alert_count, "root_causes": row.root_causes or [],
    }


def alert_view(row: Any) -> dict[str, Any]:
    return {
        "id": row.first_event_id, "alert_pk": row.id, "source": row.source, "name": row.name,
        "entity": row.entity, "node_id": row.node_id, "severity": row.severity,
        "summary": row.summary, "description": row.description, "labels": row.labels or {},
        "status": row.status, "starts_at": to_rfc3339(row.starts_at),
        "ends_at": to_rfc3339(row.ends_at), "event_count": row.event_count,
        "flapping": row.flapping, "incident_id": row.incident_id,
        "starts_at_epoch": row.starts_at, "ends_at_epoch": row.ends_at,
    }


def filter_conditions(conn: sa.Connection, chosen: IncidentFilter
                      ) -> list[sa.ColumnElement[bool]]:
    """``chosen``'s WHERE terms for ``conn``: its text searched through the trigram
    indexes or scanned for, whichever this text on this store makes cheaper."""
    return conditions(chosen, conn)


def list_incidents(conn: sa.Connection, status: str | None = None, limit: int = 100,
                   offset: int = 0, chosen: IncidentFilter | None = None
                   ) -> list[dict[str, Any]]:
    """A page of incidents of ``status`` (without: all but merged) that ``chosen``
    keeps, newest first."""
    query = sa.select(incidents).where(incidents.c.status != "merged")
    if status:
        query = sa.select(incidents).where(incidents.c.status == status)
    if chosen is not None:
        query = query.where(*filter_conditions(conn, chosen))
    query = query.order_by(incidents.c.started_at.desc(), incidents.c.seq.desc())
    rows = conn.execute(query.limit(limit).offset(offset)).all()
    return with_alert_status(conn, [incident_summary(r) for r in rows])


def with_alert_status(conn: sa.Connection, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``items`` (incident summaries) with what their alerts' acknowledgements and
    suppressions say (``alert_status.incident_status``), read from the alerts' latest
    labels in one query: an acknowledgement changes no incident row."""
    if not items:
        return items
    pairs: dict[str, list[tuple[str, dict[str, str]]]] = {item["id"]: [] for item in items}
    rows = conn.execute(sa.select(alerts.c.incident_id, alerts.c.status, alerts.c.labels)
                        .where(alerts.c.incident_id.in_(list(pairs))))
    for incident_id, status, labels in rows:
        pairs[incident_id].append((status, labels or {}))
    for item in items:
        item.update(incident_status(pairs[item["id"]]))
    return items


def incident_rows(conn: sa.Connection, ids: list[str]) -> list[Any]:
    """Rows of the incidents ``ids`` in that order (unknown ids are left out)."""
    rows = {r.id: r for r in conn.execute(sa.select(incidents).where(incidents.c.id.in_(ids)))}
    return [rows[i] for i in ids if i in rows]


def count_incidents(conn: sa.Connection, chosen: IncidentFilter | None = None
                    ) -> dict[str, int]:
    """Incidents per status, of those ``chosen`` keeps when given (what paging counts)."""
    query = sa.select(incidents.c.status, sa.func.count()).group_by(incidents.c.status)
    if chosen is not None:
        query = query.where(*filter_conditions(conn, chosen))
    rows = conn.execute(query).all()
    return {status: int(n) for status, n in rows}


def get_incident(conn: sa.Connection, incident_id: str,
                 placement: bool = False) -> dict[str, Any]:
    """Incident with its alerts (oldest first); raises NotFound naming the id.

    ``placement``: each alert also says why it is in the incident (its stored
    ``placement`` record and ``why_here``, the sentence; ``aiops.engine.placement``).
    Only the API, the view and the CLI ask: sink documents stay as they were."""
    row = conn.execute(sa.select(incidents).where(incidents.c.id == incident_id)).first()
    if row is None:
        raise NotFound(f"no incident with id '{incident_id}'")
    out = incident_summary(row)
    alert_rows = conn.execute(
        sa.select(alerts).where(alerts.c.incident_id == incident_id)
        .order_by(alerts.c.starts_at, alerts.c.id)).all()
    out["alerts"] = [alert_view(a) for a in alert_rows]
    if placement:
        for view, row in zip(out["alerts"], alert_rows, strict=True):
            view["placement"] = row.placement
            view["why_here"] = describe(row.placement)
    out.update(incident_status((a["status"], a["labels"]) for a in out["alerts"]))
    return out


def unresolved_alerts(conn: sa.Connection, limit: int = 100) -> tuple[int, list[dict[str, Any]]]:
    """Alerts whose entity is not in the topology: kept, counted and listed."""
    where = alerts.c.node_id.is_(None)
    total = conn.execute(sa.select(sa.func.count()).select_from(alerts).where(where)).scalar()
    rows = conn.execute(sa.select(alerts).where(where).order_by(alerts.c.id.desc())
                        .limit(limit)).all()
    return int(total or 0), [alert_view(r) for r in rows]


# A root cause in replay's output (CONTRACTS.md §3, extended): ``node_id`` names the
# topology node, which ``entity`` (its display name) cannot always do: a Deployment and
# the Service in front of it are both ``cart``.
REPLAY_ROOT_CAUSE = ("entity", "node_id", "score", "alert_id", "evidence")


def replay_incidents(
    conn: sa.Connection, after_seq: int,
    remediations: Callable[[sa.Connection, str], list[dict[str, Any]]] | None = None,
) -> list[dict[str, Any]]:
    """CONTRACTS.md §3 output for the events stored after ``after_seq``, by final incident.

    ``remediations`` (``aiops.tickets.recommend.remediations_for``) ranks past actions
    for an incident; without a trained remediation model the lists stay empty.
    """
    query = (
        sa.select(raw_events.c.event_id, alerts.c.incident_id)
        .join(alerts, alerts.c.id == raw_events.c.alert_id)
        .where(raw_events.c.seq > after_seq)
        .order_by(raw_events.c.seq)
    )
    members: dict[str, list[str]] = {}
    placed: set[str] = set()
    # One fetchall rather than a driver call per row: a replay has one row per event.
    for event_id, incident_id in conn.execute(query).all():
        if incident_id is not None and event_id not in placed:
            placed.add(event_id)
            members.setdefault(incident_id, []).append(event_id)
    if not members:
        return []
    rows = conn.execute(sa.select(incidents.c.id, incidents.c.seq, incidents.c.root_causes)
                        .where(incidents.c.id.in_(list(members)))
                        .order_by(incidents.c.seq)).all()
    return [
        {"id": r.id, "alert_ids": members[r.id],
         "root_causes": [{k: rc.get(k) for k in REPLAY_ROOT_CAUSE}
                         for rc in (r.root_causes or [])],
         "remediations": remediations(conn, r.id) if remediations else []}
        for r in rows
    ]
