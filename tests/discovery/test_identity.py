"""One node per real thing across sources; disagreements reported, not overwritten."""

from __future__ import annotations

from topology.discovery.base import Discovered, GraphBuilder, add_link
from topology.discovery.sync import sync
from topology.graph import TopologyGraph
from topology.model import Edge, Node


class Fixed:
    """A source that returns a prepared batch."""

    def __init__(self, name: str, nodes: list[Node], edges: list[Edge] | None = None):
        self.name = name
        self.batch = Discovered(name, nodes, edges or [])

    def collect(self, current: TopologyGraph | None = None) -> Discovered:
        return self.batch


def device(node_id: str, **attrs: object) -> Node:
    return Node(node_id, "device", node_id, dict(attrs))


def test_fqdn_short_name_and_interfaces_merge(store) -> None:
    sync(Fixed("netbox", [device("sw1", serial="S1", mgmt_ip="10.0.0.1")]), store)
    b = GraphBuilder("lldp")
    b.node("sw1.dc1.example", "device", "sw1.dc1.example", fqdn="sw1.dc1.example",
           chassis_id="aa:bb:cc:00:00:01")
    b.node("sw2.dc1.example", "device", "sw2.dc1.example", fqdn="sw2.dc1.example")
    add_link(b, "sw1.dc1.example", "eth0", "sw2.dc1.example", "eth3")
    report = sync(Fixed("lldp", b.result().nodes, b.result().edges), store)
    graph = store.load()
    assert report.merged["sw1.dc1.example"] == "sw1"
    assert report.merged["sw1.dc1.example:eth0"] == "sw1:eth0"
    assert not report.conflicts
    sw1 = graph.nodes["sw1"]
    assert sw1.attrs["serial"] == "S1" and sw1.attrs["fqdn"] == "sw1.dc1.example"
    assert sw1.attrs["chassis_id"] == "aa:bb:cc:00:00:01"
    assert sw1.attrs["seen_by"] == ["lldp", "netbox"]
    assert "sw1.dc1.example" in sw1.attrs["aliases"]
    assert graph.nodes["sw1:eth0"].attrs["device"] == "sw1"
    assert graph.neighbours("sw1") == {"sw2.dc1.example", "sw1:eth0"}
    assert graph.resolve("sw1.dc1.example:eth0") == "sw1"


def test_two_different_fqdns_are_two_nodes(store) -> None:
    sync(Fixed("a", [device("db1.dc1.example")]), store)
    sync(Fixed("b", [device("db1.dc2.example")]), store)
    assert store.counts()[0] == 2


def test_same_serial_different_hostnames_is_merged_and_reported(store) -> None:
    sync(Fixed("inventory", [device("core-a", serial="FOC123")]), store)
    report = sync(Fixed("netbox", [device("core-1", serial="foc123")]), store)
    graph = store.load()
    assert set(graph.nodes) == {"core-a"}
    assert graph.nodes["core-a"].name == "core-a"  # not silently renamed
    (conflict,) = report.conflicts
    assert conflict.what == "name" and "core-1" in conflict.message
    assert graph.resolve("core-1") == "core-a"


def test_a_management_ip_claimed_by_two_devices_is_reported_not_merged(store) -> None:
    sync(Fixed("inventory", [device("fw1", mgmt_ip="10.0.0.5")]), store)
    report = sync(Fixed("netbox", [device("lb1", mgmt_ip="10.0.0.5")]), store)
    assert set(store.load().nodes) == {"fw1", "lb1"}
    (conflict,) = report.conflicts
    assert conflict.what == "address" and conflict.values["claimed_by"] == ["fw1", "lb1"]


def test_conflicting_attribute_is_kept_and_reported(store) -> None:
    sync(Fixed("inventory", [device("sw9", serial="AAA", mgmt_ip="10.0.0.9")]), store)
    report = sync(Fixed("netbox", [device("sw9", serial="BBB", mgmt_ip="10.0.0.9")]), store)
    node = store.load().nodes["sw9"]
    assert node.attrs["serial"] == "AAA"
    assert node.attrs["by_source"]["netbox"]["serial"] == "BBB"
    assert [(c.what, c.values) for c in report.conflicts] == [
        ("serial", {"inventory": "AAA", "netbox": "BBB"})]
    # A re-sync from the source that owns a value updates it without complaint.
    report = sync(Fixed("inventory", [device("sw9", serial="CCC", mgmt_ip="10.0.0.9")]), store)
    assert store.load().nodes["sw9"].attrs["serial"] == "CCC"
    assert [c.what for c in report.conflicts] == ["serial"]  # netbox still disagrees


def test_same_serial_twice_in_one_source_stays_two_nodes(store) -> None:
    report = sync(Fixed("netbox", [device("a1", serial="X"), device("a2", serial="X")]), store)
    assert set(store.load().nodes) == {"a1", "a2"}
    assert report.conflicts[0].what == "identity" and "serial:x" in report.conflicts[0].message


def test_ambiguous_short_name_is_not_merged(store) -> None:
    sync(Fixed("a", [device("web1.dc1.example"), device("web1.dc2.example")]), store)
    report = sync(Fixed("b", [device("web1")]), store)
    assert "web1" in store.load().nodes
    assert report.conflicts[0].what == "ambiguous"


def test_nodes_imported_before_provenance_count_as_a_source(store) -> None:
    store.upsert([device("r1", serial="OLD")], [], source="import")
    report = sync(Fixed("netbox", [device("r1", serial="NEW")]), store)
    assert store.load().nodes["r1"].attrs["serial"] == "OLD"
    assert report.conflicts[0].values == {"stored": "OLD", "netbox": "NEW"}


def test_connected_to_is_stored_once_whichever_way_it_was_seen(store) -> None:
    sync(Fixed("a", [device("x"), device("y")], [Edge("y", "x")]), store)
    sync(Fixed("b", [device("x"), device("y")], [Edge("x", "y")]), store)
    assert store.counts() == (2, 1)
