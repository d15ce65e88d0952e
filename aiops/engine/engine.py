"""The engine: every alert event, from any source, takes this one path.

``ingest`` runs a batch of canonical events through deduplication, entity
resolution, correlation and root-cause ranking, then stores the batch in one
transaction. Live webhooks, pull connectors and ``aiops replay`` all call it, so
they cannot disagree. Decisions use event time (``starts_at``/``ends_at``), never
the wall clock, so a replay of yesterday behaves as yesterday did live. The wall
clock only bounds live events (``ingest(live=True)``): one stamped far ahead of its
arrival by a wrong clock must not carry the engine's clock into the future.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from aiops.config import EngineSettings
from aiops.engine import placement
from aiops.engine.absorb import AlertBuffer, ParentAbsorber, add_note, buffer_cutoff
from aiops.engine.correlate import Correlator
from aiops.engine.counts import ENGINE, OPERATOR, EngineCounts
from aiops.engine.dedup import (
    NEW,
    REFIRE,
    RESOLVE,
    UNMATCHED_CLEAR,
    UNMATCHED_REPORT,
    Deduplicator,
)
from aiops.engine.feedback import (
    FeedbackOutcome,
    alert_sets,
    check_ids,
    check_text,
    load_incidents,
    resettle,
)
from aiops.engine.hindsight import HindsightSplitter
from aiops.engine.index import IncidentIndex
from aiops.engine.latency import LatencyHistogram
from aiops.engine.pace import PACE_STATE, LivePace
from aiops.engine.rank import CausalTopologyRanker, RootCauseRanker
from aiops.engine.restore import load_state
from aiops.engine.scored_correlator import ScoredCorrelator
from aiops.engine.state import (
    FIRING,
    MERGED,
    OPEN,
    RESOLVED,
    AlertRecord,
    IncidentRecord,
    RootCause,
)
from aiops.errors import InputError
from aiops.models import Alert
from aiops.store.engine_state import save_state as save_engine_state
from aiops.store.feedback import alerts_of_events, insert_feedback
from aiops.store.json_column import alert_json
from aiops.store.recorder import mark_persisted, write_batch
from aiops.timeutil import to_rfc3339
from topology.graph import TopologyGraph

if TYPE_CHECKING:
    from aiops.sinks import IncidentSink
    from topology.timeline import TopologyTimeline

# Events between sweeps of resolved alerts out of memory; like the index expiry below,
# due at multiples of the raw event sequence number, so where batches are cut, and a
# restart (which goes on from the stored sequence), do not move them.
EVICT_EVERY = 1024

log = logging.getLogger(__name__)
EXPIRE_EVERY = 64  # events between drops of old incidents from the correlation index


@dataclass(slots=True)
class IngestResult:
    """What one batch did, returned to the API caller and the CLI."""

    accepted: int = 0
    dispositions: Counter[str] = field(default_factory=Counter)
    incidents: set[str] = field(default_factory=set)
    unresolved_entities: set[str] = field(default_factory=set)
    # Live events stamped ahead of their arrival by more than the bound, with the times
    # sent and the times used (``Engine.ingest``'s ``live``), so the sender learns.
    clock_ahead: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accepted": self.accepted,
            "dispositions": dict(self.dispositions),
            "incidents": sorted(self.incidents),
            "unresolved_entities": sorted(self.unresolved_entities),
            "clock_ahead": list(self.clock_ahead),
        }


@dataclass(slots=True)
class _Batch:
    alerts: dict[int, AlertRecord] = field(default_factory=dict)
    incidents: dict[str, IncidentRecord] = field(default_factory=dict)
    to_rank: dict[str, IncidentRecord] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    counts: EngineCounts = field(default_factory=EngineCounts)  # added once stored


CorrelatorFactory = Callable[[TopologyGraph, EngineSettings], Correlator]
RankerFactory = Callable[[TopologyGraph], RootCauseRanker]
# Builds the hindsight splitter for a topology and the settings' gain: a trained model's
# factory gives it the shares learned from history (``aiops.learning.ring_shares``).
SplitterFactory = Callable[[TopologyGraph, float], HindsightSplitter]
# Builds the absorber of small settled incidents for a topology and the settings' share
# from a trained model's Hawkes parents (``aiops.engine.absorb``); None: no model.
AbsorberFactory = Callable[[TopologyGraph, float], ParentAbsorber | None]


def no_absorber(topology: TopologyGraph, share: float) -> ParentAbsorber | None:
    """No parent model (untrained, or a model saved before parents were learned)."""
    return None


class Engine:
    """Holds live alerts and incidents in memory; the database holds everything."""

    def __init__(self, db: sa.Engine, topology: TopologyGraph,
                 settings: EngineSettings | None = None,
                 correlator_factory: CorrelatorFactory = ScoredCorrelator,
                 ranker_factory: RankerFactory = CausalTopologyRanker,
                 sinks: Sequence[IncidentSink] = (),
                 timeline: TopologyTimeline | None = None,
                 splitter_factory: SplitterFactory = HindsightSplitter,
                 absorber_factory: AbsorberFactory = no_absorber):
        self.db = db
        # Told about every stored batch (aiops.sinks); none in the embedded default.
        self.sinks = list(sinks)
        self.sink_failures = 0
        self.settings = settings or EngineSettings()
        self._correlator_factory = correlator_factory
        self._ranker_factory = ranker_factory
        self._splitter_factory = splitter_factory
        self._absorber_factory = absorber_factory
        self.lock = threading.RLock()
        self.placement_latency = LatencyHistogram()  # per event, storage excluded
        self.counts = EngineCounts()  # what stored batches did (aiops.engine.counts)
        self._batch_events: list[Alert] | None = None  # the batch being placed, if any
        self.timeline: TopologyTimeline | None = None
        # The pace read from the alerts themselves while no trained model sets one
        # (``aiops.engine.pace``); the correlator factory reads its scale.
        self.pace: LivePace | None = None
        if timeline is None:
            self.set_topology(topology)
        else:
            self.set_timeline(timeline)
        self._restore()

    def set_factories(self, correlator: CorrelatorFactory, ranker: RankerFactory,
                      splitter: SplitterFactory | None = None,
                      absorber: AbsorberFactory | None = None) -> None:
        """Swap correlator and ranker, and the splitter and absorber when given (a
        newly promoted model); live incidents are kept."""
        with self.lock:
            self._correlator_factory = correlator
            self._ranker_factory = ranker
            self.correlator = correlator(self.topology, self.settings)
            self.ranker = ranker(self.topology)
            if splitter is not None:
                self._splitter_factory = splitter
                self.splitter = self._new_splitter(self.topology)
            if absorber is not None:
                self._absorber_factory = absorber
                self.absorber = self._new_absorber(self.topology)

    def use_pace(self, pace: LivePace | None) -> None:
        """Follow ``pace`` (the correlator factory must read ``pace.scale``); None: the
        model's own scale, fixed."""
        with self.lock:
            self.pace = pace
            self.correlator = self._correlator_factory(self.topology, self.settings)

    def _refit_pace(self) -> None:
        """On the pace's grid (checked at every event): re-estimate the scale; a changed
        scale takes effect from the event that crossed the grid on. Live incidents stay
        in the index: a longer horizon keeps them longer from now on, a shorter one lets
        the oldest go at the next expiry. New type precedence counted on the way gives a
        new ranker (the factory reads it), used from this batch's ranking on."""
        assert self.pace is not None
        relations = self.pace.relations
        if self.pace.refit(self.topology):
            self._rebuild_correlator()
        self._follow_precedence(relations)

    def _follow_precedence(self, before: object) -> None:
        """A new ranker when the pace's type precedence is no longer ``before`` (a fit
        counted new, or a rollback took them back): the ranker factory reads them."""
        assert self.pace is not None
        if self.pace.relations is not before:
            self.ranker = self._ranker_factory(self.topology)

    def _rebuild_correlator(self) -> None:
        """A new correlator for the current topology (the pace's scale changed)."""
        self.correlator = self._correlator_factory(self.topology, self.settings)
        if self._batch_events is not None:
            self.correlator.prepare(self._batch_events)

    def set_topology(self, topology: TopologyGraph) -> None:
        """Use one topology for alerts of every event time from now on (no history)."""
        with self.lock:
            self.timeline = None
            self._use(topology, -math.inf, math.inf)

    def set_timeline(self, timeline: TopologyTimeline) -> None:
        """Analyse each alert against the topology as it was at its event time (after an
        import or discovery, a new timeline replaces the old one)."""
        with self.lock:
            self.timeline = timeline
            current = timeline.current()
            self._use(current.graph, current.start, current.end)

    def _use(self, topology: TopologyGraph, start: float, end: float) -> None:
        """Correlate and rank with ``topology``, valid for event times in [start, end)."""
        self._valid_from, self._valid_until = start, end
        self.topology = topology
        self.correlator = self._correlator_factory(topology, self.settings)
        self.ranker = self._ranker_factory(topology)
        self.splitter = self._new_splitter(topology)
        self.absorber = self._new_absorber(topology)
        if self._batch_events is not None:
            self.correlator.prepare(self._batch_events)  # a switch in mid-batch

    def _new_splitter(self, topology: TopologyGraph) -> HindsightSplitter | None:
        """The hindsight splitter for ``topology``; None when the settings switch it off."""
        gain = self.settings.hindsight_split_gain
        return self._splitter_factory(topology, gain) if gain > 0 else None

    def _new_absorber(self, topology: TopologyGraph) -> ParentAbsorber | None:
        """The absorber of small settled incidents for ``topology``; None without a
        parent model or when the settings switch it off."""
        share = self.settings.parent_absorb_share
        return self._absorber_factory(topology, share) if share > 0 else None

    def _at(self, t: float) -> None:
        """Switch to the topology of event time ``t``. Hot path: while ``t`` stays in the
        current snapshot's interval (always, for live alerts) this is two comparisons."""
        if self._valid_from <= t < self._valid_until or self.timeline is None:
            return
        snapshot = self.timeline.at(t)
        self._use(snapshot.graph, snapshot.start, snapshot.end)

    def _restore(self, until: float = math.inf) -> None:
        """Rebuild live state from the database, the clock at the latest stored start
        not after ``until`` (``load_state``)."""
        state = load_state(self.db, self.settings, self.correlator.horizon, until)
        self.clock = state.clock
        self._alert_seq, self._event_seq, self._incident_seq = state.counters
        self.dedup = Deduplicator(self.settings, self._new_alert_id)
        for record in state.active_alerts:
            self.dedup.restore(record)
        # Recent new alerts by device, the candidate parents of a settling small
        # incident's alerts (``aiops.engine.absorb``); pruned at every index expiry.
        # Kept with or without an absorber, so a model promoted now finds the alarms of
        # the last minutes, as a restart or a regroup (``LEAD_IN``) does.
        self.buffer = AlertBuffer()
        for record in state.recent_alerts:
            self.buffer.add(record)
        self.incidents: dict[str, IncidentRecord] = {i.id: i for i in state.incidents}
        self.index = IncidentIndex()
        horizon = self.clock - self.correlator.horizon
        for incident in state.incidents:
            # Not yet settled (the restart came between it going quiet and the expiry
            # that hands it to the hindsight split): indexed, so that expiry still comes.
            if incident.updated_at >= horizon or not incident.settled:
                for alert in incident.alerts.values():
                    self.index.add(incident, alert)
        # Sequence numbers up to which the sweeps (``_sweep``) are done.
        self._expired_to = self._evicted_to = self._event_seq
        self._stale = False

    def _new_alert_id(self) -> int:
        self._alert_seq += 1
        return self._alert_seq

    def ingest(self, events: Sequence[Alert], received_at: float | None = None,
               start_unknown: Collection[int] = (), live: bool = False,
               state_reports: Collection[int] = ()) -> IngestResult:
        """Process and store a batch; on a storage failure nothing of it is kept.

        ``start_unknown``: indexes of events whose sender did not say when their
        condition started; each takes the start of its condition's firing alert, if
        any, when its turn comes (``Deduplicator.adopt_start``), so a problem and its
        recovery in one batch see each other. Such a clear of a condition with no
        alert here (never seen firing: every port of a booting device sends linkUp)
        ends nothing and would only be noise in an incident: it is kept as a raw
        event with no alert, disposition ``unmatched_clear`` (``_keep_unmatched``).
        A clear that states its start (an Alertmanager resolution of a firing the
        engine missed) is a real episode and becomes an alert as before.

        ``state_reports``: indexes of events that are their sender's report of the
        condition as it is now (a Zabbix problem whose severity was changed,
        ``Mapped.state_report``): like a start-unknown event, each gives its
        condition's firing alert its severity, summary and status labels
        (``Deduplicator.apply``'s ``reports_state``); any other re-send does not. One
        that is also start-unknown and ends nothing (a Nagios acknowledgement,
        downtime or flapping notification) reports on a problem, not a new one: with
        no firing alert of its condition it is kept as a raw event with no alert,
        disposition ``unmatched_report`` (``Deduplicator.adopt_firing_start``). Such
        an event that ends its condition is a clear like any other.

        ``live``: the events were sent just now (the HTTP API, ``aiops pull``), so none
        began or ended after ``received_at``. A time more than
        ``settings.max_clock_ahead`` later comes from a wrong clock (a device that
        lost its time, an epoch typed wrong) and is taken as ``received_at``, as the
        syslog listener takes the arrival time of a device clock far off; the times
        sent are kept in the raw event and reported (``IngestResult.clock_ahead``),
        and the engine's clock never passes that bound. Left as it is, one such alert
        would move the clock years ahead and every real alert after it would find the
        open incidents expired. A replay runs at event time, unrelated to the wall
        clock, and is not live."""
        received = time.time() if received_at is None else received_at
        ahead = self.settings.max_clock_ahead
        limit = received + ahead if live and ahead is not None else math.inf
        result = IngestResult()
        with self.lock:
            self._restore_if_needed(limit)
            batch = _Batch()
            try:
                events, sent = self._bound_times(events, limit, received, result)
                if events and self.timeline is not None:
                    # Before prepare, so a replay batch (sorted, within one interval as a
                    # rule) switches once here rather than in mid-batch.
                    self._at(max(event.starts_at for event in events))
                self._batch_events = list(events)
                self.correlator.prepare(self._batch_events)
                clock = time.perf_counter
                unknown, reports = set(start_unknown), set(state_reports)
                pace = self.pace
                if pace is not None:
                    pace.begin()
                for i, event in enumerate(events):
                    started = clock()
                    if pace is not None and pace.note(event):
                        self._refit_pace()
                    unmatched = None
                    if i in unknown and i in reports and event.ends_at is None:
                        if not self.dedup.adopt_firing_start(event):
                            unmatched = UNMATCHED_REPORT
                    elif (i in unknown and not self.dedup.adopt_start(event)
                            and event.ends_at is not None):
                        unmatched = UNMATCHED_CLEAR
                    if unmatched is not None:
                        self._keep_unmatched(event, batch, result, received, unmatched)
                    else:
                        self._step(event, batch, result, received, limit,
                                   i in unknown or i in reports)
                    if sent and i in sent:
                        batch.events[-1]["payload"] = {**event.to_dict(), "sent": sent[i]}
                    self.placement_latency.record(clock() - started)
                self._batch_events = None
                for incident in batch.to_rank.values():
                    if incident.status != MERGED:
                        self._at(incident.updated_at)  # the topology of its latest alert
                        incident.root_causes = self._rank(incident)
                with self.db.begin() as conn:
                    write_batch(conn, batch.incidents.values(), batch.alerts.values(),
                                batch.events)
                    if pace is not None and pace.schedule_moved():
                        # With the events it was read from: a restart finds both.
                        save_engine_state(conn, PACE_STATE, pace.snapshot())
            except BaseException:
                # Memory must not run ahead of what was stored. The database may be gone
                # right now, so rebuild from it before the next batch rather than here.
                self._stale = True
                self._batch_events = None
                if self.pace is not None:
                    relations = self.pace.relations
                    if self.pace.rollback():
                        self._rebuild_correlator()
                    self._follow_precedence(relations)
                raise
            mark_persisted(batch.incidents.values())
            mark_persisted(batch.alerts.values())
            self.counts.add(batch.counts, result.dispositions)
            if self.pace is not None:
                self.pace.commit()
            self._publish(batch)
        return result

    def _restore_if_needed(self, limit: float) -> None:
        """Rebuild from the database after a failed batch, or when the clock is far
        past a live batch's bound: set there by an alert stored before live times were
        bounded, or by a replay of simulated time into this data dir, it would keep
        every real alert from its incident until the wall clock caught up. Less than
        the correlation horizon past it is a batch that took the lock after a later
        received one (and would heal within minutes): no rebuild for that."""
        if self.clock > limit + self.correlator.horizon:
            log.warning("the engine's clock (%s) is ahead of the wall clock: live state "
                        "rebuilt as of the latest alert stored before %s",
                        to_rfc3339(self.clock), to_rfc3339(limit))
        elif not self._stale:
            return
        self._restore(limit)

    def _bound_times(self, events: Sequence[Alert], limit: float, received: float,
                     result: IngestResult) -> tuple[Sequence[Alert], dict[int, dict[str, Any]]]:
        """``events`` with every time after ``limit`` taken as ``received`` (the caller's
        objects are not changed), and the times sent of those, by index, for their raw
        events; each is reported in ``result``. One comparison per event."""
        if limit == math.inf:
            return events, {}
        bounded: list[Alert] | None = None
        sent: dict[int, dict[str, Any]] = {}
        for i, event in enumerate(events):
            latest = event.starts_at if event.ends_at is None else event.ends_at
            if latest <= limit:
                continue
            if bounded is None:
                bounded = list(events)
            starts = received if event.starts_at > limit else event.starts_at
            ends = None if event.ends_at is None else max(starts, received)  # it was later
            bounded[i] = replace(event, starts_at=starts, ends_at=ends)
            sent[i] = {"starts_at": to_rfc3339(event.starts_at),
                       "ends_at": to_rfc3339(event.ends_at)}
            result.clock_ahead.append({"index": i, "id": event.id,
                                       "sent_starts_at": sent[i]["starts_at"],
                                       "sent_ends_at": sent[i]["ends_at"],
                                       "starts_at": to_rfc3339(starts),
                                       "ends_at": to_rfc3339(ends)})
        if bounded is None:
            return events, {}
        first = result.clock_ahead[0]
        log.warning("%d of %d alerts stamped more than %g s after they arrived, taken as "
                    "arriving at %s (a sender's clock is wrong; the first: alerts[%d] '%s' "
                    "from %s, starting %s)", len(sent), len(events), limit - received,
                    to_rfc3339(received), first["index"], first["id"],
                    events[first["index"]].source, first["sent_starts_at"])
        return bounded, sent

    def _publish(self, batch: _Batch) -> None:
        """Hand the stored batch to the sinks. The database is the record and already
        has it, so a failing sink is logged and counted, never fatal: the next publish
        of the same incidents repairs the sink's copy."""
        for sink in self.sinks:
            try:
                sink.publish(batch.incidents.values(), batch.alerts.values())
            except Exception:
                self.sink_failures += 1
                log.exception("sink %s failed; ingestion goes on", type(sink).__name__)

    def _step(self, event: Alert, batch: _Batch, result: IngestResult, received: float,
              limit: float, reports_state: bool = False) -> None:
        # ``limit``: a live batch's bound, which an adopted start (``adopt_start``) of
        # an alert stored before live times were bounded could still pass.
        # ``reports_state``: the sender said no start, or marked the event as its report
        # of the condition's state now (Deduplicator.apply).
        self.clock = max(self.clock, min(event.starts_at, limit))
        self._sweep(batch)
        record, disposition = self.dedup.apply(event, reports_state)
        for ended in self.dedup.take_superseded():
            self._end_superseded(ended, batch)
        for changed in self.dedup.take_changed():
            incident = self.incidents.get(changed.incident_id or "")
            if incident is not None and incident.status != MERGED:
                batch.incidents[incident.id] = incident  # its severity is its alerts'
        self._event_seq += 1
        batch.events.append({
            "seq": self._event_seq, "event_id": event.id, "source": event.source,
            "received_at": received, "alert_id": record.id, "disposition": disposition,
            "payload": alert_json(event),
        })
        batch.alerts[record.id] = record
        result.accepted += 1
        result.dispositions[disposition] += 1

        if disposition == NEW:
            self._at(record.starts_at)
            record.node_id = self.topology.resolve(event.entity)
            if record.node_id is None:
                result.unresolved_entities.add(event.entity)
            self._place(record, batch, firing_delta=1 if record.status == FIRING else 0)
            self.buffer.add(record)
        elif disposition in (RESOLVE, REFIRE):
            incident = self.incidents.get(record.incident_id or "")
            delta = -1 if disposition == RESOLVE else (1 if record.status == FIRING else 0)
            if incident is None or incident.status == MERGED:
                self._place(record, batch, firing_delta=max(delta, 0))
            else:
                incident.firing += delta
                if disposition == REFIRE:
                    incident.updated_at = max(incident.updated_at, event.starts_at)
                    if incident.id not in self.index.incidents:
                        # Back from expiry: index it on all its alerts, as if it had
                        # never left, so the result does not depend on eviction timing.
                        for alert in incident.alerts.values():
                            self.index.add(incident, alert)
                    self.index.add(incident, record)
                self._settle(incident, record, batch)
        if record.incident_id is not None:
            result.incidents.add(record.incident_id)

    def _sweep(self, batch: _Batch) -> None:
        """Before the event that takes the next sequence number: drop old incidents from
        the index every EXPIRE_EVERY events (cheap: the index holds only recent
        incidents, and it keeps the correlator's candidate walk short) and what can no
        longer change from memory every EVICT_EVERY (``_forget``). Due by sequence
        number, so neither where batches end nor a restart changes when."""
        seq = self._event_seq + 1
        if seq // EXPIRE_EVERY > self._expired_to // EXPIRE_EVERY:
            self._expired_to = seq
            for settled in self.index.expire(self.clock - self.correlator.horizon):
                self._split_settled(settled, batch)
            self.buffer.prune(buffer_cutoff(self.clock, self.correlator.horizon))
        if seq // EVICT_EVERY > self._evicted_to // EVICT_EVERY:
            self._evicted_to = seq
            self._forget()

    def _split_settled(self, incident: IncidentRecord, batch: _Batch) -> None:
        """Split an incident that just left the index for the first time in two if, with
        all its alerts known, two faults explain it much better than one
        (``aiops.engine.hindsight``). Once only: an incident looked at before (it left
        the index earlier, then an alert re-fired into it) or merged or split by an
        operator (``settled``) is left as it is. The engine's own decision, like
        placement: no feedback record. The part holding the earliest alert keeps the
        incident; both parts say why in their top root cause's evidence
        (``split_note``, stored with them).

        A small incident is instead merged into the incident its alarms most likely
        followed, when a trained model's Hawkes parents say so (``_absorb_settled``)."""
        if incident.status == MERGED or incident.settled:
            return
        incident.settled = True  # stored with the incident's next write
        self._at(incident.updated_at)
        if self.absorber is not None and self._absorb_settled(incident, batch):
            return
        if self.splitter is None:
            return
        split = self.splitter.split(incident.alerts.values())
        if split is None:
            return
        kept, moved = split.parts
        batch.counts.split[ENGINE] += 1
        new = self._open_incident(moved[0].starts_at)
        new.settled = True
        for alert in moved:
            del incident.alerts[alert.id]
            placement.add_move(alert, {"move": "split", "by": ENGINE, "from": incident.id,
                                       "into": new.id})
            alert.incident_id = new.id
            new.alerts[alert.id] = alert
            batch.alerts[alert.id] = alert
        incident.started_at = kept[0].starts_at
        # The latest start or re-fire of each part's alerts, as placement keeps it.
        new.updated_at = max(a.episode_start or a.starts_at for a in moved)
        incident.updated_at = max(a.episode_start or a.starts_at for a in kept)
        incident.split_note = self.splitter.explain(split, new.id, kept=True)
        new.split_note = self.splitter.explain(split, incident.id, kept=False)
        for part in (incident, new):
            resettle(part)
            batch.incidents[part.id] = part
            batch.to_rank[part.id] = part

    def _absorb_settled(self, incident: IncidentRecord, batch: _Batch) -> bool:
        """Merge a just settled small incident into the live or recently settled
        incident holding most of its alarms' parent posterior, if one holds enough
        (``aiops.engine.absorb``), through the engine's own merge: it becomes
        ``merged`` into that one, which is re-ranked and says why in its note. The
        engine's decision, like the split: no feedback record. Whether the target
        was in the correlator's index stays as it was (a settled one takes no new
        alerts because of this)."""
        assert self.absorber is not None
        found = self.absorber.absorb(incident, self.buffer, self._incident_of)
        if found is None:
            return False
        target = found.target
        indexed = target.id in self.index.incidents
        self._merge(incident, target, batch, {
            "move": "absorbed", "by": ENGINE, "from": incident.id, "into": target.id,
            "share": round(found.share, 3)})
        batch.counts.merged[ENGINE] += 1
        if not indexed:
            self.index.remove(target)
        resettle(target)
        batch.incidents[target.id] = target
        target.split_note = add_note(target.split_note,
                                     self.absorber.explain(incident.id, found))
        return True

    def _incident_of(self, alert: AlertRecord) -> IncidentRecord | None:
        """The incident in memory an alert belongs to now (None: forgotten or gone)."""
        incident = self.incidents.get(alert.incident_id or "")
        return incident if incident is not None and incident.status != MERGED else None

    def _rank(self, incident: IncidentRecord) -> list[RootCause]:
        causes = self.ranker.rank(incident)
        if incident.split_note and causes:
            # One evidence line per note: a hindsight split's, then what it absorbed.
            causes[0].evidence[:0] = incident.split_note.split("\n")
        return causes

    def _keep_unmatched(self, event: Alert, batch: _Batch, result: IngestResult,
                        received: float, disposition: str = UNMATCHED_CLEAR) -> None:
        """Store a clear that ends no alert, or a state report of no firing alert, as a
        raw event of no alert: nothing accepted is lost, and nothing of it reaches
        alerts, incidents or the clock."""
        self._sweep(batch)
        self._event_seq += 1
        batch.events.append({
            "seq": self._event_seq, "event_id": event.id, "source": event.source,
            "received_at": received, "alert_id": None, "disposition": disposition,
            "payload": alert_json(event),
        })
        result.accepted += 1
        result.dispositions[disposition] += 1

    def _end_superseded(self, record: AlertRecord, batch: _Batch) -> None:
        """A firing alert whose condition started anew has ended: its incident has one
        firing alert fewer (and may resolve)."""
        batch.alerts[record.id] = record
        incident = self.incidents.get(record.incident_id or "")
        if incident is not None and incident.status != MERGED:
            incident.firing -= 1
            self._settle(incident, record, batch)

    def _place(self, record: AlertRecord, batch: _Batch, firing_delta: int) -> None:
        self._at(record.starts_at)
        matches = self.correlator.place(record, self.index)
        # Why, from what the correlator computed (before the merges change the index).
        why = self.correlator.explain(record, matches, self.index)
        merged: list[str] = []
        if matches:
            incident = matches[0]
            for other in matches[1:]:
                merged.append(other.id)
                self._merge(other, incident, batch, {"move": MERGED, "by": ENGINE,
                                                     "from": other.id, "into": incident.id,
                                                     "alert": record.event.id})
            batch.counts.merged[ENGINE] += len(matches) - 1
            decision = placement.MERGED if merged else placement.JOINED
        else:
            incident = self._open_incident(record.starts_at)
            batch.counts.opened += 1
            decision = placement.OPENED
        # Placed again (its incident was gone): the moves it had stay with it.
        moves = (placement.as_dict(record.placement) or {}).get("moves") \
            if record.placement is not None else None
        record.placement = placement.encode(why, decision, incident.id, merged, moves)
        incident.alerts[record.id] = record
        record.incident_id = incident.id
        incident.started_at = min(incident.started_at, record.starts_at)
        incident.updated_at = max(incident.updated_at, record.starts_at)
        incident.firing += firing_delta
        self.index.add(incident, record)
        batch.to_rank[incident.id] = incident
        self._settle(incident, record, batch)

    def _open_incident(self, at: float) -> IncidentRecord:
        self._incident_seq += 1
        incident = IncidentRecord(id=f"inc-{self._incident_seq}", seq=self._incident_seq,
                                  started_at=at, updated_at=at)
        self.incidents[incident.id] = incident
        return incident

    def _merge(self, other: IncidentRecord, into: IncidentRecord, batch: _Batch,
               move: dict[str, Any]) -> None:
        """Fold ``other`` into ``into``: an alert showed they are one fault (or the
        absorber, or an operator, said so). Each moved alert's placement gets ``move``."""
        self.index.remove(other)
        for alert in other.alerts.values():
            placement.add_move(alert, move)
            alert.incident_id = into.id
            into.alerts[alert.id] = alert
            batch.alerts[alert.id] = alert
            self.index.add(into, alert)
        into.firing += other.firing
        if into.resolved_at is not None and other.resolved_at is not None:
            into.resolved_at = max(into.resolved_at, other.resolved_at)
        into.started_at = min(into.started_at, other.started_at)
        into.updated_at = max(into.updated_at, other.updated_at)
        other.alerts = {}
        other.firing = 0
        other.status, other.merged_into = MERGED, into.id
        other.root_causes = []
        batch.incidents[other.id] = other
        batch.to_rank.pop(other.id, None)
        batch.to_rank[into.id] = into
        self.incidents.pop(other.id, None)

    def _settle(self, incident: IncidentRecord, record: AlertRecord, batch: _Batch) -> None:
        """An incident is open while any of its alerts fires, resolved when none does."""
        if incident.firing > 0:
            incident.status, incident.resolved_at = OPEN, None
        elif incident.resolved_at is None:
            # It was open until now: the alerts that ended while it was open may have
            # ended after this one (their clears came first), so the latest end of all.
            incident.status = RESOLVED
            incident.resolved_at = max(a.ends_at or a.starts_at
                                       for a in incident.alerts.values())
        else:
            incident.status = RESOLVED
            incident.resolved_at = max(incident.resolved_at, record.ends_at or record.starts_at)
        batch.incidents[incident.id] = incident

    def _forget(self) -> None:
        """Bound memory: drop what can no longer change (merged, old resolved)."""
        self.dedup.evict(self.clock)
        # A resolved incident still changes if one of its alerts re-fires (up to
        # refire_window after that alert's end); forgetting it sooner would send the
        # re-fire to a new incident, so the outcome would depend on where batches end.
        settled = self.clock - self.settings.refire_window
        done = [key for key, incident in self.incidents.items()
                if incident.status == RESOLVED and key not in self.index.incidents
                and all((a.ends_at or 0.0) < settled for a in incident.alerts.values())]
        for key in done:
            del self.incidents[key]

    # Operator feedback. Checked whole before anything changes; memory and database are
    # changed together (a failed write marks memory stale, as a failed batch does).

    def merge_incidents(self, incident_id: str, other_ids: Sequence[str],
                        author: str | None = None, comment: str | None = None,
                        at: float | None = None) -> FeedbackOutcome:
        """Fold ``other_ids`` into ``incident_id``: an operator says they are one fault."""
        others = check_ids(other_ids, "incident_ids")
        if incident_id in others:
            raise InputError(f"cannot merge incident '{incident_id}' with itself",
                             field="incident_ids")
        author, comment = check_text(author, "author"), check_text(comment, "comment")
        with self.lock:
            if self._stale:
                self._restore()
            with self.db.connect() as conn:
                target, *rest = load_incidents(conn, [incident_id, *others], self.incidents,
                                               self.dedup.active)
            before = alert_sets([target, *rest])
            batch = _Batch()
            try:
                self._unindex([target, *rest])
                for other in rest:
                    self._merge(other, target, batch, {
                        "move": MERGED, "by": OPERATOR, "from": other.id, "into": target.id,
                        "author": author})
                batch.counts.merged[OPERATOR] += len(rest)
                record = self._commit_feedback("merge", [target, *rest], batch, before,
                                               author, comment, at)
            except BaseException:
                self._stale = True
                raise
        return FeedbackOutcome(record, [target.id, *others])

    def split_incident(self, incident_id: str, alert_ids: Sequence[str],
                       author: str | None = None, comment: str | None = None,
                       at: float | None = None) -> FeedbackOutcome:
        """Move the alerts named (by any of their event ids) to a new incident."""
        wanted = check_ids(alert_ids, "alert_ids")
        author, comment = check_text(author, "author"), check_text(comment, "comment")
        with self.lock:
            if self._stale:
                self._restore()
            with self.db.connect() as conn:
                [source] = load_incidents(conn, [incident_id], self.incidents,
                                          self.dedup.active)
                found = alerts_of_events(conn, incident_id, wanted)
            strangers = [i for i in wanted if i not in found]
            if strangers:
                raise InputError(f"not alerts of incident '{incident_id}': "
                                 + ", ".join(f"'{i}'" for i in strangers[:20])
                                 + (f" and {len(strangers) - 20} more" if len(strangers) > 20
                                    else ""), field="alert_ids")
            moving = sorted({pk for pks in found.values() for pk in pks})
            if len(moving) >= len(source.alerts):
                raise InputError(f"splitting out every alert of incident '{incident_id}' "
                                 "leaves it empty; name only the alerts that do not belong",
                                 field="alert_ids")
            before = alert_sets([source])
            batch = _Batch()
            try:
                self._unindex([source])
                moved = [source.alerts.pop(pk) for pk in moving]
                batch.counts.split[OPERATOR] += 1
                new = self._open_incident(min(a.starts_at for a in moved))
                for alert in moved:
                    placement.add_move(alert, {"move": "split", "by": OPERATOR,
                                               "from": source.id, "into": new.id,
                                               "author": author})
                    alert.incident_id = new.id
                    new.alerts[alert.id] = alert
                    batch.alerts[alert.id] = alert
                new.updated_at = max(a.starts_at for a in moved)
                source.started_at = min(a.starts_at for a in source.alerts.values())
                record = self._commit_feedback("split", [source, new], batch, before, author,
                                               comment, at)
            except BaseException:
                self._stale = True
                raise
        return FeedbackOutcome(record, [source.id, new.id])

    def _unindex(self, incidents: Sequence[IncidentRecord]) -> None:
        """Take incidents out of the index before their alerts move (it keys by alert)."""
        for incident in incidents:
            self.index.remove(incident)

    def _commit_feedback(self, kind: str, touched: list[IncidentRecord], batch: _Batch,
                         before: dict[str, list[str]], author: str | None,
                         comment: str | None, at: float | None) -> dict[str, Any]:
        """Settle, re-index and re-rank the incidents left, store them and the record."""
        horizon = self.clock - self.correlator.horizon
        for incident in touched:
            batch.incidents[incident.id] = incident
            # The operator's grouping stands: never split in hindsight, and an earlier
            # hindsight split's note no longer describes it.
            incident.settled, incident.split_note = True, None
            if incident.status == MERGED:
                continue
            resettle(incident)
            self.index.remove(incident)
            if incident.updated_at >= horizon:  # the rule restore applies after a restart
                for alert in incident.alerts.values():
                    self.index.add(incident, alert)
            self._at(incident.updated_at)  # ranked on the topology of its time, as ingest does
            incident.root_causes = self._rank(incident)
            self.incidents[incident.id] = incident
        after = alert_sets(touched)
        record: dict[str, Any] = {
            "kind": kind, "incident_id": touched[0].id, "incidents": list(after),
            "author": author, "comment": comment,
            "created_at": time.time() if at is None else at,
            "alerts_before": before, "alerts_after": after}
        with self.db.begin() as conn:
            write_batch(conn, batch.incidents.values(), batch.alerts.values(), [])
            record["id"] = insert_feedback(conn, record)
        mark_persisted(batch.incidents.values())
        mark_persisted(batch.alerts.values())
        self.counts.add(batch.counts)
        self._publish(batch)
        return record

    @property
    def event_seq(self) -> int:
        """Sequence number of the last stored raw event."""
        return self._event_seq

    def stats(self) -> dict[str, object]:
        with self.lock:
            return {"live_alerts": len(self.dedup.active), "live_incidents": len(self.incidents),
                    "indexed_incidents": len(self.index),
                    "placement_latency": self.placement_latency.summary_ms(),
                    "sink_failures": self.sink_failures,
                    "time_scale": getattr(self.correlator, "time_scale", 1.0),
                    "live_pace": self.pace.describe() if self.pace is not None else None}
