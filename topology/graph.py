"""The in-memory topology the engine reasons over: a networkx graph plus look-ups.

Correlation asks "how many hops between these two nodes" for every alert, so hop
neighbourhoods are computed by a bounded BFS and cached per (node, radius); the
cache is dropped whenever the topology is reloaded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import lru_cache

import networkx as nx

from topology.model import DIRECTED_EDGE_KINDS, Edge, Node
from topology.resolve import EntityResolver

# The edges whose targets make their sources siblings in ``reach``: what a VM runs
# on, what a service depends on. Not ``part_of``: a site every device is part of
# would put the whole site one hop apart.
SHARED_NEED_KINDS: frozenset[str] = frozenset({"depends_on", "runs_on"})


class TopologyGraph:
    """Read-only view of a topology for correlation and root-cause ranking."""

    def __init__(self, nodes: Iterable[Node] = (), edges: Iterable[Edge] = (),
                 resolver: EntityResolver | None = None):
        self.nodes: dict[str, Node] = {n.id: n for n in nodes}
        self.graph = nx.Graph()
        self.dependencies = nx.DiGraph()
        self.graph.add_nodes_from(self.nodes)
        self.edges: list[Edge] = list(edges)  # as stored, for export; the graphs index them
        for edge in self.edges:
            self.graph.add_edge(edge.source, edge.target, kind=edge.kind, attrs=edge.attrs)
            if edge.kind in DIRECTED_EDGE_KINDS:
                self.dependencies.add_edge(edge.source, edge.target, kind=edge.kind)
        self.resolver = resolver if resolver is not None else EntityResolver(self.nodes.values())
        self._neighbourhood = lru_cache(maxsize=65536)(self._compute_neighbourhood)
        self._neighbours: dict[str, frozenset[str]] = {}  # at most one per node
        self._relations: dict[tuple[str, str], list[Edge]] | None = None  # see relations()
        self._needs: dict[str, frozenset[str]] = {}  # at most one per node, see needs()
        self._siblings: dict[str, frozenset[str]] = {}  # at most one per node, see reach()
        self._direct_needs: dict[str, frozenset[str]] = {}  # at most one per node
        self._facing: dict[str, tuple[tuple[str, str], ...]] | None = None  # see ports_facing()
        self._has_shared_needs = any(e.kind in SHARED_NEED_KINDS for e in self.edges)
        # (part, whole) of every part_of edge: no way through a whole in reach()
        self._part_of = {(e.source, e.target) for e in self.edges if e.kind == "part_of"}
        self._reach = lru_cache(maxsize=65536)(self._compute_reach)
        self._device_view: TopologyGraph | None = None  # see device_view()
        # port -> the port at the other end of its link, where both are merged into
        # their devices (filled in a device view only, see device_view())
        self.port_links: dict[str, str] = {}
        # (device, IF-MIB ifIndex as text) -> its port and the port's name, for ports
        # discovery stored with one (``attrs.ifindex``): SNMP traps name a port by it
        # (filled in a device view only)
        self.port_ifindex: dict[tuple[str, str], tuple[str, str]] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.nodes

    def resolve(self, entity: str) -> str | None:
        return self.resolver.resolve(entity)

    def neighbours(self, node_id: str) -> frozenset[str]:
        """The nodes one hop from ``node_id`` (none for an unknown node). Kept per node
        once asked (the view is read-only): ranking and the hindsight split ask for the
        same devices' neighbours for every incident, and copying networkx's adjacency
        view each time was a visible share of a replay."""
        found = self._neighbours.get(node_id)
        if found is None:
            if node_id not in self.graph:
                return frozenset()  # not kept: unresolved entities are unbounded
            found = self._neighbours[node_id] = frozenset(self.graph.adj[node_id])
        return found

    def device_view(self) -> TopologyGraph:
        """This topology as the analysis sees it: every node whose alerts are placed on
        another (an interface, on its device: ``EntityResolver.anchor``) merged into that
        node, its edges moved there; itself when no node is. Built once, then kept.

        Why: LLDP and NetBox discovery store each linked port as an interface node,
        ``part_of`` its device and ``connected_to`` the port at the other end. No alert
        is ever placed on one, so to the ranker each looked like a device that raised
        nothing: a port was named a probable root ("raised no alarm itself ... a dead
        device reports nothing"), it took the top-3 slots kept for dead devices, and the
        ports a dead router cuts off, quiet by construction, halved the weight of the
        devices behind it that did alarm. And a topology that links only ports put
        linked devices three hops apart. The view keeps the resolver (alerts still
        resolve by port names) and the stored nodes and edges stay as they were for
        the API, export and the incident view's picture.
        """
        if self._device_view is not None:
            return self._device_view
        anchors = {node_id: anchor for node_id in self.nodes
                   if (anchor := self.resolver.anchor(node_id)) != node_id}
        if not anchors:
            self._device_view = self
            return self
        nodes = [node for node_id, node in self.nodes.items() if node_id not in anchors]
        edges: dict[tuple[str, str, str], Edge] = {}
        links: dict[str, str] = {}
        # the stored edges between devices first: where a link is stored twice (its
        # ports and its devices, as discovery does), the device edge, which names the
        # ports, is the one kept
        for edge in sorted(self.edges, key=lambda e: e.source in anchors or e.target in anchors):
            source = anchors.get(edge.source, edge.source)
            target = anchors.get(edge.target, edge.target)
            if source == target:
                continue
            edges.setdefault((source, target, edge.kind),
                             Edge(source, target, edge.kind, dict(edge.attrs)))
            if edge.kind == "connected_to" and edge.source in anchors \
                    and edge.target in anchors:
                links[edge.source], links[edge.target] = edge.target, edge.source
        view = TopologyGraph(nodes, edges.values(), resolver=self.resolver)
        view.port_links = links
        for node_id, anchor in anchors.items():
            attrs = self.nodes[node_id].attrs
            if attrs.get("ifindex") is not None:
                view.port_ifindex[(anchor, str(attrs["ifindex"]))] = (
                    node_id, str(attrs.get("ifname") or self.nodes[node_id].name))
        view._device_view = view
        self._device_view = view
        return view

    def needs(self, node_id: str) -> frozenset[str]:
        """What ``node_id`` needs to work: the targets of its directed edges
        (``depends_on``, ``runs_on``, ``part_of``), and those one node further.

        One node further in two ways: through what it needs (a Service needs its pods,
        each pod the node it runs on, so the Service needs those nodes), and through its
        parts (a pod is ``part_of`` its deployment, so the deployment needs the node
        its pod runs on). Why two steps: in a cluster the objects alerts are about
        (node, deployment, Service) are two hops apart through pods, which raise few
        alerts of their own, so "the alarming nodes that need it" read one hop only
        never named a dead node's deployments. Kept per node once asked (the view is
        read-only).
        """
        return self._kept(self._needs, node_id, self._compute_needs)

    def _compute_needs(self, node_id: str) -> set[str]:
        deps = self.dependencies
        out: set[str] = set()
        if node_id in deps:
            direct = set(deps.successors(node_id))
            out.update(direct)
            for middle in direct:
                out.update(deps.successors(middle))
            for part in deps.predecessors(node_id):
                if deps.edges[part, node_id].get("kind") == "part_of":
                    out.update(deps.successors(part))
        return out

    def _kept(self, cache: dict[str, frozenset[str]], node_id: str,
              compute: Callable[[str], set[str]]) -> frozenset[str]:
        """``compute(node_id)`` without the node itself, kept in ``cache`` for a node of
        the topology (an unresolved entity is not kept: there is no bound on them)."""
        found = cache.get(node_id)
        if found is None:
            found = frozenset(compute(node_id) - {node_id})
            if node_id in self.graph:
                cache[node_id] = found
        return found

    def _compute_neighbourhood(self, node_id: str, radius: int) -> dict[str, int]:
        if node_id not in self.graph:
            return {}
        return nx.single_source_shortest_path_length(self.graph, node_id, cutoff=radius)

    def neighbourhood(self, node_id: str, radius: int) -> dict[str, int]:
        """Nodes within ``radius`` hops of ``node_id`` with their hop counts (cached)."""
        return self._neighbourhood(node_id, radius)

    def siblings(self, node_id: str) -> frozenset[str]:
        """The other nodes that run on or depend on what ``node_id`` runs on or depends
        on directly (the VMs of its hypervisor, the services on its database). Kept per
        node once asked."""
        return self._kept(self._siblings, node_id, self._compute_siblings)

    def _compute_siblings(self, node_id: str) -> set[str]:
        deps = self.dependencies
        out: set[str] = set()
        if node_id in deps:
            for target in deps.successors(node_id):
                if deps.edges[node_id, target].get("kind") not in SHARED_NEED_KINDS:
                    continue
                out.update(source for source in deps.predecessors(target)
                           if deps.edges[source, target].get("kind") in SHARED_NEED_KINDS)
        return out

    @property
    def has_shared_needs(self) -> bool:
        """Whether any ``runs_on`` or ``depends_on`` edge is stored (none in a network
        of links only, where the correlator skips what only such edges can give)."""
        return self._has_shared_needs

    def direct_needs(self, node_id: str) -> frozenset[str]:
        """What ``node_id`` runs on or depends on directly (its hypervisor, its
        datastore, the pods a Service selects): what a failure it reports may follow
        from. Not ``part_of``: a site is no cause of what happens on its devices.
        Kept per node once asked."""
        return self._kept(self._direct_needs, node_id, self._compute_direct_needs)

    def _compute_direct_needs(self, node_id: str) -> set[str]:
        deps = self.dependencies
        if node_id not in deps:
            return set()
        return {target for target in deps.successors(node_id)
                if deps.edges[node_id, target].get("kind") in SHARED_NEED_KINDS}

    def ports_facing(self, node_id: str) -> tuple[tuple[str, str], ...]:
        """(device, port) of every port whose link leads to one of ``node_id``'s ports:
        the switch port a server is cabled to. Only a device view of a topology with
        linked ports has any (``port_links``)."""
        if self._facing is None:
            facing: dict[str, list[tuple[str, str]]] = {}
            anchor = self.resolver.anchor
            for port, peer in self.port_links.items():
                facing.setdefault(anchor(peer), []).append((anchor(port), port))
            self._facing = {node: tuple(sorted(ends)) for node, ends in facing.items()}
        return self._facing.get(node_id, ())

    def need_kind(self, node_id: str, target: str) -> str | None:
        """The kind of ``node_id``'s directed edge to ``target`` (``runs_on``,
        ``depends_on``, ``part_of``), or None."""
        deps = self.dependencies
        if not deps.has_edge(node_id, target):
            return None
        kind: str | None = deps.edges[node_id, target].get("kind")
        return kind

    def shared_need(self, a: str, b: str) -> tuple[str, str] | None:
        """What ``a`` and ``b`` both run on or depend on directly, with the edge kind
        (``runs_on`` first), or None: why ``reach`` puts two siblings one hop apart."""
        deps = self.dependencies
        if a not in deps or b not in deps:
            return None
        found = []
        for target in deps.successors(a):
            kind = deps.edges[a, target].get("kind")
            if kind in SHARED_NEED_KINDS and deps.has_edge(b, target) \
                    and deps.edges[b, target].get("kind") in SHARED_NEED_KINDS:
                found.append((kind != "runs_on", target, kind))
        return min(found)[1:] if found else None

    def _compute_reach(self, node_id: str, radius: int) -> dict[str, int]:
        if node_id not in self.graph:
            return {}
        if not self._has_shared_needs and not self._part_of:
            return self._neighbourhood(node_id, radius)
        part_of = self._part_of
        found = {node_id: 0}
        # (node, whether it was reached from one of its parts: no way on to another)
        frontier = [(node_id, False)]
        for hops in range(1, radius + 1):
            following: list[tuple[str, bool]] = []
            for node, from_part in frontier:
                for other in (*self.neighbours(node), *self.siblings(node)):
                    if other in found or (from_part and (other, node) in part_of):
                        continue
                    found[other] = hops
                    following.append((other, (node, other) in part_of))
            frontier = following
        return found

    def reach(self, node_id: str, radius: int) -> dict[str, int]:
        """``neighbourhood`` with siblings one hop apart (``siblings``): how close two
        alerts are for grouping them (cached).

        Why: the VMs of one hypervisor are two hops apart through it, as far as any two
        devices behind a common switch; but when a hypervisor dies, all its VMs go down
        and nothing else does, so for grouping they are as close as two devices on one
        link. And no way leads from one part of a whole to another through it (two
        devices ``part_of`` one site are not two hops apart): a site every device is
        part of put the whole site two hops apart, and unrelated alarms a minute apart
        joined young incidents through it. Ranking keeps ``neighbourhood``: a sibling
        is no neighbour whose failure explains an alarm. The same dict as
        ``neighbourhood`` where the topology has no ``runs_on``/``depends_on``/``part_of``
        edge (every simulated scenario; a device view's ports are merged already).
        """
        return self._reach(node_id, radius)

    def distance(self, a: str, b: str, cutoff: int) -> int | None:
        """Hops between ``a`` and ``b`` if at most ``cutoff``, else None."""
        if a == b:
            return 0 if a in self.graph else None
        return self._neighbourhood(a, cutoff).get(b)

    def relations(self, a: str, b: str) -> list[Edge]:
        """Every stored edge between ``a`` and ``b``, in either direction.

        The undirected graph keeps one edge per pair of nodes, with the kind and attrs
        of the last stored one, so a service that ``depends_on`` a host it is also
        ``connected_to`` showed one of the two. The index is built on first use (the
        API and ``topology show`` ask; the engine does not) and then kept: the view is
        read-only, and a race only builds the same index twice.
        """
        index = self._relations
        if index is None:
            index = {}
            for edge in self.edges:
                pair = (edge.source, edge.target) if edge.source <= edge.target \
                    else (edge.target, edge.source)
                index.setdefault(pair, []).append(edge)
            self._relations = index
        return index.get((a, b) if a <= b else (b, a), [])

    def subgraph(self, node_ids: Iterable[str], radius: int = 1) -> tuple[list[Node], list[Edge]]:
        """Nodes within ``radius`` of any of ``node_ids``, and the edges among them."""
        keep: set[str] = set()
        for node_id in node_ids:
            keep.update(self.neighbourhood(node_id, radius))
        nodes = [self.nodes[n] for n in sorted(keep) if n in self.nodes]
        edges = [Edge(e.source, e.target, e.kind, dict(e.attrs))
                 for u, v in self.graph.subgraph(keep).edges() for e in self.relations(u, v)]
        return nodes, edges
