"""The TLS side of ``aiops syslog listen --tls``: syslog over TLS (RFC 5425).

Why here and not a relay in front: devices and relays (rsyslog, syslog-ng, Cisco IOS
XE, Junos) send syslog over TLS to port 6514 when the path crosses networks that must
not read it, and a plain-TCP hop on the listener's host would be the weak link. The
listener terminates TLS itself and then reads the stream as it reads plain TCP
(RFC 5425 §4.3 frames with octet counting, which ``TcpFramer`` reads).

What is checked: the server presents ``--tls-cert`` (with its chain) and
``--tls-key``; TLS 1.2 is the least accepted (RFC 9662 updates RFC 5425 to require
it). With ``--tls-client-ca`` every sender must present a certificate that CA signed
(RFC 5425 §5.2 mutual authentication) or its connection is refused before a byte
of syslog is read. Every file is read at start, and a bad one is refused by name.
Which of those certificates may send, and for which hosts: aiops/syslog_tls_peers.py;
revocation lists, re-read when they change: aiops/syslog_tls_crl.py; OCSP, asked
after the handshake: aiops/syslog_tls_ocsp.py.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from aiops.errors import InputError
from aiops.syslog_tls_peers import PeerPolicy, certificate_names

if TYPE_CHECKING:
    from aiops.syslog_tls_ocsp import OcspChecker

HANDSHAKE_SECONDS = 10.0  # a sender that connects and says nothing holds no thread longer


def server_context(cert: Path, key: Path | None = None,
                   client_ca: Path | None = None) -> ssl.SSLContext:
    """A server-side context from PEM files; ``InputError`` names the file that is
    missing, unreadable or not what it should be."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _readable(cert, "--tls-cert")
    if key is not None:
        _readable(key, "--tls-key")
    try:
        # A password callback that refuses: without one OpenSSL asks for the passphrase
        # on the terminal (a service start hangs on it) or, with none, fails as EINVAL.
        context.load_cert_chain(str(cert), str(key) if key is not None else None,
                                password=_no_passphrase)
    except _Encrypted:
        raise InputError(f"--tls-key {key or cert}: the private key is encrypted; give "
                         "it unencrypted, in a file only the listener can read") from None
    except ssl.SSLError as exc:
        named = f"--tls-cert {cert}" + (f" with --tls-key {key}" if key else "")
        raise InputError(f"{named}: not a PEM certificate and its private key "
                         f"({exc.reason or exc})") from None
    if client_ca is not None:
        _readable(client_ca, "--tls-client-ca")
        try:
            context.load_verify_locations(cafile=str(client_ca))
        except ssl.SSLError as exc:
            raise InputError(f"--tls-client-ca {client_ca}: no PEM certificate in it "
                             f"({exc.reason or exc})") from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


class _Encrypted(Exception):
    """The private key asks for a passphrase."""


def _no_passphrase() -> str:
    raise _Encrypted


def _readable(path: Path, option: str) -> None:
    try:
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise InputError(f"{option} {path}: cannot be read ({exc.strerror or exc})") from None


def peer_subject(connection: ssl.SSLSocket) -> str | None:
    """The sender certificate's names (DNS names, else common names), for the logs."""
    certificate = connection.getpeercert()
    if not certificate:
        return None
    return ", ".join(certificate_names(certificate)) or None


class TlsGate:
    """What the TLS listener asks for each connection: the context to shake hands
    with (made anew when a revocation list changes) and, after the handshake, whether
    the certificate may send and for which hosts (``peers``; None: any it has) and
    whether its OCSP responder says it is not revoked (``ocsp``; None: not asked)."""

    def __init__(self, contexts: Callable[[], ssl.SSLContext],
                 peers: PeerPolicy | None = None, ocsp: OcspChecker | None = None):
        self.context = contexts
        self.peers = peers
        self.ocsp = ocsp

    @classmethod
    def fixed(cls, context: ssl.SSLContext) -> TlsGate:
        return cls(lambda: context)


def tls_gate(cert: Path, key: Path | None, client_ca: Path | None,
             crls: Sequence[Path] = (), peers: PeerPolicy | None = None,
             ocsp: tuple[str, str | None] | None = None) -> TlsGate:
    """The listener's gate from its options; ``InputError`` for a bad file or option.
    ``ocsp``: ``--tls-ocsp`` mode and ``--tls-ocsp-url`` (None: the certificate's)."""
    checker = None
    if ocsp is not None:
        from aiops.syslog_tls_ocsp import ocsp_checker

        if client_ca is None:
            raise InputError("--tls-ocsp needs --tls-client-ca (OCSP answers for client "
                             "certificates, and their issuers are found there)")
        _readable(client_ca, "--tls-client-ca")
        checker = ocsp_checker(client_ca, *ocsp)
    if not crls:
        context = server_context(cert, key, client_ca)
        return TlsGate(lambda: context, peers, checker)
    from aiops.syslog_tls_crl import CrlReload, load_crls

    if client_ca is None:
        raise InputError("--tls-crl needs --tls-client-ca (CRLs revoke client certificates)")

    def build() -> tuple[ssl.SSLContext, list[str]]:
        context = server_context(cert, key, client_ca)
        return context, load_crls(context, crls, client_ca)

    return TlsGate(CrlReload(build, crls).current, peers, checker)
