"""The embedded topology store: two tables in the engine's own database.

This is the default so a new user needs no graph server. Imports are upserts in
one transaction: a refused or failed import leaves the stored topology as it was.
Graph questions about one node (``neighbourhood``, ``distance``) are answered by a
breadth-first walk in SQL, one query per hop, so they cost the same whatever the
size of the topology; the engine itself reasons over ``load()``'s networkx graph.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

import sqlalchemy as sa

from topology.graph import TopologyGraph
from topology.history import Seen, TopologyHistory
from topology.model import Edge, Node, canonical_edges
from topology.store import GraphStoreError, TimeWindow, check_radius, check_upsert
from topology.tables import topo_edges, topo_nodes, topo_revision

_CHUNK = 5000  # rows per executemany, and ids per IN (...) list


def _chunks(items: list, size: int = _CHUNK) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _widen(column: sa.Column, seen: float, earlier: bool) -> sa.ColumnElement:
    """first_seen = min(first_seen, seen) / last_seen = max(last_seen, seen), portably
    (SQLite has no LEAST/GREATEST), so an upsert of old data never shortens history."""
    beyond = column > seen if earlier else column < seen
    return sa.case((beyond, sa.literal(seen)), else_=column)


def _bump_revision(conn: sa.Connection) -> None:
    """Count one more change, in the upsert's own transaction (so a reader never sees
    the new revision without the new topology). The row is made by the migration;
    it is made here only if somebody deleted it."""
    row = topo_revision.c
    bumped = conn.execute(topo_revision.update().where(row.key == "topology")
                          .values(revision=row.revision + 1, changed_at=time.time()))
    if bumped.rowcount == 0:
        conn.execute(topo_revision.insert().values(key="topology", revision=1,
                                                   changed_at=time.time()))


class EmbeddedGraphStore:
    """GraphStore over SQLAlchemy; networkx does the graph algorithms after ``load``."""

    def __init__(self, db: sa.Engine):
        self.db = db

    def upsert(self, nodes: list[Node], edges: list[Edge], source: str = "import",
               seen_at: float | None = None) -> tuple[int, int]:
        now = time.time() if seen_at is None else seen_at
        edges = canonical_edges(edges)
        try:
            with self.db.begin() as conn:
                check_upsert(nodes, edges, lambda ids: self._existing(conn, ids), source)
                self._write(conn, nodes, edges, source, now)
        except sa.exc.DBAPIError as exc:
            raise GraphStoreError(f"topology not stored: {exc.orig or exc}") from exc
        return len(nodes), len(edges)

    def _write(self, conn: sa.Connection, nodes: list[Node], edges: list[Edge], source: str,
               now: float) -> None:
        existing_nodes = set(conn.execute(sa.select(topo_nodes.c.id)).scalars())
        existing_edges = {
            tuple(r) for r in conn.execute(
                sa.select(topo_edges.c.source_id, topo_edges.c.target_id, topo_edges.c.kind))
        }
        new_n, old_n = [], []
        for n in nodes:
            row = {"kind": n.kind, "name": n.name, "attrs": n.attrs, "source": source}
            if n.id in existing_nodes:
                old_n.append({"_id": n.id, **row})
            else:
                new_n.append({"id": n.id, "first_seen": now, "last_seen": now, **row})
        new_e, old_e = [], []
        for e in edges:
            row = {"attrs": e.attrs, "source": source}
            if e.key in existing_edges:
                old_e.append({"_s": e.source, "_t": e.target, "_k": e.kind, **row})
            else:
                new_e.append({"source_id": e.source, "target_id": e.target, "kind": e.kind,
                              "first_seen": now, "last_seen": now, **row})
        node_update = (
            topo_nodes.update().where(topo_nodes.c.id == sa.bindparam("_id"))
            .values(first_seen=_widen(topo_nodes.c.first_seen, now, earlier=True),
                    last_seen=_widen(topo_nodes.c.last_seen, now, earlier=False)))
        edge_update = (
            topo_edges.update().where(
                (topo_edges.c.source_id == sa.bindparam("_s"))
                & (topo_edges.c.target_id == sa.bindparam("_t"))
                & (topo_edges.c.kind == sa.bindparam("_k")))
            .values(first_seen=_widen(topo_edges.c.first_seen, now, earlier=True),
                    last_seen=_widen(topo_edges.c.last_seen, now, earlier=False)))
        for stmt, rows in ((topo_nodes.insert(), new_n), (node_update, old_n),
                           (topo_edges.insert(), new_e), (edge_update, old_e)):
            for chunk in _chunks(rows):
                conn.execute(stmt, chunk)
        if nodes or edges:
            _bump_revision(conn)

    @staticmethod
    def _existing(conn: sa.Connection, ids: set[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(sorted(ids)):
            found.update(conn.execute(
                sa.select(topo_nodes.c.id).where(topo_nodes.c.id.in_(chunk))).scalars())
        return found

    def load(self, as_of: float | None = None, max_age: float | None = None) -> TopologyGraph:
        window = TimeWindow.of(as_of, max_age)
        now = time.time()
        with self.db.connect() as conn:
            nodes = [Node(r.id, r.kind, r.name, dict(r.attrs or {}))
                     for r in conn.execute(self._in_window(topo_nodes, window, now))]
            ids = {n.id for n in nodes}
            # An edge needs both ends in the window, else networkx would invent the
            # missing end as a node without kind or name.
            edges = [Edge(r.source_id, r.target_id, r.kind, dict(r.attrs or {}))
                     for r in conn.execute(self._in_window(topo_edges, window, now))
                     if r.source_id in ids and r.target_id in ids]
        return TopologyGraph(nodes, edges)

    @staticmethod
    def _in_window(table: sa.Table, window: TimeWindow, now: float) -> sa.Select:
        query = sa.select(table)
        upper, lower = window.first_seen_max, window.last_seen_min(now)
        if upper is not None:
            query = query.where(table.c.first_seen <= upper)
        if lower is not None:
            query = query.where(table.c.last_seen >= lower)
        return query

    def history(self) -> TopologyHistory:
        with self.db.connect() as conn:
            nodes = [(Node(r.id, r.kind, r.name, dict(r.attrs or {})),
                      Seen(r.first_seen, r.last_seen, r.source))
                     for r in conn.execute(sa.select(topo_nodes))]
            edges = [(Edge(r.source_id, r.target_id, r.kind, dict(r.attrs or {})),
                      Seen(r.first_seen, r.last_seen, r.source))
                     for r in conn.execute(sa.select(topo_edges))]
        return TopologyHistory(nodes, edges)

    def counts(self) -> tuple[int, int]:
        with self.db.connect() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(topo_nodes)).scalar() or 0
            e = conn.execute(sa.select(sa.func.count()).select_from(topo_edges)).scalar() or 0
        return int(n), int(e)

    def revision(self) -> int:
        with self.db.connect() as conn:
            found = conn.execute(sa.select(topo_revision.c.revision)
                                 .where(topo_revision.c.key == "topology")).scalar()
        return int(found or 0)

    def node(self, node_id: str) -> Node | None:
        with self.db.connect() as conn:
            r = conn.execute(sa.select(topo_nodes).where(topo_nodes.c.id == node_id)).first()
        return None if r is None else Node(r.id, r.kind, r.name, dict(r.attrs or {}))

    def neighbourhood(self, node_id: str, radius: int) -> dict[str, int]:
        return self._walk(node_id, check_radius(radius), target=None)

    def distance(self, a: str, b: str, cutoff: int) -> int | None:
        return self._walk(a, check_radius(cutoff, "cutoff"), target=b).get(b)

    def _walk(self, start: str, radius: int, target: str | None) -> dict[str, int]:
        """Breadth-first over the edge table, one query per hop (both directions use an
        index: source_id leads the primary key, target_id has its own); stops early
        once ``target`` is reached."""
        with self.db.connect() as conn:
            if not conn.execute(sa.select(topo_nodes.c.id)
                                .where(topo_nodes.c.id == start)).first():
                return {}
            hops = {start: 0}
            frontier = [start]
            for depth in range(1, radius + 1):
                if not frontier or target in hops:
                    break
                found: set[str] = set()
                for chunk in _chunks(frontier):
                    found.update(conn.execute(
                        sa.select(topo_edges.c.target_id).where(topo_edges.c.source_id.in_(chunk))
                        .union(sa.select(topo_edges.c.source_id)
                               .where(topo_edges.c.target_id.in_(chunk)))).scalars())
                frontier = sorted(found - hops.keys())
                hops.update((n, depth) for n in frontier)
        return hops

    def close(self) -> None:
        """Nothing to release: the engine owns (and disposes of) the database engine."""
