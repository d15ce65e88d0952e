"""``aiops syslog listen`` as a process: real syslog from util-linux ``logger`` over UDP
and TCP becomes alerts in an engine served over real HTTP, a link that comes back up
resolves its alert, and messages sent while the engine is away arrive once it is back."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from aiops.api import create_app
from aiops.runtime import Runtime
from tests.conftest import LiveServer, free_port
from tests.integration.test_webhooks_api import alert_rows
from tests.polling import wait_for

pytestmark = pytest.mark.skipif(shutil.which("logger") is None,
                                reason="needs util-linux logger")


class Listener:
    """``aiops syslog listen`` on UDP and TCP at one free port, or on what ``receive``
    names (``--tls ...`` and its files)."""

    def __init__(self, data_dir: Path, forward: str, receive: list[str] | None = None):
        self.port = free_port()
        receive = receive or ["--udp", f"127.0.0.1:{self.port}",
                              "--tcp", f"127.0.0.1:{self.port}"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "aiops", "--data-dir", str(data_dir), "syslog", "listen",
             *receive, "--forward", forward, "--stats-every", "0.5"],
            stderr=subprocess.PIPE, text=True, env={**os.environ})
        first = self.process.stderr.readline()
        assert first.startswith(f"listening on {receive[0][2:]} 127.0.0.1:"), first
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line)

    def send(self, text: str, *, tcp: bool = False, rfc: str = "--rfc3164") -> None:
        subprocess.run(["logger", "--tcp" if tcp else "--udp", "--server", "127.0.0.1",
                        "--port", str(self.port), rfc, "-t", "ios", text], check=True,
                       timeout=10)

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)
        time.sleep(0.2)
        return "".join(self.lines)


@pytest.fixture
def listener(tmp_path: Path, live_server: LiveServer) -> Iterator[Listener]:
    running = Listener(tmp_path / "listener", live_server.url)
    yield running
    if running.process.poll() is None:
        running.stop()


def test_a_link_down_over_udp_and_up_over_tcp_fire_and_resolve_one_alert(
        listener: Listener, live_server: LiveServer) -> None:
    runtime = live_server.runtime
    listener.send("%LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to down")
    listener.send("%SYS-5-CONFIG_I: Configured from console by admin")  # no rule: no alert
    (alert,) = wait_for(lambda: alert_rows(runtime), "the link-down alert")
    assert (alert["source"], alert["name"], alert["status"]) == ("syslog", "LINK_DOWN",
                                                                 "firing")
    assert alert["labels"] == {"interface": "GigabitEthernet0/1"}
    listener.send("%LINK-3-UPDOWN: Interface GigabitEthernet0/1, changed state to up",
                  tcp=True, rfc="--rfc5424")
    wait_for(lambda: [a for a in alert_rows(runtime) if a["status"] == "resolved"],
             "the link-up clear")
    assert len(alert_rows(runtime)) == 1
    out = listener.stop()
    assert "syslog: stopped; received 2, forwarded 2, pending 0" in out


def test_messages_sent_while_the_engine_is_away_arrive_when_it_is_back(
        tmp_path: Path, runtime: Runtime) -> None:
    port = free_port()
    listener = Listener(tmp_path / "listener", f"http://127.0.0.1:{port}")
    try:
        listener.send("%BGP-5-ADJCHANGE: neighbor 10.0.0.9 Down BGP Notification sent")
        listener.send("%LINK-3-UPDOWN: Interface Gi0/2, changed state to down", tcp=True)
        wait_for(lambda: any("pending 2" in line for line in listener.lines),
                 "two events held for the engine")
        server = make_server("127.0.0.1", port, create_app(runtime=runtime), threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            rows = wait_for(lambda: len(alert_rows(runtime)) == 2 and alert_rows(runtime),
                            "the held events reaching the engine")
            assert {r["name"] for r in rows} == {"BGP_PEER_DOWN", "LINK_DOWN"}
            out = listener.stop()
        finally:
            server.shutdown()
            thread.join(timeout=5)
    finally:
        if listener.process.poll() is None:
            listener.stop()
    assert "received 2, forwarded 2, pending 0, refused 0, dropped 0" in out


def test_listen_refuses_bad_options_by_name(tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(tmp_path),
                               "syslog", "listen", *args], capture_output=True, text=True,
                              timeout=60)

    r = run("--forward", "http://127.0.0.1:1")
    assert r.returncode == 2 and "give --udp HOST:PORT, --tcp HOST:PORT, --tls HOST:PORT" \
        in r.stderr
    r = run("--udp", "localhost", "--forward", "http://127.0.0.1:1")
    assert r.returncode == 2 and "--udp must be HOST:PORT" in r.stderr
    r = run("--udp", "127.0.0.1:0", "--forward", "127.0.0.1:8080")
    assert r.returncode == 2 and "--forward must be an http(s) URL" in r.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        r = run("--tcp", f"127.0.0.1:{taken.getsockname()[1]}", "--forward",
                "http://127.0.0.1:1")
    assert r.returncode == 2 and "cannot listen" in r.stderr
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:  # another listener
        taken.bind(("127.0.0.1", 0))
        r = run("--udp", f"127.0.0.1:{taken.getsockname()[1]}", "--forward",
                "http://127.0.0.1:1")
    assert r.returncode == 2 and "cannot listen" in r.stderr


def test_try_shows_what_each_saved_line_becomes_and_check_names_bad_rule_files(
        tmp_path: Path) -> None:
    from tests.integration.test_cli import aiops

    lines = tmp_path / "saved.log"
    lines.write_bytes(b"<187>Nov 22 16:20:05 core-1 9: %LINK-3-UPDOWN: Interface Gi0/1, "
                      b"changed state to down\n\n<189>Nov 22 16:20:06 core-1 sshd: login\n"
                      b"garbage\n")
    r = aiops(tmp_path / "d", "syslog", "try", str(lines))
    assert r.returncode == 0, r.stderr
    first, second, third = r.stdout.splitlines()
    assert first.startswith('saved.log:1: {"host": "core-1", "name": "LINK_DOWN"')
    assert second == "saved.log:3: no rule (host core-1)"
    assert third.startswith("saved.log:4: not a syslog message from 127.0.0.1")
    rules = tmp_path / "d" / "syslog"
    rules.mkdir(parents=True)
    (rules / "bad.yml").write_text("- {name: a, alert: A, match: x}\n")
    r = aiops(tmp_path / "d", "syslog", "check")
    assert r.returncode == 2 and "aiops: error: bad.yml: rule 1: 'state' is required" in r.stderr
    assert aiops(tmp_path / "d", "syslog", "try", str(lines)).returncode == 2
