"""The interface every topology backend implements, and the rules they share.

Two backends implement :class:`GraphStore`: the embedded default
(:mod:`topology.embedded`: two SQL tables in the engine's own database, loaded into
networkx) and Neo4j over Bolt (:mod:`topology.neo4j_store`). They must behave the
same, so what decides behaviour lives here, once: which calls are refused and how
the refusal names the ids (:func:`check_upsert`), and which nodes and edges belong
to "the topology as it was at time T" (:class:`TimeWindow`). The conformance suite
in ``tests/topology`` runs the same tests against every backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from aiops.errors import InputError
from topology.graph import TopologyGraph
from topology.model import (
    MAX_ID_LENGTH,
    MAX_KIND_LENGTH,
    MAX_SHOWN_IDS,
    Edge,
    Node,
    text_problem,
)

if TYPE_CHECKING:
    import sqlalchemy as sa

    from topology.history import TopologyHistory

# Hop radius above which neighbourhood/distance queries are refused: the correlator
# asks for 2, the API for at most 3, and the number of paths a graph server walks
# grows with degree**radius.
MAX_RADIUS = 6


class GraphStoreError(RuntimeError):
    """The graph backend failed (unreachable, timed out, refused a write).

    Raised by every backend for failures that are not the caller's input, so callers
    catch one type; an ``upsert`` that raised it stored nothing.
    """


class GraphStore(Protocol):
    """A topology backend: atomic upserts, time-aware loads and small graph queries."""

    def upsert(self, nodes: list[Node], edges: list[Edge], source: str = "import",
               seen_at: float | None = None) -> tuple[int, int]:
        """Add or refresh nodes and edges atomically, all or nothing; return (nodes, edges).

        ``seen_at`` (default: now) widens each item's [first_seen, last_seen]. Duplicate
        ids in the call and edges whose ends are neither in ``nodes`` nor stored are
        refused with :class:`InputError` naming them, before anything is written.
        """
        ...

    def load(self, as_of: float | None = None, max_age: float | None = None) -> TopologyGraph:
        """The topology as it was at ``as_of`` (default: now) as an in-memory graph.

        See :class:`TimeWindow` for which nodes and edges that includes.
        """
        ...

    def history(self) -> TopologyHistory:
        """Every stored node and edge with its first and last sighting and the source that
        reported it last: what the engine turns into the topology of any time
        (:mod:`topology.history`)."""
        ...

    def counts(self) -> tuple[int, int]:
        """(number of nodes, number of edges) stored, whatever their age."""
        ...

    def revision(self) -> int:
        """A number that changes with every upsert that wrote something, whichever
        process made it: one small read, so a long-running engine can poll it and
        reload its in-memory topology only when the stored one changed."""
        ...

    def node(self, node_id: str) -> Node | None:
        """The stored node with this id, or None."""
        ...

    def neighbourhood(self, node_id: str, radius: int) -> dict[str, int]:
        """Stored nodes within ``radius`` hops (edges taken undirected) with their hops;
        empty when the node is unknown. Same answer as ``load().neighbourhood``."""
        ...

    def distance(self, a: str, b: str, cutoff: int) -> int | None:
        """Hops between two stored nodes when at most ``cutoff``, else None."""
        ...

    def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """Which stored items make up "the topology as it was at ``as_of``".

    An item belongs when it had been seen by then (``first_seen <= as_of``) and, when
    ``max_age`` is given, was still being reported close to then
    (``last_seen >= as_of - max_age``): an edge that no source has reported for
    ``max_age`` seconds has aged out. With neither bound everything stored belongs.
    Only first and last sightings are kept, so an item that disappeared and came
    back counts as present in between, and attributes are the latest ones.
    """

    as_of: float | None = None
    max_age: float | None = None

    @classmethod
    def of(cls, as_of: float | None, max_age: float | None) -> TimeWindow:
        if max_age is not None and max_age < 0:
            raise InputError("max_age must not be negative", field="max_age")
        return cls(as_of, max_age)

    @property
    def first_seen_max(self) -> float | None:
        """Upper bound on ``first_seen`` (None: no bound)."""
        return self.as_of

    def last_seen_min(self, now: float | None = None) -> float | None:
        """Lower bound on ``last_seen`` (None: no bound); ``now`` stands in for as_of."""
        if self.max_age is None:
            return None
        reference = self.as_of if self.as_of is not None else (
            time.time() if now is None else now)
        return reference - self.max_age

    def contains(self, first_seen: float, last_seen: float, now: float | None = None) -> bool:
        upper, lower = self.first_seen_max, self.last_seen_min(now)
        return (upper is None or first_seen <= upper) and (lower is None or last_seen >= lower)


def name_ids(ids: Iterable[str]) -> str:
    """``'a', 'b' and 3 more``: how every refusal names what it refused."""
    ids = list(ids)
    shown = ", ".join(repr(i) for i in ids[:MAX_SHOWN_IDS])
    more = len(ids) - MAX_SHOWN_IDS
    return shown + (f" and {more} more" if more > 0 else "")


def _shown(text: object) -> str:
    """An id for a message: its repr, cut when it is the very thing that is too long."""
    shown = repr(text)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def check_fields(nodes: list[Node], edges: list[Edge], source: str | None = None) -> None:
    """Refuse text no backend may store (:func:`topology.model.text_problem`) and edges
    from a node to itself, naming the item and the field.

    A self-loop makes a node its own neighbour, so the ranker would count a device's
    own alarm as an alarming neighbour's; discovery never makes one (GraphBuilder and
    the identity merge drop them), and an import or a plug-in source must not either.
    """
    if source is not None and (problem := text_problem(source, MAX_KIND_LENGTH)):
        raise InputError(f"source name {_shown(source)} {problem}", field="source")
    node_limits = (("id", MAX_ID_LENGTH), ("kind", MAX_KIND_LENGTH), ("name", MAX_ID_LENGTH))
    for i, node in enumerate(nodes):
        for name, limit in node_limits:
            if problem := text_problem(getattr(node, name), limit):
                raise InputError(f"nodes[{i}] {_shown(node.id)}: field '{name}' {problem}",
                                 field=name)
    edge_limits = (("source", MAX_ID_LENGTH), ("target", MAX_ID_LENGTH),
                   ("kind", MAX_KIND_LENGTH))
    for i, edge in enumerate(edges):
        for name, limit in edge_limits:
            if problem := text_problem(getattr(edge, name), limit):
                raise InputError(f"edges[{i}]: field '{name}' {problem}", field=name)
        if edge.source == edge.target:
            raise InputError(f"edges[{i}]: edge {_shown(edge.source)}-{edge.kind}->"
                             f"{_shown(edge.target)} joins a node to itself", field="target")


def check_upsert(nodes: list[Node], edges: list[Edge],
                 stored_ids: Callable[[set[str]], set[str]], source: str | None = None) -> None:
    """Refuse a batch the way every backend must: text no backend stores and self-loops
    (:func:`check_fields`), duplicates, then dangling edges.

    ``stored_ids(candidates)`` returns which of ``candidates`` the backend already
    holds; it is only asked about edge ends that are not in ``nodes``, so a full
    import costs no look-up and a discovery run that links known devices costs one.
    """
    check_fields(nodes, edges, source)
    seen: set[str] = set()
    duplicates = []
    for node in nodes:
        if node.id in seen:
            duplicates.append(node.id)
        seen.add(node.id)
    if duplicates:
        raise InputError(f"duplicate node ids: {name_ids(duplicates)}", field="nodes")
    keys: set[tuple[str, str, str]] = set()
    duplicate_edges = []
    for edge in edges:
        if edge.key in keys:
            duplicate_edges.append(f"{edge.source}-{edge.kind}->{edge.target}")
        keys.add(edge.key)
    if duplicate_edges:
        raise InputError(f"duplicate edges: {name_ids(duplicate_edges)}", field="edges")
    outside = {end for edge in edges for end in (edge.source, edge.target)} - seen
    if not outside:
        return
    missing = outside - stored_ids(outside)
    if missing:
        dangling = [f"edges[{i}]->{end}" for i, edge in enumerate(edges)
                    for end in (edge.source, edge.target) if end in missing]
        raise InputError(f"edges refer to unknown nodes: {name_ids(dangling)}", field="edges")


def check_radius(radius: int, what: str = "radius") -> int:
    """Refuse radii that are not small non-negative integers (they go into query text)."""
    if isinstance(radius, bool) or not isinstance(radius, int) or not 0 <= radius <= MAX_RADIUS:
        raise InputError(f"{what} must be an integer from 0 to {MAX_RADIUS}", field=what)
    return radius


def open_graph_store(url: str | None, db: sa.Engine) -> GraphStore:
    """The store a data dir uses: embedded in ``db`` unless ``url`` names a Bolt server.

    ``url`` comes from ``--graph-url`` / ``AIOPS_GRAPH_URL`` (``bolt://host:7687``,
    ``neo4j://``, ``bolt+s://``, credentials as ``bolt://user:password@host``). The
    Neo4j driver is imported only then, so the embedded default never needs it.
    """
    if not url:
        from topology.embedded import EmbeddedGraphStore

        return EmbeddedGraphStore(db)
    from topology.neo4j_store import Neo4jGraphStore

    return Neo4jGraphStore.connect(url)
