"""Topology documents, entity resolution and hop distances."""

from __future__ import annotations

import pytest

from aiops.errors import InputError
from topology.graph import TopologyGraph
from topology.model import Edge, Node, parse_topology


def doc(nodes, edges):
    return {"nodes": [{"id": n, "kind": "device", "name": n} for n in nodes],
            "edges": [{"source": a, "target": b, "kind": "connected_to"} for a, b in edges]}


def test_valid_document() -> None:
    nodes, edges = parse_topology(doc(["a", "b"], [("a", "b")]))
    assert [n.id for n in nodes] == ["a", "b"] and edges[0].key == ("a", "b", "connected_to")


def test_duplicate_node_ids_are_named() -> None:
    with pytest.raises(InputError, match="duplicate node ids: 'a'"):
        parse_topology(doc(["a", "b", "a"], []))


def test_dangling_edges_are_named() -> None:
    with pytest.raises(InputError, match=r"edges refer to unknown nodes: 'edges\[1\]->zz'"):
        parse_topology(doc(["a", "b"], [("a", "b"), ("b", "zz")]))


def test_duplicate_edges_are_named() -> None:
    with pytest.raises(InputError, match="duplicate edges: 'a-connected_to->b'"):
        parse_topology(doc(["a", "b"], [("a", "b"), ("a", "b")]))


def test_missing_fields() -> None:
    with pytest.raises(InputError, match="field 'nodes' must be an array"):
        parse_topology({"edges": []})
    with pytest.raises(InputError, match=r"nodes\[0\]: field 'id'"):
        parse_topology({"nodes": [{"kind": "device"}]})


def test_resolution_by_id_name_alias_ip_and_fqdn() -> None:
    g = TopologyGraph(
        [Node("n1", "device", "core-01", {"aliases": ["CORE1"], "mgmt_ip": "10.0.0.1",
                                           "fqdn": "core-01.dc1.example"}),
         Node("n2", "device", "edge-01.dc1.example")],
        [])
    assert g.resolve("n1") == "n1"
    assert g.resolve("core-01") == "n1"
    assert g.resolve("core1") == "n1"
    assert g.resolve("10.0.0.1") == "n1"
    assert g.resolve("core-01.dc1.example") == "n1"
    assert g.resolve("core-01.other.example") == "n1"  # FQDN vs short name
    assert g.resolve("edge-01") == "n2"
    assert g.resolve("nowhere") is None
    assert g.resolve("10.0.0") is None


def test_resolution_by_any_spelling_of_an_address_and_with_a_port() -> None:
    g = TopologyGraph(
        [Node("r1", "device", "r1", {"mgmt_ip": "2001:DB8:0:0::5"}),
         Node("r2", "device", "r2", {"ips": ["10.0.0.2", "fe80::1%eth0"]})],
        [])
    assert g.resolve("2001:db8::5") == "r1"
    assert g.resolve("2001:0db8:0000:0000:0000:0000:0000:0005") == "r1"
    assert g.resolve("[2001:db8::5]:9100") == "r1"  # Prometheus' instance label
    assert g.resolve("[2001:db8::5]") == "r1"
    assert g.resolve("10.0.0.2:9100") == "r2"
    assert g.resolve("::ffff:10.0.0.2") == "r2"  # IPv4 mapped into IPv6
    assert g.resolve("fe80::1%eth0") == "r2"
    assert g.resolve("[2001:db8::6]:9100") is None
    assert g.resolve("2001:db8::6") is None


def test_ambiguous_short_name_is_not_guessed() -> None:
    g = TopologyGraph([Node("a", "device", "sw1.dc1.example"),
                       Node("b", "device", "sw1.dc2.example")], [])
    assert g.resolve("sw1") is None
    assert g.resolve("sw1.dc2.example") == "b"


def test_distance_and_subgraph_keep_dependency_direction() -> None:
    g = TopologyGraph([Node(x, "device", x) for x in "abcd"],
                      [Edge("a", "b"), Edge("b", "c"), Edge("d", "c", "depends_on")])
    assert g.distance("a", "c", 2) == 2
    assert g.distance("a", "d", 2) is None
    assert g.distance("a", "a", 2) == 0
    _, edges = g.subgraph(["c"], 1)
    assert ("d", "c", "depends_on") in {e.key for e in edges}


def cluster() -> TopologyGraph:
    """What the Kubernetes discovery makes: pods run on nodes and are part of their
    deployment; a Service depends on its pods."""
    nodes = [Node("worker-1", "host", "worker-1"), Node("worker-2", "host", "worker-2"),
             Node("deploy/shop/cart", "deployment", "cart"),
             Node("pod/shop/cart-1", "pod", "cart-1"), Node("pod/shop/cart-2", "pod", "cart-2"),
             Node("svc/shop/cart", "service", "cart")]
    edges = [Edge("pod/shop/cart-1", "worker-1", "runs_on"),
             Edge("pod/shop/cart-2", "worker-2", "runs_on"),
             Edge("pod/shop/cart-1", "deploy/shop/cart", "part_of"),
             Edge("pod/shop/cart-2", "deploy/shop/cart", "part_of"),
             Edge("svc/shop/cart", "pod/shop/cart-1", "depends_on"),
             Edge("svc/shop/cart", "pod/shop/cart-2", "depends_on"),
             Edge("worker-1", "worker-2", "connected_to")]
    return TopologyGraph(nodes, edges)


def test_needs_reads_dependencies_through_one_node_between() -> None:
    topo = cluster()
    # directly: a pod needs its node and its deployment
    assert topo.needs("pod/shop/cart-1") == {"worker-1", "deploy/shop/cart"}
    # through what it needs: the Service's pods and the nodes they run on (and, one
    # step past them, the deployment)
    assert topo.needs("svc/shop/cart") == {"pod/shop/cart-1", "pod/shop/cart-2",
                                           "worker-1", "worker-2", "deploy/shop/cart"}
    # through its parts: a deployment needs the nodes its pods run on, not itself
    assert topo.needs("deploy/shop/cart") == {"worker-1", "worker-2"}
    # a node needs nothing; a link has no direction; an unknown entity needs nothing
    assert topo.needs("worker-1") == frozenset()
    assert topo.needs("nowhere") == frozenset()


def test_the_device_view_merges_ports_into_their_devices() -> None:
    # Two routers linked only through their ports (as a hand-written inventory may
    # be): three hops apart as stored, one in the view the analysis uses.
    nodes = [Node("r1", "device", "r1"), Node("r2", "device", "r2"), Node("r3", "device", "r3"),
             Node("r1:ge0", "interface", "r1:ge0", {"device": "r1", "ifname": "ge0"}),
             Node("r2:ge0", "interface", "r2:ge0", {"device": "r2", "ifname": "ge0"}),
             Node("r2:ge1", "interface", "r2:ge1", {"device": "r2", "ifname": "ge1"})]
    edges = [Edge("r1:ge0", "r1", "part_of"), Edge("r2:ge0", "r2", "part_of"),
             Edge("r2:ge1", "r2", "part_of"), Edge("r1:ge0", "r2:ge0", "connected_to"),
             Edge("r2:ge1", "r3", "depends_on")]
    stored = TopologyGraph(nodes, edges)
    view = stored.device_view()
    assert stored.distance("r1", "r2", 3) == 3
    assert set(view.nodes) == {"r1", "r2", "r3"}
    assert view.distance("r1", "r2", 3) == 1
    assert view.needs("r2") == {"r3"}  # the port's dependency is its device's
    assert view.device_view() is view and stored.device_view() is view
    # alerts still resolve by port name, onto the device; the stored form is kept
    assert view.resolve("r1:ge0") == "r1" and view.resolve("r2:GE1") == "r2"
    assert len(stored) == 6 and len(stored.edges) == 5
    # a topology without ports is its own view
    plain = TopologyGraph([Node("a", "device", "a")], [])
    assert plain.device_view() is plain


def test_reach_puts_what_runs_on_one_node_one_hop_apart() -> None:
    nodes = [Node(n, "host", n) for n in ("esx1", "vm1", "vm2", "esx2", "vm3", "tor",
                                            "app", "db", "site", "sw1", "sw2")]
    edges = [Edge("vm1", "esx1", "runs_on"), Edge("vm2", "esx1", "runs_on"),
             Edge("vm3", "esx2", "runs_on"), Edge("esx1", "tor"), Edge("esx2", "tor"),
             Edge("app", "vm2", "runs_on"), Edge("app", "db", "depends_on"),
             Edge("vm3", "db", "depends_on"),
             Edge("sw1", "site", "part_of"), Edge("sw2", "site", "part_of")]
    graph = TopologyGraph(nodes, edges)
    assert graph.neighbourhood("vm1", 2)["vm2"] == 2  # ranking's hops stay as stored
    reach = graph.reach("vm1", 2)
    assert reach["vm2"] == 1 and reach["esx1"] == 1
    assert reach["app"] == 2  # on vm2, one hop past the sibling
    assert "vm3" not in reach  # another hypervisor's VM: three hops through the switch
    assert graph.siblings("vm1") == {"vm2"}
    assert graph.siblings("app") == {"vm3"}  # both depend on db
    assert graph.shared_need("vm1", "vm2") == ("esx1", "runs_on")
    assert graph.shared_need("app", "vm3") == ("db", "depends_on")
    assert graph.shared_need("vm1", "vm3") is None
    # a site every device is part of makes no siblings, and no way leads through it from
    # one of its parts to another: it would put the whole site two hops apart
    assert graph.siblings("sw1") == frozenset() and graph.reach("sw1", 2)["site"] == 1
    assert graph.neighbourhood("sw1", 2)["sw2"] == 2 and "sw2" not in graph.reach("sw1", 2)
    assert graph.reach("site", 1) == {"site": 0, "sw1": 1, "sw2": 1}  # the whole: its parts
    # what a node runs on or depends on directly: its own needs, not what needs it,
    # not a whole it is part of
    assert graph.direct_needs("app") == {"vm2", "db"}
    assert graph.direct_needs("esx1") == frozenset() and graph.direct_needs("sw1") == frozenset()
    assert graph.need_kind("app", "db") == "depends_on" and graph.need_kind("vm2", "app") is None
    assert graph.need_kind("sw1", "site") == "part_of"
    assert graph.has_shared_needs
    assert not TopologyGraph(nodes, [e for e in edges if e.kind == "part_of"]).has_shared_needs


def test_reach_leads_through_a_whole_to_what_it_links_not_to_its_other_parts() -> None:
    # two racks part of one room; the racks linked through a switch; a pdu in rack1
    nodes = [Node(n, "device", n) for n in ("room", "rack1", "rack2", "sw", "pdu", "far")]
    edges = [Edge("rack1", "room", "part_of"), Edge("rack2", "room", "part_of"),
             Edge("pdu", "rack1", "part_of"), Edge("rack1", "sw"), Edge("rack2", "sw"),
             Edge("room", "far")]
    reach = TopologyGraph(nodes, edges).reach("pdu", 3)
    assert reach == {"pdu": 0, "rack1": 1, "room": 2, "sw": 2, "rack2": 3, "far": 3}
    # rack2 at 3 through the switch, not through the room; the room's link is followed
    assert TopologyGraph(nodes, edges).reach("rack1", 2)["far"] == 2


def test_reach_is_the_neighbourhood_where_nothing_runs_on_anything() -> None:
    graph = TopologyGraph([Node(n, "device", n) for n in "abc"],
                          [Edge("a", "b"), Edge("b", "c")])
    assert graph.reach("a", 2) is graph.neighbourhood("a", 2)
    assert graph.reach("unknown", 2) == {}
