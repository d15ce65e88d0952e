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
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg


def _binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _unprivileged_user() -> pwd.struct_passwd | None:
    """The user to run the server as when the tests run as root (None: stay as we are)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and no unprivileged user to run PostgreSQL as")


class PostgresServer:
    """A throw-away cluster on 127.0.0.1:``port`` that can be stopped and started again."""

    def __init__(self, port: int):
        initdb, self._postgres = _binary("initdb"), _binary("postgres")
        if not initdb or not self._postgres:
            raise RuntimeError("PostgreSQL server binaries not found (scripts/"
                               "install-test-deps.sh installs Debian's postgresql)")
        self.port = port
        self.url = f"postgresql://aiops@127.0.0.1:{port}/postgres"
        user = _unprivileged_user()
        self._as = {"user": user.pw_uid, "group": user.pw_gid} if user else {}
        self._root = tempfile.mkdtemp(prefix="aiops-pg-")
        self._data = os.path.join(self._root, "data")
        if user:
            os.chown(self._root, user.pw_uid, user.pw_gid)
        subprocess.run([initdb, "-D", self._data, "-A", "trust", "-U", "aiops", "-E", "UTF8",
                        "--no-sync"], check=True, capture_output=True, cwd=self._root,
                       **self._as)
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log_path = os.path.join(self._root, "server.log")
        # A file, not a pipe: a chatty server must never block on a full pipe.
        with open(log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [self._postgres, "-D", self._data, "-k", self._root, "-h", "127.0.0.1",
                 "-p", str(self.port), "-F", "-c", "max_connections=200"],
                stdout=subprocess.DEVNULL, stderr=log, cwd=self._root, **self._as)
        deadline = time.monotonic() + 30
        while True:
            try:
                psycopg.connect(self.url, connect_timeout=2).close()
                return
            except psycopg.OperationalError:
                if self._proc.poll() is not None or time.monotonic() > deadline:
                    with open(log_path, errors="replace") as log:
                        err = log.read()
                    raise RuntimeError(f"PostgreSQL did not start: {err[-2000:]}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGINT)  # fast shutdown: do not wait for clients
        try:
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=5)
        self._proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self._root, ignore_errors=True)


@contextmanager
def postgres_server(port: int) -> Iterator[str]:
    """Yield the URL of a running server (a new one unless the env var names one)."""
    external = os.environ.get("AIOPS_TEST_POSTGRES_URL")
    if external:
        yield external
        return
    server = PostgresServer(port)
    try:
        server.start()
        yield server.url
    finally:
        server.remove()


def create_database(server_url: str, name: str) -> str:
    """A new empty database on the server; returns its URL."""
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"
