"""What every discovery source returns, and how it fails.

Two kinds of failure, because an operator fixes them differently:

- :class:`aiops.errors.InputError`: the source answered with something we cannot
  use (invalid JSON, a missing field, an unreadable file). The CLI exits with 2.
- :class:`SourceUnreachable`: the source did not answer in full (timeout, refused
  or dropped connection, an HTTP 5xx on some page). The CLI exits with 1.

Either way the source raised before anything was written.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from topology.graph import TopologyGraph
from topology.model import MAX_ID_LENGTH, Edge, Node, text_problem

# Kinds whose names only mean something inside a parent (a device, a namespace): they
# are never merged with another source's node by name or address, only by id.
SCOPED_KINDS: frozenset[str] = frozenset(
    {"interface", "pod", "service", "deployment", "container", "namespace"})
# Node attribute a source sets when it names several different things alike (NetBox:
# a device name is unique per site, not overall). Such a node's id is qualified
# (``SITE/NAME``) and its name is no identity key: it merges with no other node by
# that name, and the identity merge reports the shared name as a conflict.
SHARED_NAME = "shared_name"


class SourceUnreachable(RuntimeError):
    """The source could not be read completely; the message names it and why."""


@dataclass(slots=True)
class Discovered:
    """Everything one run of a source found, before identity merge.

    ``warnings`` lists what was skipped on purpose (a cable to a patch panel, a pod
    not yet scheduled), so the report says why a thing is missing.
    """

    source: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class TopologySource(Protocol):
    """A discovery connector: reads its source completely, returns canonical objects."""

    name: str

    def collect(self, current: TopologyGraph) -> Discovered:
        """Read the source; ``current`` is the stored topology (the learned source needs
        it, the others ignore it). Raises InputError or SourceUnreachable."""
        ...


class GraphBuilder:
    """Collects nodes and edges without duplicates while a connector walks its data.

    Sources often mention one thing several times (both ends of a link, one device
    per interface row); the builder keeps the first node and merges later attributes
    into it, and keeps one edge per (source, target, kind), ``connected_to`` with
    its ends in sorted order because it has no direction.
    """

    def __init__(self, source: str):
        self.source = source
        self.nodes: dict[str, Node] = {}
        self.edges: dict[tuple[str, str, str], Edge] = {}
        self.warnings: list[str] = []

    def node(self, node_id: str, kind: str, name: str | None = None,
             **attrs: object) -> Node:
        clean = {k: v for k, v in attrs.items() if v not in (None, "", [], {})}
        existing = self.nodes.get(node_id)
        if existing is None:
            existing = Node(node_id, kind, name or node_id, clean)
            self.nodes[node_id] = existing
        else:
            for key, value in clean.items():
                existing.attrs.setdefault(key, value)
        return existing

    def edge(self, source: str, target: str, kind: str = "connected_to",
             **attrs: object) -> None:
        if source == target:
            return
        if kind == "connected_to" and target < source:
            source, target = target, source
        key = (source, target, kind)
        clean = {k: v for k, v in attrs.items() if v not in (None, "", [], {})}
        if key in self.edges:
            merged = self.edges[key].attrs
            for k, v in clean.items():
                if isinstance(v, list) and isinstance(merged.get(k), list):
                    merged[k] = sorted(set(merged[k]) | set(v))  # parallel links
                else:
                    merged.setdefault(k, v)
        else:
            self.edges[key] = Edge(source, target, kind, clean)

    def result(self) -> Discovered:
        """What was found, less nodes no store can hold (an id or name over
        ``MAX_ID_LENGTH``, NUL: a Kubernetes ``pod/NS/NAME`` can pass 256 characters)
        and their edges, each said in a warning. The stores refuse a whole batch for one
        such node, so one odd object would otherwise lose everything else found."""
        unstorable = {}
        for node in self.nodes.values():
            problem = text_problem(node.id, MAX_ID_LENGTH) or text_problem(node.name,
                                                                        MAX_ID_LENGTH)
            if problem is not None:
                unstorable[node.id] = problem
        warnings = list(self.warnings)
        for node_id, problem in unstorable.items():
            shown = node_id if len(node_id) <= 80 else node_id[:80] + "…"
            warnings.append(f"node {shown!r} skipped: its id or name {problem}")
        edges = [e for e in self.edges.values()
                 if e.source not in unstorable and e.target not in unstorable]
        nodes = [n for n in self.nodes.values() if n.id not in unstorable]
        return Discovered(self.source, nodes, edges, warnings)


def interface_id(device_id: str, ifname: str) -> str:
    """Interface node ids are ``device:ifname``, the form alerts most often use."""
    return f"{device_id}:{ifname}"


def add_interface(builder: GraphBuilder, device_id: str, ifname: str, **attrs: object) -> str:
    """An interface node ``part_of`` its device; ``attrs.device`` lets the resolver
    anchor interface alerts on the device without walking edges."""
    device = builder.nodes.get(device_id)
    device_name = device.name if device is not None else device_id
    node_id = interface_id(device_id, ifname)
    builder.node(node_id, "interface", f"{device_name}:{ifname}", device=device_id,
                 ifname=ifname, **attrs)
    builder.edge(node_id, device_id, "part_of")
    return node_id


def add_link(builder: GraphBuilder, a_device: str, a_if: str | None, b_device: str,
             b_if: str | None, a_port_attrs: dict[str, object] | None = None,
             **attrs: object) -> None:
    """A physical link: the two interfaces are connected, and so are their devices.

    The device-to-device edge keeps neighbouring devices one hop apart, which the
    correlator's hop distances rely on; the interface edge keeps which ports.
    ``a_port_attrs``: what the discovering device knows of its own port (its ifIndex).
    """
    ports: dict[str, object] = {}
    if a_if and b_if:
        a = add_interface(builder, a_device, a_if, **(a_port_attrs or {}))
        b = add_interface(builder, b_device, b_if)
        builder.edge(a, b, "connected_to", **attrs)
        ports = {"ports": sorted([f"{a_device}:{a_if}", f"{b_device}:{b_if}"])}
    builder.edge(a_device, b_device, "connected_to", **attrs, **ports)
