"""Correlation: which incident(s) a new alert belongs to.

The interface is one method so later correlators (text embeddings, learned
relations) replace this one without touching the pipeline. This first one links
an alert to incidents that had an alert within ``window`` seconds on a node within
``max_hops`` of its own node; alerts whose entity is not in the topology can only
join incidents on the same entity.
"""

from __future__ import annotations

from typing import Protocol

from aiops.config import EngineSettings
from aiops.engine.index import IncidentIndex
from aiops.engine.state import AlertRecord, IncidentRecord
from topology.graph import TopologyGraph


class Correlator(Protocol):
    """Places alerts into incidents."""

    horizon: float  # seconds after its last alert that an incident stays a candidate

    def place(self, alert: AlertRecord, index: IncidentIndex) -> list[IncidentRecord]:
        """Incidents ``alert`` belongs to, best first; several means they are one fault."""
        ...


class TimeTopologyCorrelator:
    """Time proximity × topology distance, the spatio-temporal baseline of the engine."""

    def __init__(self, topology: TopologyGraph, settings: EngineSettings):
        self.topology = topology
        self.window = settings.correlation_window
        self.max_hops = settings.max_hops
        self.horizon = self.window

    def _time_score(self, alert: AlertRecord, incident: IncidentRecord) -> float:
        # Sources report late and clocks drift: measure the gap to the incident's span.
        if incident.started_at - self.window <= alert.starts_at <= incident.updated_at:
            gap = 0.0
        else:
            gap = alert.starts_at - incident.updated_at
        return max(0.0, 1.0 - abs(gap) / self.window)

    def place(self, alert: AlertRecord, index: IncidentIndex) -> list[IncidentRecord]:
        scored: dict[str, tuple[float, IncidentRecord]] = {}
        if alert.node_id is not None:
            near = self.topology.neighbourhood(alert.node_id, self.max_hops)
            for node_id, hops in near.items():
                closeness = 1.0 - hops / (self.max_hops + 1)
                for incident in index.at_node(node_id):
                    score = closeness * self._time_score(alert, incident)
                    if score > scored.get(incident.id, (0.0, None))[0]:
                        scored[incident.id] = (score, incident)
        for incident in index.for_entity(alert.entity):
            score = self._time_score(alert, incident)
            if score > scored.get(incident.id, (0.0, None))[0]:
                scored[incident.id] = (score, incident)
        ranked = sorted(scored.values(), key=lambda item: (-item[0], item[1].seq))
        if not ranked:
            return []
        best = ranked[0][0]
        # Merge only incidents the alert links about as strongly as the best one.
        return [incident for score, incident in ranked if score >= 0.8 * best and score > 0.0]
