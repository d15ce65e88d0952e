"""Topology: the graph model, its stores and entity resolution.

Depends on ``aiops.models``/``aiops.errors`` only; the engine reads the topology
through :class:`topology.graph.TopologyGraph`.
"""
