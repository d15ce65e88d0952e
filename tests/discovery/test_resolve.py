"""Entity resolution beyond names: interfaces anchor on devices, pods on deployments."""

from __future__ import annotations

from topology.graph import TopologyGraph
from topology.model import Edge, Node


def graph() -> TopologyGraph:
    return TopologyGraph(
        [Node("sw1", "device", "sw1", {"fqdn": "sw1.dc1.example", "mgmt_ip": "10.0.0.1"}),
         Node("sw1:Gi0/1", "interface", "sw1:Gi0/1", {"device": "sw1", "ifname": "Gi0/1"}),
         Node("sw2.dc1.example:eth0", "interface", "sw2.dc1.example:eth0",
              {"device": "sw2.dc1.example", "ifname": "eth0"}),
         Node("sw2.dc1.example", "device", "sw2.dc1.example"),
         Node("deploy/a/api", "deployment", "api", {"namespace": "a"}),
         Node("deploy/b/api", "deployment", "api", {"namespace": "b"}),
         Node("svc/a/api", "service", "api", {"namespace": "a"})],
        [Edge("sw1:Gi0/1", "sw1", "part_of")])


def test_interface_alerts_land_on_the_device() -> None:
    g = graph()
    assert g.resolve("sw1:Gi0/1") == "sw1"  # by interface node id
    assert g.resolver.lookup("sw1:Gi0/1") == "sw1:Gi0/1"  # the node itself, for display
    assert g.resolve("sw1.dc1.example:gi0/1") == "sw1"  # FQDN and case
    assert g.resolver.lookup("10.0.0.1:Gi0/1") == "sw1:Gi0/1"  # device by address
    assert g.resolve("sw1:Gi0/9") == "sw1"  # a port the topology does not list
    assert g.resolver.lookup("sw1:Gi0/9") is None
    assert g.resolve("nowhere:Gi0/1") is None


def test_interface_names_do_not_claim_their_device_short_name() -> None:
    g = graph()
    assert g.resolve("sw2") == "sw2.dc1.example"  # "sw2.dc1.example:eth0" took no "sw2"
    assert g.resolve("sw2:eth0") == "sw2.dc1.example"


def test_pods_gone_since_discovery_land_on_their_deployment() -> None:
    g = graph()
    assert g.resolve("a/api-5d8f7c9b6-k2x7p") == "deploy/a/api"
    assert g.resolve("api-5d8f7c9b6-k2x7p") is None  # two deployments called api
    assert g.resolve("api") == "svc/a/api"  # a service outranks deployments


def test_same_rank_claims_stay_ambiguous() -> None:
    g = TopologyGraph([Node("a", "device", "core"), Node("b", "device", "core")], [])
    assert g.resolve("core") is None
