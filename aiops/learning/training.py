"""``aiops train``: learn from history, store a new model version, promote it.

The same function serves the command line and the scheduled retraining
(``aiops.learning.retrain``), so both produce identical, versioned models.
Relations between alert types are learned from the alerts alone; the scoring
weights only from labelled groups (operator feedback, ``aiops.learning.labels``):
without feedback they stay at their defaults, because history alone does not say
which grouping was right.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiops.config import EngineSettings
from aiops.engine.dedup import deduplicated
from aiops.engine.hindsight import RING_SHARES
from aiops.engine.scored_correlator import ScoredCorrelator, ScoringWeights
from aiops.learning.alarm_pairs import AlarmPairs
from aiops.learning.clock import ClockOffsets
from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.labels import GroupLabels
from aiops.learning.parents import ParentModel
from aiops.learning.registry import ModelRegistry
from aiops.learning.relations import TypeRelations
from aiops.learning.ring_shares import RingSharesEstimator, valid_shares
from aiops.learning.templates import event_text
from aiops.learning.timescale import CascadeTimescale, source_scales
from aiops.learning.weights import FitStep, ScoringWeightsFitter, weights_from_dict
from aiops.models import Alert
from topology.graph import TopologyGraph

MODEL_NAME = "correlation"


@dataclass
class CorrelationModel:
    """What the correlator uses: learned type relations and the scoring weights (and
    what the engine's hindsight split uses: where a fault's alarms lie around it)."""

    relations: TypeRelations | None = None
    weights: ScoringWeights = field(default_factory=ScoringWeights)
    version: int | None = None
    # The fitted ScoringWeightsFitter (its to_dict), or None when the weights are defaults.
    weights_fit: dict[str, Any] | None = None
    # Learned clock offset per node in seconds (``aiops.learning.clock``); models saved
    # before offsets were learned load with none, which compares times as stamped.
    clock_offsets: dict[str, float] = field(default_factory=dict)
    # How much slower than the settings assume this network's cascades unfold
    # (``aiops.learning.timescale``); models saved before it was learned load with 1.0.
    time_scale: float = 1.0
    # A time scale per alert source with evidence enough of its own, where the network
    # mixes fast and slow sources (``aiops.learning.timescale.source_scales``); empty for
    # one source, and for models saved before they were learned: ``time_scale`` serves all.
    source_scales: dict[str, float] = field(default_factory=dict)
    # A fault's share of alarms 0, 1, … hops from its origin, for the hindsight split
    # (``aiops.learning.ring_shares``); models saved before they were learned, or with
    # a damaged profile, load with the simulator's ``RING_SHARES``.
    ring_shares: tuple[float, ...] = RING_SHARES
    # A Hawkes model of which alarm causes which (``aiops.learning.parents``), for
    # absorbing small settled incidents (``aiops.engine.absorb``); None for a model
    # saved before it was learned, or from too short a history: nothing is absorbed.
    parents: ParentModel | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"relations": self.relations.to_dict() if self.relations else None,
                "weights": self.weights.to_dict(), "weights_fit": self.weights_fit,
                "clock_offsets": self.clock_offsets, "time_scale": self.time_scale,
                "source_scales": self.source_scales,
                "ring_shares": list(self.ring_shares),
                "parents": self.parents.to_dict() if self.parents is not None else None}

    @classmethod
    def from_dict(cls, data: dict[str, Any], version: int | None = None) -> CorrelationModel:
        relations = data.get("relations")
        return cls(relations=TypeRelations.from_dict(relations) if relations else None,
                   weights=weights_from_dict(data.get("weights", {})), version=version,
                   weights_fit=data.get("weights_fit"),
                   clock_offsets=dict(data.get("clock_offsets") or {}),
                   time_scale=float(data.get("time_scale") or 1.0),
                   source_scales={str(k): float(v) for k, v in
                                  (data.get("source_scales") or {}).items()},
                   ring_shares=valid_shares(data.get("ring_shares")),
                   parents=ParentModel.from_dict(data.get("parents")))


def _offset_summary(offsets: dict[str, float]) -> dict[str, float]:
    """How many nodes got a clock correction and how large, for the model's metadata."""
    sizes = sorted(abs(o) for o in offsets.values())
    return {"nodes": len(sizes), "median_abs": sizes[len(sizes) // 2] if sizes else 0.0,
            "max_abs": sizes[-1] if sizes else 0.0}


def load_promoted(registry: ModelRegistry) -> CorrelationModel:
    """The promoted model, or an untrained one (no relations, default weights)."""
    stored = registry.load(MODEL_NAME)
    if stored is None:
        return CorrelationModel()
    return CorrelationModel.from_dict(stored["model"], version=stored["version"])


def fit_weights(alerts: list[Alert], labels: GroupLabels | None, topology: TopologyGraph,
                relations: TypeRelations | None, embedder: TemplateEmbedder | None,
                settings: EngineSettings | None = None,
                fitter: ScoringWeightsFitter | None = None,
                progress: Callable[[FitStep], None] | None = None,
                offsets: dict[str, float] | None = None, time_scale: float = 1.0
                ) -> tuple[ScoringWeights, dict[str, Any], ScoringWeightsFitter | None]:
    """The scoring weights fitted to ``labels`` when operators corrected any incident of
    ``alerts``, else the defaults; with what was done (and why not) for the metadata."""
    if labels is None or labels.corrected == 0:
        return ScoringWeights(), {"fitted": False, "reason": "no operator feedback stored"}, None
    usable = labels.restricted_to(a.id for a in alerts)
    meta: dict[str, Any] = {**usable.summary(), "corrected_incidents_stored": labels.corrected}
    if usable.corrected == 0:
        return ScoringWeights(), {**meta, "fitted": False, "reason": (
            f"none of the alerts of the {labels.corrected} corrected incidents is in "
            "the alerts trained on")}, None
    fitter = fitter or ScoringWeightsFitter()
    if fitter.settings is None:
        fitter.set_params(settings=settings)
    fitter.fit(alerts, usable.groups, topology, relations=relations, embedder=embedder,
               progress=progress, offsets=offsets, time_scale=time_scale)
    start, fitted = fitter.start_.to_dict(), fitter.weights_.to_dict()
    meta.update({
        "fitted": True, "f1_before": round(fitter.score_before_.f1, 4),
        "f1_after": round(fitter.score_after_.f1, 4),
        "changed": {k: [start[k], v] for k, v in fitted.items() if start.get(k) != v},
        "evaluations": fitter.evaluations_, "replayed_alerts": fitter.replayed_alerts_,
        "seconds": fitter.seconds_, "stopped_early": fitter.stopped_early_})
    return fitter.weights_, meta, fitter


def train(registry: ModelRegistry, alerts: list[Alert], topology: TopologyGraph,
          source: str, embedder: TemplateEmbedder | None = None, *,
          labels: GroupLabels | None = None, settings: EngineSettings | None = None,
          fitter: ScoringWeightsFitter | None = None,
          progress: Callable[[FitStep], None] | None = None, promote: bool = True
          ) -> tuple[CorrelationModel, dict[str, Any]]:
    """Fit on ``alerts``, save as a new version, promote it; return it and its metadata.

    ``promote=False`` only saves it: scheduled retraining (``aiops.learning.retrain``)
    tries a candidate in shadow mode first and promotes it only when its policy says so.

    With ``embedder`` the history's alert templates are embedded (and the cache saved)
    too, so live ingestion finds the texts it will mostly see already cached. With
    ``labels`` (operator feedback) the scoring weights are fitted to them by replaying
    ``alerts`` under ``settings`` (the data dir's); ``progress`` hears of every replay.
    """
    started = time.perf_counter()
    stored_nodes = len(topology)
    topology = topology.device_view()  # ports merged into their devices, as the engine sees it
    relations = TypeRelations()
    # Both learn from pairs of nearby alarms: build them once, as wide as either needs.
    # The offsets come first: the relations' precedence counts compare corrected times.
    clock = ClockOffsets()
    hops, window = relations.pair_reach()
    pairs = AlarmPairs.build(alerts, topology, max(hops, clock.hops), max(window, clock.window))
    offsets = clock.fit(alerts, topology, pairs=pairs).offsets_
    # Then how fast cascades unfold here: which of two types comes first, and how
    # early an effect on another node may be stamped, are judged on that time scale.
    timescale = CascadeTimescale().fit(alerts, topology, offsets=offsets)
    # And per alert source, where sources report at paces of their own (traps, polls).
    per_source = source_scales(alerts, topology, offsets, timescale)
    timescale.stretch(relations)
    relations.fit(alerts, topology, pairs=pairs, offsets=offsets)
    if embedder is not None:
        embedder.prepare({event_text(a) for a in alerts})
        embedder.save()
    weights, weights_meta, fitted = fit_weights(alerts, labels, topology, relations, embedder,
                                                settings, fitter, progress, offsets,
                                                timescale.scale_)
    # Last, with the correlator just learned: where a fault's alarms lie around its
    # origin, read from the incidents it makes of the history (the hindsight split's
    # likelihood; ``aiops.learning.ring_shares``).
    engine_settings = settings or EngineSettings()
    correlator = ScoredCorrelator(
        topology, engine_settings, relations=relations,
        embedder=embedder if engine_settings.text_similarity else None, weights=weights,
        offsets=offsets, time_scale=timescale.scale_, source_scales=per_source)
    # Both read the history deduplicated into alerts as the engine makes them.
    records = deduplicated(alerts, topology, engine_settings)
    shares = RingSharesEstimator(gain=engine_settings.hindsight_split_gain).fit_records(
        records, topology, correlator)
    # Which alarm most likely caused which (the absorbing of small settled incidents;
    # ``aiops.learning.parents``): from the deduplicated alerts alone.
    parents = ParentModel().fit_records(records, topology)
    model = CorrelationModel(relations=relations, weights=weights,
                             weights_fit=fitted.to_dict() if fitted else None,
                             clock_offsets=offsets, time_scale=timescale.scale_,
                             source_scales=per_source,
                             ring_shares=shares.shares_,
                             parents=parents if parents.learned_ else None)
    meta = {
        "trained_on": source, "alerts": len(alerts),
        "period": [min(a.starts_at for a in alerts), max(a.starts_at for a in alerts)],
        "alert_types": len(relations.type_counts_), "relations": len(relations.edges_),
        "topology_nodes": stored_nodes, "clock_offsets": _offset_summary(offsets),
        "time_scale": {"scale": timescale.scale_, "cascade_lag_seconds": timescale.lag_,
                       "excess_pairs": timescale.excess_pairs_, "sources": per_source},
        "seconds": round(time.perf_counter() - started, 3),
        "templates_embedded": embedder is not None, "weights": weights_meta,
        "ring_shares": shares.summary(), "parents": parents.summary(),
    }
    version = registry.save(MODEL_NAME, model.to_dict(), meta)
    if promote:
        registry.promote(MODEL_NAME, version)
    model.version = version
    return model, meta
