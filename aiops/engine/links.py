"""Two alarming devices whose alerts name the two ends of one link.

A link that fails (a cable, an optic, a patch panel) makes both of its devices report
their port down, and the routing adjacencies over it with them. Each device then looks
like a root of its own with half of the alarms, and a device that raised nothing but is
next to both (the other core of a core-core-distribution triangle) explained "all" of
them as well: on ``benchmarks.inventory_probes``' link failures it was named first for
4 of 10. So when the alerts of two devices name the two ports of one link, as the
topology's discovery stored it (``TopologyGraph.port_links`` of the device view), each
end's alarm share counts the alarms at the other end too (the link explains both), and
its evidence says so. Which end, or the cable between, is at fault is not in the alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiops.engine.state import AlertRecord
from topology.graph import TopologyGraph

# Labels that name the port an alert is about (syslog rules: ``interface``; Prometheus
# and SNMP exporters: ``ifName``, ``ifDescr``), compared case-insensitively.
PORT_LABELS = frozenset({"interface", "ifname", "ifdescr"})
# The label that numbers it instead (the built-in SNMP trap rules: IF-MIB's ifIndex),
# matched to ports discovery stored with their ifIndex (LLDP over SNMP).
IFINDEX_LABEL = "ifindex"
LINK_LINE = "are the two ends of one link"


@dataclass(frozen=True, slots=True)
class LinkDown:
    """A link whose two ports both alarmed: its ends and what their alerts said."""

    devices: tuple[str, str]
    ports: tuple[str, str]  # as the alerts wrote them
    gap: float  # seconds between the two ends' first alerts on it
    alerts: tuple[int, int]  # alerts naming each end's port

    def line(self, device: str, far_name: str) -> str:
        """The evidence line for ``device``, one of the two ends; ``far_name`` is the
        other end's display name."""
        mine = self.devices.index(device)
        apart = f"{self.gap:.1f}" if self.gap < 10 else f"{self.gap:.0f}"
        return (f"its {self.ports[mine]} and {far_name}'s {self.ports[1 - mine]} "
                f"{LINK_LINE} and both alarmed, {apart} s apart: the link itself (cable, "
                "optics) may be at fault rather than either device, and explains the "
                f"{self.alerts[1 - mine]} alarms at the other end as well")


def port_of(alert: AlertRecord, topology: TopologyGraph) -> tuple[str, str] | None:
    """The port node of the topology that ``alert``'s labels name on its device, with
    its name as the alert wrote it (an ifIndex: the port's name and the index); None
    when the alert names no stored port."""
    device = alert.node_id
    if device is None:
        return None
    for label, value in alert.event.labels.items():
        if not value:
            continue
        label = label.lower()
        if label == IFINDEX_LABEL:
            known = topology.port_ifindex.get((device, value.strip()))
            port = None if known is None else known[0]
            if known is not None:
                value = f"{known[1]} (ifIndex {value.strip()})"
        elif label in PORT_LABELS:
            port = topology.resolver.lookup(f"{device}:{value}")
            if port is not None and topology.resolver.anchor(port) != device:
                port = None
        else:
            continue
        if port is not None:
            return port, value  # one port per alert
    return None


def ports_named(alerts: Iterable[AlertRecord], topology: TopologyGraph
                ) -> dict[str, tuple[str, str, float, int]]:
    """Port node -> (device node, the port's name as the alert wrote it, first start,
    alerts naming it) for every port of the topology an alert on its device names."""
    found: dict[str, tuple[str, str, float, int]] = {}
    for alert in alerts:
        named = port_of(alert, topology)
        if named is None:
            continue
        port, value = named
        device = alert.node_id
        assert device is not None  # port_of names none for an alert on no node
        seen = found.get(port)
        if seen is None:
            found[port] = (device, value, alert.starts_at, 1)
        elif alert.starts_at < seen[2]:
            found[port] = (device, value, alert.starts_at, seen[3] + 1)
        else:
            found[port] = (*seen[:3], seen[3] + 1)
    return found


def links_down(named: dict[str, tuple[str, str, float, int]], topology: TopologyGraph
               ) -> list[LinkDown]:
    """Every link whose two ports the alerts of its two devices name (``named``:
    ``ports_named`` of the incident's alerts); none when the topology stores no linked
    ports."""
    if not topology.port_links:
        return []
    found = []
    for port, (device, name, at, count) in sorted(named.items()):
        peer = topology.port_links.get(port)
        if peer is None or peer not in named or peer < port:
            continue  # each link once, from its lower-named end
        other, other_name, other_at, other_count = named[peer]
        found.append(LinkDown((device, other), (name, other_name), abs(other_at - at),
                              (count, other_count)))
    return found


def ports_facing_down(named: dict[str, tuple[str, str, float, int]],
                      topology: TopologyGraph) -> dict[str, list[tuple[str, str, int]]]:
    """Device -> (neighbour, the neighbour's port as its alert wrote it, the alerts
    naming it) for every port an alert names (``named``: ``ports_named``) whose link
    leads to that device, where the device's own end of the link did not alarm: the
    ports that went down around a device that said nothing of them. A dead switch is
    silent; its neighbours' ports to it are what tell of it."""
    found: dict[str, list[tuple[str, str, int]]] = {}
    for port, (device, name, _, alerts) in sorted(named.items()):
        peer = topology.port_links.get(port)
        if peer is None or peer in named:
            continue  # both ends alarmed: the link (``links_down``)
        found.setdefault(topology.resolver.anchor(peer), []).append((device, name, alerts))
    return found
