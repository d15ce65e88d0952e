"""Training the ticket-learned root-cause ranking: past incidents, their tickets, a fit.

A ticket is matched to an incident *as the engine groups alerts*, not to the alerts
around its device: the latter are centred on the device at fault, so features read
from them would give the answer away (a silent device would always sit amid the
alarms) and the model would learn a picture it never sees at run time. So the past
alerts are replayed through a fresh in-memory engine with the correlator being
trained (as the scoring-weight fit does, ``aiops.learning.weights``), and each ticket
goes to the incident holding most of its alerts: the ones it lists, else those
around its device (``aiops.tickets.cases.ticket_alerts``, the priors' reading).

The ranking is stored with the root-cause priors, as one version of the
``root_priors`` model: both are what tickets taught the ranker, they are trained
together and promoted together, and the priors are features of the ranking.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from aiops.config import EngineSettings
from aiops.engine.engine import (
    AbsorberFactory,
    CorrelatorFactory,
    Engine,
    SplitterFactory,
    no_absorber,
)
from aiops.engine.hindsight import HindsightSplitter
from aiops.engine.rank import MAX_TRACED_ALERTS, CausalTopologyRanker
from aiops.engine.rank_features import candidate_features
from aiops.engine.state import AlertRecord, IncidentRecord, RootCause
from aiops.learning.learned_rank import Choice, LearnedRanker
from aiops.learning.registry import ModelRegistry
from aiops.learning.relations import TypeRelations
from aiops.learning.root_priors import MODEL_NAME, RootCausePriors
from aiops.models import Alert, Ticket
from aiops.store.metadata import metadata
from aiops.store.tables import alerts as alerts_table
from aiops.store.tables import incidents as incidents_table
from aiops.store.tables import raw_events
from aiops.tickets.cases import ticket_alerts
from topology.graph import TopologyGraph

BATCH_SIZE = 2000  # as replay feeds the engine
PRIOR_FOLDS = 2  # the priors a ticket's features are read with leave its fold out


class _NoRanking:
    """Grouping is all the replay is for; features are read from the final groups."""

    def rank(self, incident: IncidentRecord) -> list[RootCause]:
        return []


def past_incidents(alerts: Sequence[Alert], topology: TopologyGraph,
                   settings: EngineSettings, correlator: CorrelatorFactory,
                   splitter: SplitterFactory = HindsightSplitter,
                   absorber: AbsorberFactory = no_absorber
                   ) -> tuple[dict[str, IncidentRecord], dict[str, str]]:
    """Replay ``alerts`` through an in-memory engine (splitting in hindsight with
    ``splitter``'s, the model's shares, and absorbing small incidents with
    ``absorber``'s, its Hawkes parents); the final incidents by id (with their alert
    records, as the ranker sees them) and each event id's incident."""
    db = sa.create_engine("sqlite://")
    try:
        metadata.create_all(db, tables=[incidents_table, alerts_table, raw_events])
        engine = Engine(db, topology, settings, correlator_factory=correlator,
                        ranker_factory=lambda _topology: _NoRanking(),
                        splitter_factory=splitter, absorber_factory=absorber)
        ordered = sorted(alerts, key=lambda a: a.starts_at)
        for start in range(0, len(ordered), BATCH_SIZE):
            engine.ingest(ordered[start:start + BATCH_SIZE])
        by_id = {a.id: a for a in alerts}
        with db.connect() as conn:
            records = conn.execute(sa.select(
                alerts_table.c.id, alerts_table.c.fingerprint, alerts_table.c.first_event_id,
                alerts_table.c.node_id, alerts_table.c.starts_at,
                alerts_table.c.incident_id)).all()
            events = conn.execute(sa.select(raw_events.c.event_id, alerts_table.c.incident_id)
                                  .join(alerts_table, alerts_table.c.id == raw_events.c.alert_id)
                                  ).all()
    finally:
        db.dispose()
    members: dict[str, dict[int, AlertRecord]] = defaultdict(dict)
    for row in records:
        if row.incident_id is None or row.first_event_id not in by_id:
            continue
        members[row.incident_id][row.id] = AlertRecord(
            id=row.id, fingerprint=row.fingerprint, event=by_id[row.first_event_id],
            node_id=row.node_id, starts_at=row.starts_at, incident_id=row.incident_id)
    incidents = {i: IncidentRecord(id=i, seq=0, started_at=0.0, updated_at=0.0, alerts=a)
                 for i, a in members.items()}
    return incidents, {e: i for e, i in events if i is not None}


def ticket_choices(tickets: Sequence[Ticket], alerts: Sequence[Alert],
                   topology: TopologyGraph, incidents: dict[str, IncidentRecord],
                   incident_of: dict[str, str]) -> list[tuple[IncidentRecord, str]]:
    """(incident, device at fault) per ticket whose entity resolves to a node: the
    incident holding most of the ticket's listed alerts, else of the alerts around
    its device."""
    out: list[tuple[IncidentRecord, str]] = []
    for found in ticket_alerts(tickets, alerts, topology):
        if found.node is None:
            continue
        # The alerts it lists that arrived, else (none did, or it lists none) those
        # around its device.
        votes = Counter(incident_of[i] for i in found.ticket.alert_ids if i in incident_of)
        if not votes:
            votes = Counter(incident_of[a.id] for a in found.linked if a.id in incident_of)
        if votes:
            out.append((incidents[votes.most_common(1)[0][0]], found.node))
    return out


def ranking_choices(pairs: Sequence[tuple[IncidentRecord, str]],
                    ranker: CausalTopologyRanker) -> list[Choice]:
    """The choices to fit on: the incidents whose device at fault is among the
    candidates (the others say nothing about ordering candidates), with their features
    as ``ranker`` reads them."""
    choices: list[Choice] = []
    features: dict[str, tuple[list[str], Any]] = {}
    for incident, node in pairs:
        if len(incident.alerts) > MAX_TRACED_ALERTS:
            continue  # ranked by hand at run time: its features are never read there
        if incident.id not in features:
            hand = ranker.hand_ranking(incident)
            features[incident.id] = candidate_features(ranker, hand) if hand else ([], None)
        keys, rows = features[incident.id]
        if node in keys:
            choices.append((rows, keys.index(node)))
    return choices


def fit_learned_ranker(pairs: Sequence[tuple[IncidentRecord, str]],
                       ranker: CausalTopologyRanker,
                       model: LearnedRanker | None = None) -> LearnedRanker:
    """Fit on ``ranking_choices`` of ``pairs``."""
    return (model or LearnedRanker()).fit(ranking_choices(pairs, ranker))


def cross_fitted_choices(tickets: Sequence[Ticket], alerts: Sequence[Alert],
                         topology: TopologyGraph, relations: TypeRelations | None,
                         incidents: dict[str, IncidentRecord], incident_of: dict[str, str],
                         folds: int = PRIOR_FOLDS) -> tuple[list[Choice], int]:
    """The choices of every ticket, each read with root-cause priors fitted on the
    *other* folds of the tickets, and how many tickets matched an incident.

    Why: the ticket prior (and the hand score holding it) is a feature, and priors
    fitted on all tickets would include each ticket's own answer (for a rare alert
    type, nearly all of its share): the model would learn to trust them more than it
    should at run time, where the ticket of the incident being ranked is not yet in
    them (review)."""
    choices: list[Choice] = []
    matched = 0
    for fold in range(folds):
        held = [t for k, t in enumerate(tickets) if k % folds == fold]
        others = [t for k, t in enumerate(tickets) if k % folds != fold]
        priors = RootCausePriors().fit(others, alerts, topology)
        ranker = CausalTopologyRanker(topology, relations=relations, priors=priors)
        pairs = ticket_choices(held, alerts, topology, incidents, incident_of)
        matched += len(pairs)
        choices.extend(ranking_choices(pairs, ranker))
    return choices, matched


def train_root_ranking(registry: ModelRegistry, tickets: Sequence[Ticket],
                       alerts: Sequence[Alert], topology: TopologyGraph,
                       relations: TypeRelations | None, settings: EngineSettings,
                       correlator: CorrelatorFactory, source: str, promote: bool = True,
                       correlation_version: int | None = None,
                       splitter: SplitterFactory = HindsightSplitter,
                       absorber: AbsorberFactory = no_absorber
                       ) -> tuple[RootCausePriors, LearnedRanker, dict[str, Any]]:
    """Fit the priors, then the learned ranking on top of them; save both as a new
    ``root_priors`` version and promote it (unless not ``promote``). The ranking is
    used only under the correlation model version it was read with
    (``correlation_version``: that of ``relations`` and ``correlator``)."""
    started = time.perf_counter()
    priors = RootCausePriors().fit(tickets, alerts, topology)
    learned = LearnedRanker()
    incidents: dict[str, IncidentRecord] = {}
    matched = 0
    # Fewer tickets than the ranking needs could not make it usable: the replay of the
    # whole history it would take is skipped (review: days of alerts, every retrain).
    if priors.tickets_ >= learned.min_tickets:
        incidents, incident_of = past_incidents(alerts, topology, settings, correlator,
                                                splitter, absorber)
        choices, matched = cross_fitted_choices(tickets, alerts, topology, relations,
                                                incidents, incident_of)
        learned.fit(choices)
    learned.correlation_version_ = correlation_version
    meta = {"trained_on": source, "tickets": priors.tickets_, "silent": priors.silent_,
            "types": len(priors.present_), "usable": priors.usable,
            "ranker": {"incidents_replayed": len(incidents), "tickets_matched": matched,
                       "tickets_fitted": learned.tickets_, "usable": learned.usable,
                       "correlation_version": correlation_version,
                       "feature_schema": learned.schema_},
            "seconds": round(time.perf_counter() - started, 3)}
    version = registry.save(MODEL_NAME, {**priors.to_dict(), "ranker": learned.to_dict()},
                            meta)
    if promote:
        registry.promote(MODEL_NAME, version)
    meta["version"] = version
    return priors, learned, meta


@dataclass(frozen=True)
class TicketModels:
    """The promoted ``root_priors`` version: priors and learned ranking, read at once
    (two reads could straddle a promotion and pair one version's priors with another's
    ranking)."""

    version: int | None
    priors: RootCausePriors | None
    ranker: LearnedRanker | None


def load_ticket_models(registry: ModelRegistry) -> TicketModels:
    """What tickets taught the ranker, from the promoted ``root_priors`` version (all
    None when no tickets were trained on; no ranking in versions trained before it)."""
    stored = registry.load(MODEL_NAME)
    if stored is None:
        return TicketModels(None, None, None)
    ranker = stored["model"].get("ranker")
    return TicketModels(stored["version"], RootCausePriors.from_dict(stored["model"]),
                        LearnedRanker.from_dict(ranker) if ranker is not None else None)

