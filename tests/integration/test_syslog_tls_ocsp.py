"""``aiops syslog listen --tls --tls-ocsp``: client certificates checked with a real
OCSP responder (``openssl ocsp``) after the handshake.

Certificates made by ``openssl``, a CA database kept by ``openssl ca`` and a responder
answering from it with a delegated OCSP-signing certificate: a good certificate is read
and a revoked one refused before its message reaches the engine (as a process, with
``--tls-crl`` beside it, each check refusing its own); with the responder down
``require`` refuses and ``prefer`` admits with one warning; an answer signed by an
unrelated key is refused; an answer is kept until its nextUpdate, so a second connection
is not asked about (the responder answers once and exits), nor are checks of one
certificate made at the same moment but the first; bad options exit 2. With ECDSA
P-256 and Ed25519 keys (CA, sender, responder; the delegated responder or the CA
signing) and an RSA responder signing with PSS, good is read and revoked refused as
with RSA. A responder built in the test (``answering``: ``openssl ocsp`` always echoes
the nonce) shows an answer carrying another nonce refused under ``require`` and
warned under ``prefer``, and one carrying none read.
"""

from __future__ import annotations

import http.server
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from aiops.syslog_tls import tls_gate
from tests.conftest import LiveServer
from tests.integration.test_syslog_listen import Listener
from tests.integration.test_syslog_tls import (
    LINK_DOWN,
    assert_refused,
    client_context,
    octet_counted,
    send_tls,
)
from tests.integration.test_syslog_tls_crl import serving, stopping  # noqa: F401 - fixture
from tests.integration.test_webhooks_api import alert_rows
from tests.polling import wait_for
from tests.ports import free_port
from tests.tls_certs import OPENSSL, Certificates, make_certificates, signed
from tests.tls_crl import Revocations
from tests.tls_ocsp import answering, responding

pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")

SIGNER = "extendedKeyUsage=OCSPSigning\n"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def signer(certs: Certificates) -> tuple[Path, Path]:
    """The CA's delegated responder certificate (OCSP-signing usage)."""
    return signed(certs.ca.parent, "ocsp-signer", (certs.ca, certs.ca_key), SIGNER)


def device(certs: Certificates, folder: Path, name: str,
           responder_port: int | None = None) -> tuple[Path, Path]:
    """A client certificate, naming the responder at ``responder_port`` (AIA) if given."""
    extensions = f"subjectAltName=DNS:{name}\nextendedKeyUsage=clientAuth\n"
    if responder_port is not None:
        extensions += f"authorityInfoAccess=OCSP;URI:http://127.0.0.1:{responder_port}\n"
    return signed(folder, name, (certs.ca, certs.ca_key), extensions,
                  algorithm=certs.algorithm)


def database(folder: Path, certs: Certificates, valid: list[Path],
             revoked: list[Path] = ()) -> Revocations:  # type: ignore[assignment]
    db = Revocations(folder, certs.ca, certs.ca_key)
    for cert in valid:
        db.register(cert)
    for cert in revoked:
        db.revoke(cert)
    return db


def test_a_revoked_certificate_is_refused_and_a_good_one_read_with_crls_beside(
        tmp_path: Path, live_server: LiveServer, certs: Certificates,
        signer: tuple[Path, Path], stopping: list[Listener]) -> None:  # noqa: F811
    """As a process: the responder the certificates name (AIA) says one is revoked,
    the CRL another; each is refused, and only the good sender's alert is made."""
    port = free_port()
    good = device(certs, tmp_path, "edge-router-1", port)
    ocsp_revoked = device(certs, tmp_path, "stolen-router", port)
    crl_revoked = device(certs, tmp_path, "retired-router", port)
    ocsp_db = database(tmp_path / "ocsp-db", certs, [good[0], crl_revoked[0]],
                       [ocsp_revoked[0]])
    crl_db = database(tmp_path / "crl-db", certs, [], [crl_revoked[0]])
    with responding(ocsp_db.folder / "index.txt", certs.ca, signer, port) as responder:
        tls = free_port()
        listener = Listener(tmp_path / "listener", live_server.url, [
            "--tls", f"127.0.0.1:{tls}", "--tls-cert", str(certs.server_cert),
            "--tls-key", str(certs.server_key), "--tls-client-ca", str(certs.ca),
            "--tls-crl", str(crl_db.publish()), "--tls-ocsp", "require"])
        stopping.append(listener)
        for _ in range(2):  # the second refusal comes from the cache and is not logged
            assert_refused(tls, client_context(certs, *ocsp_revoked))
        assert_refused(tls, client_context(certs, *crl_revoked))
        send_tls(tls, client_context(certs, *good), [octet_counted(LINK_DOWN.format(port=1))])
        (row,) = wait_for(lambda: alert_rows(live_server.runtime), "the good sender's alert")
        assert row["labels"]["interface"] == "GigabitEthernet0/1"
        wait_for(lambda: any("3 TLS connections refused" in line for line in listener.lines),
                 "the three refusals counted")
        out = listener.stop()
    assert "received 1, forwarded 1, pending 0" in out
    assert alert_rows(live_server.runtime) == [row]  # the refused senders' never arrived
    serial = subprocess.run([OPENSSL, "x509", "-noout", "-serial", "-in", str(ocsp_revoked[0])],
                            capture_output=True, text=True, check=True).stdout.split("=")[1]
    assert out.count(f"the certificate CN=stolen-router serial {serial.strip().lstrip('0')} "
                     "is revoked (OCSP), since ") == 1
    assert "(certificate revoked)" in out  # the CRL's, at the handshake
    assert responder.requests == 2  # the stolen router once, the good one once


def test_with_the_responder_down_require_refuses_and_prefer_admits_with_a_warning(
        tmp_path: Path, certs: Certificates, caplog: pytest.LogCaptureFixture) -> None:
    router = device(certs, tmp_path, "edge-router-1", free_port())  # nothing listens there
    context = client_context(certs, *router)
    with caplog.at_level(logging.WARNING, logger="aiops.syslog_listener"):
        require = tls_gate(certs.server_cert, certs.server_key, certs.ca,
                           ocsp=("require", None))
        with serving(require) as (port, frames):
            assert_refused(port, context)
            wait_for(lambda: frames.stats.tls_refused == 1, "the refusal counted")
        assert frames.frames == []
        assert "did not answer (ConnectionError) (--tls-ocsp require)" in caplog.text
        caplog.clear()
        prefer = tls_gate(certs.server_cert, certs.server_key, certs.ca,
                          ocsp=("prefer", None))
        with serving(prefer) as (port, frames):
            for n in (1, 2):
                send_tls(port, context, [octet_counted(LINK_DOWN.format(port=n))])
            wait_for(lambda: len(frames.frames) == 2, "both messages read")
    warned = [r.getMessage() for r in caplog.records if "admitted" in r.getMessage()]
    assert len(warned) == 1, warned  # rate-limited: once an hour per certificate and cause
    assert "OCSP cannot vouch for the certificate CN=edge-router-1" in warned[0]
    assert "admitted (--tls-ocsp prefer); from 127.0.0.1" in warned[0]
    assert frames.stats.tls_refused == 0


def test_an_answer_signed_by_an_unrelated_key_is_refused(
        tmp_path: Path, certs: Certificates, caplog: pytest.LogCaptureFixture) -> None:
    """The responder signs with another CA's key (it sends that certificate along):
    not the issuer, nor a responder the issuer authorised."""
    router = device(certs, tmp_path, "edge-router-1")
    db = database(tmp_path / "db", certs, [router[0]])
    other = certs.ca.with_name("other-ca.pem")
    with responding(db.folder / "index.txt", certs.ca, (other, other.with_suffix(".key"))) \
            as responder, caplog.at_level(logging.WARNING, logger="aiops.syslog_listener"):
        gate = tls_gate(certs.server_cert, certs.server_key, certs.ca,
                        ocsp=("require", responder.url))  # --tls-ocsp-url: no AIA needed
        with serving(gate) as (port, frames):
            assert_refused(port, client_context(certs, *router))
            wait_for(lambda: frames.stats.tls_refused == 1, "the refusal counted")
        assert responder.requests == 1
    assert frames.frames == []
    assert "answer is signed neither by the issuer nor by a responder it authorised " \
        "(--tls-ocsp require)" in caplog.text


def test_an_unknown_certificate_is_refused_under_require(
        tmp_path: Path, certs: Certificates, signer: tuple[Path, Path],
        caplog: pytest.LogCaptureFixture) -> None:
    router = device(certs, tmp_path, "edge-router-1")
    db = database(tmp_path / "db", certs, [])  # the responder has never heard of it
    with responding(db.folder / "index.txt", certs.ca, signer) as responder, \
            caplog.at_level(logging.WARNING, logger="aiops.syslog_listener"):
        gate = tls_gate(certs.server_cert, certs.server_key, certs.ca,
                        ocsp=("require", responder.url))
        with serving(gate) as (port, frames):
            assert_refused(port, client_context(certs, *router))
            wait_for(lambda: frames.stats.tls_refused == 1, "the refusal counted")
    assert frames.frames == []
    assert "does not know the certificate (status unknown)" in caplog.text


def test_a_good_answer_is_kept_until_its_next_update(
        tmp_path: Path, certs: Certificates, signer: tuple[Path, Path]) -> None:
    """The responder answers once and exits: the second and third connections are
    admitted from the cache under ``require``."""
    router = device(certs, tmp_path, "edge-router-1")
    db = database(tmp_path / "db", certs, [router[0]])
    with responding(db.folder / "index.txt", certs.ca, signer, requests=1) as responder:
        gate = tls_gate(certs.server_cert, certs.server_key, certs.ca,
                        ocsp=("require", responder.url))
        with serving(gate) as (port, frames):
            send_tls(port, client_context(certs, *router),
                     [octet_counted(LINK_DOWN.format(port=1))])
            wait_for(lambda: len(frames.frames) == 1, "the first message")
            assert responder.process.wait(timeout=10) == 0  # it answered its one request
            for n in (2, 3):
                send_tls(port, client_context(certs, *router),
                         [octet_counted(LINK_DOWN.format(port=n))])
            wait_for(lambda: len(frames.frames) == 3, "the later messages, from the cache")
    assert responder.requests == 1
    assert gate.ocsp is not None and gate.ocsp.queries == 1
    assert frames.stats.tls_refused == 0


def _good_read_and_revoked_refused(tmp_path: Path, certs: Certificates,
                                   signer: tuple[Path, Path],
                                   caplog: pytest.LogCaptureFixture,
                                   options: tuple[str, ...] = ()) -> None:
    """Under ``require``, through ``openssl ocsp`` signing with ``signer`` (and
    ``options``): a revoked sender refused, a good one read, nothing else said."""
    good = device(certs, tmp_path, "edge-router-1")
    stolen = device(certs, tmp_path, "stolen-router")
    db = database(tmp_path / "db", certs, [good[0]], [stolen[0]])
    with responding(db.folder / "index.txt", certs.ca, signer, options=options) \
            as responder, caplog.at_level(logging.WARNING, logger="aiops.syslog_listener"):
        gate = tls_gate(certs.server_cert, certs.server_key, certs.ca,
                        ocsp=("require", responder.url))
        with serving(gate) as (port, frames):
            assert_refused(port, client_context(certs, *stolen))
            wait_for(lambda: frames.stats.tls_refused == 1, "the revoked one refused")
            send_tls(port, client_context(certs, *good),
                     [octet_counted(LINK_DOWN.format(port=1))])
            wait_for(lambda: len(frames.frames) == 1, "the good one's message")
        assert responder.requests == 2
    (said,) = [r.getMessage() for r in caplog.records]
    assert "CN=stolen-router serial" in said and "is revoked (OCSP), since" in said, said
    assert frames.stats.tls_refused == 1


@pytest.mark.parametrize("algorithm", ["ec", "ed25519"])
@pytest.mark.parametrize("signed_by", ["delegated responder", "ca"])
def test_with_ecdsa_and_ed25519_keys_good_is_read_and_revoked_refused(
        tmp_path: Path, algorithm: str, signed_by: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """An ECDSA P-256 (or Ed25519) CA, senders and responder: ``openssl ocsp`` signs
    with that key (ecdsa-with-SHA256, or Ed25519 with no separate hash)."""
    certs = make_certificates(tmp_path / "tls", algorithm)
    key = x509.load_pem_x509_certificate(certs.ca.read_bytes()).public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey if algorithm == "ec"
                      else ed25519.Ed25519PublicKey)
    signer = (signed(certs.ca.parent, "ocsp-signer", (certs.ca, certs.ca_key), SIGNER,
                     algorithm=algorithm) if signed_by == "delegated responder"
              else (certs.ca, certs.ca_key))
    _good_read_and_revoked_refused(tmp_path, certs, signer, caplog)


def test_an_rsa_responder_signing_with_pss_is_read(
        tmp_path: Path, certs: Certificates, signer: tuple[Path, Path],
        caplog: pytest.LogCaptureFixture) -> None:
    """RSASSA-PSS answers (``-rsigopt rsa_padding_mode:pss``), whose hash cryptography
    does not read from the signature: checked all the same, not refused nor an error
    on the connection's thread."""
    _good_read_and_revoked_refused(tmp_path, certs, signer, caplog,
                                   ("-rsigopt", "rsa_padding_mode:pss"))


@pytest.mark.parametrize("mode", ["require", "prefer"])
def test_an_answer_carrying_another_nonce_is_refused_or_warned_by_mode(
        tmp_path: Path, certs: Certificates, mode: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """A good answer, signed by the CA, about this certificate, but with a nonce that
    is not the one sent (a replayed answer): ``require`` refuses, ``prefer`` reads and
    warns."""
    router = device(certs, tmp_path, "edge-router-1")
    asked: list[bytes | None] = []

    def another(nonce: bytes | None) -> bytes:
        asked.append(nonce)
        return bytes(b ^ 0xFF for b in nonce or b"")

    with answering(certs.ca, certs.ca_key, another) as url, \
            caplog.at_level(logging.WARNING, logger="aiops.syslog_listener"):
        gate = tls_gate(certs.server_cert, certs.server_key, certs.ca, ocsp=(mode, url))
        with serving(gate) as (port, frames):
            if mode == "require":
                assert_refused(port, client_context(certs, *router))
                wait_for(lambda: frames.stats.tls_refused == 1, "the refusal counted")
            else:
                send_tls(port, client_context(certs, *router),
                         [octet_counted(LINK_DOWN.format(port=1))])
                wait_for(lambda: len(frames.frames) == 1, "the message read")
    assert len(asked) == 1 and asked[0] is not None and len(asked[0]) == 16
    said = f"{url}'s answer carries another request's nonce (a replay?)"
    if mode == "require":
        assert frames.frames == []
        assert f"{said} (--tls-ocsp require)" in caplog.text
    else:
        assert frames.stats.tls_refused == 0
        assert f"{said}; admitted (--tls-ocsp prefer); from 127.0.0.1" in caplog.text


def test_an_answer_carrying_no_nonce_is_read_under_require(
        tmp_path: Path, certs: Certificates, caplog: pytest.LogCaptureFixture) -> None:
    """As RFC 5019 responders serving pre-made answers do: its dates bound its age, so
    it is taken (the same responder with another nonce is refused, above)."""
    router = device(certs, tmp_path, "edge-router-1")
    with answering(certs.ca, certs.ca_key, lambda nonce: None) as url, \
            caplog.at_level(logging.WARNING, logger="aiops.syslog_listener"):
        gate = tls_gate(certs.server_cert, certs.server_key, certs.ca,
                        ocsp=("require", url))
        with serving(gate) as (port, frames):
            send_tls(port, client_context(certs, *router),
                     [octet_counted(LINK_DOWN.format(port=1))])
            wait_for(lambda: len(frames.frames) == 1, "the message read")
    assert frames.stats.tls_refused == 0
    assert caplog.text == ""


class _SlowRelay(http.server.BaseHTTPRequestHandler):
    """POSTs to the real responder after half a second, counting them: long enough for
    every check started at once to be in flight together."""

    target = ""
    posts = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        type(self).posts += 1
        body = self.rfile.read(int(self.headers["Content-Length"]))
        time.sleep(0.5)
        answer = requests.post(self.target, data=body, timeout=10,
                               headers={"Content-Type": "application/ocsp-request"})
        self.send_response(answer.status_code)
        self.send_header("Content-Type", "application/ocsp-response")
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, *args: object) -> None:
        pass


def test_checks_of_one_certificate_at_once_ask_the_responder_once(
        tmp_path: Path, certs: Certificates, signer: tuple[Path, Path]) -> None:
    """A device that opens four connections at the same moment (or reopens them after a
    restart) is asked about once: the other checks wait for that answer."""
    router = device(certs, tmp_path, "edge-router-1")
    db = database(tmp_path / "db", certs, [router[0]])
    leaf = x509.load_pem_x509_certificate(router[0].read_bytes())
    leaf_der = leaf.public_bytes(serialization.Encoding.DER)
    with responding(db.folder / "index.txt", certs.ca, signer) as responder:
        _SlowRelay.target, _SlowRelay.posts = responder.url, 0
        relay = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowRelay)
        threading.Thread(target=relay.serve_forever, daemon=True).start()
        try:
            checker = tls_gate(certs.server_cert, certs.server_key, certs.ca, ocsp=(
                "require", f"http://127.0.0.1:{relay.server_address[1]}")).ocsp
            assert checker is not None
            failures: list[BaseException] = []

            def check() -> None:
                try:
                    checker.check(leaf_der, "127.0.0.1")
                except BaseException as exc:  # noqa: BLE001 - reported below
                    failures.append(exc)

            threads = [threading.Thread(target=check) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
        finally:
            relay.shutdown()
    assert failures == []
    assert (_SlowRelay.posts, checker.queries, responder.requests) == (1, 1, 1)


def test_bad_ocsp_options_exit_2_naming_the_option(tmp_path: Path, certs: Certificates) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(tmp_path),
                               "syslog", "listen", "--tls", f"127.0.0.1:{free_port()}",
                               "--tls-cert", str(certs.server_cert), "--tls-key",
                               str(certs.server_key), *args, "--forward",
                               "http://127.0.0.1:1"], capture_output=True, text=True,
                              timeout=60)

    ca = ["--tls-client-ca", str(certs.ca)]
    r = run(*ca, "--tls-ocsp", "sometimes")
    assert r.returncode == 2 and "--tls-ocsp" in r.stderr and "'sometimes'" in r.stderr
    r = run(*ca, "--tls-ocsp", "require", "--tls-ocsp-url", "ldap://ocsp.example")
    assert r.returncode == 2 and "--tls-ocsp-url 'ldap://ocsp.example': not an http:// URL" \
        in r.stderr
    r = run(*ca, "--tls-ocsp-url", "http://ocsp.example")
    assert r.returncode == 2 and "--tls-ocsp-url needs --tls-ocsp require|prefer" in r.stderr
    r = run("--tls-ocsp", "prefer")
    assert r.returncode == 2 and "--tls-ocsp needs --tls-client-ca" in r.stderr
    missing = tmp_path / "missing-ca.pem"
    r = run("--tls-client-ca", str(missing), "--tls-ocsp", "require")
    assert r.returncode == 2 and f"--tls-client-ca {missing}: cannot be read" in r.stderr
