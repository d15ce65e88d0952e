"""The interface every topology backend implements (embedded SQL now, Neo4j next)."""

from __future__ import annotations

from typing import Protocol

from topology.graph import TopologyGraph
from topology.model import Edge, Node


class GraphStore(Protocol):
    def upsert(self, nodes: list[Node], edges: list[Edge], source: str) -> tuple[int, int]:
        """Add or refresh nodes and edges atomically; return (nodes, edges) written."""
        ...

    def load(self) -> TopologyGraph:
        """The whole topology as an in-memory graph for the engine."""
        ...

    def counts(self) -> tuple[int, int]:
        """(number of nodes, number of edges) stored."""
        ...
