"""A real OCSP responder for TLS tests: ``openssl ocsp`` answering from a CA database
that ``openssl ca`` keeps (tests/tls_crl.py's ``Revocations``).

Why the openssl command and not a responder written in the test: it is what a small CA
runs, so the answers (a delegated responder certificate, a nonce echoed, thisUpdate and
nextUpdate) are what a listener meets.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

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
               requests: int | None = None, minutes: int = 5) -> Iterator[Responder]:
    """Answers from ``index`` about certificates ``ca`` issued, signed by ``signer``
    (certificate, key), valid ``minutes`` (nextUpdate); it exits after ``requests``
    answers when given (openssl's ``-nrequest``), else when the block ends."""
    port = port or free_port()
    args = [OPENSSL, "ocsp", "-index", str(index), "-port", str(port), "-CA", str(ca),
            "-rsigner", str(signer[0]), "-rkey", str(signer[1]), "-nmin", str(minutes)]
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
