"""``aiops demo`` (``make run``) stopped by SIGTERM in each step it reaches, as systemd,
``docker stop`` or ``kill`` do: exit 143 with a message, no traceback, the SQLite data
dir intact, and a second demo on the same data dir trains, replays and serves (then
stops the same way; Ctrl-C: 130). Real subprocesses, each signalled once its progress
line says which step it is in."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.polling import wait_for
from tests.ports import free_port

# 300 faults: the training step takes seconds (4x the demo's alerts), the replay of
# about 6,000 alerts about one, time enough to signal either once its line is out.
SLOW = ("--faults", "300")
ENV = {**os.environ, "AIOPS_TEXT_SIMILARITY": "off"}


def start(data: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "aiops", "--data-dir", str(data), "demo",
                             *args], env=ENV, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)


def stop_after(demo: subprocess.Popen[str], line: str | None,
               sig: signal.Signals = signal.SIGTERM) -> tuple[int, float, str]:
    """Wait for ``line`` on its stderr (None: at once), send ``sig``: its exit status,
    the seconds it took to stop and what it said."""
    said = []
    assert demo.stderr is not None
    for text in demo.stderr if line is not None else ():
        said.append(text)
        if line in text:
            break
    else:
        assert line is None, f"no {line!r} in {said}"
    began = time.monotonic()
    demo.send_signal(sig)
    status = demo.wait(timeout=60)
    took = time.monotonic() - began
    print(f"stopped by {sig.name} after {line!r}: {took:.3f} s")  # docs/architecture.md
    return status, took, "".join(said) + demo.stderr.read()


def intact(data: Path) -> None:
    with sqlite3.connect(data / "aiops.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _incidents(port: int) -> dict | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/incidents?limit=5",
                                    timeout=10) as reply:
            return json.load(reply)
    except ConnectionError:
        return None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ConnectionError):
            return None
        raise


def comes_up_and_stops(data: Path, sig: signal.Signals = signal.SIGTERM) -> None:
    """A second demo on ``data`` trains, replays and serves its incidents; ``sig`` stops
    it with 128 + its number."""
    port = free_port()
    demo = start(data, "--port", str(port))
    try:
        said = []
        assert demo.stderr is not None
        for text in demo.stderr:
            said.append(text)
            if "serving the incident view" in text:
                break
        # the line comes just before it binds: asked until it answers
        found = wait_for(lambda: _incidents(port), "the demo to answer",
                         explain=lambda: "".join(said))
        assert found["incidents"], found
        status, _, rest = stop_after(demo, None, sig)
        assert status == 128 + sig, rest
        assert f"aiops: stopped by {sig.name}, closing" in rest and "Traceback" not in rest
    finally:
        demo.kill()
        demo.wait()
    intact(data)


@pytest.mark.parametrize(("step_starts", "step_ended"), [
    ("demo topology:", "demo: trained model"),  # training
    ("replaying ", "replay took"),  # replaying
])
def test_sigterm_inside_a_step(tmp_path: Path, step_starts: str, step_ended: str) -> None:
    data = tmp_path / "d"
    status, took, said = stop_after(start(data, "--no-serve", *SLOW), step_starts)
    assert status == 143, said
    assert "aiops: stopped by SIGTERM, closing" in said and "Traceback" not in said, said
    assert step_ended not in said  # stopped inside the step
    assert took < 10, took
    intact(data)
    comes_up_and_stops(data)


def test_sigterm_and_ctrl_c_while_serving(tmp_path: Path) -> None:
    data = tmp_path / "d"
    comes_up_and_stops(data)
    comes_up_and_stops(data, signal.SIGINT)
