"""Two alarming devices whose alerts name the two ends of one link.

A link that fails (a cable, an optic, a patch panel) makes both of its devices report
their port down, and the routing adjacencies over it with them. Each device then looks
like a root of its own, and the ranker names one of them; an engineer who reads only
that device's name goes to the wrong box half of the time. So when the alerts of two
devices name the two ports of one link, as the topology's discovery stored it
(``TopologyGraph.port_links`` of the device view), each of the two is told so in its
evidence. Evidence only: it does not change a score, since whether the link or a device
is at fault is not in the alerts.
"""

from __future__ import annotations

from collections.abc import Iterable

from aiops.engine.state import AlertRecord
from topology.graph import TopologyGraph

# Labels that name the port an alert is about (syslog rules: ``interface``; Prometheus
# and SNMP exporters: ``ifName``, ``ifDescr``), compared case-insensitively.
PORT_LABELS = frozenset({"interface", "ifname", "ifdescr"})


def ports_named(alerts: Iterable[AlertRecord], topology: TopologyGraph
                ) -> dict[str, tuple[str, str, float]]:
    """Port node -> (device node, the port's name as the alert wrote it, first start) for
    every port of the topology an alert on its device names."""
    found: dict[str, tuple[str, str, float]] = {}
    for alert in alerts:
        device = alert.node_id
        if device is None:
            continue
        for label, value in alert.event.labels.items():
            if label.lower() not in PORT_LABELS or not value:
                continue
            port = topology.resolver.lookup(f"{device}:{value}")
            if port is None or topology.resolver.anchor(port) != device:
                continue
            seen = found.get(port)
            if seen is None or alert.starts_at < seen[2]:
                found[port] = (device, value, alert.starts_at)
    return found


def link_evidence(alerts: Iterable[AlertRecord], topology: TopologyGraph
                  ) -> dict[str, list[str]]:
    """Device node -> evidence lines, one per link whose two ends both alarmed, for the
    devices at either end; empty when the topology stores no linked ports."""
    if not topology.port_links:
        return {}
    named = ports_named(alerts, topology)
    lines: dict[str, list[str]] = {}
    for port, (device, name, at) in sorted(named.items()):
        peer = topology.port_links.get(port)
        if peer is None or peer not in named or peer < port:
            continue  # each link once, from its lower-named end
        other, other_name, other_at = named[peer]
        gap = abs(other_at - at)
        apart = f"{gap:.1f}" if gap < 10 else f"{gap:.0f}"
        for mine, own_port, far, far_port in ((device, name, other, other_name),
                                              (other, other_name, device, name)):
            far_label = topology.nodes[far].name if far in topology.nodes else far
            lines.setdefault(mine, []).append(
                f"its {own_port} and {far_label}'s {far_port} are the two ends of one link and "
                f"both alarmed, {apart} s apart: the link itself (cable, optics) may be at "
                "fault rather than either device")
    return lines
