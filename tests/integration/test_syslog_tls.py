"""``aiops syslog listen --tls``: syslog over TLS (RFC 5425) as a process.

Senders: Python's ssl client with a client certificate, the ones the listener must
refuse (plain TCP, no certificate, a certificate of another CA), and a real rsyslog 8
forwarding over TLS with its OpenSSL network stream driver (Debian
``rsyslog-openssl``), which checks the listener's certificate name as a relay in
front of devices does. The alerts land in an engine served over real HTTP.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveServer, free_port
from tests.integration.test_syslog_listen import Listener
from tests.integration.test_webhooks_api import alert_rows
from tests.polling import wait_for
from tests.tls_certs import OPENSSL, Certificates, close_after_read, make_certificates

pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")

RSYSLOGD = "/usr/sbin/rsyslogd"
RSYSLOG_OSSL = glob.glob("/usr/lib/*/rsyslog/lmnsd_ossl.so")

LINK_DOWN = "%LINK-3-UPDOWN: Interface GigabitEthernet0/{port}, changed state to down"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_listener(tmp_path: Path, live_server: LiveServer, certs: Certificates,
                 request: pytest.FixtureRequest) -> Iterator[Listener]:
    """The listener; a test's indirect parameter adds options."""
    port = free_port()
    running = Listener(tmp_path / "listener", live_server.url,
                       ["--tls", f"127.0.0.1:{port}", "--tls-cert", str(certs.server_cert),
                        "--tls-key", str(certs.server_key),
                        "--tls-client-ca", str(certs.ca), *getattr(request, "param", ())])
    running.port = port
    yield running
    if running.process.poll() is None:
        running.stop()


def client_context(certs: Certificates, cert: Path | None, key: Path | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca))
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def octet_counted(text: str, host: str = "edge-router-1") -> bytes:
    """An RFC 5424 message in RFC 5425's framing: ``MSG-LEN SP SYSLOG-MSG``."""
    message = f"<187>1 2026-11-23T08:00:00Z {host} ios - - - {text}".encode()
    return str(len(message)).encode() + b" " + message


def send_tls(port: int, context: ssl.SSLContext, frames: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="aiops.test") as tls:
        for frame in frames:
            tls.sendall(frame)
        close_after_read(tls)


def assert_refused(port: int, context: ssl.SSLContext) -> None:
    """One connection whose certificate the listener refuses: under TLS 1.3 the client's
    handshake ends before the server has judged it, so the refusal (an alert or a close)
    comes at the first read."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="aiops.test") as tls:
                tls.sendall(octet_counted(LINK_DOWN.format(port=8), host="stranger"))
                assert tls.recv(100) == b""
        except (ssl.SSLError, ConnectionError):
            pass


def test_a_sender_with_a_trusted_certificate_is_read_and_others_are_refused(
        tls_listener: Listener, live_server: LiveServer, certs: Certificates) -> None:
    runtime = live_server.runtime
    # Refused before a byte of syslog is read: plain TCP, no certificate, another CA's.
    with socket.create_connection(("127.0.0.1", tls_listener.port), timeout=10) as plain:
        plain.sendall(octet_counted(LINK_DOWN.format(port=9), host="plain-sender") + b"\n")
        with contextlib.suppress(ConnectionResetError):  # closed with the message unread
            assert plain.recv(100) == b""  # the listener closed it
    for cert, key in ((None, None), (certs.stranger_cert, certs.stranger_key)):
        assert_refused(tls_listener.port, client_context(certs, cert, key))
    # Two messages in one record and one split across records, as a stream delivers them.
    first, second = (octet_counted(LINK_DOWN.format(port=n)) for n in (1, 2))
    send_tls(tls_listener.port, client_context(certs, certs.client_cert, certs.client_key),
             [first + second[:20], second[20:]])
    rows = wait_for(lambda: len(alert_rows(runtime)) == 2 and alert_rows(runtime),
                    "two link-down alerts over TLS")
    assert {(r["entity"], r["labels"]["interface"]) for r in rows} == {
        ("edge-router-1", "GigabitEthernet0/1"), ("edge-router-1", "GigabitEthernet0/2")}
    wait_for(lambda: any("3 TLS connections refused" in line for line in tls_listener.lines),
             "the refused connections counted in a progress line")
    out = tls_listener.stop()
    assert "syslog: stopped; received 2, forwarded 2, pending 0" in out
    assert out.count("refused a TLS syslog connection from 127.0.0.1") == 3


def test_listen_refuses_bad_tls_options_by_name(tmp_path: Path, certs: Certificates) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(tmp_path),
                               "syslog", "listen", *args, "--forward", "http://127.0.0.1:1"],
                              capture_output=True, text=True, timeout=60)

    where = f"127.0.0.1:{free_port()}"
    r = run("--tls", where)
    assert r.returncode == 2 and "--tls needs --tls-cert" in r.stderr
    r = run("--udp", where, "--tls-cert", str(certs.server_cert))
    assert r.returncode == 2 and "--tls-cert given without --tls HOST:PORT" in r.stderr
    r = run("--tls", where, "--tls-cert", str(tmp_path / "missing.pem"))
    assert r.returncode == 2 and f"--tls-cert {tmp_path / 'missing.pem'}: cannot be read" \
        in r.stderr
    r = run("--tls", where, "--tls-cert", str(certs.server_cert),
            "--tls-key", str(certs.client_key))  # a key of another certificate
    assert r.returncode == 2 and "not a PEM certificate and its private key" in r.stderr
    r = run("--tls", where, "--tls-cert", str(certs.server_cert), "--tls-key",
            str(certs.server_key), "--tls-client-ca", str(certs.server_key))
    assert r.returncode == 2 and "--tls-client-ca" in r.stderr and "no PEM certificate" \
        in r.stderr
    r = run("--tls", "localhost", "--tls-cert", str(certs.server_cert))
    assert r.returncode == 2 and "--tls must be HOST:PORT" in r.stderr


def test_an_encrypted_key_is_refused_by_name_not_asked_for(tmp_path: Path,
                                                           certs: Certificates) -> None:
    """A key with a passphrase: OpenSSL would ask on the terminal (a service start
    hangs) or, with none, fail as "Invalid argument" naming nothing."""
    encrypted = tmp_path / "encrypted.key"
    subprocess.run([OPENSSL, "pkey", "-in", str(certs.server_key), "-aes256", "-passout",
                    "pass:a-passphrase", "-out", str(encrypted)], check=True, timeout=60)
    r = subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(tmp_path), "syslog",
                        "listen", "--tls", f"127.0.0.1:{free_port()}", "--tls-cert",
                        str(certs.server_cert), "--tls-key", str(encrypted), "--forward",
                        "http://127.0.0.1:1"], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL, start_new_session=True)  # as a service
    assert r.returncode == 2, r.stderr
    assert f"--tls-key {encrypted}: the private key is encrypted" in r.stderr
    assert "pass phrase" not in r.stderr


@pytest.mark.skipif(not (os.access(RSYSLOGD, os.X_OK) and RSYSLOG_OSSL
                         and shutil.which("logger")),
                    reason="needs rsyslog with its OpenSSL driver (rsyslog-openssl) and logger")
@pytest.mark.parametrize("tls_listener", [
    (),
    # Its certificate (edge-router-1) permitted, as a relay: logger's host is not its name.
    ("--tls-permitted-peer", "edge-router-1", "--tls-bind-hostname",
     "--tls-relay-peer", "edge-router-1"),
], indirect=True, ids=["any-certificate", "permitted-relay"])
def test_rsyslog_relays_over_tls_to_the_listener(tmp_path: Path, tls_listener: Listener,
                                                 live_server: LiveServer,
                                                 certs: Certificates) -> None:
    """rsyslog takes plain UDP from ``logger`` and relays it over TLS, checking that the
    listener's certificate names ``aiops.test`` and presenting its own, which the
    listener matches against ``--tls-permitted-peer`` when given."""
    udp_port = free_port()
    conf = tmp_path / "rsyslog.conf"
    conf.write_text(
        f'global(workDirectory="{tmp_path}" defaultNetstreamDriver="ossl"\n'
        f'       defaultNetstreamDriverCAFile="{certs.ca}"\n'
        f'       defaultNetstreamDriverCertFile="{certs.client_cert}"\n'
        f'       defaultNetstreamDriverKeyFile="{certs.client_key}")\n'
        'module(load="imudp")\n'
        f'input(type="imudp" address="127.0.0.1" port="{udp_port}")\n'
        f'*.* action(type="omfwd" target="127.0.0.1" port="{tls_listener.port}" '
        'protocol="tcp" streamDriver="ossl" streamDriverMode="1" '
        'streamDriverAuthMode="x509/name" streamDriverPermittedPeers="aiops.test" '
        'tcp_framing="octet-counted" template="RSYSLOG_SyslogProtocol23Format")\n',
        encoding="utf-8")
    check = subprocess.run([RSYSLOGD, "-N1", "-f", str(conf)], capture_output=True,
                           text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    rsyslog = subprocess.Popen([RSYSLOGD, "-n", "-f", str(conf), "-i", str(tmp_path / "pid")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)  # imudp bound
        for port in (3, 4):
            subprocess.run(["logger", "--udp", "--server", "127.0.0.1", "--port", str(udp_port),
                            "--rfc3164", "-t", "ios", LINK_DOWN.format(port=port)],
                           check=True, timeout=10)
        rows = wait_for(lambda: len(alert_rows(live_server.runtime)) == 2
                        and alert_rows(live_server.runtime), "rsyslog's relayed alerts")
    finally:
        rsyslog.terminate()
        rsyslog.wait(timeout=30)
    assert {r["labels"]["interface"] for r in rows} == {"GigabitEthernet0/3",
                                                          "GigabitEthernet0/4"}
    assert {r["name"] for r in rows} == {"LINK_DOWN"}
    out = tls_listener.stop()
    assert "received 2, forwarded 2, pending 0" in out
    assert "TLS connections refused" not in out
