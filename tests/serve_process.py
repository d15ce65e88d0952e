"""A real ``aiops serve`` subprocess for the tests of what it runs beside the API
(retention, the text index): started, read until it serves, stopped by SIGTERM.

Why one place: each such test must see the start-up lines of its own thread and then
the same clean stop (exit 143 within a bound, the closing message, no traceback), and
reading a child's stderr until a line, then the rest after it exits, is easy to get
subtly wrong (a pipe left unread blocks the child).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.ports import free_port

SERVING = "serving the incident view"  # the line `aiops serve` says just before it binds


@contextmanager
def serving(data_dir: Path, db_url: str, *args: str,
            **env: str) -> Iterator[tuple[subprocess.Popen[str], list[str]]]:
    """``aiops serve`` on ``data_dir`` and ``db_url`` (text model off, ``args`` added
    to serve's, ``env`` to the environment), with the stderr lines it said up to
    serving; killed on the way out if still running."""
    server = subprocess.Popen(
        [sys.executable, "-m", "aiops", "--data-dir", str(data_dir), "--database-url", db_url,
         "serve", "--port", str(free_port()), *args],
        env={**os.environ, "AIOPS_TEXT_SIMILARITY": "off", **env},
        stderr=subprocess.PIPE, text=True)
    try:
        said: list[str] = []
        assert server.stderr is not None
        for line in server.stderr:
            said.append(line)
            if SERVING in line:
                break
        yield server, said
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def stops_on_sigterm(server: subprocess.Popen[str], within: float) -> None:
    """SIGTERM stops ``server`` with exit 143 in less than ``within`` seconds, saying
    so and without a traceback."""
    began = time.monotonic()
    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=30) == 128 + signal.SIGTERM
    assert time.monotonic() - began < within
    assert server.stderr is not None
    rest = server.stderr.read()
    assert "aiops: stopped by SIGTERM, closing" in rest and "Traceback" not in rest, rest
