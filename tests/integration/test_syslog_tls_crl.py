"""``aiops syslog listen --tls --tls-crl``: revoked client certificates are refused.

As a process, with a CA, certificates and CRLs made by ``openssl ca`` as a small CA
publishes them: a certificate revoked before the start is refused and one not revoked
read; a certificate revoked while the listener runs is refused on its next connection
once the CRL is republished, while its connection already open is still read; a bad
``--tls-crl`` file is refused at start by option and file.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiops.syslog_listener import _servers
from aiops.syslog_tls import TlsGate, tls_gate
from tests.conftest import LiveServer, free_port
from tests.integration.test_syslog_listen import Listener
from tests.integration.test_syslog_tls import (
    LINK_DOWN,
    assert_refused,
    client_context,
    octet_counted,
    send_tls,
)
from tests.integration.test_syslog_tls_handshake import Frames
from tests.integration.test_webhooks_api import alert_rows
from tests.polling import wait_for
from tests.tls_certs import OPENSSL, Certificates, close_after_read, make_certificates, signed
from tests.tls_crl import Revocations

pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")

CLIENT = "subjectAltName=DNS:{0}\nextendedKeyUsage=clientAuth\n"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


def device(certs: Certificates, folder: Path, name: str) -> tuple[Path, Path]:
    return signed(folder, name, (certs.ca, certs.ca_key), CLIENT.format(name))


@pytest.fixture
def revocations(tmp_path: Path, certs: Certificates) -> Revocations:
    return Revocations(tmp_path / "ca-db", certs.ca, certs.ca_key)


def listen(tmp_path: Path, live_server: LiveServer, certs: Certificates,
           crl: Path) -> Listener:
    port = free_port()
    running = Listener(tmp_path / "listener", live_server.url,
                       ["--tls", f"127.0.0.1:{port}", "--tls-cert", str(certs.server_cert),
                        "--tls-key", str(certs.server_key), "--tls-client-ca", str(certs.ca),
                        "--tls-crl", str(crl)])
    running.port = port
    return running


@pytest.fixture
def stopping() -> Iterator[list[Listener]]:
    started: list[Listener] = []
    yield started
    for running in started:
        if running.process.poll() is None:
            running.stop()


def test_a_revoked_certificate_is_refused_and_others_are_read(
        tmp_path: Path, live_server: LiveServer, certs: Certificates,
        revocations: Revocations, stopping: list[Listener]) -> None:
    revoked = device(certs, tmp_path, "stolen-router")
    revocations.revoke(revoked[0])
    listener = listen(tmp_path, live_server, certs, revocations.publish())
    stopping.append(listener)
    assert_refused(listener.port, client_context(certs, *revoked))
    send_tls(listener.port, client_context(certs, certs.client_cert, certs.client_key),
             [octet_counted(LINK_DOWN.format(port=1))])
    (row,) = wait_for(lambda: alert_rows(live_server.runtime), "the unrevoked sender's alert")
    assert row["labels"]["interface"] == "GigabitEthernet0/1"
    wait_for(lambda: any("1 TLS connections refused" in line for line in listener.lines),
             "the revoked certificate's connection counted")
    out = listener.stop()
    assert "received 1, forwarded 1, pending 0" in out
    assert "refused a TLS syslog connection from 127.0.0.1: CERTIFICATE_VERIFY_FAILED " \
           "(certificate revoked)" in out
    assert "no --tls-crl holds a CRL" not in out


def test_a_crl_republished_while_listening_refuses_new_connections_only(
        tmp_path: Path, live_server: LiveServer, certs: Certificates,
        revocations: Revocations, stopping: list[Listener]) -> None:
    router = device(certs, tmp_path, "edge-router-7")
    listener = listen(tmp_path, live_server, certs, revocations.publish())
    stopping.append(listener)
    context = client_context(certs, *router)
    with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="aiops.test") as open_before:
        open_before.sendall(octet_counted(LINK_DOWN.format(port=1), host="edge-router-7"))
        wait_for(lambda: len(alert_rows(live_server.runtime)) == 1, "the first alert")
        revocations.revoke(router[0])
        revocations.publish()
        assert_refused(listener.port, context)  # a new connection: the new CRL
        # The connection open before the revocation is not dropped.
        open_before.sendall(octet_counted(LINK_DOWN.format(port=2), host="edge-router-7"))
        close_after_read(open_before)
    rows = wait_for(lambda: len(alert_rows(live_server.runtime)) == 2
                    and alert_rows(live_server.runtime), "the open connection's alert")
    assert {r["labels"]["interface"] for r in rows} == {"GigabitEthernet0/1",
                                                          "GigabitEthernet0/2"}
    out = listener.stop()
    assert "received 2, forwarded 2, pending 0" in out
    assert out.count("(certificate revoked)") == 1


def test_bad_crl_files_are_refused_by_option_and_file(tmp_path: Path,
                                                      certs: Certificates) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(tmp_path),
                               "syslog", "listen", "--tls", f"127.0.0.1:{free_port()}",
                               "--tls-cert", str(certs.server_cert), "--tls-key",
                               str(certs.server_key), *args, "--forward",
                               "http://127.0.0.1:1"], capture_output=True, text=True,
                              timeout=60)

    ca = ["--tls-client-ca", str(certs.ca)]
    missing = tmp_path / "missing.crl"
    r = run(*ca, "--tls-crl", str(missing))
    assert r.returncode == 2 and f"--tls-crl {missing}: cannot be read" in r.stderr
    r = run(*ca, "--tls-crl", str(certs.ca))  # a certificate: it would be trusted
    assert r.returncode == 2 and f"--tls-crl {certs.ca}: holds CERTIFICATE, not only CRLs" \
        in r.stderr
    garbage = tmp_path / "garbage.crl"
    garbage.write_text("-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n")
    r = run(*ca, "--tls-crl", str(garbage))
    assert r.returncode == 2 and f"--tls-crl {garbage}: not a readable PEM CRL" in r.stderr
    empty = tmp_path / "empty.crl"
    empty.write_text("")
    r = run(*ca, "--tls-crl", str(empty))
    assert r.returncode == 2 and f"--tls-crl {empty}: not a PEM CRL" in r.stderr
    # Another CA's CRL would revoke nothing of these senders.
    stranger_ca = certs.ca.with_name("other-ca.pem")
    other = Revocations(tmp_path / "other-db", stranger_ca, stranger_ca.with_suffix(".key"))
    r = run(*ca, "--tls-crl", str(other.publish()))
    assert r.returncode == 2 and "a CRL of CN=other-ca, which no CA in --tls-client-ca " \
        "signed" in r.stderr
    r = run("--tls-crl", str(other.crl))
    assert r.returncode == 2 and "--tls-crl needs --tls-client-ca" in r.stderr


@contextlib.contextmanager
def serving(gate: TlsGate) -> Iterator[tuple[int, Frames]]:
    """The TLS server in process on a free port, recording the frames it reads."""
    frames = Frames()
    (server,) = _servers(frames, None, None, (("127.0.0.1", 0), gate))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], frames
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_with_crls_a_ca_that_has_none_has_its_certificates_refused(
        tmp_path: Path, certs: Certificates, revocations: Revocations,
        caplog: pytest.LogCaptureFixture) -> None:
    """OpenSSL's VERIFY_CRL_CHECK_LEAF refuses a certificate whose issuer has no CRL
    loaded: with two CAs and the CRL of one, the other's senders are refused, and the
    start says so, naming that CA."""
    bundle = tmp_path / "two-cas.pem"
    bundle.write_bytes(certs.ca.read_bytes() + certs.ca.with_name("other-ca.pem").read_bytes())
    with caplog.at_level(logging.WARNING, logger="aiops.syslog_listener"):
        gate = tls_gate(certs.server_cert, certs.server_key, bundle, [revocations.publish()])
    assert [r.getMessage() for r in caplog.records] == [
        f"--tls-client-ca {bundle}: no --tls-crl holds a CRL of CN=other-ca, so every "
        "client certificate it issued is refused"]
    with serving(gate) as (port, frames):
        assert_refused(port, client_context(certs, certs.stranger_cert, certs.stranger_key))
        send_tls(port, client_context(certs, certs.client_cert, certs.client_key),
                 [octet_counted(LINK_DOWN.format(port=1))])
        wait_for(lambda: len(frames.frames) == 1, "the CA with a CRL: its sender read")
        assert frames.stats.tls_refused == 1


def test_an_expired_crl_refuses_its_cas_certificates_and_is_warned_about(
        certs: Certificates, revocations: Revocations,
        caplog: pytest.LogCaptureFixture) -> None:
    """A CRL past its next update (a CA that stopped publishing): OpenSSL refuses every
    certificate of that CA ("CRL has expired"); the start says so."""
    crl = revocations.publish(expired=True)
    with caplog.at_level(logging.WARNING, logger="aiops.syslog_listener"):
        gate = tls_gate(certs.server_cert, certs.server_key, certs.ca, [crl])
    assert [r.getMessage() for r in caplog.records] == [
        f"--tls-crl {crl}: the CRL of CN=test-ca expired at 2020-01-02 00:00 UTC: every "
        "certificate that CA issued is refused until it is republished"]
    caplog.clear()
    with serving(gate) as (port, frames):
        assert_refused(port, client_context(certs, certs.client_cert, certs.client_key))
        wait_for(lambda: frames.stats.tls_refused == 1, "the refusal counted")
    assert frames.frames == []
    assert "refused a TLS syslog connection from 127.0.0.1: CERTIFICATE_VERIFY_FAILED " \
        "(CRL has expired)" in caplog.text
