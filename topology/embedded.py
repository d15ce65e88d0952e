"""The embedded topology store: two tables in the engine's own database.

This is the default so a new user needs no graph server. Imports are upserts in
one transaction: a refused or failed import leaves the stored topology as it was.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from topology.graph import TopologyGraph
from topology.model import Edge, Node
from topology.tables import topo_edges, topo_nodes

_CHUNK = 5000


class EmbeddedGraphStore:
    """GraphStore over SQLAlchemy; networkx does the graph algorithms after ``load``."""

    def __init__(self, db: sa.Engine):
        self.db = db

    def upsert(self, nodes: list[Node], edges: list[Edge], source: str = "import",
               seen_at: float | None = None) -> tuple[int, int]:
        now = time.time() if seen_at is None else seen_at
        with self.db.begin() as conn:
            existing_nodes = set(conn.execute(sa.select(topo_nodes.c.id)).scalars())
            existing_edges = {
                tuple(r) for r in conn.execute(
                    sa.select(topo_edges.c.source_id, topo_edges.c.target_id, topo_edges.c.kind))
            }
            new_n, old_n = [], []
            for n in nodes:
                row = {"kind": n.kind, "name": n.name, "attrs": n.attrs, "source": source,
                       "last_seen": now}
                if n.id in existing_nodes:
                    old_n.append({"_id": n.id, **row})
                else:
                    new_n.append({"id": n.id, "first_seen": now, **row})
            new_e, old_e = [], []
            for e in edges:
                row = {"attrs": e.attrs, "source": source, "last_seen": now}
                if e.key in existing_edges:
                    old_e.append({"_s": e.source, "_t": e.target, "_k": e.kind, **row})
                else:
                    new_e.append({"source_id": e.source, "target_id": e.target, "kind": e.kind,
                                  "first_seen": now, **row})
            node_update = topo_nodes.update().where(topo_nodes.c.id == sa.bindparam("_id"))
            edge_update = topo_edges.update().where(
                (topo_edges.c.source_id == sa.bindparam("_s"))
                & (topo_edges.c.target_id == sa.bindparam("_t"))
                & (topo_edges.c.kind == sa.bindparam("_k"))
            )
            for stmt, rows in ((topo_nodes.insert(), new_n), (node_update, old_n),
                               (topo_edges.insert(), new_e), (edge_update, old_e)):
                for start in range(0, len(rows), _CHUNK):
                    conn.execute(stmt, rows[start:start + _CHUNK])
        return len(nodes), len(edges)

    def load(self) -> TopologyGraph:
        with self.db.connect() as conn:
            nodes = [Node(r.id, r.kind, r.name, dict(r.attrs or {}))
                     for r in conn.execute(sa.select(topo_nodes))]
            edges = [Edge(r.source_id, r.target_id, r.kind, dict(r.attrs or {}))
                     for r in conn.execute(sa.select(topo_edges))]
        return TopologyGraph(nodes, edges)

    def counts(self) -> tuple[int, int]:
        with self.db.connect() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(topo_nodes)).scalar() or 0
            e = conn.execute(sa.select(sa.func.count()).select_from(topo_edges)).scalar() or 0
        return int(n), int(e)
