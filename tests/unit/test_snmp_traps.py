"""SNMP traps: v1 and v2c decoded from what Net-SNMP's snmptrap sends, the built-in
rules firing and clearing one condition, and bad rule files refused by name."""

from __future__ import annotations

import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from connectors.snmp_traps import decode_trap, load_trap_rules

pytestmark = pytest.mark.skipif(shutil.which("snmptrap") is None,
                                reason="needs Net-SNMP's snmptrap (Debian snmp)")
IF_INDEX, IF_DESCR = "1.3.6.1.2.1.2.2.1.1.3", "1.3.6.1.2.1.2.2.1.2.3"


def received(*args: str) -> tuple[bytes, str]:
    """One datagram as Net-SNMP's snmptrap sends it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        port = sock.getsockname()[1]
        version, *rest = args
        subprocess.run(["snmptrap", "-v", version, "-c", "public", f"127.0.0.1:{port}", *rest],
                       check=True, timeout=30)
        data, peer = sock.recvfrom(65535)
        return data, peer[0]


def test_link_down_in_v2c_and_link_up_in_v1_are_one_condition() -> None:
    rules, errors = load_trap_rules(None)
    assert errors == []
    down = decode_trap(*received("2c", "", "1.3.6.1.6.3.1.1.5.3", IF_INDEX, "i", "3",
                                 IF_DESCR, "s", "GigabitEthernet0/3"))
    assert (down.version, down.community, down.oid, down.device) == (
        "2c", "public", "1.3.6.1.6.3.1.1.5.3", "127.0.0.1")
    # SNMPv1: generic trap 3 is linkUp (RFC 3584), the agent address names the device
    up = decode_trap(*received("1", "1.3.6.1.4.1.9.1.1", "192.0.2.7", "3", "0", "",
                               IF_DESCR, "s", "GigabitEthernet0/3"))
    assert (up.version, up.oid, up.device) == ("1", "1.3.6.1.6.3.1.1.5.4", "192.0.2.7")
    fired, cleared = rules.event(down, 1.0), rules.event(up, 2.0)
    assert (fired["state"], cleared["state"]) == ("firing", "clear")
    assert fired["name"] == cleared["name"] == "LINK_DOWN"
    assert fired["labels"] == cleared["labels"] == {"ifindex": "3"}
    assert "GigabitEthernet0/3" in fired["summary"]
    assert (fired["since"], cleared["ended"]) == (1.0, 2.0)


def test_a_link_is_its_ifindex_whichever_varbinds_each_trap_carries() -> None:
    """A linkDown with only the required IF-MIB varbinds and a linkUp with ifName too."""
    rules, _ = load_trap_rules(None)
    down = decode_trap(*received("2c", "", "1.3.6.1.6.3.1.1.5.3", IF_INDEX, "i", "3",
                                 "1.3.6.1.2.1.2.2.1.7.3", "i", "1",
                                 "1.3.6.1.2.1.2.2.1.8.3", "i", "2"))
    up = decode_trap(*received("2c", "", "1.3.6.1.6.3.1.1.5.4",
                               "1.3.6.1.2.1.31.1.1.1.1.3", "s", "Port-é"))
    assert rules.event(down, 1.0)["labels"] == rules.event(up, 2.0)["labels"] == {
        "ifindex": "3"}
    assert "Port-é" in rules.event(up, 2.0)["summary"]  # UTF-8, not pyasn1's hex


def test_rfc1657_bgp_traps_sent_as_snmpv1_match() -> None:
    """RFC 3584: enterprise bgpTraps (1.3.6.1.2.1.15.7), specific 2 is
    bgpBackwardTransition, read back as 1.3.6.1.2.1.15.7.0.2."""
    rules, _ = load_trap_rules(None)
    trap = decode_trap(*received("1", "1.3.6.1.2.1.15.7", "192.0.2.7", "6", "2", "",
                                 "1.3.6.1.2.1.15.3.1.2.10.0.0.9", "i", "1"))
    event = rules.event(trap, 1.0)
    assert (trap.oid, event["name"], event["labels"]) == (
        "1.3.6.1.2.1.15.7.0.2", "BGP_PEER_DOWN", {"peer": "10.0.0.9"})


def test_an_inform_is_acknowledged_so_its_sender_stops_retrying() -> None:
    """Net-SNMP's snmpinform waits for the Response this receiver sends back."""
    if shutil.which("snmpinform") is None:
        pytest.skip("needs snmpinform")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(10)
        sender = subprocess.Popen(
            ["snmpinform", "-v", "2c", "-c", "public", "-r", "0", "-t", "5",
             f"127.0.0.1:{sock.getsockname()[1]}", "", "1.3.6.1.6.3.1.1.5.3", IF_INDEX, "i",
             "3"], stderr=subprocess.PIPE, text=True)
        data, peer = sock.recvfrom(65535)
        trap = decode_trap(data, peer[0])
        assert trap.oid == "1.3.6.1.6.3.1.1.5.3" and trap.answer
        sock.sendto(trap.answer, peer)
        assert sender.wait(timeout=30) == 0, sender.stderr.read()  # no "Timeout"


def test_bgp_peer_from_the_index_and_a_proxy_s_trap_address() -> None:
    rules, _ = load_trap_rules(None)
    trap = decode_trap(*received("2c", "", "1.3.6.1.2.1.15.0.2",
                                 "1.3.6.1.2.1.15.3.1.2.10.0.0.9", "i", "1",
                                 "1.3.6.1.6.3.18.1.3.0", "a", "198.51.100.4"))
    event = rules.event(trap, 1.0)
    assert (event["host"], event["name"], event["labels"]) == (
        "198.51.100.4", "BGP_PEER_DOWN", {"peer": "10.0.0.9"})
    cold = decode_trap(*received("2c", "", "1.3.6.1.6.3.1.1.5.1"))  # coldStart: no rule
    assert rules.event(cold, 1.0) is None


@pytest.mark.parametrize("data", [
    b"junk", b"", b"\x30\x03\x02\x01\x05",
    bytes.fromhex("308002010104067075626c6963a78000000000"),  # crafted: pyasn1 raised
    # a v2c GetRequest and a Response for sysDescr.0: not traps
    bytes.fromhex("302602010104067075626c6963a019020101020100020100300e300c06082b0601020101"
                  "00000500"),
    bytes.fromhex("302602010104067075626c6963a219020101020100020100300e300c06082b0601020101"
                  "00000500"),
])
def test_what_is_not_a_v1_or_v2c_trap_is_refused_by_sender(data: bytes) -> None:
    with pytest.raises(ValueError, match="from 192.0.2.1"):
        decode_trap(data, "192.0.2.1")


@pytest.mark.parametrize(("rule", "message"), [
    ("- {name: a, alert: A, trap: 1.3.6.1}", "rule 1: 'state' is required"),
    ("- {name: a, alert: A, trap: linkDown, state: fire}", "trap must be a numeric OID"),
    ("- {name: a, alert: A, trap: 1.3.6, state: sometimes}", "state must be fire or clear"),
    ("- {name: a, alert: A, trap: 1.3.6, state: fire, labels: {x: [ifName]}}",
     "labels.x must be a numeric OID"),
    ("- {name: a, alert: A, trap: 1.3.6, state: fire, mib: IF-MIB}", "unknown key 'mib'"),
])
def test_a_bad_trap_rule_is_refused_by_file_rule_and_key(tmp_path: Path, rule: str,
                                                         message: str) -> None:
    (tmp_path / "t.yml").write_text(rule + "\n")
    rules, errors = load_trap_rules(tmp_path)
    assert len(errors) == 1 and errors[0].startswith("t.yml") and message in errors[0]
    assert len(rules.rules) == 4  # the built-ins still load
