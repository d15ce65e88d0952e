"""Certificate revocation lists for the TLS syslog listener (``--tls-crl``).

Why: a device decommissioned or whose key leaked keeps a certificate the CA signed
until it expires; its CA revokes it in a CRL, republished periodically, and the
listener must refuse it at the handshake from then on, without a restart that would
drop every open connection (``CrlReload``).

OpenSSL with ``VERIFY_CRL_CHECK_LEAF`` checks the client certificate (not its chain)
against its issuer's CRL and refuses the certificate when that issuer has no CRL
loaded ("unable to get certificate CRL") or its CRL is past its next update ("CRL has
expired"). So every CA in ``--tls-client-ca`` that signs client certificates needs a
CRL; a root that only signs intermediates does not. Each CA without one is warned about
at start, and a CRL that no CA of ``--tls-client-ca`` signed is refused (it would
revoke nothing). A file must hold PEM CRLs only: OpenSSL would take a certificate in it
as one more trusted CA.
"""

from __future__ import annotations

import datetime
import logging
import os
import re
import ssl
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography import x509

from aiops.errors import InputError

log = logging.getLogger("aiops.syslog_listener")

_PEM = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


def load_crls(context: ssl.SSLContext, files: Sequence[Path], client_ca: Path) -> list[str]:
    """Add the CRLs of ``files`` to ``context`` and check client certificates against
    them; the warnings to log. ``InputError`` names the option and file at fault."""
    try:
        authorities = x509.load_pem_x509_certificates(client_ca.read_bytes())
    except (OSError, ValueError) as exc:
        raise InputError(f"--tls-client-ca {client_ca}: cannot be read to match the CRLs "
                         f"to their CAs ({exc})") from None
    with_crl = set()
    warnings = []
    now = datetime.datetime.now(datetime.UTC)
    for path in files:
        for crl in _read(path):
            issuer = next((ca for ca in authorities if ca.subject == crl.issuer
                           and _signed_by(crl, ca)), None)
            if issuer is None:
                raise InputError(f"--tls-crl {path}: a CRL of {crl.issuer.rfc4514_string()}, "
                                 "which no CA in --tls-client-ca signed")
            with_crl.add(issuer.subject)
            if crl.next_update_utc is not None and crl.next_update_utc < now:
                warnings.append(f"--tls-crl {path}: the CRL of "
                                f"{crl.issuer.rfc4514_string()} expired at "
                                f"{crl.next_update_utc:%Y-%m-%d %H:%M} UTC: every "
                                "certificate that CA issued is refused until it is "
                                "republished")
        certificates = context.cert_store_stats()["x509"]
        try:
            context.load_verify_locations(cafile=str(path))
        except (OSError, ssl.SSLError) as exc:
            raise InputError(f"--tls-crl {path}: cannot be loaded ({exc})") from None
        if context.cert_store_stats()["x509"] != certificates:  # replaced while read
            raise InputError(f"--tls-crl {path}: holds a certificate, not only CRLs")
    for ca in authorities:
        if ca.subject not in with_crl:
            warnings.append(f"--tls-client-ca {client_ca}: no --tls-crl holds a CRL of "
                            f"{ca.subject.rfc4514_string()}, so every client certificate "
                            "it issued is refused")
    context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    return warnings


def _read(path: Path) -> list[x509.CertificateRevocationList]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"--tls-crl {path}: cannot be read ({exc.strerror or exc})") \
            from None
    blocks = list(_PEM.finditer(data))
    others = sorted({b.group(1).decode() for b in blocks} - {"X509 CRL"})
    if others:
        raise InputError(f"--tls-crl {path}: holds {', '.join(others)}, not only CRLs")
    if not blocks:
        raise InputError(f"--tls-crl {path}: not a PEM CRL (no -----BEGIN X509 CRL-----)")
    try:
        return [x509.load_pem_x509_crl(b.group(0)) for b in blocks]
    except ValueError as exc:
        raise InputError(f"--tls-crl {path}: not a readable PEM CRL ({exc})") from None


def _signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    try:
        # A CA key of a kind that cannot sign (X25519) raises: the except below.
        return crl.is_signature_valid(ca.public_key())  # type: ignore[arg-type]
    except (TypeError, ValueError):  # a key type CRLs cannot be signed with
        return False


class CrlReload:
    """The context new connections shake hands with, made again (all files read anew)
    when a ``--tls-crl`` file changes; open connections keep theirs. A change that does
    not load (a CRL half written) is logged once and the previous context kept."""

    def __init__(self, build: Callable[[], tuple[ssl.SSLContext, list[str]]],
                 files: Sequence[Path]):
        self._build = build
        self._files = list(files)
        self._tried = self._signature()
        self._context = self._made()
        self._lock = threading.Lock()

    def _signature(self) -> tuple[tuple[int, int, int] | None, ...]:
        out = []
        for path in self._files:
            try:
                stat = os.stat(path)
            except OSError:
                out.append(None)
                continue
            out.append((stat.st_mtime_ns, stat.st_size, stat.st_ino))
        return tuple(out)

    def _made(self) -> ssl.SSLContext:
        context, warnings = self._build()
        for warning in warnings:
            log.warning("%s", warning)
        return context

    def current(self) -> ssl.SSLContext:
        """A few ``stat`` calls per new connection; the files are read when they change."""
        signature = self._signature()
        if signature == self._tried:
            return self._context
        with self._lock:
            if signature != self._tried:
                self._tried = signature
                try:
                    self._context = self._made()
                except InputError as exc:
                    log.warning("%s; new TLS connections are checked against the CRLs "
                                "read before", exc)
                else:
                    log.info("re-read the CRLs of %s", ", ".join(map(str, self._files)))
        return self._context
