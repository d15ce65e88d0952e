"""Ranked remediations for stored incidents from the promoted remediation model.

The model is loaded once per data dir and promoted version (a train in another
process is picked up at the next request, as the file registry's PROMOTED pointer
changes). Texts are embedded with the runtime's own embedder, the one the correlator
and ``aiops train`` use, whose cache is persisted in the data dir: the templates a
train embedded are not embedded again, and a recommendation's new templates are
kept for the next start. Without a trained model every incident gets an empty list,
at no cost.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.registry import ModelRegistry
from aiops.learning.remediation import MODEL_NAME, RemediationModel, load_promoted_remediation
from aiops.learning.training import MODEL_NAME as CORRELATION
from aiops.learning.training import load_promoted
from aiops.store import queries
from aiops.tickets.cases import Relations, query_from_incident
from topology.graph import TopologyGraph

RemediationsFor = Callable[[sa.Connection, str], list[dict[str, Any]]]


class _HasRuntimeParts(Protocol):
    registry: ModelRegistry
    embedder: TemplateEmbedder

    @property
    def engine(self) -> Any: ...


class Recommender:
    """Remediations for an incident (the dict ``queries.get_incident`` returns)."""

    def __init__(self, model: RemediationModel, embedder: TemplateEmbedder,
                 relations: Relations | None = None,
                 lock: AbstractContextManager[Any] | None = None):
        self.model = model
        self.embedder = embedder
        self.relations = relations
        # The embedder is not thread-safe and ingestion uses it too: share its lock.
        self._lock: AbstractContextManager[Any] = lock or threading.Lock()

    def for_incident(self, incident: dict[str, Any], topology: TopologyGraph
                     ) -> list[dict[str, Any]]:
        if not incident.get("alerts"):
            return []
        query = query_from_incident(incident, topology, self.relations,
                                    masked=self.model.text_format >= 2,
                                    format3=self.model.text_format >= 3)
        with self._lock:  # the embedder's cache and the model's lazy matrices are shared
            return self.model.predict(query, self.embedder)


# (data dir, remediation version, correlation version, embedder) → recommender
_CACHE: dict[tuple[Path, int, int | None, int], Recommender] = {}
_CACHE_LOCK = threading.Lock()


def recommender(runtime: _HasRuntimeParts) -> Recommender | None:
    """The recommender of the promoted model in the runtime's registry, or None without
    one; it embeds with ``runtime.embedder``."""
    registry = runtime.registry
    version = registry.promoted_version(MODEL_NAME)
    if version is None:
        return None
    # The root alert type is chosen with the correlation model's relations: a new
    # correlation model changes recommendations too.
    key = (registry.root.resolve(), version, registry.promoted_version(CORRELATION),
           id(runtime.embedder))
    with _CACHE_LOCK:
        found = _CACHE.get(key)
        if found is None or found.embedder is not runtime.embedder:
            model = load_promoted_remediation(registry)
            if model is None:
                return None
            for stale in [k for k in _CACHE if k[0] == key[0]]:
                del _CACHE[stale]
            found = _CACHE[key] = Recommender(model, runtime.embedder,
                                              load_promoted(registry).relations,
                                              getattr(runtime.engine, "lock", None))
    return found


def remediations_for(runtime: _HasRuntimeParts) -> RemediationsFor | None:
    """A function ``(conn, incident_id) -> remediations`` for replay output, or None."""
    chosen = recommender(runtime)
    if chosen is None:
        return None

    def lookup(conn: sa.Connection, incident_id: str) -> list[dict[str, Any]]:
        incident = queries.get_incident(conn, incident_id)
        return chosen.for_incident(incident, runtime.engine.topology)

    return lookup


def add_remediations(conn: sa.Connection, runtime: _HasRuntimeParts,
                     incident: dict[str, Any]) -> dict[str, Any]:
    """Add ``remediations`` (ranked, best first) and linked ``tickets`` to an incident
    dict, for the API's incident detail and the incident view."""
    from aiops.tickets.store import incident_tickets

    chosen = recommender(runtime)
    incident["remediations"] = chosen.for_incident(incident, runtime.engine.topology) \
        if chosen else []
    incident["tickets"] = incident_tickets(conn, incident["id"])
    return incident


def incident_detail(conn: sa.Connection, runtime: _HasRuntimeParts,
                    incident_id: str) -> dict[str, Any]:
    """One incident as the API and the view show it: alerts, root causes, recommended
    remediations and linked tickets; NotFound names an unknown id."""
    from aiops.store.queries import get_incident

    return add_remediations(conn, runtime, get_incident(conn, incident_id, placement=True))
