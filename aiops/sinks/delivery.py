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
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from aiops.errors import NotFound
from aiops.sinks.document import Remediations, incident_document, stored_fingerprint
from aiops.sinks.http import DELIVERED, FAILED, RETRY, Outcome, Target
from aiops.sinks.tables import DELIVERED as ROW_DELIVERED
from aiops.sinks.tables import FAILED as ROW_FAILED
from aiops.sinks.tables import PENDING, sink_deliveries

log = logging.getLogger(__name__)

ROWS_PER_ROUND = 100
FINAL = ("resolved", "merged")


@dataclass(frozen=True)
class DeliverySettings:
    public_url: str = "http://127.0.0.1:8080"
    min_interval: float = 30.0
    backoff_max: float = 600.0
    poll: float = 1.0  # seconds between looks at the outbox when nothing wakes the loop


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
        self._blocked: dict[str, float] = {}  # receiver -> when it may be tried again
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # One round at a time: two rounds at once would both send a pending row.
        self._round = threading.Lock()
        self.sent = 0  # requests that ended in a delivery (for tests and stats)

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
        """Send every row due now (at most ``ROWS_PER_ROUND``); returns how many sends
        were tried. One process drains a data dir's outbox (as one process ingests)."""
        with self._round:
            return self._round_of_sends()

    def _round_of_sends(self) -> int:
        now = self.clock()
        t = sink_deliveries.c
        names = [n for n in self.targets if self._blocked.get(n, 0.0) <= now]
        if not names:
            return 0
        with self.db.connect() as conn:
            rows = conn.execute(
                sa.select(sink_deliveries)
                .where(t.status == PENDING, t.next_attempt_at <= now, t.sink.in_(names))
                .order_by(t.next_attempt_at, t.changed_at)
                .limit(ROWS_PER_ROUND)).all()
        tried = 0
        for row in rows:
            if self._blocked.get(row.sink, 0.0) > self.clock() or self._stop.is_set():
                continue
            self._deliver(row)
            tried += 1
        return tried

    def _deliver(self, row: Any) -> None:
        target = self.targets[row.sink]
        now = self.clock()
        try:
            with self.db.connect() as conn:
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
        now = self.clock()
        if outcome.kind == DELIVERED:
            self._record_delivery(row, document, outcome, now)
        else:
            self._record_failure(row, outcome, now)

    def _record_delivery(self, row: Any, document: dict[str, Any], outcome: Outcome,
                         now: float) -> None:
        t = sink_deliveries.c
        key = (t.sink == row.sink) & (t.incident_id == row.incident_id)
        with self.db.begin() as conn:
            latest = conn.execute(sa.select(t.version, t.fingerprint).where(key)).first()
            # A newer state queued while this one was sent waits out the rate limit,
            # unless it is the end of the incident.
            final = latest is not None and latest.fingerprint["status"] in FINAL
            conn.execute(sink_deliveries.update().where(key).values(
                delivered_version=row.version,
                delivered_fingerprint=stored_fingerprint(document),
                delivered_at=now, last_attempt_at=now, attempts=0, last_error=None,
                external_id=outcome.external_id or row.external_id,
                next_attempt_at=now if final else now + self.settings.min_interval))
            if latest is not None and latest.version == row.version:
                conn.execute(sink_deliveries.update().where(key, t.version == row.version)
                             .values(status=ROW_DELIVERED))
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
        with self.db.begin() as conn:
            conn.execute(sink_deliveries.update().where(key).values(**values))
            if failed:  # this state, refused; a newer one queued meanwhile is still tried
                conn.execute(sink_deliveries.update().where(key, t.version == row.version)
                             .values(status=ROW_FAILED))
