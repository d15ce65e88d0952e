"""A real OCSP responder for TLS tests: ``openssl ocsp`` answering from a CA database
that ``openssl ca`` keeps (tests/tls_crl.py's ``Revocations``).

Why the openssl command and not a responder written in the test: it is what a small CA
runs, so the answers (a delegated responder certificate, a nonce echoed, thisUpdate and
nextUpdate) are what a listener meets. ``answering`` is the exception: a responder
built here, for the answers ``openssl ocsp`` never gives (it always echoes the nonce),
correctly signed by the CA, so that only the nonce is wrong.
"""

from __future__ import annotations

import contextlib
import datetime
import http.server
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from tests.http_server import serving
from tests.ports import free_port
from tests.tls_certs import OPENSSL


class Responder:
    """``openssl ocsp`` on 127.0.0.1:``port``; ``requests`` counts what it was asked."""

    def __init__(self, process: subprocess.Popen[str], port: int):
        self.process = process
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.lines: list[str] = []

    @property
    def requests(self) -> int:
        return sum("Received request" in line for line in self.lines)


@contextlib.contextmanager
def responding(index: Path, ca: Path, signer: tuple[Path, Path], port: int | None = None,
               requests: int | None = None, minutes: int = 5,
               options: Sequence[str] = ()) -> Iterator[Responder]:
    """Answers from ``index`` about certificates ``ca`` issued, signed by ``signer``
    (certificate, key), valid ``minutes`` (nextUpdate); it exits after ``requests``
    answers when given (openssl's ``-nrequest``), else when the block ends.
    ``options``: more of ``openssl ocsp``'s (``-rsigopt rsa_padding_mode:pss``)."""
    port = port or free_port()
    args = [OPENSSL, "ocsp", "-index", str(index), "-port", str(port), "-CA", str(ca),
            "-rsigner", str(signer[0]), "-rkey", str(signer[1]), "-nmin", str(minutes),
            *options]
    if requests is not None:
        args += ["-nrequest", str(requests)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, cwd=index.parent)
    responder = Responder(process, port)
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            responder.lines.append(line)
            if "waiting for OCSP client connections" in line:
                ready.set()
        ready.set()  # it exited

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(30) and process.poll() is None, "".join(responder.lines)
        yield responder
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(timeout=10)


@contextlib.contextmanager
def answering(ca: Path, ca_key: Path,
              nonce: Callable[[bytes | None], bytes | None]) -> Iterator[str]:
    """An HTTP OCSP responder on 127.0.0.1 (its URL yielded) that says ``good`` about
    the certificate each request asks about, signed by ``ca``'s own key (``ca_key``),
    valid 5 minutes, carrying ``nonce(the request's nonce)`` (None: no nonce)."""
    issuer = x509.load_pem_x509_certificate(ca.read_bytes())
    key = serialization.load_pem_private_key(ca_key.read_bytes(), password=None)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            request = ocsp.load_der_ocsp_request(
                self.rfile.read(int(self.headers["Content-Length"])))
            try:
                asked = request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
            except x509.ExtensionNotFound:
                asked = None
            now = datetime.datetime.now(datetime.UTC)
            builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
                request.issuer_name_hash, request.issuer_key_hash, request.serial_number,
                request.hash_algorithm, ocsp.OCSPCertStatus.GOOD, now,
                now + datetime.timedelta(minutes=5), None, None,
            ).responder_id(ocsp.OCSPResponderEncoding.HASH, issuer)
            given = nonce(asked)
            if given is not None:
                builder = builder.add_extension(x509.OCSPNonce(given), critical=False)
            body = builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
            self.send_response(200)
            self.send_header("Content-Type", "application/ocsp-response")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    with serving(Handler) as url:
        yield url
