"""Topologies the scenarios run on: the real Huawei one and synthetic ones for generalisation.

The real topology has 45 devices, so a method could fit its shape by accident; the
synthetic ones test whether it generalises to the two shapes networks usually have:

* ``tree``: a datacentre/ISP hierarchy (core mesh, aggregation pairs, dual-homed
  access switches, single-homed hosts), i.e. a tree with redundancy near the top;
* ``ba``: a Barabási–Albert scale-free graph (a few hubs, many low-degree nodes),
  the usual model of a flat IP network;
* ``rings``: a telecom transport network (a core mesh, aggregation rings homed on
  two core routers, access rings closed on two aggregation nodes, base stations
  hanging off the access nodes), the shape of mobile backhaul: no tuning was done on
  it, it was added to check that the rules chosen on the others carry over;
* ``clos``: a data-centre leaf-spine fabric (pods of spines, leaves in MLAG pairs,
  dual-homed servers, VMs on the servers), dense where the others are sparse: held
  out like ``rings``, added after every engine setting was chosen.

Every builder is deterministic for its seed. Node names equal node ids, so a root
cause reported by name can be compared with the ground truth's node id directly.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np

from benchmarks.correlation.data import huawei_adjacency

TOPOLOGIES = ("huawei", "tree", "ba", "rings", "clos")
DEFAULT_NODES = {"tree": 600, "ba": 500, "rings": 600, "clos": 600}
CORE_ROUTERS = 4
BA_ATTACH = 2  # edges each new node brings in the Barabási–Albert model
SUPER_SPINES = 2  # joining the pods of a leaf-spine fabric


@dataclass
class Topology:
    """An undirected device graph with a kind and attributes per node."""

    name: str
    graph: nx.Graph
    kinds: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, dict[str, str]] = field(default_factory=dict)

    def add_node(self, node: str, kind: str, role: str, links: list[str], pod: str = "",
                 *, limit: int) -> bool:
        """Add ``node`` linked to ``links``; False, adding nothing, once the graph holds
        ``limit`` nodes (a generator grows its shape until it reaches its size)."""
        if self.graph.number_of_nodes() >= limit:
            return False
        self.graph.add_node(node)
        self.graph.add_edges_from((node, other) for other in links)
        self.kinds[node] = kind
        self.attrs[node] = {"role": role, "pod": pod} if pod else {"role": role}
        return True

    def document(self) -> dict[str, Any]:
        """The canonical topology document (CONTRACTS.md §2)."""
        nodes = [{"id": n, "kind": self.kinds.get(n, "device"), "name": n,
                  "attrs": dict(self.attrs.get(n, {}))} for n in self.graph.nodes]
        edges = [{"source": u, "target": v, "kind": "connected_to", "attrs": {}}
                 for u, v in self.graph.edges]
        return {"nodes": nodes, "edges": edges}


def huawei() -> Topology:
    """The real 45-device topology of Huawei's NeurIPS 2023 sample."""
    adjacency = huawei_adjacency()
    n = adjacency.shape[0]
    graph = nx.Graph()
    graph.add_nodes_from(f"ne-{i:02d}" for i in range(n))
    rows, cols = np.nonzero(np.triu(adjacency | adjacency.T, k=1))
    graph.add_edges_from((f"ne-{i:02d}", f"ne-{j:02d}") for i, j in zip(rows, cols, strict=True))
    return Topology("huawei", graph, {v: "device" for v in graph.nodes},
                    {v: {"role": "device"} for v in graph.nodes})


def tree(nodes: int, seed: int) -> Topology:
    """Core mesh → aggregation pairs → access switches → hosts, about ``nodes`` in all.

    Each pod has two aggregation switches linked to each other and to two core
    routers; most access switches are dual-homed to both (redundancy), the rest
    single-homed; hosts hang off one access switch each (the tree part).
    """
    rng = random.Random(f"tree-{seed}")
    topo = Topology("tree", nx.Graph())

    def add(node: str, kind: str, role: str, links: list[str], pod: str = "") -> str | None:
        """The node added with its links; None once the network is full."""
        return node if topo.add_node(node, kind, role, links, pod, limit=nodes) else None

    cores: list[str] = []
    for i in range(CORE_ROUTERS):
        core = add(f"core-{i + 1}", "router", "core", list(cores))  # a full mesh
        if core is not None:
            cores.append(core)
    pod = 0
    while topo.graph.number_of_nodes() < nodes:
        pod += 1
        tag = f"{pod:02d}"
        aggs: list[str] = []
        for k, side in enumerate("ab"):
            uplinks = {cores[(pod + k) % len(cores)], cores[(pod + k + 1) % len(cores)]}
            agg = add(f"agg-{tag}{side}", "switch", "aggregation", [*aggs, *sorted(uplinks)],
                      tag)
            if agg is not None:
                aggs.append(agg)
        if not aggs:
            return topo
        for a in range(rng.randint(6, 10)):
            homing = aggs if rng.random() < 0.8 else [rng.choice(aggs)]
            access = add(f"acc-{tag}-{a + 1:02d}", "switch", "access", homing, tag)
            if access is None:
                return topo
            for h in range(rng.randint(2, 6)):
                if add(f"host-{tag}-{a + 1:02d}-{h + 1}", "host", "host", [access], tag) is None:
                    return topo
    return topo


def barabasi_albert(nodes: int, seed: int) -> Topology:
    """A scale-free graph of ``nodes`` devices (preferential attachment, 2 links each)."""
    base = nx.barabasi_albert_graph(nodes, BA_ATTACH, seed=seed)
    graph = nx.relabel_nodes(base, {i: f"ba-{i:04d}" for i in base.nodes})
    return Topology("ba", graph, {v: "device" for v in graph.nodes},
                    {v: {"role": "device"} for v in graph.nodes})


def rings(nodes: int, seed: int) -> Topology:
    """Core mesh → aggregation rings → access rings → base stations, about ``nodes``.

    Each aggregation ring (4–6 nodes) is closed through two core routers; each access
    ring (4–8 nodes) starts and ends on two neighbouring nodes of an aggregation
    ring; each access node serves 1–3 base stations (single-homed leaves). A ring
    node has two ring neighbours, so a failure's effects spread along the ring, and
    every ring survives one cut: the redundancy telecom transport is built with.
    """
    rng = random.Random(f"rings-{seed}")
    topo = Topology("rings", nx.Graph())

    add = functools.partial(topo.add_node, limit=nodes)

    cores: list[str] = []
    for i in range(CORE_ROUTERS):
        if add(f"core-{i + 1}", "router", "core", list(cores)):  # a full mesh
            cores.append(f"core-{i + 1}")
    ring = 0
    while topo.graph.number_of_nodes() < nodes:
        ring += 1
        ends = [cores[ring % len(cores)], cores[(ring + 1) % len(cores)]]
        aggs: list[str] = []
        for k in range(rng.randint(4, 6)):
            node = f"agg-{ring:02d}-{k + 1}"
            if not add(node, "router", "aggregation", [aggs[-1] if aggs else ends[0]]):
                return topo
            aggs.append(node)
        topo.graph.add_edge(aggs[-1], ends[1])  # the ring closes on the second core
        for k in range(len(aggs) - 1):
            first, last = aggs[k], aggs[k + 1]
            chain: list[str] = []
            for a in range(rng.randint(4, 8)):
                node = f"acc-{ring:02d}-{k + 1}-{a + 1}"
                if not add(node, "switch", "access", [chain[-1] if chain else first]):
                    return topo
                chain.append(node)
                for b in range(rng.randint(1, 3)):
                    if not add(f"bts-{ring:02d}-{k + 1}-{a + 1}-{b + 1}", "device",
                               "base_station", [node]):
                        return topo
            topo.graph.add_edge(chain[-1], last)  # the access ring closes
    return topo


def clos(nodes: int, seed: int) -> Topology:
    """Super-spines → pods of spines → MLAG leaf pairs → dual-homed servers → VMs.

    Two super-spines link to every spine; each pod has the same number of spines
    (4–8 for the fabric, drawn from the seed) and 6–12 leaf pairs; each leaf links to
    every spine of its pod and to its MLAG peer; each pair serves 4–8 servers, each
    linked to both leaves of the pair; each server runs 1–3 VMs (single-homed leaves
    of the graph). About ``nodes`` in all, the last pod cut short by the budget.

    Why this shape: it is the opposite of ``rings``. Every leaf is two hops from every
    other leaf of its pod (through any spine), every spine two hops from every server
    of its pod, so the 2-hop neighbourhoods the simulator spreads effects over, and
    that the engine's two-hop rules (the ranker's ``two_hop_reach``, the hindsight
    split's walks) read, are large and overlap across concurrent faults (600 nodes,
    seeds 1–3: 80–117 devices within two hops of a spine, 38–56 of a leaf, against
    at most 31 for any node of ``rings``; none reaches ``two_hop_reach``'s 200); and
    dual homing gives every server two parents, so "the device upstream" is ambiguous.
    """
    rng = random.Random(f"clos-{seed}")
    topo = Topology("clos", nx.Graph())

    add = functools.partial(topo.add_node, limit=nodes)

    supers = [f"superspine-{i + 1}" for i in range(SUPER_SPINES)
              if add(f"superspine-{i + 1}", "switch", "super_spine", [])]
    width = rng.randint(4, 8)  # spines per pod, the same in every pod of a fabric
    pod = 0
    while topo.graph.number_of_nodes() < nodes:
        pod += 1
        tag = f"{pod:02d}"
        spines: list[str] = []
        for k in range(width):
            node = f"spine-{tag}-{k + 1}"
            if not add(node, "switch", "spine", supers, tag):
                return topo
            spines.append(node)
        for pair in range(rng.randint(6, 12)):
            leaves: list[str] = []
            for side in "ab":
                node = f"leaf-{tag}-{pair + 1:02d}{side}"
                if not add(node, "switch", "leaf", [*spines, *leaves], tag):  # MLAG peer
                    return topo
                leaves.append(node)
            for s in range(rng.randint(4, 8)):
                server = f"srv-{tag}-{pair + 1:02d}-{s + 1}"
                if not add(server, "host", "server", leaves, tag):  # dual-homed
                    return topo
                for v in range(rng.randint(1, 3)):
                    if not add(f"vm-{tag}-{pair + 1:02d}-{s + 1}-{v + 1}", "vm", "vm",
                               [server], tag):
                        return topo
    return topo


def build_topology(name: str, seed: int, nodes: int | None = None) -> Topology:
    """The topology ``name`` (one of ``TOPOLOGIES``) for ``seed``."""
    if name == "huawei":
        return huawei()
    if name == "tree":
        return tree(nodes or DEFAULT_NODES["tree"], seed)
    if name == "ba":
        return barabasi_albert(nodes or DEFAULT_NODES["ba"], seed)
    if name == "rings":
        return rings(nodes or DEFAULT_NODES["rings"], seed)
    if name == "clos":
        return clos(nodes or DEFAULT_NODES["clos"], seed)
    raise ValueError(f"unknown topology {name!r}; choose from {', '.join(TOPOLOGIES)}")
