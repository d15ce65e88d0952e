"""LLDP: lldpcli JSON (both formats, saved from real lldpd 1.0.16) and LLDP-MIB varbinds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiops.errors import InputError
from tests.discovery.conftest import DATA
from topology.discovery.base import GraphBuilder
from topology.discovery.lldp import LldpConnector
from topology.discovery.lldp_mib import LLDP_MIB, parse_lldp_mib
from topology.discovery.lldp_model import add_view
from topology.discovery.lldpcli import parse_local_chassis, parse_neighbors
from topology.discovery.snmp import Varbind


def test_lldpcli_json_with_two_neighbours() -> None:
    doc = json.loads((DATA / "lldpcli-sw2.json").read_text())
    found = parse_neighbors(doc, "sw2.json")
    assert [(n.local_port, n.chassis.sysname, n.port.name) for n in found] == [
        ("eth0", "sw1.lab.example", "eth0"), ("eth1", "sw3.lab.example", "eth0")]
    assert found[0].chassis.mgmt_ips == ["10.250.12.1"]
    assert found[0].chassis.chassis_id == "32:7c:4b:01:b8:d8"


def test_lldpcli_json_with_one_neighbour_and_two_addresses() -> None:
    doc = json.loads((DATA / "lldpcli-sw1.json").read_text())
    (only,) = parse_neighbors(doc, "sw1.json")
    assert only.local_port == "eth0" and only.chassis.sysname == "sw2.lab.example"
    assert only.chassis.mgmt_ips == ["10.250.12.2", "10.250.23.2"]


def test_json0_reads_the_same_as_json() -> None:
    plain = parse_neighbors(json.loads((DATA / "lldpcli-sw2.json").read_text()), "a")
    json0 = parse_neighbors(json.loads((DATA / "lldpcli-json0-sw2.json").read_text()), "b")
    assert [(n.local_port, n.chassis.sysname, n.chassis.chassis_id, n.port.name)
            for n in plain] == [(n.local_port, n.chassis.sysname, n.chassis.chassis_id,
                                 n.port.name) for n in json0]


def test_chassis_without_a_name_and_ifname_ports() -> None:
    doc = {"lldp": {"interface": {"Gi0/1": {
        "chassis": {"id": {"type": "mac", "value": "00:11:22:33:44:55"}},
        "port": {"id": {"type": "ifname", "value": "xe-0/0/1"}, "descr": "uplink to core"}}}}}
    (n,) = parse_neighbors(doc, "x")
    assert n.chassis.sysname is None and n.chassis.node_id == "chassis-00:11:22:33:44:55"
    assert n.port.name == "xe-0/0/1"  # an ifname port id beats a free-text description


def test_no_neighbours_is_empty() -> None:
    assert parse_neighbors({"lldp": {}}, "x") == []
    assert parse_neighbors({"lldp": [{"interface": []}]}, "x") == []


def test_local_chassis() -> None:
    doc = {"local-chassis": {"chassis": {"sw2.lab.example": {
        "id": {"type": "mac", "value": "e6:e5:85:cf:06:11"},
        "mgmt-ip": ["10.250.12.2", "10.250.23.2"]}}}}
    chassis = parse_local_chassis(doc, "x")
    assert chassis.sysname == "sw2.lab.example" and chassis.mgmt_ips[0] == "10.250.12.2"


def test_files_build_devices_interfaces_and_links() -> None:
    found = LldpConnector(files=[str(DATA / "lldpcli-sw2.json")],
                          hosts=["sw2.lab.example"]).collect()
    nodes = {n.id: n for n in found.nodes}
    assert nodes["sw1.lab.example"].attrs["fqdn"] == "sw1.lab.example"
    assert nodes["sw1.lab.example"].attrs["hostname"] == "sw1"
    assert nodes["sw2.lab.example:eth1"].attrs == {"device": "sw2.lab.example",
                                                   "ifname": "eth1"}
    keys = {e.key for e in found.edges}
    assert ("sw1.lab.example", "sw2.lab.example", "connected_to") in keys
    assert ("sw2.lab.example", "sw3.lab.example", "connected_to") in keys
    assert ("sw1.lab.example:eth0", "sw2.lab.example:eth0", "connected_to") in keys
    assert ("sw2.lab.example:eth1", "sw2.lab.example", "part_of") in keys


def test_host_defaults_to_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "edge-7.json"
    path.write_bytes((DATA / "lldpcli-sw1.json").read_bytes())
    found = LldpConnector(files=[str(path)]).collect()
    assert ("edge-7", "sw2.lab.example", "connected_to") in {e.key for e in found.edges}


@pytest.mark.parametrize(("content", "message"), [
    (b"", "file is empty"),
    (b'{"lldp": {"interface": ', "malformed JSON"),
    (b'{"interfaces": []}', "not lldpcli JSON output"),
    (b'{"lldp": {"interface": {"eth0": {"chassis": {}}}}}', "needs 'chassis' and 'port'"),
    (b"\xff\xfe", "not valid UTF-8"),
])
def test_bad_files_are_named(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "sw9.json"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as err:
        LldpConnector(files=[str(path)]).collect()
    assert "sw9.json" in str(err.value)


def test_nothing_to_read_is_refused() -> None:
    with pytest.raises(InputError, match="nothing to read"):
        LldpConnector()
    with pytest.raises(InputError, match="one --host per --from-file"):
        LldpConnector(files=["a.json", "b.json"], hosts=["a"])


def _mib(*rows: tuple[tuple[int, ...], object]) -> list[Varbind]:
    return [((*LLDP_MIB, 1, *oid), value) for oid, value in rows]  # type: ignore[misc]


# The walk of lldpd 1.0.16's AgentX subagent on sw2, as snmpwalk showed it.
SW2_WALK = _mib(
    ((3, 1, 0), 4), ((3, 2, 0), bytes.fromhex("e6e585cf0611")),
    ((3, 3, 0), b"sw2.lab.example"), ((3, 4, 0), b"Debian GNU/Linux 12 (bookworm)"),
    ((3, 7, 1, 2, 5), 3), ((3, 7, 1, 2, 8), 3),
    ((3, 7, 1, 3, 5), bytes.fromhex("e6e585cf0611")),
    ((3, 7, 1, 3, 8), bytes.fromhex("f27c3db41ca1")),
    ((3, 7, 1, 4, 5), b"eth0"), ((3, 7, 1, 4, 8), b"eth1"),
    ((3, 8, 1, 3, 1, 4, 10, 250, 12, 2), 5), ((3, 8, 1, 3, 1, 4, 10, 250, 23, 2), 5),
    ((4, 1, 1, 4, 200, 5, 1), 4), ((4, 1, 1, 4, 200, 8, 2), 4),
    ((4, 1, 1, 5, 200, 5, 1), bytes.fromhex("327c4b01b8d8")),
    ((4, 1, 1, 5, 200, 8, 2), bytes.fromhex("16178ffd948f")),
    ((4, 1, 1, 6, 200, 5, 1), 3), ((4, 1, 1, 6, 200, 8, 2), 3),
    ((4, 1, 1, 7, 200, 5, 1), bytes.fromhex("327c4b01b8d8")),
    ((4, 1, 1, 7, 200, 8, 2), bytes.fromhex("16178ffd948f")),
    ((4, 1, 1, 8, 200, 5, 1), b"eth0"), ((4, 1, 1, 8, 200, 8, 2), b"eth0"),
    ((4, 1, 1, 9, 200, 5, 1), b"sw1.lab.example"), ((4, 1, 1, 9, 200, 8, 2), b"sw3.lab.example"),
    ((4, 2, 1, 3, 200, 5, 1, 1, 4, 10, 250, 12, 1), 2),
    ((4, 2, 1, 3, 200, 8, 2, 1, 4, 10, 250, 23, 3), 2),
)


def test_lldp_mib_view() -> None:
    view = parse_lldp_mib(SW2_WALK)
    assert view.local.sysname == "sw2.lab.example"
    assert view.local.chassis_id == "e6:e5:85:cf:06:11"
    assert view.local.mgmt_ips == ["10.250.12.2", "10.250.23.2"]
    assert [(n.local_port, n.chassis.sysname, n.chassis.chassis_id, n.chassis.mgmt_ips,
             n.port.name) for n in view.neighbours] == [
        ("eth0", "sw1.lab.example", "32:7c:4b:01:b8:d8", ["10.250.12.1"], "eth0"),
        ("eth1", "sw3.lab.example", "16:17:8f:fd:94:8f", ["10.250.23.3"], "eth0")]


def test_lldp_mib_ifname_and_local_port_ids() -> None:
    view = parse_lldp_mib(_mib(
        ((3, 3, 0), b"core-1"), ((3, 7, 1, 2, 513), 7), ((3, 7, 1, 3, 513), b"513"),
        ((3, 7, 1, 4, 513), b"ge-0/0/1"),
        ((4, 1, 1, 4, 0, 513, 3), 7), ((4, 1, 1, 5, 0, 513, 3), b"edge-chassis"),
        ((4, 1, 1, 6, 0, 513, 3), 5), ((4, 1, 1, 7, 0, 513, 3), b"Gi1/0/48"),
        ((4, 1, 1, 8, 0, 513, 3), b"to core"), ((4, 1, 1, 9, 0, 513, 3), b"edge-1")))
    (n,) = view.neighbours
    assert (n.local_port, n.port.name, n.chassis.chassis_id) == ("ge-0/0/1", "Gi1/0/48",
                                                                 "edge-chassis")


def _if_mib(*rows: tuple[tuple[int, ...], object]) -> list[Varbind]:
    return [((1, 3, 6, 1, 2, 1, *oid), value) for oid, value in rows]  # type: ignore[misc]


def test_lldp_mib_local_ports_get_their_ifindex_from_if_mib() -> None:
    # lldpd numbers its local ports by ifIndex (5, 8), but an agent need not: the ifIndex
    # is read from IF-MIB by the port's name. eth1's ifName is missing (no ifXTable on
    # some agents); its ifDescr names it.
    view = parse_lldp_mib(SW2_WALK + _if_mib(
        ((31, 1, 1, 1, 1, 1), b"lo"), ((31, 1, 1, 1, 1, 15), b"eth0"),
        ((2, 2, 1, 2, 1), b"lo"), ((2, 2, 1, 2, 15), b"eth0"), ((2, 2, 1, 2, 16), b"eth1")))
    assert [(n.local_port, n.local_ifindex) for n in view.neighbours] == [
        ("eth0", 15), ("eth1", 16)]
    builder = GraphBuilder("lldp")
    add_view(builder, view, "snmp")
    assert builder.nodes["sw2.lab.example:eth0"].attrs["ifindex"] == 15
    assert "ifindex" not in builder.nodes["sw1.lab.example:eth0"].attrs  # not its view


def test_lldp_mib_ifindex_by_abbreviated_name_and_never_by_a_shared_one() -> None:
    view = parse_lldp_mib(_mib(
        ((3, 3, 0), b"core-1"),
        ((3, 7, 1, 2, 1), 5), ((3, 7, 1, 3, 1), b"Te1/0/1"),
        ((3, 7, 1, 2, 2), 5), ((3, 7, 1, 3, 2), b"Gi0/1"),
        ((4, 1, 1, 9, 0, 1, 1), b"dist-1"), ((4, 1, 1, 7, 0, 1, 1), b"Te0/1"),
        ((4, 1, 1, 6, 0, 1, 1), 5),
        ((4, 1, 1, 9, 0, 2, 1), b"dist-2"), ((4, 1, 1, 7, 0, 2, 1), b"Gi0/9"),
        ((4, 1, 1, 6, 0, 2, 1), 5)) + _if_mib(
        ((2, 2, 1, 2, 10101), b"TenGigabitEthernet1/0/1"),
        ((2, 2, 1, 2, 7), b"GigabitEthernet0/1"), ((2, 2, 1, 2, 8), b"GigabitEthernet0/1")))
    assert [(n.local_port, n.local_ifindex) for n in view.neighbours] == [
        ("Te1/0/1", 10101), ("Gi0/1", None)]
