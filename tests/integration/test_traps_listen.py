"""``aiops traps listen`` as a process: real traps from Net-SNMP's snmptrap become an
alert in an engine served over real HTTP; a linkUp inform resolves it and is
acknowledged; a trap of another community is not forwarded."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.conftest import LiveServer, free_port
from tests.integration.test_webhooks_api import alert_rows
from tests.polling import wait_for

pytestmark = pytest.mark.skipif(shutil.which("snmptrap") is None or
                                shutil.which("snmpinform") is None,
                                reason="needs Net-SNMP's snmptrap and snmpinform (Debian snmp)")
IF_DESCR = "1.3.6.1.2.1.2.2.1.2.7"


def listen(tmp_path: Path, port: int, forward: str) -> subprocess.Popen[str]:
    """``aiops traps listen`` on 127.0.0.1:``port`` for community public, forwarding to
    ``forward``; its stderr piped (the first line says it is listening)."""
    return subprocess.Popen(
        [sys.executable, "-m", "aiops", "--data-dir", str(tmp_path / "d"), "traps", "listen",
         "--udp", f"127.0.0.1:{port}", "--forward", forward, "--community", "public",
         "--stats-every", "0"], stderr=subprocess.PIPE, text=True)


def test_link_down_and_up_traps_fire_and_resolve_one_alert(
        tmp_path: Path, live_server: LiveServer) -> None:
    port = free_port()
    listener = listen(tmp_path, port, live_server.url)
    try:
        first = listener.stderr.readline()
        assert first.startswith("listening on udp 127.0.0.1:"), first

        def trap(oid: str, community: str = "public") -> None:
            subprocess.run(["snmptrap", "-v", "2c", "-c", community, f"127.0.0.1:{port}", "",
                            oid, IF_DESCR, "s", "TenGigE0/0/0/7"], check=True, timeout=30)

        trap("1.3.6.1.6.3.1.1.5.3", community="private")  # another community: dropped
        trap("1.3.6.1.6.3.1.1.5.3")
        (alert,) = wait_for(lambda: alert_rows(live_server.runtime), "the linkDown alert")
        assert (alert["source"], alert["name"], alert["status"], alert["labels"]) == (
            "snmp", "LINK_DOWN", "firing", {"ifindex": "7"})
        # linkUp as an inform: acknowledged by the listener (snmpinform exits 0, no
        # "Timeout"), so the device does not retry it.
        informed = subprocess.run(
            ["snmpinform", "-v", "2c", "-c", "public", "-r", "0", "-t", "10",
             f"127.0.0.1:{port}", "", "1.3.6.1.6.3.1.1.5.4", IF_DESCR, "s", "TenGigE0/0/0/7"],
            capture_output=True, text=True, timeout=60)
        assert informed.returncode == 0, informed.stderr
        wait_for(lambda: alert_rows(live_server.runtime)[0]["status"] == "resolved",
                 "the linkUp clear")
        assert len(alert_rows(live_server.runtime)) == 1
    finally:
        listener.send_signal(signal.SIGTERM)
        out = listener.communicate(timeout=30)[1]
    assert "traps: stopped; received 2, forwarded 2, pending 0" in out


def test_snmpv3_trap_and_inform_fire_and_resolve_and_a_wrong_passphrase_is_reported(
        tmp_path: Path, live_server: LiveServer) -> None:
    """authPriv (SHA-256, AES) as Net-SNMP sends it: a trap localised to the device's
    engine id (learned on first sight), an inform to the listener's (discovered by
    snmpinform through the listener's Report, then acknowledged)."""
    port = free_port()
    users = tmp_path / "v3.yml"
    users.write_text("users:\n  - {name: netops, auth: SHA-256, auth_passphrase: authpass123,"
                     " priv: AES, priv_passphrase: privpass123}\n", encoding="utf-8")
    listener = subprocess.Popen(
        [sys.executable, "-m", "aiops", "--data-dir", str(tmp_path / "d"), "traps", "listen",
         "--udp", f"127.0.0.1:{port}", "--forward", live_server.url, "--v3-users",
         str(users), "--community", "public", "--stats-every", "0.5"],
        stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    try:
        assert listener.stderr.readline().startswith("SNMPv3: 1 users; our engine id 0x")
        assert listener.stderr.readline().startswith("listening on udp 127.0.0.1:")
        threading.Thread(target=lambda: lines.extend(listener.stderr), daemon=True).start()

        def v3(tool: str, oid: str, auth_pass: str = "authpass123") -> subprocess.CompletedProcess:
            return subprocess.run(
                [tool, "-v3", "-u", "netops", "-l", "authPriv", "-a", "SHA-256", "-A",
                 auth_pass, "-x", "AES", "-X", "privpass123", "-r", "0", "-t", "10",
                 *(["-e", "0x8000000001020304"] if tool == "snmptrap" else []),
                 f"127.0.0.1:{port}", "", oid, IF_DESCR, "s", "TenGigE0/0/0/7"],
                capture_output=True, text=True, timeout=60)

        assert v3("snmptrap", "1.3.6.1.6.3.1.1.5.3", auth_pass="wrong-pass1").returncode == 0
        assert v3("snmptrap", "1.3.6.1.6.3.1.1.5.3").returncode == 0
        (alert,) = wait_for(lambda: alert_rows(live_server.runtime), "the v3 linkDown alert")
        assert (alert["name"], alert["status"], alert["labels"]) == (
            "LINK_DOWN", "firing", {"ifindex": "7"})
        informed = v3("snmpinform", "1.3.6.1.6.3.1.1.5.4")
        assert informed.returncode == 0, informed.stderr  # acknowledged, not "Timeout"
        wait_for(lambda: alert_rows(live_server.runtime)[0]["status"] == "resolved",
                 "the v3 linkUp clear")
        wait_for(lambda: any("1 SNMPv3 refused" in line for line in lines),
                 "the refused trap counted")
    finally:
        listener.send_signal(signal.SIGTERM)
        listener.wait(timeout=30)
    out = "".join(lines)
    assert "traps: stopped; received 2, forwarded 2, pending 0" in out
    assert "(user 'netops') refused: a wrong digest" in out


def test_an_snmpv3_datagram_pysnmp_chokes_on_does_not_stop_the_receiver() -> None:
    """One unauthenticated datagram whose privacy parameters claim a length of 2^63
    made pysnmp raise OverflowError, not ValueError: it went through the handler and
    ended the UDP receiving thread, and every trap after it was lost while the process
    went on running. It must be counted as unreadable and the next trap read."""
    from aiops.forwarder import Forwarder
    from aiops.syslog_listener import SyslogListener
    from aiops.trap_listener import TrapHandler
    from connectors.snmp_traps import load_trap_rules
    from connectors.snmp_v3 import V3Receiver, V3Settings
    from tests.unit.test_snmp_v3 import security, snmptrap, user

    sent = snmptrap(*security())
    auth = sent.index(b"\x04\x06netops\x04\x0c") + 10 + 12  # past the user and its digest
    assert sent[auth:auth + 2] == b"\x04\x08"  # the privacy parameters: 8 octets of salt
    # Now a length in 8 octets, 2^63, in place of the salt. (Reading the random salt
    # itself as the length, as this test once did, gave 2^63 or more only when its top
    # bit was set: CI drew one below, which pysnmp reads past the datagram's end as a
    # message it drops, counted refused instead.)
    crafted = sent[:auth + 1] + b"\x88\x80" + bytes(7) + sent[auth + 10:]

    rules, _ = load_trap_rules(Path("/nonexistent"))
    handler = TrapHandler(rules, Forwarder("http://127.0.0.1:9/unreachable", max_pause=0.1,
                                           timeout=1.0), None,
                          V3Receiver(V3Settings((user(),), None)))
    listener = SyslogListener(handler, ("127.0.0.1", 0), None)
    listener.start()
    try:
        port = listener.servers[0].server_address[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as device:
            device.sendto(crafted, ("127.0.0.1", port))
            wait_for(lambda: handler.stats.unreadable == 1, "the datagram counted unreadable")
        subprocess.run(["snmptrap", "-v", "2c", "-c", "public", f"127.0.0.1:{port}", "",
                        "1.3.6.1.6.3.1.1.5.3", IF_DESCR, "s", "TenGigE0/0/0/7"],
                       check=True, timeout=30)
        wait_for(lambda: handler.stats.messages == 1, "the next trap read")
    finally:
        listener.stop(timeout=2)


def test_a_handler_that_raises_on_one_datagram_does_not_end_the_receiving() -> None:
    """The UDP loop's own guard: whatever a handler lets through on one datagram (the
    bug above, or the next one) is logged, and the datagrams after it are read."""
    from aiops.forwarder import Forwarder
    from aiops.syslog_listener import ListenStats, SyslogListener

    class Raising:
        def __init__(self) -> None:
            self.stats = ListenStats()
            self.forwarder = Forwarder("http://127.0.0.1:9/unreachable", max_pause=0.1,
                                       timeout=1.0)
            self.read: list[bytes] = []

        def handle(self, data: bytes, peer: str) -> None:
            if data == b"boom":
                raise OverflowError("as pysnmp did")
            self.read.append(data)

    handler = Raising()
    listener = SyslogListener(handler, ("127.0.0.1", 0), None)
    listener.start()
    try:
        port = listener.servers[0].server_address[1]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as device:
            device.sendto(b"boom", ("127.0.0.1", port))
            device.sendto(b"after", ("127.0.0.1", port))
            wait_for(lambda: handler.read == [b"after"], "the datagram after it read")
    finally:
        listener.stop(timeout=2)


def test_link_down_traps_from_both_ends_name_the_link_by_ifindex(
        tmp_path: Path, live_server: LiveServer) -> None:
    """Two switches' linkDown traps (SNMPv1, each from its own agent address) carry only
    the ifIndex of their port; LLDP-over-SNMP discovery stored each port's ifIndex, so
    the incident tells that both ends of one link went down."""
    from aiops.store import queries
    from topology.discovery.base import GraphBuilder
    from topology.discovery.lldp_model import Chassis, DeviceView, Neighbour, Port, add_view

    core = Chassis("core-1", None, ["192.0.2.1"])
    dist = Chassis("dist-1", None, ["192.0.2.2"])
    builder = GraphBuilder("lldp")
    add_view(builder, DeviceView(core, [Neighbour("Te1/0/1", dist, Port("ifname", "Te0/1"),
                                                  local_ifindex=10101)]), "snmp 192.0.2.1")
    add_view(builder, DeviceView(dist, [Neighbour("Te0/1", core, Port("ifname", "Te1/0/1"),
                                                  local_ifindex=3)]), "snmp 192.0.2.2")
    live_server.runtime.import_topology(list(builder.nodes.values()),
                                        list(builder.edges.values()), "lldp")
    port = free_port()
    listener = listen(tmp_path, port, live_server.url)
    try:
        assert listener.stderr.readline().startswith("listening on udp 127.0.0.1:")
        for agent, index in (("192.0.2.1", "10101"), ("192.0.2.2", "3")):
            # SNMPv1 generic trap 2 is linkDown (RFC 1157); only the required varbinds
            subprocess.run(["snmptrap", "-v", "1", "-c", "public", f"127.0.0.1:{port}",
                            "1.3.6.1.4.1.9.1.1", agent, "2", "0", "",
                            f"1.3.6.1.2.1.2.2.1.1.{index}", "i", index], check=True,
                           timeout=30)
        wait_for(lambda: len(alert_rows(live_server.runtime)) == 2, "both linkDown alerts")

        def told() -> list[str]:
            with live_server.runtime.db.connect() as conn:
                found = queries.list_incidents(conn)
            return [line for inc in found for rc in inc["root_causes"] or []
                    for line in rc["evidence"] if "two ends of one link" in line]

        lines = wait_for(told, "the link told in the evidence")
        assert any(line.startswith("its Te1/0/1 (ifIndex 10101) and dist-1's Te0/1 "
                                   "(ifIndex 3) are the two ends of one link")
                   for line in lines), lines
    finally:
        listener.send_signal(signal.SIGTERM)
        listener.communicate(timeout=30)
