"""Writing and reading tickets and their links to incidents.

A pull or an import is stored in the caller's transaction: all of its tickets or
none. Tickets are upserted by id, because ITSM systems are pulled again and again
and a ticket's resolution text can change after it was first seen.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from aiops.models import Ticket
from aiops.tickets.tables import ticket_links, tickets
from aiops.timeutil import to_rfc3339

_UPDATE = (
    tickets.update()
    .where(tickets.c.id == sa.bindparam("_id"))
    .values({c: sa.bindparam(c) for c in (
        "source", "opened_at", "resolved_at", "title", "description", "entity", "node_id",
        "root_cause", "resolution", "alert_ids", "labels", "stored_at")})
)
_CHUNK = 500  # ids per IN (...) query: well under every database's parameter limit


@dataclass(frozen=True)
class StoreResult:
    inserted: int
    updated: int


def ticket_row(ticket: Ticket, source: str, node_id: str | None, now: float) -> dict[str, Any]:
    return {
        "id": ticket.id, "source": source, "opened_at": ticket.opened_at,
        "resolved_at": ticket.resolved_at, "title": ticket.title,
        "description": ticket.description, "entity": ticket.entity, "node_id": node_id,
        "root_cause": ticket.root_cause, "resolution": ticket.resolution,
        "alert_ids": list(ticket.alert_ids), "labels": dict(ticket.labels), "stored_at": now,
    }


def row_ticket(row: Any) -> Ticket:
    return Ticket(id=row.id, opened_at=row.opened_at, title=row.title,
                  resolved_at=row.resolved_at, description=row.description, entity=row.entity,
                  root_cause=row.root_cause, resolution=row.resolution,
                  alert_ids=list(row.alert_ids or []), labels=dict(row.labels or {}))


def _chunks(items: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start:start + _CHUNK]


def store_tickets(conn: sa.Connection, items: list[Ticket], source: str,
                  resolve: Callable[[str], str | None]) -> StoreResult:
    """Insert new tickets and refresh known ones; the caller owns the transaction."""
    ids = [t.id for t in items]
    existing: set[str] = set()
    for chunk in _chunks(ids):
        existing.update(conn.execute(sa.select(tickets.c.id).where(tickets.c.id.in_(chunk)))
                        .scalars())
    now = time.time()
    new, changed = [], []
    for ticket in items:
        row = ticket_row(ticket, source, resolve(ticket.entity) if ticket.entity else None, now)
        if ticket.id in existing:
            row["_id"] = row.pop("id")
            changed.append(row)
        else:
            new.append(row)
    if new:
        conn.execute(tickets.insert(), new)
    if changed:
        conn.execute(_UPDATE, changed)
    return StoreResult(inserted=len(new), updated=len(changed))


def load_tickets(conn: sa.Connection, ids: list[str] | None = None,
                 opened_since: float | None = None) -> list[Ticket]:
    """Stored tickets (all, or those of ``ids``; opened at ``opened_since`` or later
    when given), oldest first."""
    query = sa.select(tickets).order_by(tickets.c.opened_at, tickets.c.id)
    if opened_since is not None:
        query = query.where(tickets.c.opened_at >= opened_since)
    if ids is None:
        return [row_ticket(r) for r in conn.execute(query)]
    out: list[Ticket] = []
    for chunk in _chunks(ids):
        out.extend(row_ticket(r) for r in conn.execute(query.where(tickets.c.id.in_(chunk))))
    out.sort(key=lambda t: (t.opened_at, t.id))
    return out


def ticket_sources(conn: sa.Connection) -> dict[str, str]:
    """Ticket id → the source it was stored from."""
    return {i: s for i, s in conn.execute(sa.select(tickets.c.id, tickets.c.source))}


def count_tickets(conn: sa.Connection) -> tuple[int, int]:
    """(tickets stored, ticket ↔ incident links stored)."""
    n = conn.execute(sa.select(sa.func.count()).select_from(tickets)).scalar() or 0
    k = conn.execute(sa.select(sa.func.count()).select_from(ticket_links)).scalar() or 0
    return int(n), int(k)


def replace_links(conn: sa.Connection, ticket_ids: list[str],
                  links: list[dict[str, Any]]) -> None:
    """Drop the links of ``ticket_ids`` and store ``links`` (``ticket_id``, ``incident_id``,
    ``score``, ``evidence``) in their place."""
    for chunk in _chunks(ticket_ids):
        conn.execute(ticket_links.delete().where(ticket_links.c.ticket_id.in_(chunk)))
    if links:
        conn.execute(ticket_links.insert(), links)


def incident_tickets(conn: sa.Connection, incident_id: str) -> list[dict[str, Any]]:
    """Tickets linked to an incident, best link first, for the API and the view."""
    query = (sa.select(tickets, ticket_links.c.score, ticket_links.c.evidence)
             .join(ticket_links, ticket_links.c.ticket_id == tickets.c.id)
             .where(ticket_links.c.incident_id == incident_id)
             .order_by(ticket_links.c.score.desc(), tickets.c.id))
    return [{"id": r.id, "title": r.title, "source": r.source,
             "opened_at": to_rfc3339(r.opened_at), "resolved_at": to_rfc3339(r.resolved_at),
             "resolution": r.resolution, "score": round(r.score, 4),
             "evidence": list(r.evidence or [])}
            for r in conn.execute(query)]
