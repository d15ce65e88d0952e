"""``aiops syslog listen --tls``: which client certificate may send, and for which hosts.

As a process, with certificates made by ``openssl`` and an engine over real HTTP:
``--tls-permitted-peer`` matches a certificate's DNS names (its common name only when
it has none), ``*`` standing for one label; ``--tls-bind-hostname`` drops a message for
a host the certificate does not name and keeps the others of the same connection;
``--tls-relay-peer`` certificates send for any host.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveServer, free_port
from tests.integration.test_syslog_listen import Listener
from tests.integration.test_syslog_tls import (
    LINK_DOWN,
    assert_refused,
    client_context,
    octet_counted,
    send_tls,
)
from tests.integration.test_webhooks_api import alert_rows
from tests.polling import wait_for
from tests.tls_certs import OPENSSL, Certificates, make_certificates, signed

pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")

CLIENT = "extendedKeyUsage=clientAuth\n"


class Senders:
    """Client certificates of the test CA, each (certificate, key) by what it names."""

    def __init__(self, folder: Path) -> None:
        self.certs = make_certificates(folder)
        ca = (self.certs.ca, self.certs.ca_key)
        self.wildcard = signed(folder, "r7.dc1.example.net", ca,
                               "subjectAltName=DNS:r7.dc1.example.net\n" + CLIENT)
        self.too_deep = signed(folder, "a.b.dc1.example.net", ca,
                               "subjectAltName=DNS:a.b.dc1.example.net\n" + CLIENT)
        self.cn_only = signed(folder, "r9.dc1.example.net", ca, CLIENT)  # no subjectAltName
        # A DNS name outside the patterns: its common name, inside them, does not count.
        self.cn_ignored = signed(folder, "r8.dc1.example.net", ca,
                                 "subjectAltName=DNS:other.example.org\n" + CLIENT)
        self.relay = signed(folder, "relay-1.relays.example.net", ca,
                            "subjectAltName=DNS:relay-1.relays.example.net\n" + CLIENT)


@pytest.fixture(scope="module")
def senders(tmp_path_factory: pytest.TempPathFactory) -> Senders:
    return Senders(tmp_path_factory.mktemp("tls"))


def listening(tmp_path: Path, live_server: LiveServer, certs: Certificates,
              *options: str) -> Iterator[Listener]:
    port = free_port()
    running = Listener(tmp_path / "listener", live_server.url,
                       ["--tls", f"127.0.0.1:{port}", "--tls-cert", str(certs.server_cert),
                        "--tls-key", str(certs.server_key),
                        "--tls-client-ca", str(certs.ca), *options])
    running.port = port
    yield running
    if running.process.poll() is None:
        running.stop()


@pytest.fixture
def permitting(tmp_path: Path, live_server: LiveServer,
               senders: Senders) -> Iterator[Listener]:
    yield from listening(tmp_path, live_server, senders.certs,
                         "--tls-permitted-peer", "EDGE-router-1",
                         "--tls-permitted-peer", "*.dc1.example.net")


@pytest.fixture
def binding(tmp_path: Path, live_server: LiveServer, senders: Senders) -> Iterator[Listener]:
    yield from listening(tmp_path, live_server, senders.certs, "--tls-bind-hostname",
                         "--tls-relay-peer", "*.relays.example.net")


def test_only_certificates_whose_names_match_a_permitted_peer_may_send(
        permitting: Listener, live_server: LiveServer, senders: Senders) -> None:
    certs = senders.certs
    for cert, key in (senders.too_deep, senders.cn_ignored):
        assert_refused(permitting.port, client_context(certs, cert, key))
    accepted = [((certs.client_cert, certs.client_key), "edge-router-1", 3),  # exact, any case
                (senders.wildcard, "r7.dc1.example.net", 4),  # one label for '*'
                (senders.cn_only, "r9.dc1.example.net", 5)]  # no DNS name: the common name
    for (cert, key), host, port in accepted:
        send_tls(permitting.port, client_context(certs, cert, key),
                 [octet_counted(LINK_DOWN.format(port=port), host=host)])
    rows = wait_for(lambda: len(alert_rows(live_server.runtime)) == 3
                    and alert_rows(live_server.runtime), "the permitted senders' alerts")
    assert {r["labels"]["interface"] for r in rows} == {f"GigabitEthernet0/{n}"
                                                          for n in (3, 4, 5)}
    wait_for(lambda: any("2 TLS connections refused" in line for line in permitting.lines),
             "the refused connections counted in a progress line")
    out = permitting.stop()
    assert "received 3, forwarded 3, pending 0" in out
    assert ("refused a TLS syslog connection from 127.0.0.1: its certificate names "
            "'a.b.dc1.example.net', which no --tls-permitted-peer matches") in out
    assert "its certificate names 'other.example.org', which no" in out


def test_a_message_for_a_host_its_certificate_does_not_name_is_dropped_alone(
        binding: Listener, live_server: LiveServer, senders: Senders) -> None:
    certs = senders.certs
    device = client_context(certs, certs.client_cert, certs.client_key)
    # One connection: its own host, another device twice, its own host again.
    send_tls(binding.port, device, [
        octet_counted(LINK_DOWN.format(port=1), host="edge-router-1"),
        octet_counted(LINK_DOWN.format(port=2), host="core-switch-9"),
        octet_counted(LINK_DOWN.format(port=3), host="core-switch-9"),
        octet_counted(LINK_DOWN.format(port=4), host="EDGE-ROUTER-1")])
    # A relay sends for any host.
    send_tls(binding.port, client_context(certs, *senders.relay),
             [octet_counted(LINK_DOWN.format(port=5), host="core-switch-9")])
    rows = wait_for(lambda: len(alert_rows(live_server.runtime)) == 3
                    and alert_rows(live_server.runtime), "the bound senders' alerts")
    assert {(r["entity"], r["labels"]["interface"]) for r in rows} == {
        ("edge-router-1", "GigabitEthernet0/1"), ("EDGE-ROUTER-1", "GigabitEthernet0/4"),
        ("core-switch-9", "GigabitEthernet0/5")}
    wait_for(lambda: any("2 for a host their TLS certificate does not name" in line
                         for line in binding.lines), "the dropped messages counted")
    out = binding.stop()
    assert "received 3, forwarded 3, pending 0" in out
    dropped = ("dropped syslog for host 'core-switch-9' sent with a certificate naming "
               "'edge-router-1', which does not name that host (--tls-bind-hostname); "
               "from 127.0.0.1")
    assert out.count(dropped) == 1, out  # once for the pair, not per message
    assert "TLS connections refused" not in out


def test_peer_options_are_refused_by_name_where_they_cannot_apply(
        tmp_path: Path, senders: Senders) -> None:
    certs = senders.certs

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(tmp_path),
                               "syslog", "listen", *args, "--forward", "http://127.0.0.1:1"],
                              capture_output=True, text=True, timeout=60)

    tls = ["--tls", f"127.0.0.1:{free_port()}", "--tls-cert", str(certs.server_cert),
           "--tls-key", str(certs.server_key)]
    ca = ["--tls-client-ca", str(certs.ca)]
    r = run(*tls, "--tls-permitted-peer", "edge-router-1")
    assert r.returncode == 2 and "--tls-permitted-peer needs --tls-client-ca" in r.stderr
    r = run(*tls, "--tls-bind-hostname")
    assert r.returncode == 2 and "--tls-bind-hostname needs --tls-client-ca" in r.stderr
    r = run(*tls, *ca, "--tls-relay-peer", "*.relays.example.net")
    assert r.returncode == 2 and "--tls-relay-peer needs --tls-bind-hostname" in r.stderr
    r = run("--udp", f"127.0.0.1:{free_port()}", "--tls-permitted-peer", "a.example.net")
    assert r.returncode == 2 and "--tls-permitted-peer given without --tls" in r.stderr
    for bad in ("edge-*.example.net", "*", "a..example.net", "a.*.example.net"):
        r = run(*tls, *ca, "--tls-permitted-peer", bad)
        assert r.returncode == 2 and f"--tls-permitted-peer {bad!r}:" in r.stderr, bad
