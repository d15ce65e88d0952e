"""Rebuilding the engine's live state from the database after a restart.

Loads what can still change: open incidents and recently active ones with their
alerts, firing alerts, and alerts resolved recently enough to re-fire, and the alerts
recent enough to be the parents of an incident settling from now on (the absorber's
buffer, ``aiops.engine.absorb``). Everything older stays in the database only, which
keeps memory bounded by live state.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from aiops.config import EngineSettings
from aiops.engine.absorb import buffer_cutoff
from aiops.engine.beat import kept_starts
from aiops.engine.state import FIRING, OPEN, AlertRecord, IncidentRecord, RootCause
from aiops.models import Alert
from aiops.store.json_column import JsonText
from aiops.store.tables import alerts, incidents, raw_events

# The clock before any event: below every time, so that the first event sets it
# whatever its sign (a stream before 1970 has negative epoch times; a clock that
# started at 0 never moved for it and expired every incident at each event).
NO_CLOCK = -math.inf


@dataclass(slots=True)
class LiveState:
    clock: float = NO_CLOCK
    counters: tuple[int, int, int] = (0, 0, 0)  # last alert id, event seq, incident seq
    incidents: list[IncidentRecord] = field(default_factory=list)
    active_alerts: list[AlertRecord] = field(default_factory=list)
    # New alerts placed on a device that started at or after the buffer's cutoff, in
    # arrival (id) order: what the absorber's buffer held before the restart.
    recent_alerts: list[AlertRecord] = field(default_factory=list)


# A restored alert's placement record is read as its stored text and kept so
# (``JsonText``): the engine decodes it only when it moves the alert (``add_move``, a
# rare event) and rewrites the same text otherwise; the API and CLI read the record from
# the store. Decoding every live alert's record was a tenth of a restart (39,434 live
# alerts: load_state 2.0 s -> 1.7 s; docs/architecture.md, "Why here").
_ALERT_COLUMNS = (*(c for c in alerts.c if c.name != "placement"),
                  sa.cast(alerts.c.placement, sa.Text).label("placement"))


def alert_from_row(row: Any) -> AlertRecord:
    """The record of a stored alert; a placement given as text (``_ALERT_COLUMNS``)
    stays text, marked as encoded JSON."""
    placement = row.placement
    if type(placement) is str:
        placement = JsonText(placement)
    event = Alert(id=row.first_event_id, source=row.source, name=row.name, entity=row.entity,
                  severity=row.severity, summary=row.summary, starts_at=row.starts_at,
                  ends_at=row.ends_at, labels=dict(row.labels or {}),
                  description=row.description)
    return AlertRecord(
        id=row.id, fingerprint=row.fingerprint, event=event, node_id=row.node_id,
        status=row.status, starts_at=row.starts_at, ends_at=row.ends_at,
        last_event_at=row.last_event_at, event_count=row.event_count,
        episode_start=row.episode_start or 0.0,
        transitions=row.transitions, flapping=row.flapping, incident_id=row.incident_id,
        recent_transitions=deque(row.recent_transitions or ()),
        recent_starts=kept_starts(row.recent_starts or ()), persisted=True,
        placement=placement,
    )


def _incident_from_row(row: Any) -> IncidentRecord:
    return IncidentRecord(
        id=row.id, seq=row.seq, started_at=row.started_at, updated_at=row.updated_at,
        status=row.status, resolved_at=row.resolved_at, merged_into=row.merged_into,
        root_causes=[RootCause(**rc) for rc in row.root_causes or []], persisted=True,
        settled=bool(row.settled), split_note=row.split_note,
    )


def _not_before(column: sa.ColumnElement[Any], bound: float) -> sa.ColumnElement[bool]:
    """``column >= bound``; with no clock yet (``NO_CLOCK``) every set value is, and an
    infinite bound is not sent to the database (PostgreSQL and SQLite differ on it)."""
    if math.isfinite(bound):
        return column >= bound
    return column.is_not(None)


def load_state(db: sa.Engine, settings: EngineSettings, horizon: float,
               until: float = math.inf) -> LiveState:
    """The live state as of the latest stored start, or the latest not after ``until``:
    a live engine passes the wall clock's bound, so an alert stored with a time years
    ahead (stamped by a wrong clock before live times were bounded, or replayed from a
    simulation) does not set its clock there and expire every incident of today.
    ``horizon`` is the correlator's; with the clock it sets which alerts go into
    ``recent_alerts`` (``buffer_cutoff``)."""
    state = LiveState()
    with db.connect() as conn:
        # The engine's clock follows starts_at only (a replayed ends_at lies in the future).
        latest = sa.select(sa.func.max(alerts.c.starts_at))
        if until < math.inf:
            latest = latest.where(alerts.c.starts_at <= until)
        stored = conn.execute(latest).scalar()
        clock = state.clock = NO_CLOCK if stored is None else float(stored)
        state.counters = (
            int(conn.execute(sa.select(sa.func.max(alerts.c.id))).scalar() or 0),
            int(conn.execute(sa.select(sa.func.max(raw_events.c.seq))).scalar() or 0),
            int(conn.execute(sa.select(sa.func.max(incidents.c.seq))).scalar() or 0),
        )
        live = conn.execute(
            sa.select(incidents).where(
                sa.or_(incidents.c.status == OPEN,
                       _not_before(incidents.c.updated_at, clock - horizon),
                       # resolved, but an alert of it may still re-fire into it
                       _not_before(incidents.c.resolved_at, clock - settings.refire_window))
            ).where(incidents.c.merged_into.is_(None))
        ).all()
        by_id = {row.id: _incident_from_row(row) for row in live}
        recent = clock - settings.refire_window
        rows = conn.execute(
            sa.select(*_ALERT_COLUMNS).where(sa.or_(
                alerts.c.incident_id.in_(list(by_id)) if by_id else sa.false(),
                alerts.c.status == FIRING,
                _not_before(alerts.c.ends_at, recent),
            )).order_by(alerts.c.id)  # a later occurrence of a fingerprint wins
        ).all()
        recent_rows = [] if not math.isfinite(clock) else conn.execute(
            sa.select(*_ALERT_COLUMNS)
            .where(alerts.c.starts_at >= buffer_cutoff(clock, horizon),
                   alerts.c.starts_at <= clock, alerts.c.node_id.is_not(None))
            .order_by(alerts.c.id)).all()
    records: dict[int, AlertRecord] = {}
    for row in rows:
        record = records[row.id] = alert_from_row(row)
        incident = by_id.get(record.incident_id or "")
        if incident is not None:
            incident.alerts[record.id] = record
            incident.firing += record.status == FIRING
        if record.status == FIRING or (record.ends_at or 0.0) >= recent:
            state.active_alerts.append(record)
    # One record per alert: the buffer's are the incidents' own where loaded.
    state.recent_alerts = [records.get(row.id) or alert_from_row(row) for row in recent_rows]
    state.incidents = list(by_id.values())
    return state
