"""The two ends of one link, both alarming: told in the evidence of both devices."""

from __future__ import annotations

from aiops.engine.rank import CausalTopologyRanker
from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.models import Alert
from topology.discovery.base import GraphBuilder, add_link
from topology.graph import TopologyGraph


def discovered() -> TopologyGraph:
    """c1 and c2 each linked to d1 and d2, ports as LLDP reports them (ifName)."""
    builder = GraphBuilder("lldp")
    for name in ("c1", "c2", "d1", "d2"):
        builder.node(name, "device", name)
    add_link(builder, "c1", "Te1/0/1", "d1", "Te0/1")
    add_link(builder, "c1", "Te1/0/2", "d2", "Te0/1")
    add_link(builder, "c2", "Te1/0/1", "d1", "Te0/2")
    add_link(builder, "c2", "Te1/0/2", "d2", "Te0/2")
    return TopologyGraph(builder.nodes.values(), builder.edges.values())


def incident(topology: TopologyGraph, *alarms: tuple[str, str, str, float]) -> IncidentRecord:
    """(alarm type, device, interface label, start) alarms, each its own alert."""
    inc = IncidentRecord(id="inc-1", seq=1, started_at=0.0, updated_at=0.0)
    for k, (name, device, interface, at) in enumerate(alarms):
        labels = {"interface": interface} if interface else {}
        event = Alert(f"a{k}", "syslog", name, device, "major", "", at, labels=labels)
        inc.alerts[k] = AlertRecord(id=k, fingerprint=str(k), event=event,
                                    node_id=topology.resolve(device), starts_at=at)
    return inc


LINK = ("the two ends of one link and both alarmed, 0.5 s apart: the link itself "
        "(cable, optics) may be at fault rather than either device, and explains the "
        "{} alarms at the other end as well")


def test_both_ends_of_a_failed_link_say_so_in_full_or_abbreviated_port_names() -> None:
    topo = discovered()
    # syslog writes the full port name, LLDP stored the abbreviation
    inc = incident(topo, ("LINK_DOWN", "c1", "TenGigabitEthernet1/0/1", 100.0),
                   ("LINK_DOWN", "d1", "Te0/1", 100.5),
                   ("OSPF_ADJACENCY_DOWN", "d1", "TenGigabitEthernet0/1", 102.0))
    ranked = {rc.entity: rc.evidence for rc in CausalTopologyRanker(topo).rank(inc)}
    assert f"its TenGigabitEthernet1/0/1 and d1's Te0/1 are {LINK.format(2)}" in ranked["c1"]
    assert f"its Te0/1 and c1's TenGigabitEthernet1/0/1 are {LINK.format(1)}" in ranked["d1"]


def test_a_failed_link_is_named_by_its_ends_not_by_the_device_next_to_both() -> None:
    # c1, c2 and d1 form a triangle (c1-d1, c2-d1, and c1-c2). The c1-d1 link fails:
    # both ends log the port down and OSPF over it. c2 raised nothing and is next to
    # both; without the link it explained "all" the alarms as well as either end.
    builder = GraphBuilder("lldp")
    for name in ("c1", "c2", "d1"):
        builder.node(name, "device", name)
    add_link(builder, "c1", "Te1/0/1", "d1", "Te0/1")
    add_link(builder, "c2", "Te1/0/1", "d1", "Te0/2")
    add_link(builder, "c1", "Te1/0/9", "c2", "Te1/0/9")
    topo = TopologyGraph(builder.nodes.values(), builder.edges.values())
    inc = incident(topo, ("LINK_DOWN", "d1", "Te0/1", 100.0),
                   ("OSPF_ADJACENCY_DOWN", "d1", "Te0/1", 101.0),
                   ("LINK_DOWN", "c1", "Te1/0/1", 100.4),
                   ("OSPF_ADJACENCY_DOWN", "c1", "Te1/0/1", 101.5))
    ranked = CausalTopologyRanker(topo).rank(inc)
    assert [rc.entity for rc in ranked[:2]] == ["d1", "c1"]
    assert ranked[0].score > next(rc.score for rc in ranked if rc.entity == "c2")


def test_ports_that_are_not_the_two_ends_of_one_link_say_nothing() -> None:
    topo = discovered()
    cases = [
        # one end only
        (("LINK_DOWN", "c1", "Te1/0/1", 100.0), ("FAN_FAIL", "d1", "", 100.5)),
        # both alarm, on ports of two different links
        (("LINK_DOWN", "c1", "Te1/0/2", 100.0), ("LINK_DOWN", "d1", "Te0/1", 100.5)),
        # a port the topology does not list
        (("LINK_DOWN", "c1", "Gi0/0", 100.0), ("LINK_DOWN", "d1", "Te0/1", 100.5)),
    ]
    for alarms in cases:
        ranked = CausalTopologyRanker(topo).rank(incident(topo, *alarms))
        assert ranked and not any("two ends of one link" in line
                                  for rc in ranked for line in rc.evidence), alarms


def test_a_port_name_resolves_in_either_spelling_and_two_ports_sharing_one_do_not() -> None:
    builder = GraphBuilder("lldp")
    for name in ("s1", "s2"):
        builder.node(name, "device", name)
    add_link(builder, "s1", "Tw1/0/1", "s2", "Gi1/0/1")
    add_link(builder, "s1", "Twe1/0/1", "s2", "Gi1/0/2")
    add_link(builder, "s1", "Eth1/1", "s2", "Ethernet1/1")
    add_link(builder, "s1", "et1/1", "s2", "Gi1/0/3")  # collides with Eth1/1 on s1
    resolver = TopologyGraph(builder.nodes.values(), builder.edges.values()).resolver
    assert resolver.lookup("s1:TwoGigabitEthernet1/0/1") == "s1:Tw1/0/1"
    assert resolver.lookup("s1:TwentyFiveGigE1/0/1") == "s1:Twe1/0/1"
    assert resolver.lookup("s2:GigabitEthernet1/0/2") == "s2:Gi1/0/2"
    assert resolver.lookup("s1:Eth1/1") == "s1:Eth1/1"  # the exact name first
    assert resolver.lookup("s1:Ethernet1/1") is None  # Eth1/1 or et1/1: not guessed
    assert resolver.resolve("s1:Ethernet1/1") == "s1"  # the alert still lands on s1


def test_snmp_traps_name_the_ends_of_a_link_by_ifindex() -> None:
    # Each device's LLDP-MIB walk gave its own ports' ifIndex (discovery's add_view:
    # one add_link per device's view); a linkDown trap labels a port by ifIndex only.
    builder = GraphBuilder("lldp")
    for name in ("c1", "d1", "d2"):
        builder.node(name, "device", name)
    add_link(builder, "c1", "Te1/0/1", "d1", "Te0/1", a_port_attrs={"ifindex": 10101})
    add_link(builder, "d1", "Te0/1", "c1", "Te1/0/1", a_port_attrs={"ifindex": 3})
    add_link(builder, "c1", "Te1/0/2", "d2", "Te0/1", a_port_attrs={"ifindex": 10102})
    topo = TopologyGraph(builder.nodes.values(), builder.edges.values())
    inc = IncidentRecord(id="inc-1", seq=1, started_at=0.0, updated_at=0.0)
    for k, (device, index, at) in enumerate((("c1", "10101", 100.0), ("d1", "3", 100.5),
                                             ("d2", "3", 100.7))):
        event = Alert(f"a{k}", "snmp", "LINK_DOWN", device, "major", "", at,
                      labels={"ifindex": index})
        inc.alerts[k] = AlertRecord(id=k, fingerprint=str(k), event=event,
                                    node_id=topo.resolve(device), starts_at=at)
    ranked = {rc.entity: rc.evidence for rc in CausalTopologyRanker(topo).rank(inc)}
    line = LINK.format(1)
    assert (f"its Te1/0/1 (ifIndex 10101) and d1's Te0/1 (ifIndex 3) are {line}"
            in ranked["c1"])
    assert f"its Te0/1 (ifIndex 3) and c1's Te1/0/1 (ifIndex 10101) are {line}" in ranked["d1"]
    # d2's port has no ifIndex stored: its trap names no port, so no link of its
    assert not any("two ends of one link" in line for line in ranked.get("d2", []))


def test_a_silent_device_whose_neighbours_logged_their_ports_to_it_down_is_told_so() -> None:
    # d1 dies: c1 and c2 log their ports to it down, d1 logs nothing (it is dead);
    # the link c1-d2 is fine. Only the evidence changes: the score is the topology's.
    topo = discovered()
    inc = incident(topo, ("LINK_DOWN", "c1", "Te1/0/1", 100.0),
                   ("LINK_DOWN", "c2", "TenGigabitEthernet1/0/1", 100.4))
    ranked = {rc.entity: rc.evidence for rc in CausalTopologyRanker(topo).rank(inc)}
    assert ("2 ports leading to it went down (c1's Te1/0/1, c2's TenGigabitEthernet1/0/1) "
            "and it logged nothing of its own end: dead, or cut off") in ranked["d1"]
    assert not any("leading to it" in line for line in ranked.get("d2", []))


def rack() -> TopologyGraph:
    """A switch whose ports lead to three servers' NICs."""
    builder = GraphBuilder("lldp")
    for name in ("tor", "s1", "s2", "s3"):
        builder.node(name, "device", name)
    for k, server in enumerate(("s1", "s2", "s3"), 1):
        add_link(builder, "tor", f"Eth1/{k}", server, "eno1")
    return TopologyGraph(builder.nodes.values(), builder.edges.values())


def test_a_switch_whose_alarms_all_tell_of_dead_servers_is_their_witness() -> None:
    topo = rack()
    alarms = [("LINK_DOWN", "tor", "Eth1/1", 100.0), ("LINK_DOWN", "tor", "Eth1/2", 100.2),
              ("HOST_DOWN", "s1", "", 160.0), ("HOST_DOWN", "s2", "", 175.0)]
    ranked = {rc.entity: rc.evidence for rc in CausalTopologyRanker(topo).rank(
        incident(topo, *alarms))}
    assert any(line.startswith("all its alarms are on ports to devices that alarm "
                               "themselves (s1, s2) and logged nothing of their own end")
               for line in ranked["tor"])
    assert "earliest alarm in the group" in ranked["tor"]
    # an alarm of its own, or a server that logged its end of the link: no witness
    for extra in (("CPU_HIGH", "tor", "", 130.0), ("LINK_DOWN", "s1", "eno1", 100.1)):
        ranked = {rc.entity: rc.evidence for rc in CausalTopologyRanker(topo).rank(
            incident(topo, *alarms, extra))}
        assert not any(line.startswith("all its alarms") for line in ranked["tor"])
