"""Alert sources: webhook mappings, syslog, SNMP traps and Icinga events, against peers
in the same run.

Why: a Zabbix or Nagios notification goes through a mapping before the engine, and a
syslog storm (a flapping uplink logs a line per port per second) goes through the
parser and the rules before the forwarder; neither may become the bottleneck.

- *Mapping*: ``Mapping.apply`` of the built-in Zabbix mapping on Zabbix-shaped
  payloads, against validating the same alerts given in canonical form (the peer:
  ``parse_alert``, what ``POST /api/v1/alerts`` does before the engine).
- *Syslog rules*: ``parse_syslog`` and the built-in rules on a mix of Cisco link
  lines (they match) and chatter (it does not). *Traps*: ``decode_trap`` (its fast
  SNMPv2c path) and the built-in trap rules on SNMPv2c linkDown/linkUp datagrams.
  *Icinga*: an event stream line parsed, made an item and mapped (what ``aiops icinga
  follow`` and the engine's ``icinga`` mapping do per state change). *Zabbix API*: a
  polled problem event made an item and mapped (``aiops zabbix follow``).
- *Syslog over UDP*: the same datagrams sent as fast as one Python process can to
  ``aiops syslog listen`` (forwarding to a local HTTP sink that counts events) and to
  rsyslog 8 (Debian ``rsyslog``, ``imudp`` to a file), the peer; what each received,
  and how fast.
- *Syslog over TLS*: the same lines, octet-counted, down one TLS connection with a
  client certificate to ``aiops syslog listen --tls`` and to rsyslog's ``imtcp`` with
  its OpenSSL driver (Debian ``rsyslog-openssl``); the sender keeps the connection
  open until the receiver has handled the stream.

Usage: .venv/bin/python -m benchmarks.sources [--messages 20000] [--write-docs]
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import platform
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from aiops.models import parse_alert
from benchmarks.machine import cpu_model
from benchmarks.remediation import write_section
from connectors.icinga import state_change_item
from connectors.snmp_traps import SNMP_TRAP_OID, decode_trap, load_trap_rules, v3_trap
from connectors.syslog import parse_syslog
from connectors.syslog_rules import load_rules
from connectors.webhook_mapping import find_mapping
from connectors.zabbix_api import problem_item

# The throw-away certificates of the TLS tests: the benchmark needs the same kind.
from tests.tls_certs import OPENSSL, Certificates, close_after_read, make_certificates

START, END = "<!-- sources:start -->", "<!-- sources:end -->"
RSYSLOGD = "/usr/sbin/rsyslogd"
HOLD_LIMIT = 30.0  # seconds a TLS sender waits for the receiver to handle its stream


def zabbix_payloads(n: int) -> list[dict[str, str]]:
    return [{"event_id": str(100_000 + i), "event_value": "1" if i % 4 else "0",
             "event_name": f"Interface Gi0/{i % 48}: link down", "event_date": "2026.11.22",
             "event_time": f"16:{(i // 60) % 60:02d}:{i % 60:02d}",
             "recovery_date": "" if i % 4 else "2026.11.22",
             "recovery_time": "" if i % 4 else "16:59:59", "severity": "High",
             "opdata": "ifOperStatus: down (2)",
             "tags": '[{"tag":"scope","value":"availability"}]', "trigger_id": str(i % 500),
             "trigger_name": f"Interface Gi0/{i % 48}: link down",
             "host": f"sw-{i % 200:03d}", "host_ip": f"10.0.{i % 200}.1"} for i in range(n)]


def timed(work) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def best_of(work, repeat: int = 3) -> float:
    return min(timed(work) for _ in range(repeat))


def mapping_rates(n: int) -> dict[str, float]:
    zabbix = find_mapping(Path("/nonexistent"), "zabbix")
    payloads = zabbix_payloads(n)
    canonical = [a.to_dict() for p in payloads for a in zabbix.apply(p, 1.8e9).alerts]
    one = best_of(lambda: [zabbix.apply(p, 1.8e9) for p in payloads])
    batch = best_of(lambda: zabbix.apply(payloads, 1.8e9))
    peer = best_of(lambda: [parse_alert(c) for c in canonical])
    return {"mapping_one": n / one, "mapping_batch": n / batch, "canonical": n / peer}


def icinga_lines(n: int) -> list[bytes]:
    """StateChange events as Icinga 2's stream sends them (the shape seen from a real
    Icinga 2.13 in tests/integration/test_icinga_real.py): problems and recoveries."""
    lines = []
    for i in range(n):
        state = 0 if i % 3 == 0 else 2
        end = 1_795_372_000.0 + i
        lines.append(json.dumps({
            "acknowledgement": False, "downtime_depth": 0, "host": f"sw-{i % 200:03d}",
            "service": f"if-{i % 48}", "state": state, "state_type": 1, "timestamp": end,
            "type": "StateChange", "check_result": {
                "active": True, "check_source": "icinga-master", "command": ["check_ifstatus"],
                "execution_end": end, "execution_start": end - 0.2, "exit_status": state,
                "output": "OK - up" if state == 0 else "CRITICAL - Gi0/1 down",
                "performance_data": [], "previous_hard_state": 2 if state == 0 else 0,
                "state": state, "type": "CheckResult",
                "vars_after": {"attempt": 1, "reachable": True, "state": state,
                               "state_type": 1},
                "vars_before": {"attempt": 1, "reachable": True, "state": 2 - state,
                                "state_type": 1}}}).encode())
    return lines


def icinga_rate(n: int) -> dict[str, float]:
    icinga = find_mapping(Path("/nonexistent"), "icinga")
    lines = icinga_lines(n)
    took = best_of(lambda: icinga.apply([state_change_item(json.loads(line))
                                         for line in lines], 1.8e9))
    return {"icinga": n / took}


def zabbix_events(n: int) -> list[dict]:
    """Problem events as Zabbix 6.0's event.get answers them (selectHosts,
    selectRelatedObject, selectTags; the shape seen in tests/integration/test_zabbix_real.py)."""
    return [{"eventid": str(1000 + i), "source": "0", "object": "0", "objectid": str(i % 500),
             "clock": str(1_795_372_000 + i), "value": "1", "name": f"Link Gi0/{i % 48} down",
             "severity": "4", "r_eventid": "0", "opdata": "ifOperStatus: down (2)",
             "hosts": [{"hostid": str(10_000 + i % 200), "host": f"sw-{i % 200:03d}"}],
             "relatedObject": {"triggerid": str(i % 500),
                               "description": "Link {ITEM.LASTVALUE} down"},
             "tags": [{"tag": "scope", "value": "availability"}]} for i in range(n)]


def zabbix_api_rate(n: int) -> dict[str, float]:
    zabbix = find_mapping(Path("/nonexistent"), "zabbix")
    events = zabbix_events(n)
    took = best_of(lambda: zabbix.apply([problem_item(e) for e in events], 1.8e9))
    return {"zabbix_api": n / took}


def syslog_lines(n: int) -> list[bytes]:
    lines = []
    for i in range(n):
        if i % 2:
            lines.append(b"<189>Nov 22 16:20:05 sw-%03d 9: %%SYS-5-CONFIG_I: Configured from "
                         b"console by admin on vty%d" % (i % 200, i % 5))
        else:
            state = b"down" if i % 4 == 0 else b"up"
            lines.append(b"<187>%d: sw-%03d: *Nov 22 16:20:05.123: %%LINK-3-UPDOWN: Interface "
                         b"GigabitEthernet0/%d, changed state to %s" % (i, i % 200, i % 48, state))
    return lines


def trap_datagrams(n: int) -> list[bytes]:
    """SNMPv2c linkDown/linkUp traps as a device sends them (encoded with pysnmp)."""
    from pyasn1.codec.ber import encoder
    from pysnmp.proto import api

    v2c = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
    out = []
    for i in range(n):
        pdu = v2c.TrapPDU()
        v2c.apiTrapPDU.set_defaults(pdu)
        uptime, _ = v2c.apiTrapPDU.get_varbinds(pdu)
        v2c.apiTrapPDU.set_varbinds(pdu, [
            uptime, (v2c.ObjectIdentifier(SNMP_TRAP_OID),
                     v2c.ObjectIdentifier(f"1.3.6.1.6.3.1.1.5.{3 + i % 2}")),
            (v2c.ObjectIdentifier(f"1.3.6.1.2.1.2.2.1.2.{i % 48}"),
             v2c.OctetString(f"GigabitEthernet0/{i % 48}"))])
        message = v2c.Message()
        v2c.apiMessage.set_defaults(message)
        v2c.apiMessage.set_community(message, "public")
        v2c.apiMessage.set_pdu(message, pdu)
        out.append(encoder.encode(message))
    return out


def trap_rate(n: int) -> dict[str, float]:
    rules, _ = load_trap_rules(None)
    datagrams = trap_datagrams(n)
    seconds = best_of(lambda: [rules.event(decode_trap(d, "192.0.2.1"), 1.8e9)
                               for d in datagrams])
    return {"traps": n / seconds}


def v3_trap_rate(n: int) -> dict[str, float]:
    """SNMPv3 authPriv (SHA-256, AES-128) traps as Net-SNMP's snmptrap sends them, 48
    distinct ones cycled (a process per datagram is too slow to make ``n``), each read by
    ``V3Receiver`` (USM: HMAC check, decryption) and the built-in rules."""
    from connectors.snmp_v3 import V3Receiver, V3Settings, V3User

    if shutil.which("snmptrap") is None:
        return {}
    datagrams = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as receiver:
        receiver.bind(("127.0.0.1", 0))
        receiver.settimeout(10)
        for i in range(48):
            subprocess.run(["snmptrap", "-v3", "-u", "netops", "-l", "authPriv", "-a",
                            "SHA-256", "-A", "authpass123", "-x", "AES", "-X", "privpass123",
                            "-e", "0x8000000001020304",
                            f"127.0.0.1:{receiver.getsockname()[1]}", "",
                            f"1.3.6.1.6.3.1.1.5.{3 + i % 2}", f"1.3.6.1.2.1.2.2.1.2.{i}", "s",
                            f"GigabitEthernet0/{i}"], check=True, timeout=30)
            datagrams.append(receiver.recvfrom(65535)[0])
    v3 = V3Receiver(V3Settings((V3User("netops", "SHA-256", "authpass123", "AES",
                                       "privpass123", None),), None))
    rules, _ = load_trap_rules(None)
    cycled = [datagrams[i % len(datagrams)] for i in range(n)]
    seconds = best_of(lambda: [rules.event(v3_trap(v3.receive(d, ("192.0.2.1", 0)),
                                                   "192.0.2.1"), 1.8e9) for d in cycled])
    return {"traps_v3": n / seconds, "traps_v3_n": n}


def rule_rate(n: int) -> dict[str, float]:
    rules, _ = load_rules(None)
    lines = syslog_lines(n)
    seconds = best_of(lambda: [rules.event(parse_syslog(b, "192.0.2.1", 1.8e9))
                               for b in lines])
    return {"rules": n / seconds}


class _Sink(BaseHTTPRequestHandler):
    events = 0
    lock = threading.Lock()

    def do_POST(self) -> None:  # noqa: N802 - http.server's interface
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with _Sink.lock:
            _Sink.events += len(body)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _blast(port: int, lines: list[bytes]) -> float:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        started = time.perf_counter()
        for line in lines:
            s.sendto(line, ("127.0.0.1", port))
        return time.perf_counter() - started


class _Reached:
    """Whether a receiver's count reached what was sent, and when it was first seen to:
    a TLS sender that holds its connection open polls it (``_send_tls``), and that
    moment, not the later one after the close, is when the receiver was done."""

    def __init__(self, count: Callable[[], int], expected: int):
        self.count, self.expected = count, expected
        self.at: float | None = None

    def __call__(self) -> bool:
        if self.at is None and self.count() >= self.expected:
            self.at = time.perf_counter()
        return self.at is not None


def _settle(count, expected: int, timeout: float = 60.0,
            reached: _Reached | None = None) -> float:
    """Wait until ``count()`` stops growing (or reaches ``expected``); when it last grew
    (when ``reached`` first saw it complete, if it did)."""
    if reached is not None and reached.at is not None:
        return reached.at
    last, last_change = -1, time.perf_counter()
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        now = count()
        if now != last:
            last, last_change = now, time.perf_counter()
        if now >= expected or time.perf_counter() - last_change > 3.0:
            break
        time.sleep(0.05)
    return last_change


def _octet_counted(lines: list[bytes]) -> bytes:
    """RFC 5425's framing (``MSG-LEN SP SYSLOG-MSG``), what TLS senders use."""
    return b"".join(b"%d %s" % (len(line), line) for line in lines)


def _send_tls(port: int, stream: bytes, certs: Certificates,
              handled: _Reached | None = None) -> float:
    """One TLS connection with a client certificate, the stream written as fast as the
    receiver takes it; seconds until the last byte is written.

    With ``handled``, the connection stays open until it says the receiver handled the
    stream (at most ``HOLD_LIMIT`` s), as a device's long-lived connection would: with
    the connection half-closed at once, rsyslog 8.2302's OpenSSL driver wrote only part
    of the stream on some runs (169 or 1,455 of 20,000 lines; all 20,000 on others; held
    open, all on every run tried), which measured its handling of the close, not a rate."""
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as raw, \
            context.wrap_socket(raw, server_hostname="aiops.test") as tls:
        tls.sendall(stream)
        sent = time.perf_counter() - started
        hold_until = time.perf_counter() + HOLD_LIMIT
        while handled is not None and not handled() and time.perf_counter() < hold_until:
            time.sleep(0.005)
        close_after_read(tls)
        return sent


def _our_listener(receive: list[str], send: Callable[[_Reached], float],
                  matching: int) -> dict[str, float]:
    """``aiops syslog listen`` with ``receive`` options, forwarding to a counting sink."""
    _Sink.events = 0
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="aiops-bench-syslog-") as tmp:
        process = subprocess.Popen(
            [sys.executable, "-m", "aiops", "--data-dir", tmp, "syslog", "listen", *receive,
             "--forward", f"http://127.0.0.1:{sink.server_address[1]}",
             "--stats-every", "0"], stderr=subprocess.PIPE, text=True)
        process.stderr.readline()  # "listening on ..."
        try:
            reached = _Reached(lambda: _Sink.events, matching)
            started = time.perf_counter()
            sent = send(reached)
            done = _settle(lambda: _Sink.events, matching, reached=reached)
        finally:
            process.terminate()
            process.wait(timeout=30)
            sink.shutdown()
    return {"sent_s": sent, "received": _Sink.events, "expected": matching,
            "seconds": done - started}


def listener_udp(lines: list[bytes], matching: int) -> dict[str, float]:
    port = _free_udp_port()
    return _our_listener(["--udp", f"127.0.0.1:{port}"], lambda _reached: _blast(port, lines),
                         matching)


def listener_tls(lines: list[bytes], matching: int,
                 certs: Certificates) -> dict[str, float]:
    port = _free_tcp_port()
    stream = _octet_counted(lines)
    return _our_listener(["--tls", f"127.0.0.1:{port}", "--tls-cert", str(certs.server_cert),
                          "--tls-key", str(certs.server_key), "--tls-client-ca", str(certs.ca)],
                         lambda reached: _send_tls(port, stream, certs, reached), matching)


def _rsyslog(settings: str, inputs: str, send: Callable[[_Reached], float],
             warm_up: Callable[[], None], expected: int) -> dict[str, float]:
    """rsyslogd with ``inputs`` writing every message to a file; ``send`` once it wrote
    its own start-up line, given whether the file holds all that was sent."""
    with tempfile.TemporaryDirectory(prefix="aiops-bench-rsyslog-") as tmp:
        out = Path(tmp) / "out.log"
        conf = Path(tmp) / "rsyslog.conf"
        conf.write_text(f'global(workDirectory="{tmp}"{settings})\n{inputs}'
                        f'*.* action(type="omfile" file="{out}")\n', encoding="utf-8")
        process = subprocess.Popen([RSYSLOGD, "-n", "-f", str(conf), "-i",
                                    str(Path(tmp) / "pid")], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 10
            while not out.exists() and time.time() < deadline:  # its own start-up line
                warm_up()
                time.sleep(0.2)
            base = _lines(out)
            reached = _Reached(lambda: _lines(out) - base, expected)
            started = time.perf_counter()
            sent = send(reached)
            done = _settle(lambda: _lines(out) - base, expected, reached=reached)
            received = _lines(out) - base
        finally:
            process.terminate()
            process.wait(timeout=30)
    return {"sent_s": sent, "received": received, "expected": expected,
            "seconds": done - started}


def rsyslog_udp(lines: list[bytes]) -> dict[str, float] | None:
    if not os.access(RSYSLOGD, os.X_OK):
        return None
    port = _free_udp_port()
    return _rsyslog("", 'module(load="imudp")\n'
                    f'input(type="imudp" address="127.0.0.1" port="{port}" rcvbufSize="32m")\n',
                    lambda _reached: _blast(port, lines),
                    lambda: _blast(port, [b"<13>warm-up"]),
                    len(lines))


def rsyslog_tls(lines: list[bytes], certs: Certificates) -> dict[str, float] | None:
    """rsyslog's ``imtcp`` with its OpenSSL driver, client certificates required."""
    if not (os.access(RSYSLOGD, os.X_OK) and glob.glob("/usr/lib/*/rsyslog/lmnsd_ossl.so")):
        return None
    port = _free_tcp_port()
    stream = _octet_counted(lines)
    return _rsyslog(f' defaultNetstreamDriver="ossl" defaultNetstreamDriverCAFile="{certs.ca}"'
                    f' defaultNetstreamDriverCertFile="{certs.server_cert}"'
                    f' defaultNetstreamDriverKeyFile="{certs.server_key}"',
                    'module(load="imtcp" streamDriver.name="ossl" streamDriver.mode="1" '
                    'streamDriver.authMode="x509/certvalid")\n'
                    f'input(type="imtcp" address="127.0.0.1" port="{port}")\n',
                    lambda reached: _send_tls(port, stream, certs, reached),
                    lambda: _try_send_tls(port, _octet_counted([b"<13>warm-up"]), certs),
                    len(lines))


def _try_send_tls(port: int, stream: bytes, certs: Certificates) -> None:
    with contextlib.suppress(OSError):  # not listening yet
        _send_tls(port, stream, certs)


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except FileNotFoundError:
        return 0


def report(n: int, rates: dict[str, float], ours: dict[str, float],
           peer: dict[str, float] | None, ours_tls: dict[str, float] | None,
           peer_tls: dict[str, float] | None, command: str) -> str:
    load = os.getloadavg()[0]
    lines = [
        "## Alert sources: webhook mappings, syslog, SNMP traps, Icinga and Zabbix's API",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {cpu_model()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; 1-minute load average "
        f"{load:.1f} at the end. In-process rates are the best of 3 runs.", "",
        f"Command: `{command}`", "",
        "| path | what | rate |", "|---|---|---:|",
        f"| `Mapping.apply` (built-in zabbix), one notification per call | {n:,} "
        f"Zabbix-shaped payloads | {rates['mapping_one']:,.0f} alerts/s |",
        f"| `Mapping.apply`, one batch | same | {rates['mapping_batch']:,.0f} alerts/s |",
        f"| peer: `parse_alert` of the same alerts in canonical form | same | "
        f"{rates['canonical']:,.0f} alerts/s |",
        f"| `parse_syslog` + built-in rules | {n:,} lines, half Cisco link up/down, half "
        f"chatter | {rates['rules']:,.0f} lines/s |",
        f"| `decode_trap` + built-in trap rules | {n:,} SNMPv2c linkDown/linkUp traps | "
        f"{rates['traps']:,.0f} traps/s |",
        (f"| `V3Receiver` (pysnmp's USM) + `v3_trap` + built-in trap rules | "
         f"{rates['traps_v3_n']:,} SNMPv3 authPriv traps (SHA-256, AES), Net-SNMP's | "
         f"{rates['traps_v3']:,.0f} traps/s |" if "traps_v3" in rates else
         "| SNMPv3 traps | not measured: Net-SNMP's snmptrap missing | |"),
        f"| Icinga event stream: JSON + `state_change_item` + `Mapping.apply` (icinga) | "
        f"{n:,} StateChange lines (2 problems to 1 recovery) | {rates['icinga']:,.0f} "
        "events/s |",
        f"| Zabbix API problems: `problem_item` + `Mapping.apply` (zabbix) | {n:,} "
        f"`event.get` problem events | {rates['zabbix_api']:,.0f} events/s |", "",
        "For scale: the engine itself ingests about 10,000 alerts/s on this host "
        "(Ingestion, above), "
        "so a mapping costs a fraction of an alert's way through it. SNMPv2c traps of "
        "the common value types are read by `connectors/snmp_ber.py`; other traps "
        "(SNMPv1, informs, rarer types) go through pysnmp's decoder, about 3,000/s "
        "before the fast path, below the engine's own rate.", "",
        f"Syslog over UDP: {n:,} datagrams sent from one Python process as fast as it "
        "can, to each receiver in turn (32 MB receive buffer for both). *Received*: lines "
        "the receiver handled (ours: events that reached a local HTTP sink standing in for "
        "the engine, of the half that match a rule; rsyslog: lines written to its file). "
        "*Rate*: handled per second, from the first datagram sent to the last one "
        "handled.", "",
        "| receiver | sent in s | received | rate lines/s |", "|---|---:|---:|---:|"]
    lines += _receiver_rows((("`aiops syslog listen` → HTTP sink", ours, 2),
                             ("peer: rsyslog 8 `imudp` → file", peer, 1)),
                            "rsyslogd not installed (Debian `rsyslog`)")
    lines += [
        "", f"Syslog over TLS (RFC 5425): the same {n:,} lines, octet-counted, written "
        "down one TLS connection from one Python process, which presents a client "
        "certificate both receivers require (ours: `--tls-client-ca`; rsyslog: `imtcp` "
        "with its OpenSSL driver, `x509/certvalid`), and keeps the connection open "
        "until the receiver has handled the stream (then closes it), as a device's "
        "long-lived connection does. Same columns.", "",
        "| receiver | sent in s | received | rate lines/s |", "|---|---:|---:|---:|"]
    lines += _receiver_rows((("`aiops syslog listen --tls` → HTTP sink", ours_tls, 2),
                             ("peer: rsyslog 8 `imtcp` (ossl) → file", peer_tls, 1)),
                            "not measured (needs openssl, rsyslogd and Debian "
                            "`rsyslog-openssl`)")
    if peer_tls is not None and peer_tls["received"] < peer_tls["expected"]:
        lines += ["", f"rsyslog's TLS input wrote {peer_tls['received']:,} of "
                  f"{peer_tls['expected']:,} lines within {HOLD_LIMIT:g} s of the "
                  "connection held open, so its row is no rate to compare with."]
    return "\n".join(lines) + "\n"


def _receiver_rows(results: tuple, missing: str) -> list[str]:
    rows = []
    for name, result, per in results:
        if result is None:
            rows.append(f"| {name} | {missing} | | |")
            continue
        handled = result["received"] * per  # ours forwards only the half that matches
        rows.append(f"| {name} | {result['sent_s']:.2f} | {result['received']:,} of "
                    f"{result['expected']:,} ({result['received'] / result['expected']:.1%})"
                    f" | {handled / max(result['seconds'], 1e-9):,.0f} |")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--write-docs", action="store_true",
                        help="replace the sources section of docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.messages < 100:
        parser.error(f"--messages must be at least 100, got {args.messages}")
    n = args.messages
    print("[1/6] webhook mapping …", file=sys.stderr, flush=True)
    rates = mapping_rates(n)
    print("[2/6] syslog parsing and rules, trap decoding and rules, Icinga events …",
          file=sys.stderr,
          flush=True)
    rates.update(rule_rate(n))
    rates.update(trap_rate(n))
    rates.update(v3_trap_rate(max(n // 10, 100)))
    rates.update(icinga_rate(n))
    rates.update(zabbix_api_rate(n))
    lines = syslog_lines(n)
    print("[3/6] aiops syslog listen over UDP …", file=sys.stderr, flush=True)
    ours = listener_udp(lines, n // 2)
    print("[4/6] rsyslog over UDP …", file=sys.stderr, flush=True)
    peer = rsyslog_udp(lines)
    ours_tls = peer_tls = None
    if OPENSSL is not None:
        with tempfile.TemporaryDirectory(prefix="aiops-bench-tls-") as tmp:
            certs = make_certificates(Path(tmp))
            print("[5/6] aiops syslog listen over TLS …", file=sys.stderr, flush=True)
            ours_tls = listener_tls(lines, n // 2, certs)
            print("[6/6] rsyslog over TLS …", file=sys.stderr, flush=True)
            peer_tls = rsyslog_tls(lines, certs)
    command = ".venv/bin/python -m benchmarks.sources" + (
        f" --messages {n}" if n != 20_000 else "") + (" --write-docs" if args.write_docs else "")
    section = report(n, rates, ours, peer, ours_tls, peer_tls, command)
    print(section)
    if args.write_docs:
        write_section(section, START, END)
        print("wrote the sources section of docs/benchmarks.md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
