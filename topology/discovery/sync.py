"""One discovery run: collect everything, merge identities, upsert once.

The order is what makes a failing source harmless: the connector reads its whole
source before anything is written, the merge works on that complete batch, and
the store's ``upsert`` is atomic. A timeout, a garbage page or a dropped connection
raises before the upsert, so the stored topology stays as it was and the error
reaches the caller (CLI, Celery task) with the source named.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from topology.discovery.base import TopologySource
from topology.discovery.identity import Conflict, merge
from topology.store import GraphStore

if TYPE_CHECKING:
    from topology.conflicts import ConflictLog


@dataclass(slots=True)
class SyncReport:
    """What a run wrote and what it found questionable; the CLI prints it, tasks return it."""

    source: str
    nodes: int = 0
    edges: int = 0
    new_nodes: int = 0
    new_edges: int = 0
    merged: dict[str, str] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    total_nodes: int = 0
    total_edges: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "nodes": self.nodes, "edges": self.edges,
                "new_nodes": self.new_nodes, "new_edges": self.new_edges,
                "merged": dict(self.merged),
                "conflicts": [c.to_dict() for c in self.conflicts],
                "warnings": list(self.warnings),
                "total": {"nodes": self.total_nodes, "edges": self.total_edges}}


def sync(connector: TopologySource, store: GraphStore,
         conflict_log: ConflictLog | None = None) -> SyncReport:
    """Run ``connector`` and store what it found; raises (writing nothing) on failure.

    The conflicts of a stored run also go to ``conflict_log`` (when given), so a
    scheduled run's findings outlive its report.
    """
    current = store.load()
    found = connector.collect(current)
    merged = merge(found, current)
    known_edges = {(u, v) for u, v in current.graph.edges}
    new_edges = sum(1 for e in merged.edges
                    if (e.source, e.target) not in known_edges
                    and (e.target, e.source) not in known_edges)
    seen_at = time.time()
    store.upsert(merged.nodes, merged.edges, source=connector.name, seen_at=seen_at)
    if conflict_log is not None:
        conflict_log.record(connector.name, merged.conflicts, at=seen_at)
    total_nodes, total_edges = store.counts()
    return SyncReport(
        source=connector.name, nodes=len(merged.nodes), edges=len(merged.edges),
        new_nodes=sum(1 for n in merged.nodes if n.id not in current.nodes),
        new_edges=new_edges,
        merged={old: new for old, new in merged.renamed.items() if old != new},
        conflicts=merged.conflicts, warnings=found.warnings,
        total_nodes=total_nodes, total_edges=total_edges)
