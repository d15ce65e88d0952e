"""Certificate revocation lists for TLS tests, made by ``openssl ca`` as a CA publishes
them: a database of what was revoked (``index.txt``) and a CRL generated from it.

Why ``openssl ca`` and not a library: it is what a small CA runs, so the CRL is what a
listener meets (version 2, a CRL number, a next update).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.tls_certs import OPENSSL

_CONFIG = """[ca]
default_ca = ca_default
[ca_default]
database = index.txt
crlnumber = crlnumber
default_md = sha256
default_crl_days = 2
"""


class Revocations:
    """A CA's revocation database in ``folder``; ``publish`` writes its CRL to ``crl``."""

    def __init__(self, folder: Path, ca_cert: Path, ca_key: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.ca = ["-cert", str(ca_cert), "-keyfile", str(ca_key)]
        (folder / "ca.cnf").write_text(_CONFIG, encoding="ascii")
        (folder / "index.txt").write_text("", encoding="ascii")
        (folder / "crlnumber").write_text("01\n", encoding="ascii")
        self.crl = folder / "crl.pem"

    def _ca(self, *args: str) -> None:
        subprocess.run([OPENSSL, "ca", "-config", "ca.cnf", *self.ca, *args], cwd=self.folder,
                       check=True, capture_output=True, timeout=60)

    def register(self, cert: Path) -> None:
        """Record ``cert`` as issued and valid: an OCSP responder answers "unknown" for
        a certificate its database does not hold (tests/tls_ocsp.py)."""
        self._ca("-valid", str(cert))

    def revoke(self, cert: Path) -> None:
        self._ca("-revoke", str(cert))

    def publish(self, to: Path | None = None, expired: bool = False) -> Path:
        """The CRL of what is revoked so far, written whole to ``to`` (default ``crl``)
        by a rename, as a publisher replaces a file that is being read; ``expired``:
        one whose next update was in 2020, as a CA that stopped publishing leaves."""
        target = to or self.crl
        fresh = target.with_name(target.name + ".new")
        dates = ["-crl_lastupdate", "20200101000000Z", "-crl_nextupdate",
                 "20200102000000Z"] if expired else []
        self._ca("-gencrl", *dates, "-out", str(fresh))
        fresh.replace(target)
        return target
