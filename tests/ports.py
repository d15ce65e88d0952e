"""Ports for the servers the tests start, picked where nothing else will take them.

Why not ``bind(("127.0.0.1", 0))``: the kernel hands out such a port from its
ephemeral range (``net.ipv4.ip_local_port_range``, 32768–60999 by default), the same
range every outgoing connection takes its source port from. Between the moment the
probe socket closes and the moment the test's server binds, any connection the test
process or a server it started opens (PostgreSQL clients, HTTP retries, Redis,
Celery) can be given that very port, and the server then fails to start: a failure
that depends on what else runs, which no rerun reproduces. A port below the ephemeral
range is never assigned implicitly, so once it is free only another explicit bind can
take it, and no test binds ports it did not pick here.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOWEST = 20000
# Some servers read their port as a signed 16-bit number (FalkorDB's BOLT_PORT) or
# take only ports up to 32767 (Zabbix's ListenPort): stay under both.
HIGHEST = 32767
ATTEMPTS = 500
# Its own generator: tests that seed the module-level one must not make every run
# probe the same ports in the same order.
_PICK = random.SystemRandom()


def ephemeral_floor() -> int:
    """The lowest port the kernel assigns implicitly (32768 where it cannot be read)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    """Whether both TCP and UDP can bind ``port`` on 127.0.0.1 now (listeners such as
    syslog and traps take UDP, the rest TCP)."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


def free_port() -> int:
    """A port on 127.0.0.1 that is free for TCP and UDP and that the kernel will not
    give to an outgoing connection before the caller's server binds it."""
    highest = min(HIGHEST, ephemeral_floor() - 1)
    if highest <= LOWEST:  # a host whose ephemeral range starts low: the race is back,
        highest = HIGHEST  # but the 16-bit limit above still holds
    for _ in range(ATTEMPTS):
        port = _PICK.randint(LOWEST, highest)
        if _bindable(port):
            return port
    raise RuntimeError(f"no free port between {LOWEST} and {highest} on 127.0.0.1")
