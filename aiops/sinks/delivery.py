"""The sending half of outbound incident delivery: drain the outbox.

A background thread of ``aiops serve`` (``DeliveryLoop.start``) sends the due rows
of ``sink_deliveries``: for each, the incident's document as stored now, to the
receiver the row belongs to. A row stays pending until a receiver answers 2xx, so a
receiver that is down, a restart or a crash loses nothing: the next loop (after a
restart, the next process's) sends what is pending.

Retries back off exponentially per row (1, 2, 4, ... s up to ``backoff_max``, or
what ``Retry-After`` asked for); while one of a receiver's rows waits, the loop
leaves that receiver's other rows alone too, so an outage costs one request per
back-off step rather than one per pending incident. A row whose incident changed
while it was being sent stays pending and is sent again with the newer state. A row
whose document cannot be built (a ranker's bug) backs off alone and holds up no
other.

Before sending a row the loop claims it: one UPDATE sets ``claimed_by`` (this loop)
and ``claimed_until`` (now plus ``lease``) only where the row is due and unclaimed or
its lease has expired, and the loop sends only when that UPDATE changed the row. Two
processes draining one database (two ``aiops serve`` on one PostgreSQL) thus never
both send a row; a process that dies while sending leaves a lease that expires, and
the row is sent again then (delivery stays at least once). The lease outlasts a send:
every request of one is cut at its timeout (``aiops.sinks.deadline``), and a send is
at most ``REQUESTS_PER_SEND`` requests.

From time to time (``prune_every``, not per round) the loop deletes the rows of
resolved or merged incidents delivered, or failed for good, longer than
``retention`` ago (docs/sinks.md, "Retention"); a pending row is never deleted. A
pruned row leaves a tombstone (``sink_tombstones``: its version and what was last
delivered), from which the incident's row goes on should it re-open.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from aiops.errors import NotFound
from aiops.playbooks.runs import last_run_id
from aiops.sinks.document import (
    RUNS_SEEN,
    Remediations,
    incident_document,
    stored_fingerprint,
)
from aiops.sinks.http import DELIVERED, FAILED, RETRY, Outcome, Target
from aiops.sinks.tables import DELIVERED as ROW_DELIVERED
from aiops.sinks.tables import FAILED as ROW_FAILED
from aiops.sinks.tables import PENDING, sink_deliveries, sink_tombstones
from aiops.store.tables import incidents

log = logging.getLogger(__name__)

ROWS_PER_ROUND = 100
FINAL = ("resolved", "merged")
REQUESTS_PER_SEND = 4  # the most one send makes (RT: look up, create, comment, status)
PRUNED_PER_STATEMENT = 1000  # rows deleted per transaction when pruning


@dataclass(frozen=True)
class DeliverySettings:
    public_url: str = "http://127.0.0.1:8080"
    min_interval: float = 30.0
    backoff_max: float = 600.0
    poll: float = 1.0  # seconds between looks at the outbox when nothing wakes the loop
    timeout: float = 10.0  # seconds one request may take, the whole exchange
    retention: float = 7 * 86400.0  # rows of ended incidents kept this long; 0: for ever
    prune_every: float = 3600.0  # seconds between two prunes

    @property
    def lease(self) -> float:
        """How long a claim holds: longer than any send (each request cut at
        ``timeout``), with a minute for building the document."""
        return REQUESTS_PER_SEND * self.timeout + 60.0


def loop_identity() -> str:
    """Who holds a claim, as an operator reading the table can tell: host, pid, and a
    random part (a pid is reused; two loops of one process are two claimants)."""
    return f"{socket.gethostname()[:80]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def backoff(attempts: int, longest: float, asked: float | None) -> float:
    """Seconds before the next try after ``attempts`` failed ones: 1, 2, 4, ... up to
    ``longest``, or longer when the receiver asked (``Retry-After``). Never less: a
    ``Retry-After: 0`` would have the loop send again at once, as fast as it answers.
    The exponent is bounded: ``2.0 ** 1024`` overflows (a week of 600 s steps)."""
    delay = min(longest, 2.0 ** min(attempts - 1, 62))
    return max(delay, asked) if asked is not None else delay


class DeliveryLoop:
    """Sends due outbox rows to their targets (see the module doc)."""

    def __init__(self, db: sa.Engine, targets: Sequence[Target],
                 settings: DeliverySettings | None = None,
                 remediations: Remediations | None = None,
                 clock: Callable[[], float] = time.time):
        self.db = db
        self.targets = {t.name: t for t in targets}
        self.settings = settings or DeliverySettings()
        self.remediations = remediations
        self.clock = clock
        self.identity = loop_identity()
        self._next_prune = 0.0  # clock time of the next prune (0: at the first round)
        self._blocked: dict[str, float] = {}  # receiver -> when it may be tried again
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # One round at a time: two rounds at once would both send a pending row.
        self._round = threading.Lock()
        self.sent = 0  # requests that ended in a delivery (for tests and stats)
        self.pruned = 0  # rows deleted by retention so far
        # Sends by receiver and outcome (delivered, retry, failed) since start, for
        # ``GET /metrics``: a receiver that refuses everything shows as its rate.
        self.outcomes: Counter[tuple[str, str]] = Counter()

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> DeliveryLoop:
        self._thread = threading.Thread(target=self._run, name="aiops-sink-delivery",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.maybe_prune()
                busy = self.run_once()
            except Exception:  # the database away for a moment: try again next round
                log.exception("incident delivery round failed; trying again")
                busy = 0
            if not busy:
                self._wake.wait(self._pause())
                self._wake.clear()

    def _pause(self) -> float:
        """Until the next due row or blocked receiver, at most ``poll`` seconds."""
        now = self.clock()
        waits = [t - now for t in self._blocked.values() if t > now]
        return max(0.05, min([self.settings.poll, *waits]))

    def run_once(self) -> int:
        """Send every row due now (at most ``ROWS_PER_ROUND``) that this loop can
        claim; returns how many sends were tried."""
        with self._round:
            return self._round_of_sends()

    def _round_of_sends(self) -> int:
        now = self.clock()
        t = sink_deliveries.c
        names = [n for n in self.targets if self._blocked.get(n, 0.0) <= now]
        if not names:
            return 0
        with self.db.connect() as conn:
            due = conn.execute(
                sa.select(t.sink, t.incident_id)
                .where(t.status == PENDING, t.next_attempt_at <= now, t.sink.in_(names),
                       _unclaimed(now))
                .order_by(t.next_attempt_at, t.changed_at)
                .limit(ROWS_PER_ROUND)).all()
        tried = 0
        for sink, incident_id in due:
            if self._blocked.get(sink, 0.0) > self.clock() or self._stop.is_set():
                continue
            row = self._claim(sink, incident_id)
            if row is None:  # another loop took it, or it changed since the look
                continue
            self._deliver(row)
            tried += 1
        return tried

    def _claim(self, sink: str, incident_id: str) -> Any | None:
        """The row, claimed by this loop, as it is now; None when it is not due any
        more or another loop holds it. The UPDATE decides: of two loops claiming at
        once, the database lets one change the row and the other change nothing."""
        t = sink_deliveries.c
        now = self.clock()
        key = (t.sink == sink) & (t.incident_id == incident_id)
        with self.db.begin() as conn:
            claimed = conn.execute(sink_deliveries.update().where(
                key, t.status == PENDING, t.next_attempt_at <= now, _unclaimed(now))
                .values(claimed_by=self.identity,
                        claimed_until=now + self.settings.lease)).rowcount
            if claimed != 1:
                return None
            # Read after the claim: what another loop recorded before it (the
            # receiver's id of the incident, the attempts) is what this send goes on from.
            return conn.execute(sa.select(sink_deliveries).where(key)).first()

    def _deliver(self, row: Any) -> None:
        target = self.targets[row.sink]
        now = self.clock()
        try:
            with self.db.connect() as conn:
                # Read before the document: a run asked for after it is news next time.
                seen = last_run_id(conn, row.incident_id)
                document = incident_document(
                    conn, row.incident_id, row.version, row.delivered_version,
                    row.delivered_fingerprint, self.settings.public_url,
                    self.remediations, now)
        except NotFound:
            self._record_failure(row, Outcome(FAILED, "the incident is not stored"), now)
            return
        except Exception as exc:  # a ranker's bug, a bad stored row
            # Raised on, this row (due first again) would stop every round before the
            # others. It backs off as a refused send does; the receiver, not at fault,
            # is not held back.
            log.exception("incident %s: its document cannot be built", row.incident_id)
            self._record_failure(row, Outcome(RETRY, f"the document cannot be built: "
                                                     f"{type(exc).__name__}: {exc}"),
                                 now, block=False)
            return
        try:
            outcome = target.send(document, row.external_id)
        except Exception as exc:  # a target's own bug must not stop the others
            log.exception("sink %s failed on incident %s", row.sink, row.incident_id)
            outcome = Outcome(FAILED, f"{type(exc).__name__}: {exc}")
        started, now = now, self.clock()
        self.outcomes[row.sink, outcome.kind] += 1
        if outcome.kind == DELIVERED:
            self._record_delivery(row, document, seen, outcome, now, started)
        else:
            self._record_failure(row, outcome, now)

    def _mine(self, row: Any) -> Any:
        """The row's key, while this loop's claim on it holds."""
        t = sink_deliveries.c
        return (t.sink == row.sink) & (t.incident_id == row.incident_id) & \
            (t.claimed_by == self.identity)

    def _lost(self, row: Any) -> None:
        log.warning("sink %s: incident %s: the claim on its row was lost while sending "
                    "(longer than the lease of %.0f s); another loop sends it again",
                    row.sink, row.incident_id, self.settings.lease)

    def _record_delivery(self, row: Any, document: dict[str, Any], seen: int,
                         outcome: Outcome, now: float, started: float) -> None:
        """Record ``document`` as delivered; ``seen``: the incident's newest run when it
        was built, kept with what was delivered (``RUNS_SEEN``)."""
        t = sink_deliveries.c
        key = (t.sink == row.sink) & (t.incident_id == row.incident_id)
        with self.db.begin() as conn:
            latest = conn.execute(sa.select(t.fingerprint).where(key)).first()
            # A newer state queued while this one was sent waits out the rate limit,
            # unless it is the end of the incident.
            final = latest is not None and latest.fingerprint["status"] in FINAL
            done = conn.execute(sink_deliveries.update().where(self._mine(row)).values(
                delivered_version=row.version,
                delivered_fingerprint={**stored_fingerprint(document), RUNS_SEEN: seen},
                delivered_at=now, last_attempt_at=now, attempts=0, last_error=None,
                external_id=outcome.external_id or row.external_id,
                next_attempt_at=now if final else now + self.settings.min_interval,
                # still pending (a newer state): waiting since this send's document
                pending_since=started, claimed_by=None, claimed_until=None)).rowcount
            if done != 1:
                self._lost(row)
                return
            # Delivered unless a newer state was queued meanwhile (decided by the
            # database, not by a read that a concurrent queue write could outdate).
            conn.execute(sink_deliveries.update().where(key, t.version == row.version)
                         .values(status=ROW_DELIVERED, pending_since=None))
        self._blocked.pop(row.sink, None)
        self.sent += 1

    def _record_failure(self, row: Any, outcome: Outcome, now: float,
                        block: bool = True) -> None:
        t = sink_deliveries.c
        key = (t.sink == row.sink) & (t.incident_id == row.incident_id)
        attempts = row.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "last_attempt_at": now,
                                  "last_error": outcome.detail}
        if outcome.external_id:
            values["external_id"] = outcome.external_id
        failed = outcome.kind == FAILED
        if failed:
            log.error("sink %s refused incident %s for good: %s", row.sink,
                      row.incident_id, outcome.detail)
        else:
            delay = backoff(attempts, self.settings.backoff_max, outcome.retry_after)
            values["next_attempt_at"] = now + delay
            if block:
                self._blocked[row.sink] = now + delay
            log.warning("sink %s: incident %s not delivered (attempt %d), again in %.0f s: "
                        "%s", row.sink, row.incident_id, attempts, delay, outcome.detail)
        values.update(claimed_by=None, claimed_until=None)
        with self.db.begin() as conn:
            if conn.execute(sink_deliveries.update().where(self._mine(row))
                            .values(**values)).rowcount != 1:
                self._lost(row)
                return
            if failed:  # this state, refused; a newer one queued meanwhile is still tried
                conn.execute(sink_deliveries.update().where(key, t.version == row.version)
                             .values(status=ROW_FAILED, pending_since=None))

    def maybe_prune(self) -> int:
        """Prune when ``prune_every`` has passed since the last prune (the loop calls
        this before every round; a prune per round would be a needless query)."""
        now = self.clock()
        if self.settings.retention <= 0 or now < self._next_prune:
            return 0
        self._next_prune = now + self.settings.prune_every
        try:
            return self.prune()
        except Exception:  # the database away for a moment: the next prune will do
            log.exception("pruning the incident outbox failed; trying again later")
            return 0

    def prune(self) -> int:
        """Delete the rows of ended incidents whose last send is older than the
        retention: delivered or failed for good, with a resolved or merged state queued
        and the incident still resolved or merged (an incident re-opened, whose change
        is not queued yet, keeps its row); never a pending or claimed row. In batches
        of ``PRUNED_PER_STATEMENT``, each batch its own short transaction, which also
        writes the deleted rows' tombstones."""
        now = self.clock()
        cutoff = now - self.settings.retention
        t = sink_deliveries.c
        last_send = sa.case((t.status == ROW_DELIVERED, t.delivered_at),
                            else_=t.last_attempt_at)
        prunable = sa.and_(
            t.status.in_((ROW_DELIVERED, ROW_FAILED)),
            t.fingerprint["status"].as_string().in_(FINAL),
            last_send < cutoff, _unclaimed(now),
            t.incident_id.in_(sa.select(incidents.c.id)
                              .where(incidents.c.status.in_(FINAL))))
        pruned = 0
        while not self._stop.is_set():
            with self.db.begin() as conn:
                keys = [tuple(k) for k in conn.execute(
                    sa.select(t.sink, t.incident_id).where(prunable)
                    .limit(PRUNED_PER_STATEMENT))]
                if keys:
                    # The conditions again: a row that changed since the look stays.
                    gone = conn.execute(sink_deliveries.delete().where(
                        prunable, sa.tuple_(t.sink, t.incident_id).in_(keys)).returning(
                        t.sink, t.incident_id, t.version, t.delivered_version,
                        t.delivered_fingerprint)).all()
                    _bury(conn, gone)
                    pruned += len(gone)
            if len(keys) < PRUNED_PER_STATEMENT:
                break
        if pruned:
            log.info("pruned %d outbox rows of incidents ended over %.0f s ago",
                     pruned, self.settings.retention)
        self.pruned += pruned
        return pruned


def _bury(conn: sa.Connection, rows: Sequence[Any]) -> None:
    """Keep a tombstone of each pruned row: its version and what its receiver was last
    sent, so that the incident, should it re-open, goes on from there (a receiver that
    keeps the highest version per incident would drop a re-opening back at 1). A
    tombstone left by an earlier prune is replaced (a new row takes its place, so there
    is none unless a row was inserted past the outbox sink)."""
    if not rows:
        return
    t = sink_tombstones.c
    conn.execute(sink_tombstones.delete().where(
        sa.tuple_(t.sink, t.incident_id).in_([(r.sink, r.incident_id) for r in rows])))
    conn.execute(sink_tombstones.insert(), [r._asdict() for r in rows])


def _unclaimed(now: float) -> Any:
    """No loop holds the row: never claimed, released, or the lease ran out."""
    t = sink_deliveries.c
    return sa.or_(t.claimed_until.is_(None), t.claimed_until <= now)
