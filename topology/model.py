"""Canonical topology nodes and edges (CONTRACTS.md §2) and their validation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiops.errors import InputError

EDGE_KINDS: tuple[str, ...] = ("connected_to", "depends_on", "runs_on", "part_of")
# Edge kinds whose direction carries meaning: source needs / sits on / belongs to target.
DIRECTED_EDGE_KINDS: frozenset[str] = frozenset({"depends_on", "runs_on", "part_of"})
MAX_SHOWN_IDS = 20
# Widest text every backend stores: the embedded tables' columns (topology/tables.py),
# which PostgreSQL enforces and SQLite does not; Neo4j would take more, but the
# backends must refuse the same batches.
MAX_ID_LENGTH = 512  # a node id or name, an edge end (migration 0012: a Kubernetes pod/NS/NAME)
MAX_KIND_LENGTH = 64  # a node or edge kind, a source name


@dataclass(slots=True)
class Node:
    """A thing alerts can be about: device, interface, host, service, pod, site..."""

    id: str
    kind: str
    name: str
    attrs: dict[str, Any] = field(default_factory=dict)

    def aliases(self) -> list[str]:
        """Other names an alert may use for this node (attrs ``aliases``, IPs, FQDN)."""
        out: list[str] = []
        raw = self.attrs.get("aliases")
        if isinstance(raw, list):
            out.extend(str(a) for a in raw)
        for key in ("fqdn", "hostname", "mgmt_ip", "ip", "serial"):
            value = self.attrs.get(key)
            if isinstance(value, str) and value:
                out.append(value)
        ips = self.attrs.get("ips")
        if isinstance(ips, list):
            out.extend(str(ip) for ip in ips)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "name": self.name, "attrs": dict(self.attrs)}


@dataclass(slots=True)
class Edge:
    """A relation between two nodes; see EDGE_KINDS for the meaning of ``kind``."""

    source: str
    target: str
    kind: str = "connected_to"
    attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.target, self.kind)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "target": self.target, "kind": self.kind,
                "attrs": dict(self.attrs)}


def canonical_edges(edges: list[Edge]) -> list[Edge]:
    """``edges`` as every store keeps them: a ``connected_to`` edge with its ends in
    sorted order, as discovery builds it, so that ``a -> b`` imported and ``b -> a``
    discovered (or both ends' statements in one document) are one stored edge, not two
    (they were two, shown twice and counted twice). The two statements of one link in
    one call become one edge, the later one's attrs over the earlier's; a statement made
    twice in the same direction is kept twice, so the duplicate check still refuses it.
    """
    out: list[Edge] = []
    # canonical key -> (position in out, whether it was given reversed; None once both
    # directions were folded into it)
    index: dict[tuple[str, str, str], tuple[int, bool | None]] = {}
    for edge in edges:
        flipped = edge.kind == "connected_to" and edge.target < edge.source
        if flipped:
            edge = Edge(edge.target, edge.source, edge.kind, edge.attrs)
        prior = index.get(edge.key)
        if prior is not None and prior[1] is not None and prior[1] != flipped:
            position = prior[0]
            out[position] = Edge(edge.source, edge.target, edge.kind,
                                 {**out[position].attrs, **edge.attrs})
            index[edge.key] = (position, None)
            continue
        index[edge.key] = (len(out), flipped)
        out.append(edge)
    return out


def _name_ids(ids: list[str]) -> str:
    shown = ", ".join(repr(i) for i in ids[:MAX_SHOWN_IDS])
    more = len(ids) - MAX_SHOWN_IDS
    return shown + (f" and {more} more" if more > 0 else "")


def text_problem(value: object, limit: int) -> str | None:
    """Why ``value`` cannot be stored as an id, name, kind or source; None when it can.

    One rule for every backend, checked before anything is written (at most ``limit``
    characters and twice as many bytes in UTF-8): text wider than
    the embedded tables' column failed on PostgreSQL only (as a server failure naming
    no node), and NUL, which PostgreSQL and FalkorDB cannot store, failed on those
    two only, FalkorDB half-way through staging an import.
    """
    if not isinstance(value, str) or not value.strip():
        return "must be a non-empty string"
    if len(value) > limit:
        return f"is longer than {limit} characters"
    if len(value.encode("utf-8", "surrogatepass")) > 2 * limit:
        # PostgreSQL's B-tree entries hold at most 2,704 bytes: an edge's key (two
        # ends and a kind) of 512 four-byte characters each failed as a server error.
        return f"is longer than {2 * limit} bytes in UTF-8"
    if "\x00" in value:
        return "contains a NUL character"
    return None


def _text(obj: dict[str, Any], key: str, where: str, default: str | None = None,
          limit: int = MAX_ID_LENGTH) -> str:
    value = obj.get(key, default)
    problem = text_problem(value, limit)
    if problem is not None:
        raise InputError(f"{where}: field '{key}' {problem}", field=key)
    assert isinstance(value, str)
    return value


def _attrs(obj: dict[str, Any], where: str) -> dict[str, Any]:
    attrs = obj.get("attrs") or {}
    if not isinstance(attrs, dict):
        raise InputError(f"{where}: field 'attrs' must be an object", field="attrs")
    return attrs


def parse_topology(doc: Any) -> tuple[list[Node], list[Edge]]:
    """Validate a canonical topology document as a whole.

    Refuses the whole document (naming the offending ids) on duplicate node ids or
    edges whose ends are not nodes of the document, so a bad file never leaves a
    half-imported graph.
    """
    if not isinstance(doc, dict):
        raise InputError("a topology document must be a JSON object with 'nodes' and 'edges'")
    raw_nodes = doc.get("nodes")
    raw_edges = doc.get("edges", [])
    if not isinstance(raw_nodes, list):
        raise InputError("field 'nodes' must be an array", field="nodes")
    if not isinstance(raw_edges, list):
        raise InputError("field 'edges' must be an array", field="edges")

    nodes: list[Node] = []
    seen: set[str] = set()
    duplicates: list[str] = []
    for i, raw in enumerate(raw_nodes):
        where = f"nodes[{i}]"
        if not isinstance(raw, dict):
            raise InputError(f"{where}: a node must be an object")
        node_id = _text(raw, "id", where)
        if node_id in seen:
            duplicates.append(node_id)
        seen.add(node_id)
        nodes.append(Node(node_id, _text(raw, "kind", where, "device", MAX_KIND_LENGTH),
                          _text(raw, "name", where, node_id), _attrs(raw, where)))
    if duplicates:
        raise InputError(f"duplicate node ids: {_name_ids(duplicates)}", field="nodes")

    edges: list[Edge] = []
    dangling: list[str] = []
    edge_keys: set[tuple[str, str, str]] = set()
    duplicate_edges: list[str] = []
    for i, raw in enumerate(raw_edges):
        where = f"edges[{i}]"
        if not isinstance(raw, dict):
            raise InputError(f"{where}: an edge must be an object")
        edge = Edge(_text(raw, "source", where), _text(raw, "target", where),
                    _text(raw, "kind", where, "connected_to", MAX_KIND_LENGTH),
                    _attrs(raw, where))
        if edge.source == edge.target:  # see topology.store.check_fields
            raise InputError(f"{where}: edge {edge.source}-{edge.kind}->{edge.target} joins "
                             "a node to itself", field="target")
        for end in (edge.source, edge.target):
            if end not in seen:
                dangling.append(f"{where}->{end}")
        if edge.key in edge_keys:
            duplicate_edges.append(f"{edge.source}-{edge.kind}->{edge.target}")
        edge_keys.add(edge.key)
        edges.append(edge)
    if dangling:
        raise InputError(f"edges refer to unknown nodes: {_name_ids(dangling)}", field="edges")
    if duplicate_edges:
        raise InputError(f"duplicate edges: {_name_ids(duplicate_edges)}", field="edges")
    return nodes, edges
