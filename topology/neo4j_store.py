"""The topology in Neo4j (or any server :mod:`topology.cypher` speaks to), over Bolt.

Graph layout, shared with the incident sink (:mod:`aiops.sinks.graph`):
``(:Node {id, kind, name, attrs, source, first_seen, last_seen})`` and
``(:Node)-[:LINK {kind, attrs, source, first_seen, last_seen}]->(:Node)``. One
relationship type with a ``kind`` property, not one type per kind: the edge key is
(source, target, kind) as in the embedded store, and no query text has to be built
from data. ``attrs`` is JSON text because Neo4j properties cannot hold maps.

Why an upsert is staged: a 100,000-node import does not fit one request (FalkorDB
takes about 4 KB), and FalkorDB does not roll back a multi-statement transaction.
So the rows are first written, batch by batch, as ``:ImportNode``/``:ImportEdge``
staging nodes under a fresh import id (invisible to every query of the topology),
then one single statement merges them into ``:Node``/``:LINK`` and deletes them.
One statement is atomic on every server: if anything fails before or during it,
the topology is as it was; staging rows of a failed import are removed at once
when the server still answers, or by a later upsert once they are an hour old.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from typing import Any

from topology.cypher import BoltGraph, Index
from topology.graph import TopologyGraph
from topology.history import Seen, TopologyHistory
from topology.model import Edge, Node, canonical_edges
from topology.store import GraphStoreError, TimeWindow, check_radius, check_upsert

STALE_STAGING = 3600.0  # seconds after which another upsert removes a failed import's rows

SCHEMA = (
    Index("Node", "id", unique=True),
    Index("Node", "kind"),
    Index("Node", "name"),
    Index("ImportNode", "import_id"),
    Index("ImportEdge", "import_id"),
    # The incident sink's labels (aiops.sinks.graph): looked up by id on every publish.
    Index("Incident", "id", unique=True),
    Index("Incident", "started_at"),
    Index("Alert", "id", unique=True),
)

STAGE_NODES = """
UNWIND $rows AS r
CREATE (:ImportNode {import_id: $import_id, id: r[0], kind: r[1], name: r[2], attrs: r[3]})"""

STAGE_EDGES = """
UNWIND $rows AS r
CREATE (:ImportEdge {import_id: $import_id,
                     source_id: r[0], target_id: r[1], kind: r[2], attrs: r[3]})"""

# The one atomic step. first_seen/last_seen only ever widen, so re-importing an old
# snapshot does not shorten an item's history.
PUBLISH = """
MATCH (s:ImportNode {import_id: $import_id})
MERGE (n:Node {id: s.id})
ON CREATE SET n.first_seen = $seen_at, n.last_seen = $seen_at
SET n.kind = s.kind, n.name = s.name, n.attrs = s.attrs, n.source = $source,
    n.first_seen = CASE WHEN n.first_seen > $seen_at THEN $seen_at ELSE n.first_seen END,
    n.last_seen = CASE WHEN n.last_seen < $seen_at THEN $seen_at ELSE n.last_seen END
DELETE s
WITH count(*) AS nodes
MATCH (s:ImportEdge {import_id: $import_id})
MATCH (a:Node {id: s.source_id})
MATCH (b:Node {id: s.target_id})
MERGE (a)-[e:LINK {kind: s.kind}]->(b)
ON CREATE SET e.first_seen = $seen_at, e.last_seen = $seen_at
SET e.attrs = s.attrs, e.source = $source,
    e.first_seen = CASE WHEN e.first_seen > $seen_at THEN $seen_at ELSE e.first_seen END,
    e.last_seen = CASE WHEN e.last_seen < $seen_at THEN $seen_at ELSE e.last_seen END
DELETE s
RETURN nodes, count(*) AS edges"""

# Import ids start with the staging time, fixed width, so "older than" is a string
# comparison on the indexed import_id. (A separate staged_at property was tried:
# FalkorDB forgets an un-indexed property once every node that had it is deleted,
# and then refuses queries that mention it: "Attempted to access undefined attribute".)
DISCARD = {
    label: f"MATCH (s:{label}) WHERE s.import_id = $import_id OR s.import_id < $before "
           f"DELETE s"
    for label in ("ImportNode", "ImportEdge")
}

STORED_IDS = "UNWIND $rows AS wanted MATCH (n:Node {id: wanted}) RETURN n.id AS id"
NODE = "MATCH (n:Node {id: $id}) RETURN n.id AS id, n.kind AS kind, n.name AS name, " \
       "n.attrs AS attrs"
COUNT_NODES = "MATCH (n:Node) RETURN count(n) AS n"
# One node counts the upserts that wrote something (GraphStore.revision), bumped after
# the publish: a reader that sees the new number also sees the new topology.
BUMP_REVISION = """
MERGE (r:TopologyRevision {key: 'topology'})
ON CREATE SET r.revision = 0
SET r.revision = r.revision + 1
RETURN r.revision AS revision"""
# max: two first upserts at once may each MERGE a node (no constraint on this label)
REVISION = "MATCH (r:TopologyRevision) RETURN max(r.revision) AS revision"
COUNT_EDGES = "MATCH (:Node)-[e:LINK]->(:Node) RETURN count(e) AS n"
# Variable-length patterns instead of shortestPath(): FalkorDB has no undirected
# shortestPath, and at the radii the correlator uses (2, at most 3 in the API) the
# number of paths walked stays small. Hop bounds cannot be parameters in Cypher;
# they are integers checked by check_radius.
HISTORY_NODES = "MATCH (n:Node) RETURN n.id AS id, n.kind AS kind, n.name AS name, " \
                "n.attrs AS attrs, n.source AS source, n.first_seen AS first_seen, " \
                "n.last_seen AS last_seen"
HISTORY_EDGES = "MATCH (a:Node)-[e:LINK]->(b:Node) RETURN a.id AS s, b.id AS t, " \
                "e.kind AS kind, e.attrs AS attrs, e.source AS source, " \
                "e.first_seen AS first_seen, e.last_seen AS last_seen"
NEIGHBOURHOOD = "MATCH p = (:Node {id: $id})-[:LINK*0..%d]-(b:Node) " \
                "RETURN b.id AS id, min(length(p)) AS hops"
DISTANCE = "MATCH (x:Node {id: $a}), (y:Node {id: $b}) MATCH p = (x)-[:LINK*1..%d]-(y) " \
           "RETURN min(length(p)) AS hops"


def _window_clause(var: str, window: TimeWindow, now: float) -> tuple[str, dict[str, float]]:
    conditions, params = [], {}
    if window.first_seen_max is not None:
        conditions.append(f"{var}.first_seen <= $upper")
        params["upper"] = window.first_seen_max
    lower = window.last_seen_min(now)
    if lower is not None:
        conditions.append(f"{var}.last_seen >= $lower")
        params["lower"] = lower
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), params


def _import_id(at: float, unique: str | None = None) -> str:
    """``<seconds, fixed width>-<random>``: unique, and ordered by staging time."""
    stamp = f"{max(at, 0.0):017.6f}"
    return stamp + "-" + (uuid.uuid4().hex if unique is None else unique)


def _attrs(text: Any) -> dict[str, Any]:
    return json.loads(text) if isinstance(text, str) and text else {}


def _seen(row: Any) -> Seen:
    """Sightings of a row; a :Node or :LINK written by another tool may lack them, and is
    then taken as always there rather than stopping the engine from opening."""
    first = float(row["first_seen"]) if row["first_seen"] is not None else 0.0
    last = float(row["last_seen"]) if row["last_seen"] is not None else first
    return Seen(first, max(first, last), row["source"] or "unknown")


def _json(attrs: dict[str, Any]) -> str:
    return json.dumps(attrs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class Neo4jGraphStore:
    """GraphStore over Bolt: Neo4j in production, FalkorDB in the tests here."""

    def __init__(self, graph: BoltGraph):
        self.graph = graph
        graph.ensure_schema(SCHEMA)

    @classmethod
    def connect(cls, url: str, **options: Any) -> Neo4jGraphStore:
        """Open a driver to ``url`` (see :class:`BoltGraph` for ``options``)."""
        graph = BoltGraph(url, **options)
        try:
            return cls(graph)
        except BaseException:
            graph.close()
            raise

    def upsert(self, nodes: list[Node], edges: list[Edge], source: str = "import",
               seen_at: float | None = None) -> tuple[int, int]:
        edges = canonical_edges(edges)
        check_upsert(nodes, edges, self._stored_ids, source)
        if not nodes and not edges:
            return 0, 0
        now = time.time()
        seen = now if seen_at is None else seen_at
        fixed = {"import_id": _import_id(now)}
        node_rows = [[n.id, n.kind, n.name, _json(n.attrs)] for n in nodes]
        edge_rows = [[e.source, e.target, e.kind, _json(e.attrs)] for e in edges]
        # Sized up front: a row the server cannot take is refused before any write.
        node_batches = self.graph.batches(node_rows, fixed, lambda r: f"node {r[0]!r}")
        edge_batches = self.graph.batches(
            edge_rows, fixed, lambda r: f"edge {r[0]!r}-{r[2]}->{r[1]!r}")
        try:
            self._discard(None, now - STALE_STAGING)
            for batch in node_batches:
                self.graph.write(STAGE_NODES, rows=batch, **fixed)
            for batch in edge_batches:
                self.graph.write(STAGE_EDGES, rows=batch, **fixed)
            self.graph.write(PUBLISH, import_id=fixed["import_id"], source=source, seen_at=seen)
            self.graph.write(BUMP_REVISION)
        except GraphStoreError:
            # When the server is gone this fails too; a later upsert removes the rows.
            with contextlib.suppress(GraphStoreError):
                self._discard(fixed["import_id"], now - STALE_STAGING)
            raise
        return len(nodes), len(edges)

    def _discard(self, import_id: str | None, before: float) -> None:
        for query in DISCARD.values():
            self.graph.write(query, import_id=import_id or "", before=_import_id(before, ""))

    def _stored_ids(self, ids: set[str]) -> set[str]:
        return {r["id"] for r in self.graph.read_rows(STORED_IDS, sorted(ids))}

    def load(self, as_of: float | None = None, max_age: float | None = None) -> TopologyGraph:
        window = TimeWindow.of(as_of, max_age)
        now = time.time()
        where, params = _window_clause("n", window, now)
        nodes = [Node(r["id"], r["kind"], r["name"], _attrs(r["attrs"])) for r in self.graph.read(
            f"MATCH (n:Node){where} "
            "RETURN n.id AS id, n.kind AS kind, n.name AS name, n.attrs AS attrs", **params)]
        ids = {n.id for n in nodes}
        where, params = _window_clause("e", window, now)
        edges = [Edge(r["s"], r["t"], r["kind"], _attrs(r["attrs"])) for r in self.graph.read(
            f"MATCH (a:Node)-[e:LINK]->(b:Node){where} "
            "RETURN a.id AS s, b.id AS t, e.kind AS kind, e.attrs AS attrs", **params)
            if r["s"] in ids and r["t"] in ids]
        return TopologyGraph(nodes, edges)

    def history(self) -> TopologyHistory:
        nodes = [(Node(r["id"], r["kind"], r["name"], _attrs(r["attrs"])), _seen(r))
                 for r in self.graph.read(HISTORY_NODES)]
        edges = [(Edge(r["s"], r["t"], r["kind"], _attrs(r["attrs"])), _seen(r))
                 for r in self.graph.read(HISTORY_EDGES)]
        return TopologyHistory(nodes, edges)

    def counts(self) -> tuple[int, int]:
        nodes = self.graph.read(COUNT_NODES)[0]["n"]
        edges = self.graph.read(COUNT_EDGES)[0]["n"]
        return int(nodes), int(edges)

    def revision(self) -> int:
        rows = self.graph.read(REVISION)
        return int(rows[0]["revision"] or 0) if rows else 0

    def node(self, node_id: str) -> Node | None:
        rows = self.graph.read(NODE, id=node_id)
        if not rows:
            return None
        r = rows[0]
        return Node(r["id"], r["kind"], r["name"], _attrs(r["attrs"]))

    def neighbourhood(self, node_id: str, radius: int) -> dict[str, int]:
        query = NEIGHBOURHOOD % check_radius(radius)
        return {r["id"]: int(r["hops"]) for r in self.graph.read(query, id=node_id)}

    def distance(self, a: str, b: str, cutoff: int) -> int | None:
        cutoff = check_radius(cutoff, "cutoff")
        if a == b:
            return 0 if self.node(a) is not None else None
        if cutoff == 0:
            return None
        rows = self.graph.read(DISTANCE % cutoff, a=a, b=b)
        hops = rows[0]["hops"] if rows else None
        return None if hops is None else int(hops)

    def close(self) -> None:
        self.graph.close()
