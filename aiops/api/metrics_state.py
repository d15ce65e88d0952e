"""The engine's state and counts as Prometheus metrics, read when Prometheus scrapes.

Why a collector that reads at scrape time rather than metric objects updated as things
happen: the engine, the outbox's delivery loop and the retention loop already count
what they do (``Engine.counts``, ``DeliveryLoop.outcomes``, ``RetentionLoop.deleted``)
and hold their state (live alerts and incidents, the correlator's index); keeping a
second copy in gauges would cost every alert and could drift from the first. What
several processes share (the outbox, playbook runs, sign-in sessions) is read from
the database, so each process reports the same, true value whichever does the work.

Labels are bounded by configuration or by fixed vocabularies (dispositions, origins,
outcomes, statuses, tables, configured sinks, model names): never an incident id,
an entity or a user.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import sqlalchemy as sa
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from aiops.engine.counts import ORIGINS
from aiops.engine.dedup import (
    DUPLICATE,
    NEW,
    REFIRE,
    RESOLVE,
    UNMATCHED_CLEAR,
    UNMATCHED_REPORT,
)
from aiops.engine.state import FIRING, OPEN
from aiops.learning.drift_alert import firing_since
from aiops.playbooks.runs import IN_FLIGHT, STATUSES
from aiops.sinks.setup import sink_names
from aiops.sinks.tables import PENDING, sink_deliveries
from aiops.store.tables import playbook_runs, sessions

if TYPE_CHECKING:
    from aiops.runtime import Runtime

# Bounds of the placement histogram: 0.01 ms to 100 ms, four a decade (the engine's
# own histogram has 40 a decade; these are edges of its buckets).
PLACEMENT_LOW, PLACEMENT_HIGH, PLACEMENT_PER_DECADE = 1e-5, 0.1, 4
SEND_OUTCOMES = ("delivered", "retry", "failed")  # aiops.sinks.http's outcome kinds
# Every disposition, shown from the start at 0: "no event for 10 minutes" is then an
# ``increase() == 0`` on a process that has stored nothing yet, not an absent series.
DISPOSITIONS = (NEW, DUPLICATE, RESOLVE, REFIRE, UNMATCHED_CLEAR, UNMATCHED_REPORT)


class EngineCollector(Collector):
    """Everything ``GET /metrics`` says about one runtime but its HTTP requests."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        yield from self._engine()
        yield from self._models()
        yield from self._loops()
        yield from self._store(time.time())

    def _engine(self) -> Iterator[Metric]:
        engine = self.runtime.engine
        with engine.lock:  # one consistent reading; counting is linear in live state
            counts = engine.counts.copy()
            open_incidents = sum(1 for i in engine.incidents.values() if i.status == OPEN)
            firing = unresolved = 0
            for record in engine.dedup.active.values():
                if record.status == FIRING:
                    firing += 1
                    unresolved += record.node_id is None
            indexed = len(engine.index)
            live = len(engine.incidents)
            latency = engine.placement_latency
            buckets = latency.cumulative(PLACEMENT_LOW, PLACEMENT_HIGH, PLACEMENT_PER_DECADE)
            placed, placed_sum = latency.total, latency.sum
            publish_failures = engine.sink_failures
            scale = float(getattr(engine.correlator, "time_scale", 1.0))
            pace = engine.pace.scale if engine.pace is not None else None
        events = CounterMetricFamily(
            "aiops_events_ingested", "Alert events the engine stored since this process "
            "started, by disposition (new, duplicate, resolved, refired, unmatched_clear, "
            "unmatched_report).",
            labels=["disposition"])
        for disposition in sorted(set(DISPOSITIONS) | set(counts.dispositions)):
            events.add_metric([disposition], counts.dispositions[disposition])
        yield events
        yield CounterMetricFamily(
            "aiops_incidents_opened", "Incidents opened by an alert that joined none "
            "since this process started.", value=counts.opened)
        for name, what, tally in (("merges", "folded into another", counts.merged),
                                  ("splits", "split in two", counts.split)):
            family = CounterMetricFamily(
                f"aiops_incident_{name}", f"Incidents {what} since this process started, "
                "by origin (engine: correlation, hindsight; operator: feedback).",
                labels=["origin"])
            for origin in ORIGINS:
                family.add_metric([origin], tally[origin])
            yield family
        yield CounterMetricFamily(
            "aiops_sink_publish_failures", "Stored batches an engine sink (outbox, graph "
            "mirror, ticket links) failed to take since this process started.",
            value=publish_failures)
        yield GaugeMetricFamily("aiops_incidents_open",
                                "Incidents open now (at least one alert firing).",
                                value=open_incidents)
        yield GaugeMetricFamily("aiops_alerts_firing", "Alerts firing now (deduplicated).",
                                value=firing)
        yield GaugeMetricFamily(
            "aiops_alerts_unresolved_entity", "Alerts firing now whose entity is not in "
            "the topology (placed by time and text only).", value=unresolved)
        yield GaugeMetricFamily(
            "aiops_correlator_indexed_incidents", "Incidents in the correlator's index: "
            "recent enough that a new alert may still join them.", value=indexed)
        yield GaugeMetricFamily(
            "aiops_live_incidents", "Incidents held in memory (open, and resolved ones "
            "that may still re-fire).", value=live)
        yield GaugeMetricFamily(
            "aiops_correlation_time_scale", "Time scale the correlator's windows are "
            "multiplied by now (a trained model's, or the live pace's).", value=scale)
        if pace is not None:
            yield GaugeMetricFamily(
                "aiops_live_pace_scale", "Scale the live pace read from the alerts "
                "(present while no trained model sets the scale).", value=pace)
        placement = HistogramMetricFamily(
            "aiops_alert_placement_seconds", "Seconds to deduplicate, correlate and place "
            "one alert event in memory (storage excluded), since this process started.",
            buckets=[*((repr(le), n) for le, n in buckets), ("+Inf", placed)],
            sum_value=placed_sum)
        yield placement

    def _models(self) -> Iterator[Metric]:
        correlation, priors = self.runtime.model_versions
        promoted = GaugeMetricFamily(
            "aiops_model_promoted_version", "Version of the promoted model this process "
            "runs, by model (absent: none promoted).", labels=["model"])
        for name, version in (("correlation", correlation), ("root_priors", priors)):
            if version is not None:
                promoted.add_metric([name], version)
        yield promoted
        drifting = firing_since(self.runtime.engine) is not None
        yield _drift_family(correlation, drifting)

    def _loops(self) -> Iterator[Metric]:
        delivery, retention = self.runtime.delivery, self.runtime.retention
        sends = CounterMetricFamily(
            "aiops_sink_sends", "Sends of an incident to a receiver by this process's "
            "delivery loop, by receiver and outcome (delivered, retry: refused for now "
            "or unreachable, failed: refused for good).", labels=["sink", "outcome"])
        configured = sink_names(self.runtime.data_dir.sinks)
        outcomes = dict(delivery.outcomes) if delivery is not None else {}
        for sink in sorted(set(configured) | {s for s, _ in outcomes}):
            for outcome in SEND_OUTCOMES:
                sends.add_metric([sink, outcome], outcomes.get((sink, outcome), 0))
        yield sends
        deleted = CounterMetricFamily(
            "aiops_retention_rows_deleted", "Rows this process deleted as too old, by "
            "table: the store's retention (AIOPS_RETENTION_KEEP) and the outbox's "
            "(sink_deliveries).", labels=["table"])
        tally = dict(retention.deleted) if retention is not None else {}
        if delivery is not None:
            tally["sink_deliveries"] = tally.get("sink_deliveries", 0) + delivery.pruned
        for table in sorted(tally):
            deleted.add_metric([table], tally[table])
        yield deleted

    def _store(self, now: float) -> Iterator[Metric]:
        configured = sink_names(self.runtime.data_dir.sinks)
        t = sink_deliveries.c
        with self.runtime.db.connect() as conn:
            pending = {sink: (int(n), oldest) for sink, n, oldest in conn.execute(
                sa.select(t.sink, sa.func.count(),
                          sa.func.min(sa.func.coalesce(t.pending_since, t.changed_at)))
                .where(t.status == PENDING).group_by(t.sink))}
            runs = dict(conn.execute(sa.select(playbook_runs.c.status, sa.func.count())
                                     .group_by(playbook_runs.c.status)).all())
            signed_in = conn.execute(sa.select(sa.func.count()).select_from(sessions).where(
                sessions.c.ended_at.is_(None), sessions.c.expires_at > now)).scalar_one()
        rows = GaugeMetricFamily("aiops_sink_pending_rows", "Incidents waiting in the "
                                 "outbox for a receiver (all processes).", labels=["sink"])
        age = GaugeMetricFamily(
            "aiops_sink_oldest_pending_seconds", "Seconds the longest-waiting incident of "
            "a receiver has waited in the outbox (0: none waits).", labels=["sink"])
        for sink in sorted(set(configured) | set(pending)):
            n, oldest = pending.get(sink, (0, None))
            rows.add_metric([sink], n)
            age.add_metric([sink], 0.0 if oldest is None else max(0.0, now - oldest))
        yield rows
        yield age
        finished = GaugeMetricFamily(
            "aiops_playbook_runs_stored", "Playbook runs stored with a final status, by "
            "status (all processes: runs also finish in Celery workers; a gauge, since "
            "aiops prune --audit-older-than deletes old runs).", labels=["status"])
        waiting = GaugeMetricFamily(
            "aiops_playbook_runs_in_flight", "Playbook runs not finished, by status.",
            labels=["status"])
        for status in STATUSES:
            (waiting if status in IN_FLIGHT else finished).add_metric(
                [status], int(runs.get(status, 0)))
        yield finished
        yield waiting
        yield GaugeMetricFamily("aiops_signin_sessions_live", "Sign-in sessions alive "
                                "(not ended, not expired; all processes).",
                                value=int(signed_in))


def _drift_family(version: int | None, drifting: bool) -> GaugeMetricFamily:
    family = GaugeMetricFamily(
        "aiops_model_drifting", "1 while the engine's AIOPS_MODEL_DRIFT alert fires (the "
        "promoted correlation model drifts), else 0; labelled with that model's version "
        "(none: no model promoted).", labels=["model_version"])
    family.add_metric(["none" if version is None else str(version)], int(drifting))
    return family
