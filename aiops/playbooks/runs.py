"""Storage of playbook runs: the audit record an operator and a worker share.

A run nothing will finish is given up rather than left ``queued`` or ``running`` for
good (``expire_stale``): a queued run no worker started by its ``start_by`` (the
broker or every worker was down), and a running run with no outcome by its
``give_up_at``, set when a worker claims it to its steps' timeouts and a grace period
later (the worker or ``aiops serve`` running it stopped). Both become ``failed`` with
the reason. Whoever reads runs (the API, the incident view, the CLI, a worker whose
claim failed) expires them first, so nothing needs a scheduler, and a worker never
starts a run past its ``start_by``. Every write of a worker bumps ``revision``, and
giving up is conditional on the revision it read, so it never overwrites an outcome
stored in between.

A run that starts or ends waiting for an operator's approval (asked for, approved,
rejected, given up) also queues a new version of its incident for the receivers of
outbound delivery (``aiops.sinks.outbox.queue_again``), in the same transaction, so
that whoever must decide is told whichever process wrote it (docs/sinks.md).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import sqlalchemy as sa

from aiops.config import PlaybookSettings
from aiops.errors import Conflict, NotFound
from aiops.sinks.outbox import queue_again
from aiops.store.tables import playbook_runs
from aiops.timeutil import to_rfc3339

QUEUED, RUNNING, SUCCEEDED, FAILED, DRY_RUN = "queued", "running", "succeeded", "failed", "dry-run"
# A run a policy asked for that waits for an operator's yes (``auto.approval``), and one
# an operator said no to, or nobody said yes to in time.
NEEDS_APPROVAL, REJECTED = "needs-approval", "rejected"
STATUSES = (NEEDS_APPROVAL, QUEUED, RUNNING, SUCCEEDED, FAILED, DRY_RUN, REJECTED)
# Runs that hold the playbook on their incident: another unforced run of it is refused.
IN_FLIGHT = (NEEDS_APPROVAL, QUEUED, RUNNING)
log = logging.getLogger(__name__)


def insert_run(conn: sa.Connection, record: dict[str, Any]) -> int:
    """Store a new run in the caller's transaction; return its id."""
    columns = ("incident_id", "playbook", "status", "dry_run", "requested_by", "requested_at",
               "start_by", "action", "reasons", "steps", "idempotency_key", "forced")
    result = conn.execute(playbook_runs.insert().values({c: record.get(c) for c in columns}))
    if record.get("status") == NEEDS_APPROVAL:
        _tell_receivers(conn, record["incident_id"])
    return int(result.inserted_primary_key[0])


def _tell_receivers(conn: sa.Connection, incident_id: str) -> None:
    """A run of the incident started or ended waiting for approval: a change of the
    incident its receivers hear of (module docstring). On the wall clock, as the
    outbox's times are, whatever ``now`` a caller decided on."""
    queue_again(conn, incident_id, time.time())


# Built once: it runs for every document sent (aiops.sinks.document), where building
# the statement took longer than running it (SQLite: 0.22-0.35 ms a call, then 0.03 ms).
_t = playbook_runs.c
_WAITING_RUNS = (sa.select(_t.id, _t.playbook, _t.requested_by, _t.requested_at, _t.start_by)
                 .where(_t.incident_id == sa.bindparam("incident"),
                        _t.status == NEEDS_APPROVAL,
                        sa.or_(_t.start_by.is_(None),
                               _t.start_by >= sa.bindparam("now", type_=sa.Float)))
                 .order_by(_t.id))


def waiting_runs(conn: sa.Connection, incident_id: str, now: float) -> list[dict[str, Any]]:
    """The incident's runs waiting for an operator's approval whose deadline has not
    passed by ``now`` (one past it can no longer be approved, even before a reader has
    given it up), oldest first: what the incident's receivers are told waits."""
    rows = conn.execute(_WAITING_RUNS, {"incident": incident_id, "now": now}).all()
    return [dict(r._mapping) for r in rows]


_LAST_RUN = sa.select(sa.func.coalesce(sa.func.max(_t.id), 0)).where(
    _t.incident_id == sa.bindparam("incident"))
# Runs that waited for approval at some point: waiting, decided, or given up waiting
# (only such a run ends ``rejected``).
_ASKED_AFTER = sa.select(_t.id).where(
    _t.incident_id == sa.bindparam("incident"), _t.id > sa.bindparam("after"),
    sa.or_(_t.status.in_((NEEDS_APPROVAL, REJECTED)), _t.decided_at.is_not(None)))


def last_run_id(conn: sa.Connection, incident_id: str) -> int:
    """The id of the incident's newest run (0 when none): runs asked for later have a
    higher one."""
    return int(conn.execute(_LAST_RUN, {"incident": incident_id}).scalar_one())


def asked_after(conn: sa.Connection, incident_id: str, run_id: int) -> set[int]:
    """Ids of the incident's runs after ``run_id`` that waited for approval at some
    point, whether they still do or were decided since."""
    return set(conn.execute(_ASKED_AFTER, {"incident": incident_id,
                                           "after": run_id}).scalars())


def find_by_key(conn: sa.Connection, incident_id: str, playbook: str,
                key: str) -> dict[str, Any] | None:
    """The run stored for idempotency ``key`` on this incident and playbook, if any."""
    row = conn.execute(sa.select(playbook_runs)
                       .where(playbook_runs.c.incident_id == incident_id)
                       .where(playbook_runs.c.playbook == playbook)
                       .where(playbook_runs.c.idempotency_key == key)).first()
    return None if row is None else dict(row._mapping)


def in_flight_runs(conn: sa.Connection, incident_id: str,
                   playbook: str) -> list[dict[str, Any]]:
    """Runs of ``playbook`` on the incident waiting for approval, queued or running,
    oldest first."""
    rows = conn.execute(sa.select(playbook_runs)
                        .where(playbook_runs.c.incident_id == incident_id)
                        .where(playbook_runs.c.playbook == playbook)
                        .where(playbook_runs.c.status.in_(IN_FLIGHT))
                        .order_by(playbook_runs.c.id)).all()
    return [dict(r._mapping) for r in rows]


def run_view(stored: dict[str, Any]) -> dict[str, Any]:
    """A run as the API and the CLI show it (RFC 3339 times)."""
    record = dict(stored)
    for key in ("requested_at", "start_by", "started_at", "give_up_at", "finished_at",
                "decided_at"):
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


def step_budget(steps: list[dict[str, Any]]) -> float:
    """Seconds a run's steps can take at most: the sum of their timeouts."""
    return sum(float(s.get("timeout", 0)) for s in steps)


def claim(db: sa.Engine, run_id: int, settings: PlaybookSettings | None = None) -> bool:
    """Mark a queued run as running, with the time by which it must have ended (its
    steps' timeouts and the grace); False when another worker (or an earlier delivery
    of the same task) got it first, so a run's steps are never executed twice, or when
    its ``start_by`` has passed (a late run is not started at all)."""
    settings = settings or PlaybookSettings()
    now = time.time()
    with db.begin() as conn:
        steps = conn.execute(sa.select(playbook_runs.c.steps)
                             .where(playbook_runs.c.id == run_id)).scalar()
        if steps is None:
            return False
        result = conn.execute(playbook_runs.update()
                              .where(playbook_runs.c.id == run_id)
                              .where(playbook_runs.c.status == QUEUED)
                              .where(sa.or_(playbook_runs.c.start_by.is_(None),
                                            playbook_runs.c.start_by >= now))
                              .values(status=RUNNING, started_at=now,
                                      give_up_at=now + step_budget(steps) + settings.grace,
                                      revision=playbook_runs.c.revision + 1))
        return result.rowcount == 1


def save_steps(db: sa.Engine, run_id: int, steps: list[dict[str, Any]]) -> bool:
    """Store the steps' outcomes so far; False when the run is no longer ``running``
    (it was given up as abandoned meanwhile): the worker must then stop."""
    with db.begin() as conn:
        result = conn.execute(playbook_runs.update().where(playbook_runs.c.id == run_id)
                              .where(playbook_runs.c.status == RUNNING)
                              .values(steps=[dict(s) for s in steps],
                                      revision=playbook_runs.c.revision + 1))
        return result.rowcount == 1


def finish(db: sa.Engine, run_id: int, status: str, steps: list[dict[str, Any]],
           error: str | None = None, only_if: tuple[str, ...] = (QUEUED, RUNNING)) -> bool:
    """End a run whose status is one of ``only_if``; False when it was not (already
    ended, given up, or, for a broker that took the run after all, claimed by a
    worker): that outcome stays."""
    with db.begin() as conn:
        result = conn.execute(playbook_runs.update().where(playbook_runs.c.id == run_id)
                              .where(playbook_runs.c.status.in_(only_if))
                              .values(status=status, steps=[dict(s) for s in steps],
                                      error=error, finished_at=time.time(),
                                      revision=playbook_runs.c.revision + 1))
        return result.rowcount == 1


def record_late(db: sa.Engine, run_id: int, steps: list[dict[str, Any]]) -> list[str]:
    """Store what steps did after their run was given up as abandoned (the record says
    "unknown" or "skipped" for them): the worker was alive after all, only slower than
    the deadline. Returns the names of the steps so recorded."""
    with db.begin() as conn:
        record = get_run(conn, run_id)
        if record["status"] != FAILED:
            return []
        stored = [dict(s) for s in record["steps"]]
        late = []
        for i, step in enumerate(steps):
            if (i < len(stored) and step.get("status") in ("succeeded", "failed")
                    and stored[i].get("status") != step["status"]):
                stored[i] = {**step, "detail": "finished after the run was given up: "
                             + str(step.get("detail", ""))}
                late.append(f"{step['name']} ({step['status']})")
        if late:
            conn.execute(playbook_runs.update().where(playbook_runs.c.id == run_id)
                         .where(playbook_runs.c.status == FAILED)
                         .values(steps=stored, error=f"{record['error']}; then the worker "
                                 f"finished {', '.join(late)} after all"))
        return late


# A run that never started, by status: its steps' status once given up, and why.
_WAITING = {
    NEEDS_APPROVAL: ("not run", "not approved: no operator approved it within {waited:g} s "
                                "(auto.approve_within)"),
    QUEUED: ("skipped", "not started: no worker took it within {waited:g} s of the request "
                        "(AIOPS_PLAYBOOK_START_WITHIN)"),
}


def _given_up(record: dict[str, Any], settings: PlaybookSettings,
              now: float) -> tuple[str, list[dict[str, Any]]] | None:
    """(reason, steps as they end) if ``record`` (stored form) is past its deadline."""
    steps = [dict(s) for s in record["steps"]]
    waited_for = _WAITING.get(record["status"])
    if waited_for is not None:  # never started: past its deadline, its steps never run
        if record["start_by"] is None or now <= record["start_by"]:
            return None
        step_status, why = waited_for
        for step in steps:
            step["status"] = step_status
        waited = record["start_by"] - record["requested_at"]
        return (why.format(waited=waited) + "; a run that late could act on an incident "
                "that has moved on", steps)
    started = record["started_at"] or record["requested_at"]
    deadline = record["give_up_at"] or started + step_budget(steps) + settings.grace
    if now <= deadline:
        return None
    unknown = None
    for step in steps:
        if step.get("status") != "pending":
            continue
        if unknown is None:  # the step in progress when the process stopped
            unknown = step["name"]
            step.update(status="unknown", detail="the process running it stopped; "
                        "whether it took effect is not known")
        else:
            step["status"] = "skipped"
    where = f"; step '{unknown}' may or may not have taken effect" if unknown else ""
    return (f"abandoned: no outcome {deadline - started:g} s after it started (its steps' "
            "timeouts and AIOPS_PLAYBOOK_GRACE): the process running it stopped" + where,
            steps)


def stale_runs(db: sa.Engine, settings: PlaybookSettings | None = None,
               now: float | None = None) -> list[tuple[dict[str, Any], str, list[dict[str, Any]]]]:
    """(run as stored, reason, steps as they end) for every run past its deadline."""
    settings = settings or PlaybookSettings()
    now = time.time() if now is None else now
    with db.connect() as conn:
        rows = conn.execute(sa.select(playbook_runs)
                            .where(playbook_runs.c.status.in_(IN_FLIGHT))
                            .order_by(playbook_runs.c.id)).all()
    found = []
    for row in rows:
        record = dict(row._mapping)
        ended = _given_up(record, settings, now)
        if ended is not None:
            found.append((record, *ended))
    return found


def give_up(db: sa.Engine, record: dict[str, Any], error: str, steps: list[dict[str, Any]],
            now: float | None = None) -> bool:
    """Fail ``record`` unless a worker wrote to it since it was read: the update is
    conditional on its status and revision, so an outcome stored in between is never
    overwritten with the older steps, and a claim at the same moment wins or loses
    cleanly. One transaction per run, so two readers never wait on each other."""
    # A run nobody approved in time was never going to run: rejected, not failed.
    ended = REJECTED if record["status"] == NEEDS_APPROVAL else FAILED
    with db.begin() as conn:
        result = conn.execute(playbook_runs.update()
                              .where(playbook_runs.c.id == record["id"])
                              .where(playbook_runs.c.status == record["status"])
                              .where(playbook_runs.c.revision == record["revision"])
                              .values(status=ended, steps=steps, error=error,
                                      finished_at=time.time() if now is None else now,
                                      revision=playbook_runs.c.revision + 1))
        if result.rowcount != 1:
            return False
        if ended == REJECTED:
            _tell_receivers(conn, record["incident_id"])
        return True


def expire_stale(db: sa.Engine, settings: PlaybookSettings | None = None,
                 now: float | None = None) -> int:
    """Fail every run nothing will finish (module docstring); return how many."""
    return sum(give_up(db, record, error, steps, now)
               for record, error, steps in stale_runs(db, settings, now))


def expire_for_reader(db: sa.Engine, settings: PlaybookSettings | None,
                       now: float | None = None) -> None:
    """``expire_stale`` for someone who only wants to read: a database that cannot take
    the write now (locked, read-only) leaves the runs as stored rather than failing the
    read; the next reader tries again."""
    try:
        expire_stale(db, settings, now)
    except sa.exc.DBAPIError as exc:
        log.warning("could not give up stale playbook runs now: %s", exc)


def current_runs(db: sa.Engine, settings: PlaybookSettings | None = None,
                 incident_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """``list_runs`` after ``expire_stale``: what a reader should be shown."""
    expire_for_reader(db, settings)
    with db.connect() as conn:
        return list_runs(conn, incident_id, limit)


def current_run(db: sa.Engine, run_id: int,
                settings: PlaybookSettings | None = None) -> dict[str, Any]:
    """One run as ``run_view`` shows it, after ``expire_stale``."""
    expire_for_reader(db, settings)
    with db.connect() as conn:
        return run_view(get_run(conn, run_id))


def in_flight(view: dict[str, Any]) -> bool:
    """Whether a run (as ``run_view`` shows it, read after ``expire_stale``) may still
    move, so a page showing it should look again."""
    return view["status"] in (QUEUED, RUNNING)


def decide(db: sa.Engine, run_id: int, approve: bool, by: str | None, note: str | None,
           settings: PlaybookSettings | None = None, now: float | None = None
           ) -> dict[str, Any]:
    """An operator's yes or no to a run waiting for approval (stored form). Yes makes it
    ``queued`` with a fresh ``start_by`` (the caller dispatches it); no ends it
    ``rejected``, its steps not run. Conditional on the run still waiting and within its
    deadline, so two operators deciding at once, or a decision after the deadline, find
    it decided (``Conflict``, naming what it is now) instead of overwriting it."""
    settings = settings or PlaybookSettings()
    now = time.time() if now is None else now
    with db.begin() as conn:
        record = get_run(conn, run_id)
        waiting = record["status"] == NEEDS_APPROVAL and (
            record["start_by"] is None or now <= record["start_by"])
        if waiting:
            values: dict[str, Any] = {"decided_by": by, "decided_at": now,
                                      "decision_note": note,
                                      "revision": playbook_runs.c.revision + 1}
            if approve:
                values.update(status=QUEUED, start_by=now + settings.start_within)
            else:
                steps = [{**s, "status": "not run"} for s in record["steps"]]
                who = f" by {by}" if by else ""
                values.update(status=REJECTED, steps=steps, finished_at=now,
                              error=f"rejected{who}" + (f": {note}" if note else ""))
            updated = conn.execute(playbook_runs.update()
                                   .where(playbook_runs.c.id == run_id)
                                   .where(playbook_runs.c.revision == record["revision"])
                                   .values(values))
            if updated.rowcount == 1:
                _tell_receivers(conn, record["incident_id"])
                return get_run(conn, run_id)
    expire_for_reader(db, settings, now)
    with db.connect() as conn:
        current = get_run(conn, run_id)
    if current["status"] == NEEDS_APPROVAL:  # another writer got in between: ask again
        raise Conflict(f"playbook run {run_id} changed while it was decided; ask again",
                       run_id=run_id)
    raise Conflict(f"playbook run {run_id} is {current['status']}, not waiting for "
                   f"approval" + (f" ({current['error']})" if current.get("error") else ""),
                   run_id=run_id)
