"""The silent core router of the polled-hosts campus, as one incident and as a stream.

The ranker's tests (``tests/unit/test_shadow.py``) and its cost benchmark
(``benchmarks/rank_cost.py``) read the same case: ``core1`` dies without a word, every
access switch logs its uplink down, ``core2`` its OSPF adjacency, and the hosts behind
the single-homed switches are found down by slow host checks. The network is
``benchmarks.polled_hosts.Network``'s (docs/benchmarks.md, "A core failure seen
through slow host checks"), kept in one place so the probe and the benchmark cannot
drift apart.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.models import Alert
from benchmarks.polled_hosts import Network
from topology.model import Edge, Node, parse_topology

T0 = 1_700_000_000.0
NETWORK = Network()
SWITCHES, HOSTS = NETWORK.access, NETWORK.hosts
DUAL_HOMED_FROM = NETWORK.access - NETWORK.dual  # acc15.. also hang off core2


def campus() -> tuple[list[Node], list[Edge]]:
    """core1 - core2; access switches acc0..acc19 on core1, acc15..acc19 also on core2
    (dual-homed); ten hosts on each switch."""
    return parse_topology(NETWORK.document())


def with_ports(nodes: list[Node], edges: list[Edge]) -> tuple[list[Node], list[Edge]]:
    """The same network as LLDP or NetBox discovery stores it: every link also as a
    pair of interface nodes (``Gi0/N``, numbered per device), each ``part_of`` its
    device and ``connected_to`` the other."""
    nodes, linked, ports = list(nodes), list(edges), Counter[str]()
    for edge in edges:
        ends = []
        for device in (edge.source, edge.target):
            ports[device] += 1
            ifname = f"Gi0/{ports[device]}"
            port = f"{device}:{ifname}"
            nodes.append(Node(port, "interface", port, {"device": device, "ifname": ifname}))
            linked.append(Edge(port, device, "part_of"))
            ends.append(port)
        linked.append(Edge(ends[0], ends[1], "connected_to"))
    return nodes, linked


def core1_dies_silently(seed: int = 1) -> list[dict[str, Any]]:
    """What the monitoring sends when core1 dies without a word: every access switch
    logs its uplink down and core2 its OSPF adjacency within 5 s; 30-120 s later
    Nagios finds the 150 hosts behind the single-homed switches down; and five
    unrelated full disks a few minutes before."""
    rnd = random.Random(seed)

    def alert(i: str, source: str, name: str, entity: str, at: float) -> dict[str, Any]:
        return {"id": i, "source": source, "name": name, "entity": entity,
                "severity": "major", "summary": f"{name} on {entity}", "starts_at": T0 + at}

    alerts = [alert(f"x{h}", "nagios", "DISK_FULL", f"h19-{h}", -240 + 5 * h + rnd.random())
              for h in range(5)]
    alerts += [alert(f"s{s}", "syslog", "LINK_DOWN", f"acc{s}", 5 * rnd.random())
               for s in range(SWITCHES)]
    alerts.append(alert("ospf", "syslog", "OSPF_ADJACENCY_DOWN", "core2", 3.0))
    alerts += [alert(f"n{s}-{h}", "nagios", "HOST_DOWN", f"h{s}-{h}", rnd.uniform(30, 120))
               for s in range(DUAL_HOMED_FROM) for h in range(HOSTS)]
    return sorted(alerts, key=lambda a: a["starts_at"])


def incident(*alarms: tuple[str, str, float]) -> IncidentRecord:
    """An incident of (alarm type, node, start) alarms, each its own alert."""
    inc = IncidentRecord(id="inc-1", seq=1, started_at=0.0, updated_at=0.0)
    for k, (name, node, at) in enumerate(alarms):
        inc.alerts[k] = AlertRecord(id=k, fingerprint=str(k),
                                    event=Alert(f"a{k}", "s", name, node, "major", "", at),
                                    node_id=node, starts_at=at)
    return inc


def core_outage_incident() -> IncidentRecord:
    """The switches' incident of the probe: 20 uplinks down, core2's OSPF and 23 of the
    hosts behind the single-homed switches."""
    alarms = [("LINK_DOWN", f"acc{s}", float(s % 5)) for s in range(SWITCHES)]
    alarms.append(("OSPF_ADJACENCY_DOWN", "core2", 3.0))
    alarms += [("HOST_DOWN", f"h{s}-{h}", 30.0 + s) for s in range(DUAL_HOMED_FROM)
               for h in range(2 if s < 8 else 1)]
    return incident(*alarms)
