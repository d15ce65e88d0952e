"""A real PostgreSQL server for the tests, started from the installed binaries.

``AIOPS_TEST_POSTGRES_URL`` points the tests at an existing server instead. The
server runs as the ``postgres`` (or ``nobody``) user when the tests run as root,
because PostgreSQL refuses to run as root.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


def _binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _as_user() -> list[str]:
    if os.geteuid() != 0:
        return []
    for user in ("postgres", "nobody"):
        try:
            pwd.getpwnam(user)
            return ["runuser", "-u", user, "--"]
        except KeyError:
            continue
    raise RuntimeError("running as root and no unprivileged user to run PostgreSQL as")


@contextmanager
def postgres_server(port: int) -> Iterator[str]:
    """Yield the URL of a new throw-away cluster listening on 127.0.0.1:``port``."""
    external = os.environ.get("AIOPS_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    initdb, postgres = _binary("initdb"), _binary("postgres")
    if not initdb or not postgres:
        raise RuntimeError("PostgreSQL server binaries not found (scripts/install-test-deps.sh "
                           "installs Debian's postgresql)")
    prefix = _as_user()
    root = tempfile.mkdtemp(prefix="aiops-pg-")
    data = os.path.join(root, "data")
    if prefix:
        user = pwd.getpwnam(prefix[2])
        os.chown(root, user.pw_uid, user.pw_gid)
    subprocess.run([*prefix, initdb, "-D", data, "-A", "trust", "-U", "aiops", "-E", "UTF8",
                    "--no-sync"], check=True, capture_output=True)
    proc = subprocess.Popen(
        [*prefix, postgres, "-D", data, "-k", root, "-h", "127.0.0.1", "-p", str(port),
         "-F", "-c", "max_connections=200"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"postgresql://aiops@127.0.0.1:{port}/postgres"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise RuntimeError(f"PostgreSQL did not start: {err[-2000:]}") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(root, ignore_errors=True)


def create_database(server_url: str, name: str) -> str:
    """A new empty database on the server; returns its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"
