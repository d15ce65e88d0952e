"""One opened data dir: database, topology store and engine, shared by CLI and API."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from aiops.config import DataDir, EngineSettings
from aiops.engine.absorb import ParentAbsorber
from aiops.engine.engine import (
    AbsorberFactory,
    CorrelatorFactory,
    Engine,
    RankerFactory,
    SplitterFactory,
)
from aiops.engine.hindsight import HindsightSplitter
from aiops.engine.pace import LivePace, seed_from_store
from aiops.engine.rank import CausalTopologyRanker
from aiops.engine.rank_features import FEATURE_SCHEMA
from aiops.engine.regroup import regroup
from aiops.engine.scored_correlator import ScoredCorrelator
from aiops.engine.state import AlertRecord
from aiops.errors import DamagedFile, InputError
from aiops.learning.drift import model_drift
from aiops.learning.drift_alert import drift_transition
from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.learned_rank import LearnedRanker
from aiops.learning.rank_training import load_ticket_models
from aiops.learning.registry import ModelRegistry
from aiops.learning.root_priors import MODEL_NAME as PRIORS_NAME
from aiops.learning.root_priors import RootCausePriors
from aiops.learning.training import MODEL_NAME, CorrelationModel, load_promoted
from aiops.models import Alert
from aiops.sinks.graph import IncidentGraphSink
from aiops.sinks.setup import outbox_sink
from aiops.store.db import open_database
from aiops.tickets.autolink import ticket_link_sink
from topology.graph import TopologyGraph
from topology.model import Edge, Node
from topology.store import GraphStore, GraphStoreError, open_graph_store
from topology.timeline import TopologyTimeline

MODEL_CHECK_SECONDS = 5.0  # how often a running process looks for promotions elsewhere

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    data_dir: DataDir
    db: sa.Engine
    topology_store: GraphStore
    engine: Engine
    registry: ModelRegistry
    embedder: TemplateEmbedder  # one text-model cache for everything in this data dir
    # The promoted versions this process runs (correlation, priors) and when the
    # registry was last looked at: another process (a Celery retrain, `aiops model
    # promote`) may promote a version while `aiops serve` runs.
    model_versions: tuple[int | None, int | None] = (None, None)
    models_checked_at: float = 0.0
    # Likewise the stored topology: a Celery discovery worker or `aiops topology
    # import` may write it; the revision this process last loaded, and when it looked.
    topology_revision: int = 0
    topology_checked_at: float = 0.0
    topology_reload: threading.Thread | None = None  # a reload running in the background
    # The drift check (raises/resolves AIOPS_MODEL_DRIFT): when it last ran, and the run
    # in the background if any. Starts "just checked": not on the first request.
    drift_checked_at: float = field(default_factory=time.monotonic)
    drift_check: threading.Thread | None = None
    # Looks for playbooks to run unasked (``aiops.playbooks.auto``), when a serving
    # process started them.
    auto_runs: Any = None
    # Drains the outbox to webhooks and ServiceNow (``aiops.sinks.delivery``), when
    # ``aiops serve`` or the WSGI app started it.
    delivery: Any = None
    # Prunes the store every hour (``aiops.retention_loop``), when a serving
    # process started it with ``AIOPS_RETENTION_KEEP`` set.
    retention: Any = None
    # Indexes new alerts for the text search (``aiops.text_index_loop``), when a
    # serving process on SQLite started it.
    text_index: Any = None
    _topology_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def use_model(self, model: CorrelationModel) -> None:
        """Correlate with ``model`` from now on (after training); rank root causes with
        it and with what the promoted ``root_priors`` version learned from tickets (the
        priors, and the learned ranking if it was read with ``model``'s version)."""
        tickets = load_ticket_models(self.registry)
        learned = ranking_for(model, tickets.ranker, self.data_dir.settings)
        self.model_versions = (model.version, tickets.version)
        with self.engine.lock:  # one switch: no batch sees the factories without the pace
            pace = live_pace(model, self.data_dir.settings, self.db, self.engine.topology,
                             current=self.engine.pace)
            self.engine.set_factories(
                correlator_factory(model, self.data_dir.settings, self.embedder, pace),
                ranker_factory(model, tickets.priors, learned, pace), splitter_factory(model),
                absorber_factory(model))
            self.engine.use_pace(pace)

    def regroup(self, model: CorrelationModel, records: Sequence[AlertRecord],
                topology: TopologyGraph, lead_in: Sequence[AlertRecord] = ()
                ) -> dict[int, str]:
        """Alert id → group id: how this engine would group ``records`` (stored alerts,
        in start order) with ``model``, in memory (shadow mode, retraining trials).

        ``lead_in``: the stored alerts of the minutes before ``records`` (``LEAD_IN``,
        ``load_lead_in``), placed first and left out of the answer, so that the window's
        first alerts meet what the live engine had placed before them: the incidents
        they joined, and the earlier alarms a small incident's alarms most likely
        followed (without them such an incident the live engine absorbed stays apart).

        As live ingestion would: the settings' hindsight split with the model's shares,
        the absorbing of small settled incidents with its Hawkes parents, and, for the untrained
        default while the engine follows a pace read from the alerts, that pace's scale
        (as it stands now, not as it stood over the window; at scale 1 the untrained
        default split the slow cascades the live engine keeps whole, and a trial then
        compared a candidate with a baseline worse than what ran)."""
        settings = self.data_dir.settings
        pace = self.engine.pace if model.version is None else None
        correlator = correlator_factory(model, settings, self.embedder, pace)(topology, settings)
        gain = settings.hindsight_split_gain
        splitter = splitter_factory(model)(topology, gain) if gain > 0 else None
        share = settings.parent_absorb_share
        absorber = absorber_factory(model)(topology, share) if share > 0 else None
        with self.engine.lock:  # the text model's cache is shared with live ingestion
            groups = regroup([*lead_in, *records], correlator, splitter, absorber)
        if not lead_in:
            return groups
        return {record.id: groups[record.id] for record in records}

    def follow_promotions(self, every: float = MODEL_CHECK_SECONDS) -> bool:
        """Switch to the promoted models if another process promoted other versions
        since this one loaded them; looks at the registry at most every ``every``
        seconds (two small file reads), so ingestion can call it per request."""
        now = time.monotonic()
        if now - self.models_checked_at < every:
            return False
        self.models_checked_at = now
        try:
            promoted = (self.registry.promoted_version(MODEL_NAME),
                        self.registry.promoted_version(PRIORS_NAME))
            if promoted == self.model_versions:
                return False
            self.use_model(load_promoted(self.registry))
        except DamagedFile as exc:  # keep what runs rather than fail every request
            log.error("not switching models: %s; still running correlation v%s, root "
                      "priors v%s", exc, *self.model_versions)
            return False
        return True

    def follow_topology(self, every: float = MODEL_CHECK_SECONDS) -> bool:
        """Start reloading the topology if another process wrote to the store since
        this one loaded it; asks the store (one small read) at most every ``every``
        seconds. True when a reload was started.

        The reload runs in a background thread (``topology_reload``): at 100k nodes it
        takes tens of seconds (docs/benchmarks.md, "Topology at scale"), and the
        request that noticed the change must not wait for it. Alerts arriving
        meanwhile are analysed against the previous topology."""
        now = time.monotonic()
        if now - self.topology_checked_at < every:
            return False
        self.topology_checked_at = now
        running = self.topology_reload
        if running is not None and running.is_alive():
            return False
        try:
            revision = self.topology_store.revision()
        except GraphStoreError as exc:  # the graph server is away: ingest goes on
            log.warning("topology revision not read (%s); keeping the loaded topology", exc)
            return False
        if revision == self.topology_revision:
            return False
        self.topology_reload = threading.Thread(target=self._reload_in_background,
                                                name="topology-reload", daemon=True)
        self.topology_reload.start()
        return True

    def _reload_in_background(self) -> None:
        try:
            self.reload_topology()
        except Exception:  # the store may be unreachable: the next look tries again
            log.exception("reloading the topology failed; keeping the previous one")

    def follow_other_processes(self) -> None:
        """What ingestion calls per request: pick up promotions and topology changes
        made by other processes (each looked at every few seconds at most)."""
        self.follow_promotions()
        self.follow_topology()
        self.watch_drift()

    def watch_drift(self, every: float | None = None) -> bool:
        """Start a drift check of the promoted model in the background if the last one
        is ``every`` seconds old (default ``DriftSettings.check_every``; 0 = never);
        True when one was started. See :mod:`aiops.learning.drift_alert`."""
        every = self.data_dir.drift.check_every if every is None else every
        if every <= 0:
            return False
        now = time.monotonic()
        running = self.drift_check
        if now - self.drift_checked_at < every or (running is not None
                                                    and running.is_alive()):
            return False
        self.drift_checked_at = now
        self.drift_check = threading.Thread(target=self.raise_drift_alert,
                                            name="drift-check", daemon=True)
        self.drift_check.start()
        return True

    def raise_drift_alert(self) -> Alert | None:
        """Measure the promoted model's drift and ingest the drift alert's firing or
        resolution if the verdict changed; returns the event ingested, if any. Too
        few alerts or no promoted model: nothing (there is nothing to judge)."""
        try:
            report = model_drift(self)
        except InputError as exc:
            log.info("drift not checked: %s", exc)
            return None
        except Exception:
            log.exception("drift check failed")
            return None
        event = drift_transition(self.engine, report, self.engine.clock)
        if event is not None:
            self.engine.ingest([event])
        return event

    def import_topology(self, nodes: list[Node], edges: list[Edge], source: str) -> None:
        """Store nodes and edges, then let the engine use the new graph."""
        self.topology_store.upsert(nodes, edges, source=source)
        self.reload_topology()

    def reload_topology(self) -> None:
        """Re-read the stored topology (after an import or a discovery run): the engine
        then analyses each alert against the topology of its event time."""
        # the revision first: a write landing during the load is then seen next time
        revision = self.topology_store.revision()
        timeline = topology_timeline(self.topology_store, self.data_dir.settings)
        with self._topology_lock:
            if revision < self.topology_revision:
                return  # a reload that started later, so read more, finished first
            self.topology_revision = revision
            self.engine.set_timeline(timeline)

    def current_topology(self) -> TopologyGraph:
        """The topology current alerts are analysed against (aged-out items left out),
        whatever historical snapshot the engine last switched to for a replay."""
        timeline = self.engine.timeline
        return self.engine.topology if timeline is None else timeline.current().graph

    def topology_at(self, at: float) -> TopologyGraph:
        """The topology as the engine analysed alerts of event time ``at`` (the incident
        view draws an incident against the topology of its time, as it was ranked)."""
        timeline = self.engine.timeline
        return self.engine.topology if timeline is None else timeline.at(at).graph

    def close(self) -> None:
        if self.auto_runs is not None:
            self.auto_runs.stop()
        if self.delivery is not None:
            self.delivery.stop()
        if self.retention is not None:
            self.retention.stop()
        if self.text_index is not None:
            self.text_index.stop()
        self.topology_store.close()
        self.embedder.save()
        self.db.dispose()


def topology_timeline(store: GraphStore, settings: EngineSettings) -> TopologyTimeline:
    """The stored topology over time, items aged out after ``topology_max_age``."""
    return TopologyTimeline.of(store, settings.topology_max_age or None)


def correlator_factory(model: CorrelationModel, settings: EngineSettings,
                       embedder: TemplateEmbedder, pace: LivePace | None = None
                       ) -> CorrelatorFactory:
    """Build correlators that use ``model`` (and the text model unless switched off),
    at the time scale ``pace`` reads from the alerts at the time of building when given,
    else at the model's."""
    text = embedder if settings.text_similarity else None
    # The slowest source seen on each node, kept across the correlators built here.
    node_scales: dict[str, float] = {}

    def build(topology: TopologyGraph, engine_settings: EngineSettings) -> ScoredCorrelator:
        scale = pace.scale if pace is not None else model.time_scale
        # The live pace reads one scale for the network: per-source scales are the model's.
        sources = model.source_scales if pace is None else None
        return ScoredCorrelator(topology, engine_settings, relations=model.relations,
                                embedder=text, weights=model.weights,
                                offsets=model.clock_offsets, time_scale=scale,
                                source_scales=sources, node_scales=node_scales)

    return build


def splitter_factory(model: CorrelationModel) -> SplitterFactory:
    """Build hindsight splitters that score alarms with the shares ``model`` learned
    from history (``RING_SHARES`` for an untrained model or one saved before)."""
    shares = model.ring_shares

    def build(topology: TopologyGraph, gain: float) -> HindsightSplitter:
        return HindsightSplitter(topology, gain, shares=shares)

    return build


def absorber_factory(model: CorrelationModel) -> AbsorberFactory:
    """Build absorbers of small settled incidents from the Hawkes parents ``model``
    learned from history; none for a model without them (untrained, saved before
    they were learned, or fitted on too short a history)."""
    parents = model.parents

    def build(topology: TopologyGraph, share: float) -> ParentAbsorber | None:
        return ParentAbsorber(topology, parents, share) if parents is not None else None

    return build


def live_pace(model: CorrelationModel, settings: EngineSettings, db: sa.Engine,
              topology: TopologyGraph, current: LivePace | None = None) -> LivePace | None:
    """A pace read from the alerts for an engine with no trained model, unless switched
    off; None when the model sets the pace. ``current``, the pace the engine follows
    already, goes on (a promotion of ticket priors alone must not restart it off its
    grid); else a new one, seeded from the stored alerts."""
    if model.version is not None or not settings.live_time_scale:
        return None
    return current if current is not None else seed_from_store(LivePace(), db, topology)


def ranking_for(model: CorrelationModel, ranker: LearnedRanker | None,
                settings: EngineSettings | None = None) -> LearnedRanker | None:
    """``ranker`` if it was learned with ``model``'s version (and the settings do not
    switch learned ranking off), else None (the hand-weighted order): its features
    (rootness, tracing, the hand ranking) come from the relations of the correlation
    model it was read with, so after a roll-back or a retrain without tickets its
    weights would misread them (review). Retraining refits it from the stored tickets
    (``aiops.learning.retrain``)."""
    if ranker is None or (settings is not None and not settings.learned_ranking):
        return None
    if not ranker.current:
        log.warning("the root-cause ranking learned from tickets was fitted on features "
                    "of an earlier version (schema %s, now %s): the hand-weighted order is "
                    "used until it is trained again ('aiops train --tickets' or a retrain "
                    "with stored tickets)", ranker.schema_, FEATURE_SCHEMA)
        return None
    if ranker.fits(model.version):
        return ranker
    log.warning("the root-cause ranking learned from tickets was read with correlation "
                "model v%s, not v%s: the hand-weighted order is used until it is trained "
                "again ('aiops train --tickets' or a retrain with stored tickets)",
                ranker.correlation_version_, model.version)
    return None


def ranker_factory(model: CorrelationModel, priors: RootCausePriors | None = None,
                   learned: LearnedRanker | None = None, pace: LivePace | None = None
                   ) -> RankerFactory:
    """Rank root causes with the model's learned relations between alert types and,
    once trained, the priors and the ranking learned from resolved tickets. With
    ``pace`` (an engine with no trained model), with the type precedence it counted on
    the alerts seen so far, as it stands when a ranker is built (the engine builds a
    new one when a fit changes it), while it has any; not under a ranking learned from
    tickets, which was fitted on features read with the model's relations (none)."""

    def build(topology: TopologyGraph) -> CausalTopologyRanker:
        live = pace.relations if pace is not None and learned is None else None
        if live is not None:
            return CausalTopologyRanker(topology, relations=live, priors=priors,
                                        learned=learned,
                                        seen_in="co-occurrences in the alerts seen so far")
        return CausalTopologyRanker(topology, relations=model.relations, priors=priors,
                                    learned=learned)

    return build


def open_runtime(data_dir: DataDir) -> Runtime:
    """Create the data dir if needed, migrate the schema, load the promoted model,
    restore live state."""
    data_dir.path.mkdir(parents=True, exist_ok=True)
    db = open_database(data_dir.url())
    store = open_graph_store(data_dir.graph_url, db)  # embedded unless --graph-url
    # Incidents linked to topology nodes in the graph: only when it is in Neo4j.
    sink = IncidentGraphSink.for_store(store)
    registry = ModelRegistry(data_dir.path / "models")
    model = load_promoted(registry)
    tickets = load_ticket_models(registry)
    embedder = TemplateEmbedder(cache_file=data_dir.path / "cache" / "embeddings.npz")
    revision = store.revision()
    timeline = topology_timeline(store, data_dir.settings)
    pace = live_pace(model, data_dir.settings, db, timeline.current().graph)
    engine = Engine(db, timeline.current().graph, data_dir.settings,
                    correlator_factory=correlator_factory(model, data_dir.settings, embedder,
                                                          pace),
                    ranker_factory=ranker_factory(model, tickets.priors,
                                                  ranking_for(model, tickets.ranker,
                                                              data_dir.settings), pace),
                    sinks=[sink] if sink else [], timeline=timeline,
                    splitter_factory=splitter_factory(model),
                    absorber_factory=absorber_factory(model))
    runtime = Runtime(data_dir=data_dir, db=db, topology_store=store, engine=engine,
                      registry=registry, embedder=embedder,
                      model_versions=(model.version, tickets.version),
                      models_checked_at=time.monotonic(), topology_revision=revision,
                      topology_checked_at=time.monotonic())
    engine.use_pace(pace)
    # Stored tickets are linked to incidents as these resolve (docs/tickets.md).
    engine.sinks.append(ticket_link_sink(runtime))
    # Changed incidents queued for webhooks and ServiceNow (docs/sinks.md).
    outbox = outbox_sink(runtime)
    if outbox is not None:
        engine.sinks.append(outbox)
        outbox.reconcile(engine.incidents.values())
    return runtime
