"""Throw-away X.509 certificates for TLS tests, made by the openssl command line.

Why generated and not checked in: a committed key is a key someone will reuse, and a
committed certificate expires. A CA signs a server certificate for ``aiops.test``
(and 127.0.0.1) and a client certificate; a second CA signs a client certificate the
listener must not trust. Keys are RSA 2048 unless asked otherwise (``KEYS``): an
ECDSA P-256 or Ed25519 CA, its certificates and their keys, to show what does not
assume RSA.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

OPENSSL = shutil.which("openssl")
KEYS = {"rsa": ("-newkey", "rsa:2048"),
        "ec": ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
        "ed25519": ("-newkey", "ed25519")}  # openssl req's arguments for a new key


@dataclass(frozen=True)
class Certificates:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # signed by another CA
    stranger_key: Path
    ca_key: Path  # to sign more certificates (``signed``) and CRLs (tests/tls_crl.py)
    algorithm: str = "rsa"  # of every key here (``KEYS``)


def _run(*args: str, cwd: Path) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _ca(folder: Path, name: str, algorithm: str = "rsa") -> tuple[Path, Path]:
    key, cert = folder / f"{name}.key", folder / f"{name}.pem"
    _run("req", "-x509", *KEYS[algorithm], "-nodes", "-days", "2", "-subj",
         f"/CN={name}", "-keyout", str(key), "-out", str(cert), cwd=folder)
    return cert, key


def signed(folder: Path, name: str, ca: tuple[Path, Path], extensions: str,
           subject: str | None = None, algorithm: str = "rsa") -> tuple[Path, Path]:
    """A certificate (and its ``algorithm`` key, ``KEYS``) for ``subject`` (default
    ``/CN=name``), signed by ``ca`` (certificate, key), with ``extensions`` in
    ``openssl x509 -extfile`` form."""
    key, request, cert = folder / f"{name}.key", folder / f"{name}.csr", folder / f"{name}.pem"
    ext = folder / f"{name}.ext"
    ext.write_text(extensions, encoding="ascii")
    _run("req", *KEYS[algorithm], "-nodes", "-subj", subject or f"/CN={name}",
         "-keyout", str(key),
         "-out", str(request), cwd=folder)
    _run("x509", "-req", "-in", str(request), "-CA", str(ca[0]), "-CAkey", str(ca[1]),
         "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert), cwd=folder)
    return cert, key


def make_certificates(folder: Path, algorithm: str = "rsa") -> Certificates:
    """The CAs and certificates, every key of ``algorithm`` (``KEYS``)."""
    folder.mkdir(parents=True, exist_ok=True)
    ca = _ca(folder, "test-ca", algorithm)
    server = signed(folder, "aiops.test", ca, "subjectAltName=DNS:aiops.test,IP:127.0.0.1\n"
                    "extendedKeyUsage=serverAuth\n", algorithm=algorithm)
    client = signed(folder, "edge-router-1", ca, "subjectAltName=DNS:edge-router-1\n"
                    "extendedKeyUsage=clientAuth\n", algorithm=algorithm)
    other_ca = _ca(folder, "other-ca", algorithm)
    stranger = signed(folder, "stranger", other_ca, "extendedKeyUsage=clientAuth\n",
                      algorithm=algorithm)
    return Certificates(ca=ca[0], server_cert=server[0], server_key=server[1],
                        client_cert=client[0], client_key=client[1],
                        stranger_cert=stranger[0], stranger_key=stranger[1], ca_key=ca[1],
                        algorithm=algorithm)


def close_after_read(tls: ssl.SSLSocket) -> None:
    """Half-close, then read to the receiver's close. Closing at once would drop the
    stream: a TLS 1.3 server's session tickets sit unread, and a socket closed with
    unread data sends a reset, on which the receiver throws away what it had not read."""
    tls.shutdown(socket.SHUT_WR)
    with contextlib.suppress(OSError):
        while tls.recv(65536):
            pass
