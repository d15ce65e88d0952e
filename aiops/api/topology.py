"""Topology endpoints: stored counts, a node and its neighbourhood, discovery conflicts."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from aiops.api.util import int_arg, runtime
from aiops.errors import NotFound
from topology.conflicts import ConflictLog

blueprint = Blueprint("topology", __name__, url_prefix="/api/v1/topology")


@blueprint.get("")
def summary():
    nodes, edges = runtime().topology_store.counts()
    return jsonify({"nodes": nodes, "edges": edges})


@blueprint.get("/nodes/<path:node>")
def node_neighbourhood(node: str):
    topology = runtime().current_topology()
    # The node the name denotes first (an interface by its id is that interface, as in
    # `aiops topology show`); resolve() places alerts, so it answered an interface's
    # device. Only a name that denotes no node falls back to where its alerts land
    # (a port the topology does not list: its device; a replaced pod: its deployment).
    node_id = topology.resolver.lookup(node) or topology.resolve(node)
    if node_id is None:
        raise NotFound(f"no topology node matches '{node}' (by id, name or alias)")
    radius = int_arg("radius", 1, 0, 3)
    nodes, edges = topology.subgraph([node_id], radius)
    return jsonify({"node": topology.nodes[node_id].to_dict(),
                    "neighbourhood": {"nodes": [n.to_dict() for n in nodes],
                                      "edges": [e.to_dict() for e in edges]}})


@blueprint.get("/conflicts")
def conflicts():
    """Identity conflicts stored by discovery runs, most recently reported first."""
    total, items = ConflictLog(runtime().db).list(
        int_arg("limit", 100, 1, 1000), node=request.args.get("node"),
        source=request.args.get("source"))
    return jsonify({"count": total, "conflicts": items})
