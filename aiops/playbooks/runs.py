"""Storage of playbook runs: the audit record an operator and a worker share."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from aiops.errors import NotFound
from aiops.store.tables import playbook_runs
from aiops.timeutil import parse_timestamp, to_rfc3339

QUEUED, RUNNING, SUCCEEDED, FAILED, DRY_RUN = "queued", "running", "succeeded", "failed", "dry-run"
STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, DRY_RUN)


def insert_run(conn: sa.Connection, record: dict[str, Any]) -> int:
    """Store a new run in the caller's transaction; return its id."""
    columns = ("incident_id", "playbook", "status", "dry_run", "requested_by", "requested_at",
               "action", "reasons", "steps")
    result = conn.execute(playbook_runs.insert().values({c: record[c] for c in columns}))
    return int(result.inserted_primary_key[0])


def run_view(stored: dict[str, Any]) -> dict[str, Any]:
    """A run as the API and the CLI show it (RFC 3339 times)."""
    record = dict(stored)
    for key in ("requested_at", "started_at", "finished_at"):
        record[key] = to_rfc3339(record[key])
    return record


def get_run(conn: sa.Connection, run_id: int) -> dict[str, Any]:
    row = conn.execute(sa.select(playbook_runs).where(playbook_runs.c.id == run_id)).first()
    if row is None:
        raise NotFound(f"no playbook run with id {run_id}")
    return dict(row._mapping)


def list_runs(conn: sa.Connection, incident_id: str | None = None,
              limit: int = 100) -> list[dict[str, Any]]:
    """Runs, newest first (of one incident when ``incident_id`` is given)."""
    query = sa.select(playbook_runs)
    if incident_id is not None:
        query = query.where(playbook_runs.c.incident_id == incident_id)
    rows = conn.execute(query.order_by(playbook_runs.c.id.desc()).limit(limit)).all()
    return [run_view(dict(r._mapping)) for r in rows]


def claim(db: sa.Engine, run_id: int) -> bool:
    """Mark a queued run as running; False when another worker (or an earlier delivery
    of the same task) got it first, so a run's steps are never executed twice."""
    with db.begin() as conn:
        result = conn.execute(playbook_runs.update()
                              .where(playbook_runs.c.id == run_id)
                              .where(playbook_runs.c.status == QUEUED)
                              .values(status=RUNNING, started_at=time.time()))
        return result.rowcount == 1


def save_steps(db: sa.Engine, run_id: int, steps: list[dict[str, Any]]) -> None:
    with db.begin() as conn:
        conn.execute(playbook_runs.update().where(playbook_runs.c.id == run_id)
                     .values(steps=[dict(s) for s in steps]))


def finish(db: sa.Engine, run_id: int, status: str, steps: list[dict[str, Any]],
           error: str | None = None, only_if: tuple[str, ...] = (QUEUED, RUNNING)) -> None:
    """End a run whose status is one of ``only_if``; one already ended (or, for a
    broker that took the run after all, claimed by a worker) keeps its outcome."""
    with db.begin() as conn:
        conn.execute(playbook_runs.update().where(playbook_runs.c.id == run_id)
                     .where(playbook_runs.c.status.in_(only_if))
                     .values(status=status, steps=[dict(s) for s in steps], error=error,
                             finished_at=time.time()))


def in_flight(view: dict[str, Any], now: float | None = None) -> bool:
    """Whether a run (as ``run_view`` shows it) may still be moving: queued or running,
    and not past the time its steps could take at most (their timeouts and a minute).
    A run whose process died stays ``running`` for good; a page following it stops."""
    if view["status"] not in (QUEUED, RUNNING):
        return False
    budget = sum(float(s.get("timeout", 0)) for s in view["steps"]) + 60.0
    asked = parse_timestamp(view["requested_at"], "requested_at")
    return (time.time() if now is None else now) < asked + budget
