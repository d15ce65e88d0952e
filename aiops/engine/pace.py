"""The pace of an engine that has no trained model, read from the alerts it sees.

Why: every time the correlator compares (window, prime, fade, merge onset gap,
fan-out, skew) was chosen on cascades whose alarms follow their cause within seconds,
and ``aiops train`` stretches them by the time scale it learns from history
(``aiops.learning.timescale``). A new installation has no model, so until someone
trains one it correlated at the reference pace; where monitoring polls (Zabbix and
Icinga check every minute or so) its cascades arrive spread over minutes and it
split them: on the slow-timing benchmark the untrained engine fell below OpenNMS
ALEC's fixed parameters (docs/benchmarks.md, "Correlation when monitoring reports
slowly").

``LivePace`` keeps the onsets of the last ``span`` seconds of alerts (a day, by event
time, as much as ``aiops train`` is usually given; at most ``max_alerts``: memory
stays bounded however long it runs) and, each time event time crosses a multiple of
``every`` seconds (half an hour, less often while the reading holds), estimates the
time scale from them as ``aiops train`` does (``CascadeTimescale``: unlabelled, clamped to [1, 8]),
but with no learned clock offsets and so wanting more evidence: 1 until
``min_excess`` pairs (1,000, five times what training asks) stand out from the even
background. Half an hour of alarms read at the default timing gave lags of 17–21 s
(scale up to 1.27) on the 45-node Huawei topology, where a day gives 8–15 s; with
1,000 pairs the first reading came later and at 1.0. The engine then correlates at
that scale (``Engine``): a change of the scale by less than ``min_change`` (15 %,
relative) is not applied, and a fit with too little evidence leaves the scale as it
was, so an estimate moving in its noise (1.6–2.1 from six-hour windows of one slow
45-node network) does not rebuild the correlator each time. The fits run on the
event-time grid, checked at every alert, rather than on the wall clock or per batch,
so a replay of the same alerts gives the same incidents however it is cut into
batches. A trained model's scale always wins: this is only for an engine with no
model, and switched off with ``EngineSettings.live_time_scale``.

Each fit also counts type precedence on the same alerts (``TypeRelations.
fit_precedence``: which of two alarm types started first when both started within a
minute, stretched by the scale in use, on the same or neighbouring nodes), what the
root-cause ranker reads as rootness and traces cascades with
(``aiops.engine.rank``). Without it an untrained engine gave every type a rootness of
0.5 and traced nothing, and named the device with most of the incident's alarms.
The counts are used (``relations``) once a fit counted ``min_precedence`` ordered
pairs; a fit with fewer leaves those in use as they were, like the scale. Only the
counts: the causal edge search of ``aiops train`` costs seconds on a day of alarms.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable
from operator import attrgetter
from typing import Any, NamedTuple

import sqlalchemy as sa

from aiops.learning.relations import TypeRelations
from aiops.learning.timescale import CascadeTimescale, condition_onsets
from aiops.models import OWN_SOURCE, Alert
from aiops.store.engine_state import load_state as load_engine_state
from aiops.store.tables import alerts, raw_events
from aiops.timeutil import parse_timestamp
from topology.graph import TopologyGraph

log = logging.getLogger(__name__)

# Sort key of the fits' alerts: (start, id), by C attribute look-ups rather than a
# lambda per alert (a fit sorts a day of alerts, dozens of times per replay).
_START_THEN_ID = attrgetter("starts_at", "id")
# The ``engine_state`` row of the pace's readings, and the layout of its snapshot.
PACE_STATE = "live_pace"
SNAPSHOT_FORMAT = 1
# Ordered type pairs a precedence count needs before the ranker uses it (module doc).
MIN_PRECEDENCE = 200
# A repeat of a condition sooner than this after its previous alert is the same run
# (``condition_onsets``; the scale's estimate uses its first window, also 600 s).
ONSET_GAP = 600.0
# The default reach of the kept onsets (module doc): what a restart reads back
# (``seed_from_store``) and what retention must leave (``aiops.retention``).
SPAN = 86400.0
MAX_ALERTS = 50_000


class _Readings(NamedTuple):
    """What ``rollback`` returns to and a restart takes back (the kept alerts aside)."""

    scale: float
    lag: float | None
    excess_pairs: int
    fits: int
    relations: TypeRelations | None
    precedence_pairs: int
    latest: float
    next_fit: float | None
    interval: float


class LivePace:
    """Bounded recent alert onsets and the time scale they call for (module doc)."""

    def __init__(self, span: float = SPAN, every: float = 1800.0,
                 max_every: float = 6 * 3600.0, max_alerts: int = MAX_ALERTS,
                 min_change: float = 0.15, min_excess: int = 1000,
                 min_precedence: int = MIN_PRECEDENCE):
        if not (0 < every <= max_every <= span < math.inf):
            raise ValueError(f"live pace: need 0 < every ({every}) <= max_every "
                             f"({max_every}) <= span ({span})")
        self.span = span
        self.every = every
        self.max_every = max_every
        self.max_alerts = max_alerts
        self.min_change = min_change
        self.min_excess = min_excess
        self.min_precedence = min_precedence
        self.scale = 1.0  # the scale in use
        self.lag: float | None = None  # the cascade lag of the last fit that read one
        self.excess_pairs = 0
        self.fits = 0
        # type precedence read from the kept alerts, once enough (module doc); None: none
        self.relations: TypeRelations | None = None
        self.precedence_pairs = 0  # ordered pairs the last fit counted
        self._alerts: deque[Alert] = deque()
        self._latest = -math.inf  # latest start seen (event time)
        self._next_fit: float | None = None  # event time at which the next fit is due
        self._interval = every  # doubles while the scale holds, back to ``every`` on a change
        self._pending: list[Alert] = []  # noted in the batch being placed
        self._saved = self._state()

    def observe(self, events: Iterable[Alert]) -> None:
        """Keep ``events`` at once (seeding: a fit due is left to the caller)."""
        self.begin()
        for event in events:
            self.note(event)
        self.commit()

    def begin(self) -> None:
        """A batch starts: what it notes is pending until ``commit``, and ``rollback``
        returns to this point (the engine's batch failed to store: memory must not run
        ahead of the database, nor keep the retried batch's alerts twice)."""
        self._pending = []
        self._saved = self._state()

    def _state(self) -> _Readings:
        """What ``rollback`` returns to (the kept alerts change only on ``commit``)."""
        return _Readings(self.scale, self.lag, self.excess_pairs, self.fits,
                         self.relations, self.precedence_pairs, self._latest,
                         self._next_fit, self._interval)

    def _take(self, state: _Readings) -> None:
        (self.scale, self.lag, self.excess_pairs, self.fits, self.relations,
         self.precedence_pairs, self._latest, self._next_fit, self._interval) = state

    def note(self, event: Alert) -> bool:
        """Take the start of ``event`` (not the engine's own alerts) into the pending
        batch; True when a fit is due. Runs for every event the engine places, so a
        fit falls at the same point of event time whatever the batches (a re-sent
        event, or a clear, adds nothing: the estimate counts each condition once per
        run)."""
        if event.source == OWN_SOURCE:
            return False
        self._pending.append(event)
        at = event.starts_at
        if at > self._latest:
            self._latest = at
            if self._next_fit is None:
                self._next_fit = (math.floor(at / self.every) + 1) * self.every
        return self._next_fit is not None and self._latest >= self._next_fit

    def commit(self) -> None:
        """The batch was stored: keep its starts, forget what fell out of ``span`` or
        beyond ``max_alerts``."""
        kept = self._alerts
        kept.extend(self._pending)
        self._pending = []
        oldest = self._latest - self.span
        while kept and (len(kept) > self.max_alerts or kept[0].starts_at < oldest):
            kept.popleft()

    def rollback(self) -> bool:
        """The batch was not stored: back to ``begin``; True when that changed the
        scale in use (the caller rebuilds its correlator; it compares ``relations``
        before and after itself)."""
        scale = self.scale
        self._take(self._saved)
        self._pending = []
        return self.scale != scale

    @property
    def due(self) -> bool:
        """Whether event time has passed the next fit's point on the grid."""
        return self._next_fit is not None and self._latest >= self._next_fit

    def refit(self, topology: TopologyGraph) -> bool:
        """Estimate the scale from the kept alerts; True when the scale in use changed.

        The next fit is due ``every`` seconds of event time later, on the grid of its
        multiples; each fit that reads a lag and leaves the scale as it was doubles
        that interval, up to ``max_every`` (a fit of a day of a busy network's alerts
        takes a fraction of a second, which a steady network need not pay every half
        hour); a change, or too little evidence to read a lag, sets it back."""
        topology = topology.device_view()  # ports merged into their devices
        # The kept starts and the batch's so far, within the span and the count; arrival
        # order is not start order (late reports), and the estimator wants starts.
        oldest = self._latest - self.span
        recent = [a for a in (*self._alerts, *self._pending) if a.starts_at >= oldest]
        alerts = sorted(recent[-self.max_alerts:], key=_START_THEN_ID)
        # One hop only: with the two-hop fallback the first hours of a stream at the
        # default timing, before one hop reaches its pairs, read 1.33-1.7 from two hops
        # (docs/architecture.md, "The pace of an engine with no model").
        fitted = CascadeTimescale(min_excess=self.min_excess, far_hops=1).fit(alerts, topology)
        self.fits += 1
        self.excess_pairs = fitted.excess_pairs_
        if fitted.lag_ is not None:
            self.lag = fitted.lag_
        # Too little evidence says nothing: the scale in use stays.
        read = fitted.lag_ is not None
        changed = read and abs(fitted.scale_ - self.scale) > self.min_change * self.scale
        if changed:
            self.scale = fitted.scale_
        self._fit_precedence(alerts, topology)
        steady = read and not changed
        self._interval = min(2 * self._interval, self.max_every) if steady else self.every
        self._next_fit = (math.floor(self._latest / self.every) * self.every
                          + self._interval)
        return changed

    def _fit_precedence(self, alerts: list[Alert], topology: TopologyGraph) -> None:
        """Count type precedence on ``alerts`` (sorted by start) at the scale in use;
        a new ``relations`` once ``min_precedence`` ordered pairs were counted, else the
        one in use stays (module doc).

        Each condition counts once per run (``condition_onsets``, as the scale's
        estimate): a storm of one condition would otherwise outvote everything near
        it, and the stored alerts a restart seeds from (deduplicated: a re-fire reopens
        its alert) hold each condition about once a run too."""
        # The reference minute stretched by the scale, as ``aiops train`` stretches it
        # (``CascadeTimescale.stretch``: within its five-minute pairs).
        fitted = TypeRelations()
        fitted.precedence_window = min(fitted.precedence_window * self.scale,
                                       max(fitted.window, fitted.causal_window))
        fitted.fit_precedence(condition_onsets(alerts, ONSET_GAP), topology)
        self.precedence_pairs = sum(fitted.precedence_.values())
        if self.precedence_pairs >= self.min_precedence:
            self.relations = fitted

    def schedule_moved(self) -> bool:
        """Whether this batch fitted, or set the first fit's point: what a restart must
        find as it was (``snapshot``), written with the batch."""
        return self.fits != self._saved.fits or self._next_fit != self._saved.next_fit

    def snapshot(self) -> dict[str, Any]:
        """The readings and the schedule, for ``restore`` after a restart; the kept
        alerts are not in it (the stored raw events hold them, ``seed_from_store``)."""
        return {"format": SNAPSHOT_FORMAT, "bounds": self._bounds(),
                "scale": self.scale, "lag": self.lag, "excess_pairs": self.excess_pairs,
                "fits": self.fits, "precedence_pairs": self.precedence_pairs,
                "relations": None if self.relations is None else self.relations.to_dict(),
                "latest": self._latest if math.isfinite(self._latest) else None,
                "next_fit": self._next_fit, "interval": self._interval}

    def _bounds(self) -> list[float]:
        return [self.span, self.every, self.max_every, float(self.max_alerts),
                self.min_change, float(self.min_excess), float(self.min_precedence)]

    def restore(self, saved: dict[str, Any], kept: Iterable[Alert]) -> bool:
        """Take back the readings and schedule of ``snapshot`` and the events kept then
        (the latest noted events, oldest first), without a fit: the engine goes on as if
        it had not stopped. False (nothing changed) for a snapshot of another format or
        other bounds, or one that does not read back."""
        try:
            if saved.get("format") != SNAPSHOT_FORMAT or saved.get("bounds") != self._bounds():
                return False
            relations = saved["relations"]
            state = _Readings(
                float(saved["scale"]), None if saved["lag"] is None else float(saved["lag"]),
                int(saved["excess_pairs"]), int(saved["fits"]),
                None if relations is None else TypeRelations.from_dict(relations),
                int(saved["precedence_pairs"]),
                -math.inf if saved["latest"] is None else float(saved["latest"]),
                None if saved["next_fit"] is None else float(saved["next_fit"]),
                float(saved["interval"]))
        except (AttributeError, KeyError, TypeError, ValueError):
            return False
        self._take(state)
        self._alerts = deque()
        self.begin()
        for event in kept:
            self._pending.append(event)
            self._latest = max(self._latest, event.starts_at)
        self.commit()
        self._saved = self._state()
        return True

    def describe(self) -> dict[str, object]:
        """For ``Engine.stats``: the scale in use and what it was read from, and how many
        ordered pairs of types the last precedence count found (and whether the ranker
        uses such counts)."""
        return {"scale": self.scale, "cascade_lag_seconds": self.lag,
                "excess_pairs": self.excess_pairs, "fits": self.fits,
                "alerts_kept": len(self._alerts) + len(self._pending),
                "precedence_pairs": self.precedence_pairs,
                "precedence_in_use": self.relations is not None}


def seed_from_store(pace: LivePace, db: sa.Engine, topology: TopologyGraph) -> LivePace:
    """``pace`` as it was before a restart: its readings and schedule from the
    ``engine_state`` row the last batch that moved them wrote, and the events it kept
    (the latest ``max_alerts`` stored raw events not of the engine's own, which are the
    events it noted, as they were placed), with no fit: the engine goes on as if it had
    not stopped (tested: the same incidents as a run through).

    A data dir without that row (written before migration 0021) or with another pace's
    bounds: the stored alerts of its span before the latest stored start, fitted at once,
    so the engine goes on at about the pace it had rather than from 1 (that fit lands on
    the restart, not on the grid, and reads deduplicated alerts, so the incidents after
    it can differ slightly from a run through)."""
    with db.connect() as conn:
        saved = load_engine_state(conn, PACE_STATE)
        if saved is not None:
            try:
                kept = [_noted(payload) for _, payload in
                        reversed(latest_noted(conn, pace.max_alerts))]
            except (KeyError, TypeError, ValueError) as err:
                log.warning("live pace: a stored event does not read back (%s); the "
                            "pace is fitted again on the stored alerts", err)
            else:
                if pace.restore(saved, kept):
                    return pace
        latest = conn.execute(sa.select(sa.func.max(alerts.c.starts_at))
                              .where(alerts.c.source != OWN_SOURCE)).scalar()
        if latest is None:
            return pace
        rows = conn.execute(
            sa.select(alerts.c.id, alerts.c.source, alerts.c.name, alerts.c.entity,
                      alerts.c.starts_at)
            .where(alerts.c.starts_at >= float(latest) - pace.span,
                   alerts.c.source != OWN_SOURCE)
            .order_by(alerts.c.starts_at.desc(), alerts.c.id.desc())
            .limit(pace.max_alerts)).all()
    pace.observe(Alert(str(i), source, name, entity, "info", "", float(at))
                 for i, source, name, entity, at in reversed(rows))
    pace.refit(topology)
    return pace


def latest_noted(conn: sa.Connection, limit: int) -> list[tuple[int, dict[str, Any]]]:
    """The latest ``limit`` stored raw events not of the engine's own, newest first, as
    (seq, payload): the events the pace noted, which a restart reads back
    (``seed_from_store``) and retention must leave (``aiops.retention``)."""
    return [(int(seq), payload) for seq, payload in conn.execute(
        sa.select(raw_events.c.seq, raw_events.c.payload)
        .where(raw_events.c.source != OWN_SOURCE)
        .order_by(raw_events.c.seq.desc()).limit(limit))]


def _noted(payload: dict[str, Any]) -> Alert:
    """A stored raw event as the pace noted it: what it reads is the type, the entity
    and the start (stored as RFC 3339 to the microsecond, which reads back exactly)."""
    return Alert(str(payload["id"]), str(payload["source"]), str(payload["name"]),
                 str(payload["entity"]), "info", "",
                 parse_timestamp(payload["starts_at"], "starts_at"))
