"""A device's shadow: the devices that reach the rest of the network only through it.

When a core router dies, the access switches hanging off it alone lose their uplink
and the hosts behind them become unreachable, so the monitoring shouts from every
one of them while the router says nothing. Network engineers read such an outage by
reachability: OpenNMS's path outages suppress the nodes whose critical path runs
through a down node, and Nagios marks a host UNREACHABLE rather than DOWN when a
parent it reaches the monitor through is down. Both need someone to declare the
path or the parents; the shadow derives them from the topology instead: the nodes
cut off from the rest of the network when the device is removed, that is the
components of the graph without it other than the one holding the rest of the
network.

The test is local, so its cost does not grow with the network: only the nodes within
``radius`` hops of the device are visited. A component of that ball (without the
device) that holds no node at the ball's edge (exactly ``radius`` hops away) is a
whole component of the network without the device, cut off by it; one that reaches
the edge is taken to lead to the rest of the network (it may not, but then its
nodes are further out than the shadow is asked about). When the whole network lies
within the ball, its largest component is the rest of the network (when several tie
for largest, none of them is in the shadow). With ``radius`` 3 the shadow holds
devices up to 2 hops away: a switch behind the device and the hosts behind that
switch.
"""

from __future__ import annotations

from collections.abc import Callable

from topology.graph import TopologyGraph

NO_SHADOW: frozenset[str] = frozenset()


def local_ball(neighbours: Callable[[str], frozenset[str]], node: str, radius: int,
               budget: int) -> dict[str, int] | None:
    """The nodes within ``radius`` hops of ``node`` with their hop counts, or None
    once more than ``budget`` nodes were found (the caller then gives up: a device
    with that many others within a few hops is a hub of a large network)."""
    hops = {node: 0}
    ring = [node]
    for distance in range(1, radius + 1):
        following: list[str] = []
        for current in ring:
            for other in neighbours(current):
                if other not in hops:
                    hops[other] = distance
                    following.append(other)
            if len(hops) > budget:
                return None
        ring = following
    return hops


def shadow_of(topology: TopologyGraph, node: str, radius: int = 3,
              budget: int = 5000) -> frozenset[str]:
    """The nodes that reach the rest of the network only through ``node`` and are
    at most ``radius - 1`` hops from it (module doc); empty for an unknown node, a
    node whose removal cuts nothing off, and a node with more than ``budget`` nodes
    within ``radius`` hops (not told: the cost is kept bounded)."""
    if radius < 2:
        raise ValueError(f"shadow radius must be at least 2 hops, got {radius}")
    if node not in topology.nodes:
        return NO_SHADOW
    ball = local_ball(topology.neighbours, node, radius, budget)
    if ball is None:
        return NO_SHADOW
    seen = {node}
    closed: list[list[str]] = []  # components that do not reach the ball's edge
    reaches_edge = False
    for start in sorted(topology.neighbours(node)):
        if start in seen:
            continue
        seen.add(start)
        part, stack, at_edge = [start], [start], False
        while stack:
            current = stack.pop()
            at_edge = at_edge or ball[current] == radius
            for other in topology.neighbours(current):
                if other not in seen and other in ball:
                    seen.add(other)
                    part.append(other)
                    stack.append(other)
        if at_edge:
            reaches_edge = True
        else:
            closed.append(part)
    if not reaches_edge and closed:
        # the whole network is within reach: its largest part is the rest of it
        largest = max(len(part) for part in closed)
        closed = [part for part in closed if len(part) < largest]
    if not closed:
        return NO_SHADOW
    return frozenset(n for part in closed for n in part)
