"""NetBox power cabling against NetBox's documented payloads served locally.

Cables whose terminations are ``dcim.powerport``, ``dcim.poweroutlet`` and
``dcim.powerfeed`` with their brief objects (NetBox 4's ``PowerPortSerializer``,
``PowerOutletSerializer`` and ``PowerFeedSerializer`` brief fields), and
``/api/dcim/power-feeds/`` with each feed's ``power_panel``; no live NetBox is involved.
Then a PDU that trips, through the real engine: one incident, the PDU named first.
"""

from __future__ import annotations

from typing import Any

from aiops.runtime import Runtime
from tests.discovery.conftest import FakeSource, Reply
from tests.discovery.test_netbox import PAGE, _ref, device, interface, serve_list
from tests.discovery.test_netbox import cable as data_cable
from tests.unit.test_engine import alert, incidents_of, ingest
from topology.discovery.netbox import NetboxConnector
from topology.discovery.sync import sync

URL = "http://netbox.example/api/dcim"


def power_port(obj_id: int, dev_id: int, dev_name: str, name: str = "PSU1") -> dict[str, Any]:
    return {"object_type": "dcim.powerport", "object_id": obj_id,
            "object": {"id": obj_id, "url": f"{URL}/power-ports/{obj_id}/", "display": name,
                       "device": _ref("devices", dev_id, dev_name), "name": name,
                       "description": "", "cable": 1, "_occupied": True}}


def power_outlet(obj_id: int, dev_id: int, dev_name: str) -> dict[str, Any]:
    name = f"Outlet {obj_id}"
    return {"object_type": "dcim.poweroutlet", "object_id": obj_id,
            "object": {"id": obj_id, "url": f"{URL}/power-outlets/{obj_id}/", "display": name,
                       "device": _ref("devices", dev_id, dev_name), "name": name,
                       "description": "", "cable": 1, "_occupied": True}}


def power_feed_end(obj_id: int, name: str) -> dict[str, Any]:
    return {"object_type": "dcim.powerfeed", "object_id": obj_id,
            "object": {"id": obj_id, "url": f"{URL}/power-feeds/{obj_id}/", "display": name,
                       "name": name, "description": "", "cable": 1, "_occupied": True}}


def power_feed(obj_id: int, name: str, panel_id: int, panel: str) -> dict[str, Any]:
    """A feed as ``/api/dcim/power-feeds/`` lists it (NetBox 4.x fields)."""
    return {"id": obj_id, "url": f"{URL}/power-feeds/{obj_id}/", "display": name,
            "power_panel": {"id": panel_id, "url": f"{URL}/power-panels/{panel_id}/",
                            "display": panel, "name": panel, "description": ""},
            "rack": None, "name": name, "status": {"value": "active", "label": "Active"},
            "type": {"value": "primary", "label": "Primary"},
            "supply": {"value": "ac", "label": "AC"},
            "phase": {"value": "three-phase", "label": "Three-phase"},
            "voltage": 400, "amperage": 32, "max_utilization": 80, "mark_connected": False,
            "cable": None, "description": "", "tenant": None, "comments": "", "tags": [],
            "custom_fields": {}}


def power_cable(obj_id: int, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {"id": obj_id, "url": f"{URL}/cables/{obj_id}/", "display": f"#{obj_id}",
            "type": "power", "a_terminations": [a], "b_terminations": [b],
            "status": {"value": "connected", "label": "Connected"}, "tenant": None,
            "label": "", "color": "", "length": None, "length_unit": None,
            "description": "", "tags": [], "custom_fields": {}}


# A rack: a top-of-rack switch, PDUs A and B fed from two feeds of one panel, three
# servers on PDU A (srv3 also on B: two power supplies), all cabled to the switch.
DEVICES = [device(1, "tor-1", "10.0.0.1"), device(2, "pdu-a", "10.0.9.1"),
           device(3, "pdu-b", "10.0.9.2"), device(4, "srv1", "10.0.1.1"),
           device(5, "srv2", "10.0.1.2"), device(6, "srv3", "10.0.1.3")]
IFACES = [interface(10 + i, 1, "tor-1", f"Gi1/0/{i}") for i in (1, 2, 3)] + [
    interface(20 + d, d, name, "eth0") for d, name in ((4, "srv1"), (5, "srv2"), (6, "srv3"))]
CABLES = [data_cable(1, IFACES[0], IFACES[3]), data_cable(2, IFACES[1], IFACES[4]),
          data_cable(3, IFACES[2], IFACES[5]),
          power_cable(10, power_port(41, 4, "srv1"), power_outlet(51, 2, "pdu-a")),
          power_cable(11, power_outlet(52, 2, "pdu-a"), power_port(42, 5, "srv2")),
          power_cable(12, power_port(43, 6, "srv3"), power_outlet(53, 2, "pdu-a")),
          power_cable(13, power_port(44, 6, "srv3", "PSU2"), power_outlet(61, 3, "pdu-b")),
          power_cable(14, power_port(45, 2, "pdu-a", "Input"), power_feed_end(7, "Feed A")),
          power_cable(15, power_port(46, 3, "pdu-b", "Input"), power_feed_end(8, "Feed B"))]
FEEDS = [power_feed(7, "Feed A", 1, "Panel 1"), power_feed(8, "Feed B", 1, "Panel 1")]


def serve_rack(source: FakeSource, cables: list[dict[str, Any]] = CABLES) -> None:
    serve_list(source, "devices", DEVICES)
    serve_list(source, "interfaces", IFACES)
    serve_list(source, "cables", cables)
    serve_list(source, "virtual-machines", [], app="virtualization")
    serve_list(source, "power-feeds", FEEDS)


def test_power_cables_make_devices_depend_on_their_pdu_and_its_feed(
        fake_source: FakeSource, store) -> None:
    serve_rack(fake_source)
    report = sync(NetboxConnector(fake_source.url, page_size=PAGE), store)
    assert not [w for w in report.warnings if "skipped" in w]
    graph = store.load()
    needs = {(e.source, e.target) for e in graph.edges if e.kind == "depends_on"}
    assert {("srv1", "pdu-a"), ("srv2", "pdu-a"), ("srv3", "pdu-a"), ("srv3", "pdu-b"),
            ("pdu-a", "power-feed/7"), ("pdu-b", "power-feed/8"),
            ("power-feed/7", "power-panel/1"), ("power-feed/8", "power-panel/1")} <= needs
    edge = next(e for e in graph.edges if (e.source, e.target) == ("srv1", "pdu-a"))
    assert edge.attrs == {"netbox_cable": 10, "via": "power"}
    feed = graph.nodes["power-feed/7"]
    assert feed.kind == "power_feed" and feed.name == "Panel 1 Feed A"
    assert graph.nodes["power-panel/1"].kind == "power_panel"
    # the servers of one PDU are one hop apart for grouping, whatever their data cables
    assert graph.neighbourhood("srv1", 2)["srv2"] == 2 and graph.reach("srv1", 2)["srv2"] == 1
    # the feed list is read once, for both feeds
    assert [p for p, _ in fake_source.requests].count("/api/dcim/power-feeds/?limit=2") == 1


def test_without_a_cable_to_a_feed_the_feed_list_is_not_read(fake_source: FakeSource,
                                                              store) -> None:
    serve_rack(fake_source, CABLES[:-2])
    sync(NetboxConnector(fake_source.url, page_size=PAGE), store)
    assert not any("power-feeds" in p for p, _ in fake_source.requests)
    assert ("srv2", "pdu-a", "depends_on") in {e.key for e in store.load().edges}


def test_a_token_that_may_not_read_power_feeds_keeps_the_feeds_without_panels(
        fake_source: FakeSource, store) -> None:
    serve_rack(fake_source)
    fake_source.routes["/api/dcim/power-feeds/?limit=2"] = Reply(
        {"detail": "You do not have permission to perform this action."}, status=403)
    report = sync(NetboxConnector(fake_source.url, page_size=PAGE), store)
    graph = store.load()
    assert graph.nodes["power-feed/7"].name == "Feed A"
    assert "power-panel/1" not in graph.nodes
    assert ("pdu-a", "power-feed/7", "depends_on") in {e.key for e in graph.edges}
    assert any("HTTP 403" in w and "without their power panels" in w
               for w in report.warnings)


def test_power_cables_of_other_shapes_are_skipped_with_a_warning(fake_source: FakeSource,
                                                                   store) -> None:
    odd = [power_cable(20, power_port(41, 4, "srv1"), power_port(42, 5, "srv2")),
           power_cable(21, power_port(47, 99, "gone"), power_outlet(51, 2, "pdu-a")),
           {**power_cable(22, power_port(41, 4, "srv1"), power_outlet(51, 2, "pdu-a")),
            "b_terminations": []}]
    serve_rack(fake_source, odd)
    report = sync(NetboxConnector(fake_source.url, page_size=PAGE), store)
    assert any("cable #20" in w and "power port and an outlet" in w for w in report.warnings)
    assert any("cable #21" in w and "no known device" in w for w in report.warnings)
    assert any("cable #22" in w for w in report.warnings)
    assert not [e for e in store.load().edges if e.kind == "depends_on"]


def test_a_pdu_that_trips_is_one_incident_named_after_the_pdu(fake_source: FakeSource,
                                                              runtime: Runtime) -> None:
    serve_rack(fake_source)
    found = NetboxConnector(fake_source.url, page_size=PAGE).collect()
    runtime.import_topology(found.nodes, found.edges, "netbox")
    # PDU A trips and says nothing; the switch logs the ports of srv1 and srv2 down at
    # once, the host checks find them down 30 and 50 s later (srv3 runs on its second
    # supply). The PDU is two hops from either server through the switch; as what both
    # servers need, it outscores the switch that holds half the alarms and the first.
    ingest(runtime, alert("p1", "tor-1:Gi1/0/1", 2), alert("p2", "tor-1:Gi1/0/2", 3),
           alert("h1", "srv1", 30, "HOST_DOWN"), alert("h2", "srv2", 50, "HOST_DOWN"))
    [incident] = incidents_of(runtime)
    assert incident["alert_count"] == 4
    top = incident["root_causes"][0]
    assert top["entity"] == "pdu-a" and top["alert_id"] is None
    assert "2 of the 3 alarming nodes within two hops need it" in top["evidence"]
