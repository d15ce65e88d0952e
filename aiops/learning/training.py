"""``aiops train``: learn from history, store a new model version, promote it.

The same function serves the command line and (later) the scheduled retraining,
so both produce identical, versioned models.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from aiops.engine.scored_correlator import ScoringWeights
from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.registry import ModelRegistry
from aiops.learning.relations import TypeRelations
from aiops.learning.templates import alert_text
from aiops.models import Alert
from topology.graph import TopologyGraph

MODEL_NAME = "correlation"


@dataclass
class CorrelationModel:
    """What the correlator uses: learned type relations and the scoring weights."""

    relations: TypeRelations | None = None
    weights: ScoringWeights = field(default_factory=ScoringWeights)
    version: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"relations": self.relations.to_dict() if self.relations else None,
                "weights": self.weights.to_dict()}

    @classmethod
    def from_dict(cls, data: dict[str, Any], version: int | None = None) -> CorrelationModel:
        relations = data.get("relations")
        return cls(relations=TypeRelations.from_dict(relations) if relations else None,
                   weights=ScoringWeights(**data.get("weights", {})), version=version)


def load_promoted(registry: ModelRegistry) -> CorrelationModel:
    """The promoted model, or an untrained one (no relations, default weights)."""
    stored = registry.load(MODEL_NAME)
    if stored is None:
        return CorrelationModel()
    return CorrelationModel.from_dict(stored["model"], version=stored["version"])


def train(registry: ModelRegistry, alerts: list[Alert], topology: TopologyGraph,
          source: str, embedder: TemplateEmbedder | None = None
          ) -> tuple[CorrelationModel, dict[str, Any]]:
    """Fit on ``alerts``, save as a new version, promote it; return it and its metadata.

    With ``embedder`` the history's alert templates are embedded (and the cache saved)
    too, so live ingestion finds the texts it will mostly see already cached.
    """
    started = time.perf_counter()
    relations = TypeRelations().fit(alerts, topology)
    if embedder is not None:
        embedder.prepare({alert_text(a.name, a.summary) for a in alerts})
        embedder.save()
    model = CorrelationModel(relations=relations)
    meta = {
        "trained_on": source, "alerts": len(alerts),
        "period": [min(a.starts_at for a in alerts), max(a.starts_at for a in alerts)],
        "alert_types": len(relations.type_counts_), "relations": len(relations.edges_),
        "topology_nodes": len(topology), "seconds": round(time.perf_counter() - started, 3),
        "templates_embedded": embedder is not None,
    }
    version = registry.save(MODEL_NAME, model.to_dict(), meta)
    registry.promote(MODEL_NAME, version)
    model.version = version
    return model, meta
