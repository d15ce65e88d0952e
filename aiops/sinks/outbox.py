"""The publishing half of outbound incident delivery: queue what changed.

``OutboxSink`` is an engine sink (``aiops.sinks``). After a batch is stored it
queues, in one transaction of its own, every incident of the batch that changed in
a way an ITSM cares about (opened, alerts added, root causes or severity changed,
merged, resolved, re-opened), one row per incident and receiver in
``sink_deliveries``. Nothing is sent here: the ingestion path pays a few row writes
per batch (and a read of the rows of incidents not queued by this process yet, and of
the tombstones of those it inserts a row for), never a request to a receiver. The
delivery loop (``aiops.sinks.delivery``) sends each row's latest state.

What the receiver cares about is a small ``fingerprint`` of the incident; a batch
that only folded duplicates into known alerts changes none and costs no write. The
fingerprints last queued are kept in memory (bounded) so that an unchanged incident
costs no read either.

One change is not the engine's: a playbook run of the incident starting or ending its
wait for an operator's approval. The write that moves the run queues it
(``queue_again``), whichever process makes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from aiops.engine.state import MERGED, OPEN, RESOLVED, AlertRecord, IncidentRecord
from aiops.sinks.tables import FAILED, PENDING, sink_deliveries, sink_tombstones

log = logging.getLogger(__name__)

ROOT_CAUSES_COMPARED = 3
_CACHE_LIMIT = 100_000  # incidents whose last queued fingerprint is remembered

# Built once: building a statement per batch cost more than running it (profiled).
_t = sink_deliveries.c
_EXISTING = sa.select(_t.sink, _t.incident_id, _t.version, _t.fingerprint, _t.status,
                      _t.attempts, _t.next_attempt_at, _t.delivered_at,
                      _t.pending_since).where(
    _t.sink.in_(sa.bindparam("sinks", expanding=True)),
    _t.incident_id.in_(sa.bindparam("ids", expanding=True)))
_INSERT = sink_deliveries.insert()
_TOMBSTONES = sa.select(sink_tombstones).where(
    sink_tombstones.c.sink.in_(sa.bindparam("sinks", expanding=True)),
    sink_tombstones.c.incident_id.in_(sa.bindparam("ids", expanding=True)))
_UPDATE = sink_deliveries.update().where(_t.sink == sa.bindparam("k_sink"),
                                         _t.incident_id == sa.bindparam("k_incident"))

# The next state of an incident whose row this process wrote (so it exists), decided
# by the database from the row as it is: no read first. The rules of
# ``OutboxSink._next_attempt``: pending keeps its plan (a resolution skips only the
# rate limit), else at most one send per interval, a resolution at once.
_NOW = sa.bindparam("now", type_=sa.Float)
_FINAL = sa.bindparam("final", type_=sa.Boolean)
_NEXT = sa.case(
    (_t.status == PENDING, sa.case(
        (sa.and_(_FINAL, _t.attempts == 0, _t.next_attempt_at > _NOW), _NOW),
        else_=_t.next_attempt_at)),
    (sa.or_(_FINAL, _t.delivered_at.is_(None)), _NOW),
    (_t.delivered_at + sa.bindparam("interval", type_=sa.Float) > _NOW,
     _t.delivered_at + sa.bindparam("interval", type_=sa.Float)),
    else_=_NOW)
_NEXT_VERSION: dict[str, Any] = {
    "version": _t.version + 1, "changed_at": _NOW, "next_attempt_at": _NEXT,
    "attempts": sa.case((_t.status == PENDING, _t.attempts), else_=0),
    # Pending already: since when it still is; else from now on.
    "pending_since": sa.case(
        (_t.status == PENDING, sa.func.coalesce(_t.pending_since, _NOW)), else_=_NOW),
    "status": PENDING}
_ADVANCE = (sink_deliveries.update()
            .where(_t.sink == sa.bindparam("k_sink"),
                   _t.incident_id == sa.bindparam("k_incident"))
            .values(fingerprint=sa.bindparam("fp", type_=sa.JSON), **_NEXT_VERSION))
# Every receiver's row of one incident, its queued fingerprint kept (``queue_again``).
_AGAIN = (sink_deliveries.update().where(_t.incident_id == sa.bindparam("k_incident"))
          .values(**_NEXT_VERSION))
# The fingerprint's key for the runs waiting for an operator's approval (run ids).
WAITING = "playbook_runs_waiting"


def fingerprint(status: str, severity: str, alert_count: int,
                root_causes: Sequence[str], merged_into: str | None,
                waiting: Sequence[int] = ()) -> dict[str, Any]:
    """What a receiver is told about when it changes (and nothing else is). ``waiting``:
    the ids of the incident's playbook runs waiting for an operator's approval, a key
    only when there are some, so that a fingerprint stored before runs were part of it
    still equals the incident's (no version is sent for nothing after an upgrade). The
    engine's fingerprints (``record_fingerprint``) never have it: the runs are not the
    engine's; their changes are queued where they are written (``queue_again``)."""
    found = {"status": status, "severity": severity, "alert_count": alert_count,
             "root_causes": list(root_causes[:ROOT_CAUSES_COMPARED]),
             "merged_into": merged_into}
    if waiting:
        found[WAITING] = sorted(waiting)
    return found


def record_fingerprint(incident: IncidentRecord) -> dict[str, Any]:
    return fingerprint(incident.status, incident.severity, len(incident.alerts),
                       [rc.entity for rc in incident.root_causes], incident.merged_into)


def changes(before: dict[str, Any] | None, after: dict[str, Any]) -> list[str]:
    """What changed between two fingerprints, in words a receiver can branch on."""
    if before is None:
        return ["opened"]
    out = []
    if after["status"] != before["status"]:
        out.append({RESOLVED: "resolved", MERGED: "merged"}.get(after["status"], "reopened"))
    if after["alert_count"] > before["alert_count"]:
        out.append("alerts_added")
    elif after["alert_count"] < before["alert_count"]:
        out.append("alerts_removed")
    if after["root_causes"][:1] != before["root_causes"][:1]:
        out.append("root_cause_changed")
    elif after["root_causes"] != before["root_causes"]:
        out.append("root_causes_reordered")
    if after["severity"] != before["severity"]:
        out.append("severity_changed")
    waiting, waited = set(after.get(WAITING, ())), set(before.get(WAITING, ()))
    if waiting - waited:
        out.append("playbook_run_waiting")
    if waited - waiting:
        out.append("playbook_run_decided")
    return out


def queue_again(conn: sa.Connection, incident_id: str, now: float) -> int:
    """Queue a new version of ``incident_id`` for every receiver that has a row of it,
    due at once, in the caller's transaction; returns how many rows. For a change the
    engine does not see: a playbook run of the incident starting or ending its wait for
    an operator's approval (``aiops.playbooks.runs``), written by whichever process
    made it (``aiops serve``, the CLI, a worker). The delivery loop of the server finds
    the row at its next look at the table, and the document it builds then lists the
    runs waiting (``aiops.sinks.document``), so nothing is kept in memory here.

    The rows, not the configured receivers: a process such as the CLI may run without
    the ``AIOPS_SINK_*`` settings, and a receiver with a row is one that was told of the
    incident. An incident no receiver was told of (none configured) gets nothing. Not
    held back by ``min_interval``: someone must be paged before the run's deadline, and
    there are few such changes. The queued fingerprint stays: it is the engine's."""
    return conn.execute(_AGAIN, {"k_incident": incident_id, "now": now, "final": True,
                                 "interval": 0.0}).rowcount


class _RowMissing(Exception):
    """A row this process wrote is gone (deleted by hand)."""


class OutboxSink:
    """Queues changed incidents for every configured receiver (see the module doc)."""

    def __init__(self, db: sa.Engine, sinks: Sequence[str], min_interval: float = 30.0,
                 clock: Callable[[], float] = time.time,
                 wake: Callable[[], None] | None = None):
        self.db = db
        self.sinks = list(sinks)
        self.min_interval = min_interval
        self.clock = clock
        self.wake = wake  # tells the delivery loop there is work
        self._queued: dict[str, dict[str, Any]] = {}
        # Changes whose outbox write failed (the database away for a moment): queued
        # with the next batch, so a change of an incident that changes no more (its
        # resolution) is not left out until a restart.
        self._unwritten: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.queued = 0  # changes queued so far (for tests and the benchmark)

    def publish(self, incidents: Iterable[IncidentRecord],
                alerts: Iterable[AlertRecord]) -> int:
        """Queue the batch's incidents that changed; returns how many."""
        if not self.sinks:
            return 0
        with self._lock:
            changed = dict(self._unwritten)
            for incident in incidents:
                fp = record_fingerprint(incident)
                if self._queued.get(incident.id) != fp:
                    changed[incident.id] = fp
            if not changed:
                return 0
            # Due at once: a new incident's first send, an end. Other updates wait out
            # the rate limit anyway; the loop's poll finds them without a wake-up
            # (a round per batch of a storm cost the delivery thread a query each).
            urgent = any(i not in self._queued or fp["status"] in (RESOLVED, MERGED)
                         for i, fp in changed.items())
            try:
                count = self._queue(changed)
            except Exception:
                self._unwritten = changed  # the engine logs and counts the failure
                raise
            self._unwritten = {}
            if len(self._queued) > _CACHE_LIMIT:
                self._queued.clear()
            self._queued.update(changed)
        if count and urgent and self.wake is not None:
            self.wake()
        return count

    def reconcile(self, incidents: Iterable[IncidentRecord]) -> int:
        """Queue what a crash between a batch's commit and its publish left unqueued:
        at start-up, the restored live incidents whose state differs from the one last
        queued. Resolved ones never queued (before a receiver was configured) are left
        alone; open ones are queued, so a new receiver learns what is open now."""
        live = list(incidents)
        if not self.sinks or not live:
            return 0
        t = sink_deliveries.c
        with self.db.connect() as conn:
            known = set(conn.execute(sa.select(t.incident_id).distinct()
                                     .where(t.incident_id.in_([i.id for i in live]))).scalars())
        return self.publish([i for i in live if i.id in known or i.status == OPEN], ())

    def _queue(self, changed: dict[str, dict[str, Any]]) -> int:
        """Write the changes in one transaction: the incidents whose rows this process
        wrote are advanced by one statement without reading them first; the others
        (new incidents, or after a restart) are read, then inserted or updated."""
        known = {i: fp for i, fp in changed.items() if i in self._queued}
        try:
            with self.db.begin() as conn:
                queued = self._advance(conn, known)
                queued += self._read_and_queue(
                    conn, {i: fp for i, fp in changed.items() if i not in known})
        except _RowMissing:  # rows deleted by hand: read them all
            with self.db.begin() as conn:
                queued = self._read_and_queue(conn, changed)
        self.queued += queued
        return queued

    def _advance(self, conn: sa.Connection, changed: dict[str, dict[str, Any]]) -> int:
        if not changed:
            return 0
        now = self.clock()
        params = [{"k_sink": sink, "k_incident": incident_id, "fp": fp, "now": now,
                   "final": fp["status"] in (RESOLVED, MERGED),
                   "interval": self.min_interval}
                  for incident_id, fp in changed.items() for sink in self.sinks]
        if conn.execute(_ADVANCE, params).rowcount != len(params):
            raise _RowMissing
        return len(params)

    def _read_and_queue(self, conn: sa.Connection,
                        changed: dict[str, dict[str, Any]]) -> int:
        if not changed:
            return 0
        now = self.clock()
        queued = 0
        rows = {(r.sink, r.incident_id): r for r in conn.execute(
            _EXISTING, {"sinks": self.sinks, "ids": list(changed)})}
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for incident_id, fp in changed.items():
            final = fp["status"] in (RESOLVED, MERGED)
            for sink in self.sinks:
                row = rows.get((sink, incident_id))
                if row is None:
                    inserts.append({
                        "sink": sink, "incident_id": incident_id, "version": 1,
                        "fingerprint": fp, "status": PENDING, "changed_at": now,
                        "next_attempt_at": now, "attempts": 0, "delivered_version": 0,
                        "pending_since": now})
                    queued += 1
                    continue
                if row.fingerprint == fp:
                    continue  # known already (a restart, a re-publish)
                updates.append({
                    "k_sink": sink, "k_incident": incident_id,
                    "version": row.version + 1, "fingerprint": fp, "status": PENDING,
                    "changed_at": now, "next_attempt_at": self._next_attempt(row, final, now),
                    "attempts": row.attempts if row.status == PENDING else 0,
                    "pending_since": (row.pending_since or now) if row.status == PENDING
                    else now})
                queued += 1
        if inserts:
            for batch in _resume_pruned(conn, self.sinks, inserts):
                conn.execute(_INSERT, batch)
        if updates:
            conn.execute(_UPDATE, updates)
        return queued

    def _next_attempt(self, row: Any, final: bool, now: float) -> float:
        """When the delivery loop may send the new state. Already pending: as planned
        (a retry's back-off stands; a resolution skips only the rate limit). Else at
        most one send per ``min_interval`` per incident, except a resolution."""
        if row.status == PENDING:
            if final and row.attempts == 0:
                return min(row.next_attempt_at, now)
            return row.next_attempt_at
        if final or row.delivered_at is None:
            return now
        return max(now, row.delivered_at + self.min_interval)


def _resume_pruned(conn: sa.Connection, sinks: list[str],
                   inserts: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The new rows, those of incidents whose row retention deleted made to go on from
    their tombstone (version, what was delivered), and those tombstones deleted: the
    receiver's versions keep growing across the prune, and its next document says
    ``reopened`` rather than ``opened`` (docs/sinks.md, "Retention"). Returned as two
    batches (fresh rows, resumed rows): one executemany needs one set of columns."""
    found = conn.execute(_TOMBSTONES, {"sinks": sinks,
                                       "ids": sorted({r["incident_id"] for r in inserts})})
    tombs = {(t.sink, t.incident_id): t for t in found}
    if not tombs:
        return [inserts]
    fresh, resumed, used = [], [], []
    for row in inserts:
        key = (row["sink"], row["incident_id"])
        tomb = tombs.get(key)
        if tomb is None:
            fresh.append(row)
            continue
        resumed.append({**row, "version": tomb.version + 1,
                        "delivered_version": tomb.delivered_version,
                        "delivered_fingerprint": tomb.delivered_fingerprint})
        used.append(key)
    if used:
        t = sink_tombstones.c
        conn.execute(sink_tombstones.delete().where(sa.tuple_(t.sink, t.incident_id).in_(used)))
    return [batch for batch in (fresh, resumed) if batch]


def retry_failed(db: sa.Engine, now: float, sink: str | None = None,
                 incident_id: str | None = None) -> int:
    """Make the failed rows (of ``sink``, of ``incident_id``) pending and due now, their
    attempts counted from zero; return how many. Why by hand: a failure is a
    receiver's refusal that sending again cannot fix (a 4xx), so only an operator who
    fixed its cause knows when to send again. A row sent since it failed, or claimed by
    a loop, is not failed any more and is left alone (the update is conditional)."""
    t = sink_deliveries
    query = t.update().where(t.c.status == FAILED)
    if sink is not None:
        query = query.where(t.c.sink == sink)
    if incident_id is not None:
        query = query.where(t.c.incident_id == incident_id)
    with db.begin() as conn:
        return conn.execute(query.values(status=PENDING, next_attempt_at=now, attempts=0,
                                         pending_since=now)).rowcount
