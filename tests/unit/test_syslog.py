"""Syslog parsing (RFC 5424, RFC 3164, Cisco IOS's own header), TCP framing, and the
rules that make alert conditions of network devices' messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiops.errors import InputError
from connectors.syslog import MAX_MESSAGE_BYTES, TcpFramer, parse_syslog
from connectors.syslog_rules import load_rules

NOW = 1_800_000_000.0
PEER = "192.0.2.7"


def test_rfc5424_header_structured_data_bom_and_zone() -> None:
    line = (b'<165>1 2026-11-22T16:20:05.5+01:00 pe-2.example.net rpd 1234 ID47 '
            b'[exampleSDID@32473 iut="3" eventSource="Application"] \xef\xbb\xbfBGP peer down')
    m = parse_syslog(line, PEER, 1_795_360_815.0)  # arrived 10 s later
    assert (m.host, m.app, m.facility, m.severity) == ("pe-2.example.net", "rpd", 20, 5)
    assert m.timestamp == 1_795_360_805.5 and m.text == "BGP peer down" and m.msgid == "ID47"
    # A device whose clock was never set: its time says nothing, the arrival does.
    unset = parse_syslog(b"<165>1 1993-03-01T00:00:07Z sw-9 - - - - boot", PEER, NOW)
    assert unset.timestamp == NOW
    nil = parse_syslog(b"<14>1 - - - - - - no header at all", PEER, NOW)
    assert (nil.host, nil.app, nil.timestamp, nil.text) == (PEER, "", NOW, "no header at all")


def test_rfc3164_and_cisco_headers_and_a_message_with_no_header() -> None:
    bsd = parse_syslog(b"<30>Nov  2 16:20:05 srv1 kernel[0]: e1000e: eth0 NIC Link is Down",
                       PEER, NOW)
    assert (bsd.host, bsd.app, bsd.severity, bsd.timestamp) == ("srv1", "kernel", 6, NOW)
    assert bsd.text == "e1000e: eth0 NIC Link is Down"
    cisco = parse_syslog(b"<187>123: core-1: *Nov 22 16:20:05.123 UTC: %LINK-3-UPDOWN: "
                         b"Interface Gi0/1, changed state to down", PEER, NOW)
    assert cisco.host == "core-1" and cisco.text.startswith("%LINK-3-UPDOWN")
    anonymous = parse_syslog(b"<187>45: *Mar  1 00:01:02.345: %LINEPROTO-5-UPDOWN: x", PEER,
                             NOW)
    assert anonymous.host == PEER and anonymous.text == "%LINEPROTO-5-UPDOWN: x"
    # "service sequence-numbers" (and origin-id): a number is not a host
    numbered = parse_syslog(b"<189>24: 000023: *Mar  1 00:01:02: %LINK-3-UPDOWN: y", PEER, NOW)
    assert numbered.host == PEER and numbered.text == "%LINK-3-UPDOWN: y"
    both = parse_syslog(b"<189>24: core-1: 000023: *Mar  1 00:01:02: %LINK-3-UPDOWN: y", PEER,
                        NOW)
    assert both.host == "core-1"
    nxos = parse_syslog(b"<187>2026 Nov 22 16:20:05 n9k-1 %ETHPORT-5-IF_UP: Interface "
                        b"Ethernet1/5 is up in mode access", PEER, NOW)
    assert nxos.host == "n9k-1" and nxos.text.startswith("%ETHPORT-5-IF_UP")
    mapped = parse_syslog(b"<13>plain", "::ffff:192.0.2.9", NOW)
    assert (mapped.host, mapped.peer) == ("192.0.2.9", "192.0.2.9")
    bare = parse_syslog(b"<13>just text\r\n", PEER, NOW)
    assert (bare.host, bare.text) == (PEER, "just text")
    odd = parse_syslog(b"<13>\xff\xfe bytes", PEER, NOW)  # not UTF-8: replaced, kept
    assert odd.text.endswith("bytes")


def test_a_nul_inside_a_message_is_replaced_not_refused() -> None:
    """The engine refuses text with NUL (PostgreSQL cannot store it), so such an event
    was lost; now a NUL becomes U+FFFD, as an undecodable byte does."""
    msg = parse_syslog(b"<187>Oct  3 10:00:00 edge-1 LINK: port\x00 7 down\x00\n", PEER, NOW)
    assert msg.text == "port\ufffd 7 down"


@pytest.mark.parametrize("line", [b"no pri", b"<192>too high", b"", b"<x>1 - - -"])
def test_what_does_not_start_with_a_pri_is_not_syslog(line: bytes) -> None:
    with pytest.raises(ValueError, match=f"not a syslog message from {PEER}"):
        parse_syslog(line, PEER, NOW)


def test_tcp_framing_by_octet_count_and_by_line() -> None:
    framer = TcpFramer()
    message = b"<13>1 - h a - - - hello\nworld"  # a counted frame may hold a newline
    assert framer.feed(b"%d %s" % (len(message), message[:10])) == []
    assert framer.feed(message[10:] + b"<13>second line\n<13>par") == [
        message, b"<13>second line"]
    assert framer.feed(b"tial\r\n\n") == [b"<13>partial"]
    assert framer.feed(b"<13>last, no newline") == []
    assert framer.close() == [b"<13>last, no newline"]
    # A line that starts with digits and a space is a line, not a length (RFC 6587's
    # counted frames hold a message that starts with "<").
    assert TcpFramer().feed(b"12 monkeys and a syslog line\n") == [
        b"12 monkeys and a syslog line"]
    assert TcpFramer().feed(b"500 Internal Server Error\n<13>next\n") == [
        b"500 Internal Server Error", b"<13>next"]
    # A count larger than a frame is kept: the first MAX_MESSAGE_BYTES, the rest skipped
    # as it comes (not held), and the next frame read where it starts.
    framer = TcpFramer()
    big = b"<13>" + b"z" * (3 * MAX_MESSAGE_BYTES)
    stream = b"%d %s" % (len(big), big) + b"5 <13>x<13>line\n"
    out = [f for at in range(0, len(stream), 40_000) for f in framer.feed(
        stream[at:at + 40_000])]
    assert out == [big[:MAX_MESSAGE_BYTES], b"<13>x", b"<13>line"]
    long = TcpFramer().feed(b"<13>" + b"x" * (MAX_MESSAGE_BYTES + 10))
    assert len(long) == 1 and len(long[0]) == MAX_MESSAGE_BYTES


@pytest.mark.parametrize(("down", "up", "name", "labels"), [
    (b"<187>123: core-1: *Nov 22 16:20:05.123: %LINK-3-UPDOWN: Interface "
     b"GigabitEthernet0/1, changed state to down",
     b"<189>124: core-1: *Nov 22 16:21:05.123: %LINK-3-UPDOWN: Interface "
     b"GigabitEthernet0/1, changed state to up", "LINK_DOWN",
     {"interface": "GigabitEthernet0/1"}),
    (b"<189>Nov 22 16:20:05 core-1 88: %BGP-5-ADJCHANGE: neighbor 10.0.0.9 vpn vrf CUST Down "
     b"BGP Notification sent", b"<189>Nov 22 16:22:05 core-1 89: %BGP-5-ADJCHANGE: neighbor "
     b"10.0.0.9 vpn vrf CUST Up", "BGP_PEER_DOWN", {"peer": "10.0.0.9", "vrf": "CUST"}),
    (b"<189>1 2026-11-22T16:20:05Z mx1 mib2d 55 SNMP_TRAP_LINK_DOWN - SNMP_TRAP_LINK_DOWN: "
     b"ifIndex 530, ifAdminStatus up(1), ifOperStatus down(2), ifName ge-0/0/1",
     b"<189>1 2026-11-22T16:25:05Z mx1 mib2d 55 SNMP_TRAP_LINK_UP - SNMP_TRAP_LINK_UP: "
     b"ifIndex 530, ifAdminStatus up(1), ifOperStatus up(1), ifName ge-0/0/1", "LINK_DOWN",
     {"interface": "ge-0/0/1"}),
    (b"<28>1 2026-11-22T16:20:05Z pe-2 rpd 9 - - BGP_PEER_STATE_CHANGED: BGP peer 10.1.1.1 "
     b"(External AS 65001) changed state from Established to Idle (event RecvNotify)",
     b"<29>1 2026-11-22T16:29:05Z pe-2 rpd 9 - - BGP_PEER_STATE_CHANGED: BGP peer 10.1.1.1 "
     b"(External AS 65001) changed state from OpenConfirm to Established (event RecvKeepAlive)",
     "BGP_PEER_DOWN", {"peer": "10.1.1.1"}),
    (b"<189>Nov 22 16:20:05 core-1 10: %LINEPROTO-5-UPDOWN: Line protocol on Interface "
     b"Serial0/0, changed state to down", b"<189>Nov 22 16:20:35 core-1 11: %LINEPROTO-5-"
     b"UPDOWN: Line protocol on Interface Serial0/0, changed state to up", "LINEPROTO_DOWN",
     {"interface": "Serial0/0"}),
    (b"<189>Nov 22 16:20:05 core-1 12: %OSPF-5-ADJCHG: Process 1, Nbr 10.0.0.2 on Gi0/1 "
     b"from FULL to DOWN, Neighbor Down: Dead timer expired",
     b"<189>Nov 22 16:21:05 core-1 13: %OSPF-5-ADJCHG: Process 1, Nbr 10.0.0.2 on Gi0/1 "
     b"from LOADING to FULL, Loading Done", "OSPF_ADJACENCY_DOWN",
     {"neighbor": "10.0.0.2", "interface": "Gi0/1"}),
    (b"<187>2026 Nov 22 16:20:05 n9k-1 %ETHPORT-5-IF_DOWN_LINK_FAILURE: Interface "
     b"Ethernet1/5 is down (Link failure)", b"<189>2026 Nov 22 16:21:05 n9k-1 "
     b"%ETHPORT-5-IF_UP: Interface Ethernet1/5 is up in mode access", "LINK_DOWN",
     {"interface": "Ethernet1/5"}),
    (b"<187>RP/0/RSP0/CPU0:Nov 22 16:20:05.123 UTC: ifmgr[215]: %PKT_INFRA-LINK-3-UPDOWN : "
     b"Interface TenGigE0/0/0/1, changed state to Down", b"<187>RP/0/RSP0/CPU0:Nov 22 "
     b"16:21:05.123 UTC: ifmgr[215]: %PKT_INFRA-LINK-3-UPDOWN : Interface TenGigE0/0/0/1, "
     b"changed state to Up", "LINK_DOWN", {"interface": "TenGigE0/0/0/1"}),
    # Junos in RFC 5424 with structured data: the event's name is the MSGID only.
    (b'<28>1 2026-11-22T16:20:05.123Z mx1 mib2d 2095 SNMP_TRAP_LINK_DOWN '
     b'[junos@2636.1.1.1.2.39 snmp-interface-index="116" admin-status="up(1)" '
     b'operational-status="down(2)" interface-name="ge-0/0/1.0"] ifIndex 116, ifAdminStatus '
     b'up(1), ifOperStatus down(2), ifName ge-0/0/1.0',
     b'<28>1 2026-11-22T16:21:05.123Z mx1 mib2d 2095 SNMP_TRAP_LINK_UP '
     b'[junos@2636.1.1.1.2.39 snmp-interface-index="116" admin-status="up(1)" '
     b'operational-status="up(1)" interface-name="ge-0/0/1.0"] ifIndex 116, ifAdminStatus '
     b'up(1), ifOperStatus up(1), ifName ge-0/0/1.0', "LINK_DOWN", {"interface": "ge-0/0/1.0"}),
    (b"<30>Nov 22 16:20:05 srv1 kernel: [9.1] e1000e: eth0 NIC Link is Down",
     b"<30>Nov 22 16:20:09 srv1 kernel: [13.2] e1000e: eth0 NIC Link is Up 1000 Mbps Full",
     "NIC_LINK_DOWN", {"interface": "eth0"}),
])
def test_built_in_rules_fire_and_clear_one_condition(down: bytes, up: bytes, name: str,
                                                     labels: dict) -> None:
    rules, errors = load_rules(None)
    assert errors == []
    at = 1_795_364_405.0  # 2026-11-22T16:20:05Z, as the RFC 5424 samples say
    fired = rules.event(parse_syslog(down, PEER, at))
    cleared = rules.event(parse_syslog(up, PEER, at + 60))
    assert fired is not None and cleared is not None
    assert (fired["state"], cleared["state"]) == ("firing", "clear")
    assert fired["name"] == cleared["name"] == name
    assert fired["host"] == cleared["host"] and fired["labels"] == cleared["labels"] == labels
    assert "since" in fired and "ended" in cleared and "since" not in cleared


def test_a_peer_cycling_through_down_states_fires_once() -> None:
    """Idle, Active, Connect while the peer stays down: only leaving Established fires."""
    rules, _ = load_rules(None)
    line = (b"<28>1 2026-11-22T16:20:05Z pe-2 rpd 9 - - BGP_PEER_STATE_CHANGED: BGP peer "
            b"10.1.1.1 (External AS 65001) changed state from %s to %s (event X)")
    events = [rules.event(parse_syslog(line % pair, PEER, 1_795_364_405.0)) for pair in
              ((b"Established", b"Idle"), (b"Idle", b"Connect"), (b"Connect", b"Active"),
               (b"Active", b"Idle"), (b"OpenConfirm", b"Established"))]
    assert [e["state"] if e else None for e in events] == [
        "firing", None, None, None, "clear"]


def test_no_line_stalls_the_rules() -> None:
    """A 64 KB datagram built to make a regular expression backtrack."""
    import time

    rules, _ = load_rules(None)
    for filler in (b"a" * MAX_MESSAGE_BYTES, b"a." * (MAX_MESSAGE_BYTES // 2),
                   b"%LINK-3-UPDOWN: Interface " + b"x" * MAX_MESSAGE_BYTES):
        message = parse_syslog(b"<13>" + filler, PEER, NOW)
        started = time.perf_counter()
        assert rules.event(message) is None
        assert time.perf_counter() - started < 0.5


def test_a_state_that_neither_fires_nor_clears_and_chatter_make_no_event() -> None:
    rules, _ = load_rules(None)
    loading = (b"<189>Nov 22 16:20:05 core-1 9: %OSPF-5-ADJCHG: Process 1, Nbr 10.0.0.2 on "
               b"Gi0/1 from EXSTART to LOADING, Exchange Done")
    assert rules.event(parse_syslog(loading, PEER, NOW)) is None
    down = loading.replace(b"EXSTART to LOADING", b"FULL to DOWN")
    assert rules.event(parse_syslog(down, PEER, NOW))["name"] == "OSPF_ADJACENCY_DOWN"
    assert rules.event(parse_syslog(b"<189>Nov 22 16:20:05 core-1 sshd: login ok", PEER,
                                    NOW)) is None


def test_own_rules_come_first_replace_built_ins_by_name_and_bad_files_are_named(
        tmp_path: Path) -> None:
    (tmp_path / "site.yml").write_text(
        "- name: cisco-link\n  alert: PORT_DOWN\n  match: 'Interface (?P<port>\\S+), changed "
        "state to (?P<s>\\w+)'\n  state: {group: s, fire: [down], clear: [up]}\n"
        "  labels: [port]\n- name: psu\n  alert: PSU_FAIL\n  match: 'PSU (?P<unit>\\d) failed'"
        "\n  state: fire\n  severity: critical\n  summary: 'power supply {unit} failed'\n")
    (tmp_path / "bad.yml").write_text("- name: x\n  alert: X\n  match: '(unclosed'\n"
                                      "  state: fire\n")
    rules, errors = load_rules(tmp_path)
    names = [r.name for r in rules.rules]
    assert names[:2] == ["cisco-link", "psu"] and names.count("cisco-link") == 1
    event = rules.event(parse_syslog(b"<187>x: %LINK-3-UPDOWN: Interface Gi0/3, changed state "
                                     b"to down", PEER, NOW))
    assert (event["name"], event["labels"]) == ("PORT_DOWN", {"port": "Gi0/3"})
    psu = rules.event(parse_syslog(b"<10>PSU 2 failed", PEER, NOW))
    assert (psu["severity"], psu["summary"]) == ("critical", "power supply 2 failed")
    (error,) = errors
    assert error.startswith("bad.yml: rule 1 (x): match is not a regular expression")


@pytest.mark.parametrize(("rule", "message"), [
    ("- {name: a, alert: A, match: x}", "rule 1: 'state' is required"),
    ("- {name: a, alert: A, match: x, state: fire, colour: red}", "unknown key 'colour'"),
    ("- {name: a, alert: A, match: x, state: fire, 1: one, colour: red}", "unknown key '1'"),
    ("- {name: a, alert: A, match: 'x', state: {group: s, fire: [down]}}",
     "state.group 's' is not a named group of match"),
    ("- {name: a, alert: A, match: '(?P<s>x)', state: {group: s}}",
     "state needs the values that fire or clear"),
    ("- {name: a, alert: A, match: '(?P<s>x)', state: fire, labels: [port]}",
     "label 'port' is not a named group of match"),
    ("- {name: a, alert: A, match: x, state: fire, severity: urgent}",
     "severity must be one of critical"),
    ("- {name: 'a b', alert: A, match: x, state: fire}", "'name' must be 1-128 letters"),
    ("{name: a}", "expected a list of rules"),
    ("- {name: a, alert: A, match: x, state: sometimes}", "state must be fire, clear, or"),
])
def test_a_bad_rule_is_refused_by_file_rule_and_key(tmp_path: Path, rule: str,
                                                    message: str) -> None:
    (tmp_path / "r.yml").write_text(rule + "\n")
    _, errors = load_rules(tmp_path)
    assert len(errors) == 1 and errors[0].startswith("r.yml") and message in errors[0]
    with pytest.raises(InputError):
        from connectors.syslog_rules import read_rules
        read_rules(tmp_path / "r.yml")
