"""The scoring correlator: time × (topology + learned type relations + alert text).

For a new alert and each live incident near it, four pieces of evidence:

* time: ``1 − gap / window``, the gap measured to the incident's span widened by
  ``skew`` seconds on both sides, so clock skew and reporting delays of tens of
  seconds do not split a group;
* topology: 1.0 on the same node, 0.8 one hop away, 0.5 two hops away (a shared
  neighbour: the silent-root pattern);
* relation: how strongly the alert's type and a type already in the incident
  co-occur nearby in history (``aiops.learning.relations``);
* text: cosine similarity of the alert's template and the incident's templates
  under all-MiniLM-L6-v2 (``aiops.learning.embeddings``).

``score = time × min(1, w_topo·topology + w_rel·relation + w_text·text)``; the alert
joins the best incident scoring at least ``threshold``, and incidents scoring within
``merge_ratio`` of the best and above the threshold are merged into it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from aiops.config import EngineSettings
from aiops.engine.index import IncidentIndex
from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.relations import TypeRelations
from aiops.learning.templates import alert_text
from aiops.models import Alert
from topology.graph import TopologyGraph

HOP_CLOSENESS = (1.0, 0.8, 0.5, 0.3)


@dataclass(frozen=True, slots=True)
class ScoringWeights:
    """The tunable part of the score; ``aiops train`` stores them with the model."""

    topology: float = 0.7
    relation: float = 0.4
    text: float = 0.2
    same_entity: float = 1.0  # an unresolved entity is only matched by name
    threshold: float = 0.3
    merge_ratio: float = 0.9
    # With a trained model, types never seen together nearby are evidence against.
    unrelated: float = 1.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


class ScoredCorrelator:
    def __init__(self, topology: TopologyGraph, settings: EngineSettings,
                 relations: TypeRelations | None = None,
                 embedder: TemplateEmbedder | None = None,
                 weights: ScoringWeights | None = None):
        self.topology = topology
        self.window = settings.correlation_window
        self.skew = settings.skew_tolerance
        self.max_hops = settings.max_hops
        self.max_span = settings.max_incident_span
        self.horizon = self.window + self.skew
        self.relations = relations
        self.embedder = embedder
        self.weights = weights or ScoringWeights()

    def prepare(self, events: list[Alert]) -> None:
        """Embed the batch's new templates in one model call (cheaper than one by one)."""
        if self.embedder is not None and events:
            self.embedder.prepare({alert_text(e.name, e.summary) for e in events})

    def _time(self, alert: AlertRecord, incident: IncidentRecord) -> float:
        t = alert.starts_at
        if t - incident.started_at > self.max_span:
            return 0.0  # a cascade unfolds in minutes; later alerts would only chain faults
        low, high = incident.started_at - self.skew, incident.updated_at + self.skew
        gap = low - t if t < low else (t - high if t > high else 0.0)
        return max(0.0, 1.0 - gap / self.window)

    def _candidates(self, alert: AlertRecord, index: IncidentIndex) -> dict[str, tuple[int, Any]]:
        """Live incidents near the alert with the fewest hops to any of their nodes."""
        found: dict[str, tuple[int, IncidentRecord]] = {}
        if alert.node_id is not None:
            near = self.topology.neighbourhood(alert.node_id, self.max_hops)
            for node_id, hops in near.items():
                for incident in index.at_node(node_id):
                    if incident.id not in found or hops < found[incident.id][0]:
                        found[incident.id] = (hops, incident)
        for incident in index.for_entity(alert.entity):
            found[incident.id] = (-1, incident)  # same entity name (resolved or not)
        return found

    def _relation(self, alert: AlertRecord, names: set[str]) -> float:
        if self.relations is None:
            return 0.0
        if alert.name in names:
            return 1.0
        return max((self.relations.related(alert.name, n) for n in names), default=0.0)

    def _text(self, text: str, texts: list[str]) -> float:
        if self.embedder is None or not texts:
            return 0.0
        return max(self.embedder.similarity(text, other) for other in texts)

    def evidence(self, alert: AlertRecord, incident: IncidentRecord, hops: int,
                 index: IncidentIndex) -> dict[str, float]:
        """The pieces of the score, for explanations and for training."""
        profile = index.profiles[incident.id]
        if hops < 0:
            topo = self.weights.same_entity
        else:
            topo = HOP_CLOSENESS[min(hops, len(HOP_CLOSENESS) - 1)]
        return {"time": self._time(alert, incident), "topology": topo,
                "relation": self._relation(alert, profile.names),
                "text": self._text(alert_text(alert.name, alert.event.summary),
                                   profile.texts)}

    def score(self, parts: dict[str, float]) -> float:
        w = self.weights
        strength = min(1.0, w.topology * parts["topology"] + w.relation * parts["relation"]
                       + w.text * parts["text"])
        if self.relations is not None and parts["relation"] == 0.0:
            strength *= w.unrelated
        return parts["time"] * strength

    def place(self, alert: AlertRecord, index: IncidentIndex) -> list[IncidentRecord]:
        scored: list[tuple[float, IncidentRecord]] = []
        for hops, incident in self._candidates(alert, index).values():
            if self._time(alert, incident) <= 0.0:
                continue  # cheap test first: most neighbours' incidents are old
            value = self.score(self.evidence(alert, incident, hops, index))
            if value >= self.weights.threshold:
                scored.append((value, incident))
        if not scored:
            return []
        scored.sort(key=lambda item: (-item[0], item[1].seq))
        best = scored[0][0]
        return [inc for value, inc in scored if value >= self.weights.merge_ratio * best]
