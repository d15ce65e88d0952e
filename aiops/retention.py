"""Retention: deleting from the store what ended before a cutoff (``aiops prune``).

Why: the store keeps every alert, raw event and incident for ever, and the raw events
(each with its whole payload) grow with every event received; an installation running
for months fills its disk. What goes, all of it ended before the cutoff (event time,
the unit of every stored time but a raw event's ``received_at``):

- a resolved incident (not open, not merged away) resolved and last changed before
  it, all of whose alerts are resolved, ended and last heard of before it, with those
  alerts, their raw events, its ticket links (the foreign key), and its rows in the
  sink outbox and tombstones (it can no longer re-open, and its id is never reused:
  the newest incident, alert and event are never deleted, so the counters a restart
  reads, ``max(seq)``, do not go back);
- an alert placed in no incident on the same terms, with its raw events;
- a clear that ended no alert (a raw event of no alert) received before the cutoff;
- a merged-away incident whose survivor is gone (its pointer leads nowhere);
- every sign-in session ended (signed out, ended by an admin or by its re-check) or
  expired, whatever the cutoff: those are wall-clock times, not event times, and such
  a row never counts again (a session is alive only while its row is neither), so
  what it keeps is of no use; live sessions stay (aiops/api/session_store.py).

What stays, whatever the cutoff: open incidents and their alerts, firing alerts, an
incident whose final state a sink has not delivered yet (a pending outbox row) or
with a playbook run waiting or running; operator feedback and playbook runs (audit
trails with no foreign key, tables.py: they outlive what they name; training reads
feedback against the alerts still stored, so a pruned alert simply drops out of its
labels) and tickets (the remediation history, imported from outside): those have an
age of their own (``aiops.retention_audit``).

What the engine reads back on a restart is never touched: the cutoff is clamped to
``restart_floor`` (``Retention.clamped``), before every window of ``load_state``
(``aiops.engine.restore``: the correlation horizon, the re-fire window, the
absorber's buffer, at the largest time scale) and of the live pace
(``seed_from_store``: a day of alerts, and of the latest ``MAX_ALERTS`` raw events it
reads whatever their age, those it keeps: ``_first_kept_by_pace``), so a restart after
a prune decides as one without it (tested).

Not kept either: a raw event's ``event_id`` once pruned. No duplicate check looks
events up by it (deduplication is by the condition's fingerprint, in memory), so an
old event sent again is taken as a new alert, as it would be without the prune (its
condition left memory long before); only the look-ups by event id (replay output,
feedback by alert ids, ticket linking by alert ids) no longer find a pruned one.

Deleted in batches of at most ``batch`` rows, each its own transaction, so a live
``aiops serve`` writing to the same store waits for one batch at most, and a prune
interrupted midway has deleted only rows meant to go: run again, it finishes (an
incident whose alerts went but not yet itself shows fewer alerts until then).

Each prune first records its cutoff (the latest of all, ``aiops.stored_history``):
what is left of the older alerts no longer tells where the history became whole, and
a manual retrain asked for more days than that is refused by name.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlalchemy as sa

from aiops.config import EngineSettings
from aiops.engine.absorb import SPAN_MARGIN
from aiops.engine.pace import MAX_ALERTS, latest_noted
from aiops.engine.pace import SPAN as PACE_SPAN
from aiops.engine.state import FIRING, MERGED, RESOLVED
from aiops.learning.parents import LOOKBACK
from aiops.learning.timescale import MAX_SCALE
from aiops.models import OWN_SOURCE
from aiops.playbooks.runs import IN_FLIGHT
from aiops.sinks.tables import PENDING, sink_deliveries, sink_tombstones
from aiops.store.tables import alerts, incidents, playbook_runs, raw_events, sessions
from aiops.stored_history import note_prune
from aiops.tickets.tables import ticket_links
from aiops.timeutil import parse_timestamp

BATCH = 2000  # rows per transaction (docs/benchmarks.md, "Retention")
TABLES = ("incidents", "alerts", "raw_events", "ticket_links", "sink_deliveries",
          "sink_tombstones", "sessions")


def restart_reach(settings: EngineSettings) -> float:
    """Seconds before the store's clock that a restart reads back: the longest of the
    live pace's span, the re-fire and flap windows, and the absorber's buffer at the
    largest time scale a model or the live pace may set (its horizon stretched by
    ``MAX_SCALE``)."""
    horizon = (settings.correlation_window + settings.skew_tolerance) * MAX_SCALE
    return max(PACE_SPAN, settings.refire_window, settings.flap_window,
               settings.max_incident_span * MAX_SCALE, horizon + SPAN_MARGIN + LOOKBACK)


@dataclass(frozen=True, slots=True)
class Retention:
    """What one prune may delete: the cutoff asked for, the one used, and the ids no
    prune deletes (the newest of each counter a restart reads)."""

    asked: float
    floor: float  # restart_floor: no cutoff later than this
    max_alert_id: int
    max_event_seq: int
    max_incident_seq: int
    now: float = field(default_factory=time.time)  # wall clock: sessions ended by then

    @property
    def cutoff(self) -> float:
        return min(self.asked, self.floor)

    @property
    def clamped(self) -> bool:
        return self.asked > self.floor


@dataclass(slots=True)
class PruneReport:
    """Rows deleted (or, in a dry run, that would be) per table."""

    cutoff: float
    clamped: bool
    floor: float
    dry_run: bool
    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    longest_batch: float = 0.0  # seconds of the longest single transaction
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def restart_floor(conn: sa.Connection, settings: EngineSettings,
                  now: float | None = None) -> float:
    """The latest cutoff that leaves everything a restart reads (module doc); +inf for
    an empty store. The store's clock is taken at its earliest reading (the latest
    start not after ``now``, as a live engine takes it, or of the alerts not the
    engine's own, as the live pace does), so the floor errs towards keeping."""
    now = time.time() if now is None else now
    starts = alerts.c.starts_at
    clocks = [conn.execute(sa.select(sa.func.max(starts))).scalar(),
              conn.execute(sa.select(sa.func.max(starts)).where(starts <= now)).scalar(),
              conn.execute(sa.select(sa.func.max(starts))
                           .where(alerts.c.source != OWN_SOURCE)).scalar()]
    known = [float(c) for c in clocks if c is not None]
    floor = min(known) - restart_reach(settings) if known else math.inf
    first = _first_kept_by_pace(conn)
    if first is not None:
        # Those events' alerts (or, for a clear of no alert, their arrival) must stay.
        earliest = conn.execute(
            sa.select(sa.func.min(sa.func.coalesce(alerts.c.last_event_at,
                                                   raw_events.c.received_at)))
            .select_from(raw_events.outerjoin(alerts, alerts.c.id == raw_events.c.alert_id))
            .where(raw_events.c.seq >= first)).scalar()
        if earliest is not None:
            floor = min(floor, float(earliest))
    return floor


def _first_kept_by_pace(conn: sa.Connection) -> int | None:
    """The first raw event (by sequence) that the live pace keeps after a restart, or
    None for none. ``seed_from_store`` reads the latest ``MAX_ALERTS`` events not of the
    engine's own, however old, and ``LivePace.commit`` drops them from the oldest
    arrival while it started more than the pace's span before the latest start: what
    it keeps runs from the first event of that read started within the span. Deleting
    an event before it changes nothing a restart keeps (unless more than ``MAX_ALERTS``
    events started within a day, when the read reaches further back either way)."""
    rows = latest_noted(conn, MAX_ALERTS)
    starts: list[tuple[int, float]] = []
    for seq, payload in rows:
        try:
            starts.append((seq, parse_timestamp(payload["starts_at"], "starts_at")))
        except (KeyError, TypeError, ValueError):
            return rows[-1][0]  # one does not read back: keep the whole read
    if not starts:
        return None
    oldest = max(at for _, at in starts) - PACE_SPAN
    return min(seq for seq, at in starts if at >= oldest)


def plan(db: sa.Engine, asked: float, settings: EngineSettings,
         now: float | None = None) -> Retention:
    """The cutoff to use for ``asked`` on ``db`` now (clamped to the restart floor)."""
    now = time.time() if now is None else now
    with db.connect() as conn:
        top = [conn.execute(sa.select(sa.func.max(c))).scalar() or 0
               for c in (alerts.c.id, raw_events.c.seq, incidents.c.seq)]
        return Retention(asked, restart_floor(conn, settings, now), int(top[0]), int(top[1]),
                         int(top[2]), now)


# -- what may go ---------------------------------------------------------------------

def _alert_ended(r: Retention, table: Any = alerts) -> sa.ColumnElement[bool]:
    """An alert that ended before the cutoff (and is not the newest alert)."""
    cut = r.cutoff
    return sa.and_(table.c.status != FIRING, table.c.ends_at.is_not(None),
                   table.c.ends_at < cut, table.c.last_event_at < cut,
                   table.c.starts_at < cut, table.c.id < r.max_alert_id)


def _incident_ended(r: Retention) -> sa.ColumnElement[bool]:
    """A resolved incident that ended before the cutoff, every alert of it too, and
    that nothing still waits on (a pending sink delivery, a playbook run in flight)."""
    cut = r.cutoff
    member = alerts.alias("member")
    return sa.and_(
        incidents.c.status == RESOLVED, incidents.c.merged_into.is_(None),
        incidents.c.resolved_at < cut, incidents.c.updated_at < cut,
        incidents.c.seq < r.max_incident_seq,
        ~sa.exists().where(member.c.incident_id == incidents.c.id,
                           sa.not_(_alert_ended(r, member))),
        ~sa.exists().where(sink_deliveries.c.incident_id == incidents.c.id,
                           sink_deliveries.c.status == PENDING),
        ~sa.exists().where(playbook_runs.c.incident_id == incidents.c.id,
                           playbook_runs.c.status.in_(IN_FLIGHT)))


def _alerts_to_go(r: Retention) -> sa.ColumnElement[bool]:
    ended = sa.select(incidents.c.id).where(_incident_ended(r))
    return sa.and_(_alert_ended(r), sa.or_(alerts.c.incident_id.is_(None),
                                           alerts.c.incident_id.in_(ended)))


def _merged_to_go(r: Retention, going: Any = None) -> sa.ColumnElement[bool]:
    """Merged away before the cutoff into an incident that is no longer stored (or, with
    ``going``, a select of incident ids, that goes with them)."""
    survivor = incidents.alias("survivor")
    gone = ~sa.exists().where(survivor.c.id == incidents.c.merged_into)
    if going is not None:
        gone = sa.or_(gone, incidents.c.merged_into.in_(going))
    return sa.and_(incidents.c.status == MERGED, incidents.c.updated_at < r.cutoff,
                   incidents.c.seq < r.max_incident_seq, gone,
                   ~sa.exists().where(sink_deliveries.c.incident_id == incidents.c.id,
                                      sink_deliveries.c.status == PENDING))


def _unmatched_to_go(r: Retention) -> sa.ColumnElement[bool]:
    """Raw events of no alert (clears that ended none, state reports of no firing
    alert), received before the cutoff."""
    return sa.and_(raw_events.c.alert_id.is_(None), raw_events.c.received_at < r.cutoff,
                   raw_events.c.seq < r.max_event_seq)


def _sessions_to_go(r: Retention) -> sa.ColumnElement[bool]:
    """Sign-in sessions ended or expired by the plan's wall-clock time."""
    return sa.or_(sessions.c.ended_at.is_not(None), sessions.c.expires_at <= r.now)


def count(db: sa.Engine, r: Retention) -> dict[str, int]:
    """What a prune with ``r`` deletes now, per table (a dry run; the progress total).
    Of merged-away incidents, those merged into one that goes are counted, not those
    further down a chain of merges (found only as the link before them goes)."""
    going = sa.select(alerts.c.id).where(_alerts_to_go(r))
    ended = sa.select(incidents.c.id).where(_incident_ended(r))
    merged = sa.select(incidents.c.id).where(_merged_to_go(r, ended))

    def n(query: Any) -> int:
        return int(conn.execute(sa.select(sa.func.count()).select_from(query.subquery()))
                   .scalar() or 0)

    with db.connect() as conn:
        gone = sa.union(ended, merged)
        return {
            "incidents": n(gone),
            "alerts": n(going),
            "raw_events": n(sa.select(raw_events.c.seq).where(sa.or_(
                raw_events.c.alert_id.in_(going), _unmatched_to_go(r)))),
            "ticket_links": n(sa.select(ticket_links.c.ticket_id)
                              .where(ticket_links.c.incident_id.in_(gone))),
            "sink_deliveries": n(sa.select(sink_deliveries.c.sink)
                                 .where(sink_deliveries.c.incident_id.in_(gone))),
            "sink_tombstones": n(sa.select(sink_tombstones.c.sink)
                                 .where(sink_tombstones.c.incident_id.in_(gone))),
            "sessions": n(sa.select(sessions.c.id).where(_sessions_to_go(r))),
        }


# -- deleting ------------------------------------------------------------------------

class Tally(Protocol):
    """What ``Batches`` adds to: a prune's report, or an audit prune's
    (``aiops.retention_audit``)."""

    deleted: dict[str, int]
    longest_batch: float


class Batches:
    """Runs each batch in its own transaction, timing the longest, adding its counts."""

    def __init__(self, db: sa.Engine, report: Tally,
                 progress: Callable[[int], None] | None):
        self.db = db
        self.report = report
        self.progress = progress

    def run(self, work: Callable[[sa.Connection], dict[str, int]]) -> int:
        began = time.perf_counter()
        with self.db.begin() as conn:
            done = work(conn)
        self.report.longest_batch = max(self.report.longest_batch,
                                        time.perf_counter() - began)
        for table, rows in done.items():
            self.report.deleted[table] += rows
        rows = sum(done.values())
        if self.progress is not None and rows:
            self.progress(rows)
        return rows


def pages(db: sa.Engine, key: Any, where: sa.ColumnElement[bool], size: int
           ) -> Iterator[list[Any]]:
    """The keys of rows matching ``where`` in ``size`` pages, in key order (read each
    in its own short transaction, after the previous page was dealt with)."""
    last = None
    while True:
        query = sa.select(key).where(where).order_by(key).limit(size)
        if last is not None:
            query = query.where(key > last)
        with db.connect() as conn:
            page = list(conn.execute(query).scalars())
        if not page:
            return
        yield page
        last = page[-1]


def _delete(conn: sa.Connection, table: Any, where: sa.ColumnElement[bool]) -> int:
    return int(conn.execute(sa.delete(table).where(where)).rowcount or 0)


def _drop_incidents(conn: sa.Connection, ids: list[str]) -> dict[str, int]:
    """Delete incidents ``ids`` (no alerts left) with what references them."""
    return {
        "ticket_links": _delete(conn, ticket_links, ticket_links.c.incident_id.in_(ids)),
        "sink_deliveries": _delete(conn, sink_deliveries,
                                   sink_deliveries.c.incident_id.in_(ids)),
        "sink_tombstones": _delete(conn, sink_tombstones,
                                   sink_tombstones.c.incident_id.in_(ids)),
        "incidents": _delete(conn, incidents, incidents.c.id.in_(ids)),
    }


def prune(db: sa.Engine, r: Retention, batch: int = BATCH,
          progress: Callable[[int], None] | None = None) -> PruneReport:
    """Delete what ``r`` lets go (module doc), ``batch`` rows per transaction at most
    (an incident's few ticket links and outbox rows aside); ``progress`` gets each
    batch's rows."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch}")
    report = PruneReport(r.cutoff, r.clamped, r.floor, dry_run=False)
    began = time.perf_counter()
    with db.begin() as conn:  # first: a prune stopped midway has deleted some already
        note_prune(conn, r.cutoff, r.now)
    batches = Batches(db, report, progress)
    # An ended incident's alerts (their raw events first: the foreign key), then it.
    for seqs in pages(db, incidents.c.seq, _incident_ended(r), batch):
        with db.connect() as conn:
            ids = _ids_of(conn, seqs)
        _drop_alerts(db, batches, alerts.c.incident_id.in_(ids), batch)
        batches.run(lambda conn, i=ids: _drop_incidents(conn, i))
    _drop_alerts(db, batches, sa.and_(alerts.c.incident_id.is_(None), _alert_ended(r)),
                 batch)
    while True:  # a chain of merges goes one link per round
        rows = 0
        for seqs in pages(db, incidents.c.seq, _merged_to_go(r), batch):
            rows += batches.run(lambda conn, s=seqs: _drop_incidents(conn, _ids_of(conn, s)))
        if not rows:
            break
    for seqs in pages(db, raw_events.c.seq, _unmatched_to_go(r), batch):
        batches.run(lambda conn, s=seqs: {"raw_events": _delete(
            conn, raw_events, raw_events.c.seq.in_(s))})
    for ids in pages(db, sessions.c.id, _sessions_to_go(r), batch):
        batches.run(lambda conn, i=ids: {"sessions": _delete(
            conn, sessions, sa.and_(sessions.c.id.in_(i), _sessions_to_go(r)))})
    report.seconds = time.perf_counter() - began
    return report


def _drop_alerts(db: sa.Engine, batches: Batches, where: sa.ColumnElement[bool],
                 batch: int) -> None:
    """Delete the alerts ``where`` selects, each page's raw events before it."""
    for ids in pages(db, alerts.c.id, where, batch):
        events = raw_events.c.alert_id.in_(ids)
        for seqs in pages(db, raw_events.c.seq, events, batch):
            batches.run(lambda conn, s=seqs: {"raw_events": _delete(
                conn, raw_events, raw_events.c.seq.in_(s))})
        batches.run(lambda conn, a=ids: {"alerts": _delete(conn, alerts, alerts.c.id.in_(a))})


def _ids_of(conn: sa.Connection, seqs: list[int]) -> list[str]:
    return list(conn.execute(sa.select(incidents.c.id).where(incidents.c.seq.in_(seqs)))
                .scalars())


def dry_run(db: sa.Engine, r: Retention) -> PruneReport:
    """What ``prune`` would delete now, deleting nothing."""
    report = PruneReport(r.cutoff, r.clamped, r.floor, dry_run=True)
    report.deleted = count(db, r)
    return report


def vacuum(db: sa.Engine, tables: tuple[str, ...] = TABLES) -> float:
    """Give the deleted rows' space back; seconds taken. SQLite does not shrink its file
    after a delete (the pages are reused by later writes): VACUUM rewrites it, holding
    the store's write lock meanwhile and needing as much free disk as the file.
    PostgreSQL: VACUUM ANALYZE of the pruned tables makes their space reusable and the
    planner's counts current, without the exclusive lock of VACUUM FULL (of ``tables``:
    the audit prune's too when it ran)."""
    began = time.perf_counter()
    with db.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if db.dialect.name == "sqlite":
            conn.exec_driver_sql("VACUUM")
        else:
            for table in dict.fromkeys(tables):
                conn.exec_driver_sql(f"VACUUM ANALYZE {table}")
    return time.perf_counter() - began
