"""NetBox discovery against NetBox's documented REST payloads served locally.

The payloads follow the shapes NetBox documents for ``/api/dcim/devices/``,
``/api/dcim/interfaces/`` and ``/api/dcim/cables/`` (4.x: ``role``,
``a_terminations``; a 3.2-style cable too); no live NetBox is involved.
"""

from __future__ import annotations

from typing import Any

import pytest

from aiops.errors import InputError
from tests.discovery.conftest import FakeSource, Reply, snapshot
from topology.discovery.base import SourceUnreachable
from topology.discovery.netbox import NetboxConnector
from topology.discovery.sync import sync

PAGE = 2  # small pages so three devices take two pages and cables three


def _ref(kind: str, obj_id: int, name: str) -> dict[str, Any]:
    return {"id": obj_id, "url": f"http://netbox.example/api/dcim/{kind}/{obj_id}/",
            "display": name, "name": name}


def device(obj_id: int, name: str, ip: str | None, serial: str = "") -> dict[str, Any]:
    return {
        "id": obj_id, "url": f"http://netbox.example/api/dcim/devices/{obj_id}/",
        "display": name, "name": name,
        "device_type": {"id": 1, "url": "http://netbox.example/api/dcim/device-types/1/",
                        "display": "C9300-48P",
                        "manufacturer": {"id": 1, "name": "Cisco", "slug": "cisco",
                                         "url": "http://netbox.example/api/dcim/manufacturers/1/",
                                         "display": "Cisco"},
                        "model": "C9300-48P", "slug": "c9300-48p"},
        "role": {"id": 2, "url": "http://netbox.example/api/dcim/device-roles/2/",
                 "display": "Access Switch", "name": "Access Switch", "slug": "access-switch"},
        "tenant": None, "platform": None, "serial": serial, "asset_tag": None,
        "site": {"id": 1, "url": "http://netbox.example/api/dcim/sites/1/", "display": "DC1",
                 "name": "DC1", "slug": "dc1"},
        "location": None, "rack": None, "position": None, "face": None,
        "status": {"value": "active", "label": "Active"},
        "primary_ip": None if ip is None else {
            "id": obj_id, "url": f"http://netbox.example/api/ipam/ip-addresses/{obj_id}/",
            "display": f"{ip}/24", "family": {"value": 4, "label": "IPv4"},
            "address": f"{ip}/24"},
        "primary_ip4": None, "primary_ip6": None, "oob_ip": None,
        "cluster": None, "virtual_chassis": None, "description": "", "comments": "",
        "tags": [], "custom_fields": {}, "created": "2024-01-10T09:00:00Z",
        "last_updated": "2024-03-01T12:00:00Z",
    }


def interface(obj_id: int, dev_id: int, dev_name: str, name: str) -> dict[str, Any]:
    return {
        "id": obj_id, "url": f"http://netbox.example/api/dcim/interfaces/{obj_id}/",
        "display": name, "device": _ref("devices", dev_id, dev_name), "module": None,
        "name": name, "label": "", "type": {"value": "1000base-t", "label": "1000BASE-T (1GE)"},
        "enabled": True, "parent": None, "bridge": None, "lag": None, "mtu": None,
        "mac_address": None, "speed": None, "duplex": None, "mgmt_only": False,
        "description": "", "mode": None, "mark_connected": False, "cable": None,
        "cable_end": "", "link_peers": [], "connected_endpoints": None,
        "tags": [], "custom_fields": {},
    }


def term(iface: dict[str, Any]) -> dict[str, Any]:
    return {"object_type": "dcim.interface", "object_id": iface["id"],
            "object": {"id": iface["id"], "url": iface["url"], "display": iface["name"],
                       "device": iface["device"], "name": iface["name"], "cable": 1,
                       "_occupied": True}}


def cable(obj_id: int, a: dict[str, Any], b: dict[str, Any],
          status: str = "connected") -> dict[str, Any]:
    return {"id": obj_id, "url": f"http://netbox.example/api/dcim/cables/{obj_id}/",
            "display": f"#{obj_id}", "type": "cat6", "a_terminations": [term(a)],
            "b_terminations": [term(b)], "status": {"value": status, "label": status.title()},
            "tenant": None, "label": "", "color": "", "length": None, "length_unit": None,
            "description": "", "tags": [], "custom_fields": {}}


DEVICES = [device(1, "core-1", "10.0.0.1", "FOC0001"), device(2, "access-1", "10.0.0.11"),
           device(3, "access-2", None)]
IFACES = [interface(11, 1, "core-1", "Gi1/0/1"), interface(12, 1, "core-1", "Gi1/0/2"),
          interface(21, 2, "access-1", "Gi1/0/48"), interface(31, 3, "access-2", "Gi1/0/48")]
LEGACY_CABLE = {  # NetBox before 3.3: one termination object per end
    "id": 3, "termination_a_type": "dcim.interface", "termination_a_id": 12,
    "termination_a": {"id": 12, "device": _ref("devices", 1, "core-1"), "name": "Gi1/0/2"},
    "termination_b_type": "dcim.interface", "termination_b_id": 31,
    "termination_b": {"id": 31, "device": _ref("devices", 3, "access-2"), "name": "Gi1/0/48"},
    "status": {"value": "connected", "label": "Connected"}}
CABLES = [cable(1, IFACES[0], IFACES[2]),
          {**cable(2, IFACES[1], IFACES[3]),
           "b_terminations": [{"object_type": "dcim.frontport", "object_id": 9,
                               "object": {"id": 9, "name": "patch-1"}}]},
          LEGACY_CABLE,
          cable(4, IFACES[0], IFACES[3], status="planned")]


def serve_list(source: FakeSource, endpoint: str, items: list[dict[str, Any]],
               app: str = "dcim") -> list[str]:
    """Serve ``items`` as NetBox pages of PAGE along ``next``; returns the page paths."""
    paths = []
    for offset in range(0, max(len(items), 1), PAGE):
        path = f"/api/{app}/{endpoint}/?limit={PAGE}" + (f"&offset={offset}" if offset else "")
        following = offset + PAGE
        nxt = (f"http://netbox.internal:8000/api/{app}/{endpoint}/?limit={PAGE}"
               f"&offset={following}" if following < len(items) else None)
        source.json(path, {"count": len(items), "next": nxt,
                           "previous": None, "results": items[offset:offset + PAGE]})
        paths.append(path)
    return paths


def serve_netbox(source: FakeSource, devices: list[dict[str, Any]],
                 interfaces: list[dict[str, Any]], cables: list[dict[str, Any]],
                 vms: list[dict[str, Any]] | None = None) -> None:
    """Every list a discovery run reads, paged."""
    serve_list(source, "devices", devices)
    serve_list(source, "interfaces", interfaces)
    serve_list(source, "cables", cables)
    serve_list(source, "virtual-machines", vms or [], app="virtualization")


@pytest.fixture
def netbox(fake_source: FakeSource) -> FakeSource:
    serve_netbox(fake_source, DEVICES, IFACES, CABLES)
    return fake_source


def test_devices_interfaces_and_cables(netbox: FakeSource, store) -> None:
    report = sync(NetboxConnector(netbox.url, token="0123abcd", page_size=PAGE), store)
    graph = store.load()
    core = graph.nodes["core-1"]
    assert core.kind == "device" and core.attrs["mgmt_ip"] == "10.0.0.1"
    assert core.attrs["serial"] == "FOC0001" and core.attrs["site"] == "DC1"
    assert core.attrs["role"] == "Access Switch" and core.attrs["netbox_id"] == 1
    assert graph.neighbours("core-1") >= {"access-1", "access-2"}  # new and legacy cable
    assert graph.nodes["core-1:Gi1/0/1"].kind == "interface"
    assert graph.neighbours("core-1:Gi1/0/1") == {"core-1", "access-1:Gi1/0/48"}
    assert "core-1:Gi1/0/3" not in graph.nodes  # only cabled interfaces become nodes
    assert any("cable #2" in w and "two interfaces" in w for w in report.warnings)
    assert any("cable #4" in w and "planned" in w for w in report.warnings)
    # next links point at another host (a proxy); we stay on the URL we were given
    assert all(headers.get("Authorization") == "Token 0123abcd"
               for _, headers in netbox.requests)
    assert "/api/dcim/cables/?limit=2&offset=2" in [p for p, _ in netbox.requests]


def test_v2_tokens_are_bearer(netbox: FakeSource, store) -> None:
    sync(NetboxConnector(netbox.url, token="nbt_abc.def", page_size=PAGE), store)
    assert netbox.requests[0][1]["Authorization"] == "Bearer nbt_abc.def"


def _before(netbox: FakeSource, store) -> Any:
    sync(NetboxConnector(netbox.url, page_size=PAGE), store)
    return snapshot(store)


def test_a_500_on_page_3_changes_nothing(netbox: FakeSource, store) -> None:
    before = _before(netbox, store)
    extra = CABLES + [cable(5 + i, IFACES[0], IFACES[2]) for i in range(3)]
    pages = serve_list(netbox, "cables", extra)
    netbox.routes[pages[2]] = Reply({"detail": "boom"}, status=500)
    netbox.routes["/api/dcim/devices/?limit=2"] = Reply(
        {"count": 1, "next": None, "previous": None,
         "results": [device(7, "brand-new", "10.0.0.7")]})
    with pytest.raises(SourceUnreachable, match=r"offset=4 answered HTTP 500"):
        sync(NetboxConnector(netbox.url, page_size=PAGE), store)
    assert snapshot(store) == before


@pytest.mark.parametrize(("reply", "error", "message"), [
    (Reply(raw=b'{"count": 3, "results": [{"id": '), InputError, "returned invalid JSON"),
    (Reply(raw=b"<html>502 Bad Gateway</html>"), InputError, "returned invalid JSON"),
    (Reply(raw=b"[" * 100_000 + b"]" * 100_000), InputError,
     "returned invalid JSON: nested too deeply"),  # was a RecursionError traceback
    (Reply(raw=b'{"next": null, "results": [{"id": 1, "name": "eth\\ud800", '
               b'"device": {"id": 1}}]}'), InputError,
     r"results\[0\]\.name holds a lone UTF-16 surrogate"),  # was a UnicodeEncodeError
    (Reply({"detail": "Invalid token"}, status=403), InputError, "HTTP 403 .check the token"),
    (Reply({"count": 1, "results": "nope"}), InputError, "is not a NetBox list"),
    (Reply(DEVICES, truncate=True), SourceUnreachable, "reading .* failed"),
    (Reply(DEVICES, delay=3), SourceUnreachable, "did not answer within 1 s"),
])
def test_bad_answers_change_nothing(netbox: FakeSource, store, reply: Reply,
                                    error: type[Exception], message: str) -> None:
    before = _before(netbox, store)
    netbox.routes["/api/dcim/interfaces/?limit=2"] = reply
    with pytest.raises(error, match=message):
        sync(NetboxConnector(netbox.url, page_size=PAGE, timeout=1), store)
    assert snapshot(store) == before


def test_a_source_that_is_gone(store) -> None:
    with pytest.raises(SourceUnreachable, match="reading http://127.0.0.1:9/api"):
        sync(NetboxConnector("http://127.0.0.1:9", timeout=2), store)
    assert store.counts() == (0, 0)


def test_a_looping_next_link_is_refused(fake_source: FakeSource, store) -> None:
    fake_source.json("/api/dcim/devices/?limit=2", {
        "count": 9, "next": f"{fake_source.url}/api/dcim/devices/?limit=2", "results": []})
    with pytest.raises(InputError, match="pagination loops"):
        sync(NetboxConnector(fake_source.url, page_size=PAGE), store)


def test_references_of_the_wrong_shape_are_skipped_not_a_traceback(
        fake_source: FakeSource, store) -> None:
    odd = {**device(4, "odd-1", None), "device_type": 7}  # an id where an object belongs
    # a VM whose cluster and device are ids where objects belong: runs on nothing known
    odd_vm = {**virtual_machine(9, "odd-vm", None, None, None), "cluster": 3, "device": [5]}
    serve_netbox(fake_source, [*DEVICES, odd],
                 [*IFACES, {**interface(41, 4, "odd-1", "e0"), "device": 4}],
                 [cable(1, IFACES[0], IFACES[2]),
                  {**cable(2, IFACES[1], IFACES[3]),
                   "b_terminations": [{"object_type": "dcim.interface", "object_id": [31],
                                       "object": 5}]}], [odd_vm])
    report = sync(NetboxConnector(fake_source.url, page_size=PAGE), store)
    graph = store.load()
    assert "model" not in graph.nodes["odd-1"].attrs
    assert graph.neighbours("core-1") == {"access-1", "core-1:Gi1/0/1"}
    assert "cable #2 skipped: not between two interfaces" in report.warnings
    assert graph.nodes["odd-vm"].kind == "vm"
    assert any("odd-vm" in w and "no device or cluster" in w for w in report.warnings)


def test_an_id_that_is_no_integer_is_refused_naming_the_item(
        fake_source: FakeSource, store) -> None:
    # a list id was an unhashable-type traceback
    serve_netbox(fake_source, [DEVICES[0], {**DEVICES[1], "id": [2]}], [], [])
    with pytest.raises(InputError, match=r"results\[1\] is not an object with an integer 'id'"):
        sync(NetboxConnector(fake_source.url, page_size=PAGE), store)
    assert store.counts() == (0, 0)


def site(obj_id: int, name: str) -> dict[str, Any]:
    return {"id": obj_id, "url": f"http://netbox.example/api/dcim/sites/{obj_id}/",
            "display": name, "name": name, "slug": name.lower()}


def test_devices_of_one_name_in_two_sites_stay_two_nodes(fake_source: FakeSource,
                                                          store) -> None:
    """NetBox allows a device name once per site (and tenant), not overall: both
    ``edge-1`` became one node ``edge-1``, with both cables, and every alert of either
    landed on it. Now each is ``SITE/NAME``, a unique name stays as it was, the shared
    one is reported, and an alert naming just ``edge-1`` resolves to neither."""
    from topology.resolve import EntityResolver

    tenant = {"id": 5, "url": "http://netbox.example/api/tenancy/tenants/5/",
              "display": "Blue", "name": "Blue", "slug": "blue"}
    devices = [device(1, "core-1", "10.0.0.1", "FOC0001"),
               {**device(2, "edge-1", "10.0.1.1", "FOC0002"), "site": site(1, "DC1")},
               {**device(3, "edge-1", "10.0.2.1", "FOC0003"), "site": site(2, "DC2")},
               # the same name twice in DC2, as two tenants may
               {**device(4, "EDGE-1", None), "site": site(2, "DC2"), "tenant": tenant}]
    ifaces = [interface(11, 1, "core-1", "Gi1/0/1"), interface(12, 1, "core-1", "Gi1/0/2"),
              interface(21, 2, "edge-1", "Gi0/1"), interface(31, 3, "edge-1", "Gi0/1")]
    serve_netbox(fake_source, devices, ifaces, [cable(1, ifaces[0], ifaces[2]),
                                                cable(2, ifaces[1], ifaces[3])])
    report = sync(NetboxConnector(fake_source.url, page_size=PAGE), store)
    graph = store.load()
    devices_stored = sorted(n.id for n in graph.nodes.values() if n.kind == "device")
    assert devices_stored == ["core-1", "dc1/edge-1", "dc2/blue/EDGE-1", "dc2/edge-1"]
    assert graph.nodes["dc1/edge-1"].name == "edge-1"
    assert graph.nodes["dc2/edge-1"].attrs["netbox_id"] == 3
    assert graph.nodes["dc1/edge-1"].attrs["serial"] == "FOC0002"
    assert graph.neighbours("dc1/edge-1:Gi0/1") == {"dc1/edge-1", "core-1:Gi1/0/1"}
    assert graph.neighbours("dc2/edge-1:Gi0/1") == {"dc2/edge-1", "core-1:Gi1/0/2"}
    shared = {c.node: c for c in report.conflicts if c.what == "shared-name"}
    assert set(shared) == {"dc1/edge-1", "dc2/edge-1", "dc2/blue/EDGE-1"}
    assert ("netbox names 3 things 'edge-1' (dc1/edge-1, dc2/blue/EDGE-1, dc2/edge-1); an "
            "alert naming 'edge-1' resolves to none of them: name 'dc1/edge-1'"
            in shared["dc1/edge-1"].message)
    assert [c for c in report.conflicts if c.what != "shared-name"] == []
    resolver = EntityResolver(graph.nodes.values())
    assert resolver.resolve("edge-1") is None  # ambiguous: never a guess
    assert resolver.resolve("core-1") == "core-1"  # a unique name resolves as before
    assert resolver.resolve("dc2/edge-1") == "dc2/edge-1"
    assert resolver.resolve("10.0.1.1") == "dc1/edge-1"
    # The next run finds the same nodes: nothing merged, nothing new.
    again = sync(NetboxConnector(fake_source.url, page_size=PAGE), store)
    assert again.new_nodes == 0 and again.merged == {}
    assert sorted(c.what for c in again.conflicts) == ["shared-name"] * 3


def test_a_node_stored_under_a_shared_name_by_an_earlier_run_takes_no_device(
        fake_source: FakeSource, store) -> None:
    """A run before the fix stored both ``edge-1`` devices as one node ``edge-1``.
    Merged into by serial, it would be refreshed by every run and keep taking the
    plain name's alerts for good; it is left to age out, and reported."""
    from topology.model import Node

    store.upsert([Node("edge-1", "device", "edge-1", {"serial": "FOC0002", "netbox_id": 2})],
                 [], source="netbox", seen_at=1.0)
    devices = [{**device(2, "edge-1", "10.0.1.1", "FOC0002"), "site": site(1, "DC1")},
               {**device(3, "edge-1", "10.0.2.1", "FOC0003"), "site": site(2, "DC2")}]
    serve_netbox(fake_source, devices, [], [])
    report = sync(NetboxConnector(fake_source.url, page_size=PAGE), store)
    assert report.merged == {}
    graph = store.load()
    assert sorted(graph.nodes) == ["dc1/edge-1", "dc2/edge-1", "edge-1"]
    assert graph.nodes["edge-1"].attrs.get("by_source") is None  # not refreshed
    (stale,) = [c for c in report.conflicts if c.node == "edge-1"]
    assert stale.what == "shared-name" and "it is none of them" in stale.message


def _cluster(obj_id: int, name: str) -> dict[str, Any]:
    return {"id": obj_id, "url": f"http://netbox.example/api/virtualization/clusters/{obj_id}/",
            "display": name, "name": name, "description": ""}


def virtual_machine(obj_id: int, name: str, ip: str | None, cluster: dict[str, Any] | None,
                    host: dict[str, Any] | None) -> dict[str, Any]:
    """A VM as ``/api/virtualization/virtual-machines/`` lists it (NetBox 4.x fields)."""
    return {
        "id": obj_id, "url": f"http://netbox.example/api/virtualization/virtual-machines/{obj_id}/",
        "display_url": f"http://netbox.example/virtualization/virtual-machines/{obj_id}/",
        "display": name, "name": name, "status": {"value": "active", "label": "Active"},
        "site": {"id": 1, "url": "http://netbox.example/api/dcim/sites/1/", "display": "DC1",
                 "name": "DC1", "slug": "dc1", "description": ""},
        "cluster": cluster, "device": host, "serial": "", "role": None, "tenant": None,
        "platform": {"id": 4, "url": "http://netbox.example/api/dcim/platforms/4/",
                     "display": "Ubuntu 24.04", "name": "Ubuntu 24.04", "slug": "ubuntu-2404",
                     "description": ""},
        "primary_ip": None if ip is None else {
            "id": 100 + obj_id,
            "url": f"http://netbox.example/api/ipam/ip-addresses/{100 + obj_id}/",
            "display": f"{ip}/24", "family": {"value": 4, "label": "IPv4"},
            "address": f"{ip}/24", "description": ""},
        "primary_ip4": None, "primary_ip6": None, "vcpus": "4.00", "memory": 8192, "disk": 80,
        "description": "", "comments": "", "config_template": None, "local_context_data": None,
        "tags": [], "custom_fields": {}, "created": "2024-02-01T09:00:00Z",
        "last_updated": "2024-03-01T12:00:00Z", "interface_count": 1, "virtual_disk_count": 1,
    }


def test_virtual_machines_run_on_their_host_or_their_cluster(fake_source: FakeSource,
                                                            store) -> None:
    prod = _cluster(1, "prod")
    esx1 = {**device(5, "esx1", "10.0.1.1"), "cluster": prod}
    esx2 = {**device(6, "esx2", "10.0.1.2"), "cluster": prod}
    pinned = _ref("devices", 5, "esx1")
    vms = [virtual_machine(1, "web-1", "10.0.2.1", prod, pinned),
           virtual_machine(2, "web-2", "10.0.2.2", prod, pinned),
           virtual_machine(3, "db-1", "10.0.2.3", prod, None),  # HA: on any host of prod
           virtual_machine(4, "esx2", None, prod, None),  # a VM named like a device
           virtual_machine(5, "orphan", None, None, None)]
    serve_netbox(fake_source, [esx1, esx2], [], [], vms)
    report = sync(NetboxConnector(fake_source.url, page_size=PAGE), store)
    graph = store.load()
    web = graph.nodes["web-1"]
    assert web.kind == "vm" and web.attrs["mgmt_ip"] == "10.0.2.1"
    assert web.attrs["cluster"] == "prod" and web.attrs["platform"] == "Ubuntu 24.04"
    kinds = {(e.source, e.target): e.kind for e in graph.edges}
    assert kinds[("web-1", "esx1")] == kinds[("web-2", "esx1")] == "runs_on"
    assert kinds[("db-1", "cluster/prod")] == "runs_on"
    assert kinds[("esx1", "cluster/prod")] == kinds[("esx2", "cluster/prod")] == "part_of"
    assert graph.nodes["cluster/prod"].kind == "cluster"
    # the device keeps its name; the VM of the same name is qualified by its cluster
    assert graph.nodes["esx2"].kind == "device"
    assert graph.nodes["vm/prod/esx2"].kind == "vm"
    assert any("orphan" in w and "no device or cluster" in w for w in report.warnings)
    # alerts about a VM resolve by its name and its address
    assert graph.resolve("web-2") == "web-2" and graph.resolve("10.0.2.3") == "db-1"
    # the VMs of one hypervisor are one hop apart for grouping; the cluster's too
    assert graph.reach("web-1", 2)["web-2"] == 1
    assert graph.reach("db-1", 2)["vm/prod/esx2"] == 1


def test_a_token_that_may_not_read_virtual_machines_is_told_how_to_go_without(
        netbox: FakeSource, store) -> None:
    netbox.routes["/api/virtualization/virtual-machines/?limit=2"] = Reply(
        {"detail": "You do not have permission to perform this action."}, status=403)
    with pytest.raises(InputError, match="--no-virtual-machines"):
        sync(NetboxConnector(netbox.url, page_size=PAGE), store)
    assert store.counts() == (0, 0)
    sync(NetboxConnector(netbox.url, page_size=PAGE, virtual_machines=False), store)
    assert "core-1" in store.load().nodes
