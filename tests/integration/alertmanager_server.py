"""Start and stop a real Prometheus Alertmanager for tests and benchmarks.

The integration tests and ``benchmarks/ingest.py`` both need a throw-away
Alertmanager on 127.0.0.1: its own config, its own storage, clustering off (so it
never gossips on 0.0.0.0:9094) and a bounded start-up wait. Keeping that in one
module means the benchmark measures exactly the server the tests exercise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests

from tests.ports import free_port

BINARY_ENV = "ALERTMANAGER_BIN"
BINARY_NAME = "prometheus-alertmanager"
READY_TIMEOUT = 30.0  # seconds for /-/ready; a cold start takes well under one
STOP_TIMEOUT = 10.0
START_ATTEMPTS = 3  # a port picked free can be taken before the server binds it
POLL_INTERVAL = 0.05

T = TypeVar("T")


def alertmanager_binary() -> str | None:
    """Path of the Alertmanager binary (``$ALERTMANAGER_BIN`` first), None if absent."""
    configured = os.environ.get(BINARY_ENV)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which(BINARY_NAME)


def wait_for(probe: Callable[[], T | None], timeout: float, what: str,
             interval: float = POLL_INTERVAL) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` after ``timeout``.

    Tests wait on observable state (an HTTP answer, a database row) rather than
    sleeping a guessed amount, so they are as fast as the system and still bounded.
    """
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = probe()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what} "
                               f"(last value: {last!r})")
        time.sleep(interval)


def config_document(webhook_url: str | None, group_by: Sequence[str] = ("alertname", "device"),
                    group_wait: str = "1s", group_interval: str = "1s",
                    repeat_interval: str = "1h") -> dict[str, Any]:
    """An alertmanager.yml as a dict: one route to a webhook, or to a receiver with no
    integrations (a blackhole) when ``webhook_url`` is None."""
    receiver: dict[str, Any] = {"name": "aiops" if webhook_url else "blackhole"}
    if webhook_url:
        receiver["webhook_configs"] = [{"url": webhook_url, "send_resolved": True}]
    return {
        "route": {
            "receiver": receiver["name"],
            "group_by": list(group_by),
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": repeat_interval,
        },
        "receivers": [receiver],
    }


def write_config(path: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` as YAML; JSON is a subset of YAML, so no YAML library is needed."""
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


@dataclass
class AlertmanagerProcess:
    """A running Alertmanager: its base URL, process and log file."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def post_alerts(self, alerts: list[dict[str, Any]],
                    session: requests.Session | None = None, timeout: float = 30.0) -> None:
        """POST alerts to ``/api/v2/alerts`` as Prometheus does; raise on a refusal."""
        sender = session or requests
        response = sender.post(f"{self.url}/api/v2/alerts", json=alerts, timeout=timeout)
        if response.status_code != 200:
            raise RuntimeError(f"Alertmanager refused alerts: HTTP {response.status_code} "
                               f"{response.text[:500]}")

    def get_alerts(self, timeout: float = 10.0) -> list[dict[str, Any]]:
        """``GET /api/v2/alerts``: the alerts Alertmanager holds as not yet ended."""
        response = requests.get(f"{self.url}/api/v2/alerts", timeout=timeout)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if it has not exited in STOP_TIMEOUT seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=STOP_TIMEOUT)


def answers_ready(process: subprocess.Popen[bytes], url: str, name: str,
                  log_tail: Callable[[], str]) -> bool:
    """Whether a Prometheus-family server (its ``/-/ready``) is ready; RuntimeError with
    its log's tail when it exited first."""
    if process.poll() is not None:
        raise RuntimeError(f"{name} exited with status {process.returncode} "
                           f"before it was ready:\n{log_tail()}")
    try:
        return requests.get(f"{url}/-/ready", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _is_ready(am: AlertmanagerProcess) -> bool:
    return answers_ready(am.process, am.url, "Alertmanager", am.log_tail)


def start_alertmanager(workdir: Path, config: dict[str, Any], binary: str | None = None,
                       ready_timeout: float = READY_TIMEOUT) -> AlertmanagerProcess:
    """Start Alertmanager with ``config`` in ``workdir`` and wait until ``/-/ready``.

    Retries on a new port if the chosen one was taken in the meantime; the caller
    must call ``stop()`` (or use ``running_alertmanager``).
    """
    binary = binary or alertmanager_binary()
    if binary is None:
        raise FileNotFoundError(f"{BINARY_NAME} not found (set ${BINARY_ENV})")
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = write_config(workdir / "alertmanager.yml", config)
    last_error: Exception | None = None
    for attempt in range(START_ATTEMPTS):
        port = free_port()
        log_path = workdir / f"alertmanager-{attempt}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [binary, f"--config.file={config_path}",
                 f"--storage.path={workdir / 'storage'}",
                 f"--web.listen-address=127.0.0.1:{port}",
                 "--cluster.listen-address=", "--log.level=warn"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        am = AlertmanagerProcess(f"http://127.0.0.1:{port}", process, log_path)
        try:
            wait_for(lambda am=am: _is_ready(am), ready_timeout, f"Alertmanager on port {port}")
            return am
        except (RuntimeError, TimeoutError) as exc:
            am.stop()
            last_error = exc
            if "address already in use" not in am.log_tail():
                break
    raise RuntimeError(f"could not start Alertmanager: {last_error}")


@contextmanager
def running_alertmanager(workdir: Path, config: dict[str, Any],
                         binary: str | None = None) -> Iterator[AlertmanagerProcess]:
    """An Alertmanager for the duration of the ``with`` block, stopped however it ends."""
    am = start_alertmanager(workdir, config, binary)
    try:
        yield am
    finally:
        am.stop()
