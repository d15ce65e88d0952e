"""The audit trails' own retention (``aiops prune --audit-older-than``,
``AIOPS_RETENTION_AUDIT_KEEP``; off by default, kept for ever).

Why separate from ``aiops.retention``: operator feedback (who merged or split what,
with their comments), playbook runs and tickets outlive the incidents they name on
purpose (no foreign keys): an audit may ask about an incident long pruned. But they
grow for ever too, and feedback holds operators' names and words, which a data policy
may limit. So they get an age of their own, usually longer than the alerts'.

What goes, all of it older than the cutoff (wall clock: these rows are stamped with
``time.time()`` when written, and a ticket with its ITSM's times):

- a feedback record created before it, unless it is training data for what runs: it
  names (its ``alerts_after``) a stored alert that started inside the window scheduled
  retraining or the drift check reads, or (its ``incidents`` and ``alerts_after``
  keys) an incident holding such an alert, as the drift check counts corrections
  (``aiops.retention_guard``; ``allow_short_history`` lifts this);
- a finished playbook run (not needing approval, queued or running) that finished
  (or, never started, was requested) before it;
- a resolved ticket resolved before it, with its links to incidents, unless it was
  opened inside that window (retraining refits ranking from the tickets opened in it).

Deleted in batches of at most ``batch`` rows, each its own transaction, as the prune
does (a ticket's links in its batch, before it: the foreign key); interrupted, it has
deleted only rows meant to go, and run again it finishes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from aiops.playbooks.runs import IN_FLIGHT
from aiops.retention import Batches, pages
from aiops.store.tables import alerts, feedback, playbook_runs
from aiops.tickets.tables import ticket_links, tickets

AUDIT_TABLES = ("feedback", "playbook_runs", "tickets", "ticket_links")
CHUNK = 500  # names per IN list when checking feedback against the stored alerts


@dataclass(frozen=True, slots=True)
class AuditRetention:
    """One audit prune: its cutoff (wall clock), and the start of the window retraining
    and drift read (event time; None: nothing protected)."""

    cutoff: float
    history_floor: float | None = None


@dataclass(slots=True)
class AuditReport:
    """Rows deleted (or, in a dry run, that would be) per table, and those older than
    the cutoff kept for retraining and drift."""

    cutoff: float
    dry_run: bool
    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(AUDIT_TABLES, 0))
    kept: dict[str, int] = field(default_factory=lambda: {"feedback": 0, "tickets": 0})
    longest_batch: float = 0.0
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def _runs_to_go(r: AuditRetention) -> sa.ColumnElement[bool]:
    ended = sa.func.coalesce(playbook_runs.c.finished_at, playbook_runs.c.requested_at)
    return sa.and_(playbook_runs.c.status.not_in(IN_FLIGHT), ended < r.cutoff)


def _tickets_old(r: AuditRetention) -> sa.ColumnElement[bool]:
    return sa.and_(tickets.c.resolved_at.is_not(None), tickets.c.resolved_at < r.cutoff)


def _tickets_to_go(r: AuditRetention) -> sa.ColumnElement[bool]:
    if r.history_floor is None:
        return _tickets_old(r)
    return sa.and_(_tickets_old(r), tickets.c.opened_at < r.history_floor)


def _chunks(items: Iterable[str]) -> Iterable[list[str]]:
    listed = sorted(items)
    for start in range(0, len(listed), CHUNK):
        yield listed[start:start + CHUNK]


def _feedback_going(conn: sa.Connection, ids: list[int], floor: float | None) -> list[int]:
    """Of feedback records ``ids``, those that no reader of the window from ``floor``
    uses (module doc)."""
    found = conn.execute(sa.select(feedback.c.id, feedback.c.incidents, feedback.c.alerts_after)
                         .where(feedback.c.id.in_(ids))).all()
    if floor is None:
        return [row.id for row in found]
    named = {row.id: ({e for listed in (row.alerts_after or {}).values() for e in listed},
                      set(row.incidents or []) | set(row.alerts_after or {})) for row in found}
    recent = alerts.c.starts_at >= floor
    in_window: set[str] = set()
    for chunk in _chunks(set().union(*(events for events, _ in named.values()))):
        in_window.update(conn.execute(sa.select(alerts.c.first_event_id)
                                      .where(alerts.c.first_event_id.in_(chunk), recent))
                         .scalars())
    holding: set[str] = set()
    for chunk in _chunks(set().union(*(held for _, held in named.values()))):
        holding.update(conn.execute(sa.select(alerts.c.incident_id).distinct()
                                    .where(alerts.c.incident_id.in_(chunk), recent)).scalars())
    return [i for i, (events, held) in named.items()
            if not (events & in_window or held & holding)]


def count(db: sa.Engine, r: AuditRetention, batch: int = 2000) -> AuditReport:
    """What ``prune_audit`` deletes now (a dry run; the progress total)."""
    report = AuditReport(r.cutoff, dry_run=True)
    began = time.perf_counter()
    with db.connect() as conn:
        for ids in pages(db, feedback.c.id, feedback.c.created_at < r.cutoff, batch):
            going = len(_feedback_going(conn, ids, r.history_floor))
            report.deleted["feedback"] += going
            report.kept["feedback"] += len(ids) - going

        def n(query: Any) -> int:
            return int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))
                       .scalar() or 0)

        going_tickets = sa.select(tickets.c.id).where(_tickets_to_go(r))
        report.deleted["playbook_runs"] = n(sa.select(playbook_runs.c.id)
                                            .where(_runs_to_go(r)))
        report.deleted["tickets"] = n(going_tickets)
        report.deleted["ticket_links"] = n(sa.select(ticket_links.c.ticket_id)
                                           .where(ticket_links.c.ticket_id.in_(going_tickets)))
        report.kept["tickets"] = n(sa.select(tickets.c.id).where(_tickets_old(r))) \
            - report.deleted["tickets"]
    report.seconds = time.perf_counter() - began
    return report


def prune_audit(db: sa.Engine, r: AuditRetention, batch: int = 2000,
                progress: Callable[[int], None] | None = None) -> AuditReport:
    """Delete what ``r`` lets go of the audit trails (module doc), ``batch`` rows per
    transaction at most (a ticket's links aside); ``progress`` gets each batch's rows."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    report = AuditReport(r.cutoff, dry_run=False)
    began = time.perf_counter()
    batches = Batches(db, report, progress)

    def drop_feedback(conn: sa.Connection, ids: list[int]) -> dict[str, int]:
        going = _feedback_going(conn, ids, r.history_floor)
        report.kept["feedback"] += len(ids) - len(going)
        return {"feedback": _delete(conn, feedback, feedback.c.id.in_(going))}

    def drop_tickets(conn: sa.Connection, ids: list[str]) -> dict[str, int]:
        # Checked again inside the transaction: one re-opened meanwhile stays.
        going = list(conn.execute(sa.select(tickets.c.id).where(tickets.c.id.in_(ids),
                                                                _tickets_to_go(r))).scalars())
        return {"ticket_links": _delete(conn, ticket_links, ticket_links.c.ticket_id.in_(going)),
                "tickets": _delete(conn, tickets, tickets.c.id.in_(going))}

    for ids in pages(db, feedback.c.id, feedback.c.created_at < r.cutoff, batch):
        batches.run(lambda conn, i=ids: drop_feedback(conn, i))
    for ids in pages(db, playbook_runs.c.id, _runs_to_go(r), batch):
        # Checked again inside the transaction: a run is never taken from under a worker.
        batches.run(lambda conn, i=ids: {"playbook_runs": _delete(
            conn, playbook_runs, sa.and_(playbook_runs.c.id.in_(i), _runs_to_go(r)))})
    for ids in pages(db, tickets.c.id, _tickets_to_go(r), batch):
        batches.run(lambda conn, i=ids: drop_tickets(conn, i))
    with db.connect() as conn:
        report.kept["tickets"] = int(conn.execute(
            sa.select(sa.func.count()).select_from(tickets).where(_tickets_old(r))).scalar()
            or 0)
    report.seconds = time.perf_counter() - began
    return report


def _delete(conn: sa.Connection, table: Any, where: sa.ColumnElement[bool]) -> int:
    return int(conn.execute(sa.delete(table).where(where)).rowcount or 0)
