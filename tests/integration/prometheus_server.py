"""Start and stop a real Prometheus (Debian's package) for the tests of ``/metrics``.

A throw-away server on 127.0.0.1: its own config and storage, a bounded start-up
wait, and a retry on a new port when the one picked was taken meanwhile, as for
Alertmanager (tests/integration/alertmanager_server.py, whose config writer and
poller this reuses).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tests.integration.alertmanager_server import (
    answers_ready,
    stop_process,
    wait_for,
    write_config,
)
from tests.ports import free_port

BINARY_ENV = "PROMETHEUS_BIN"
READY_TIMEOUT = 60.0  # seconds for /-/ready: it replays an empty WAL, well under one
STOP_TIMEOUT = 10.0
START_ATTEMPTS = 3


def prometheus_binary() -> str | None:
    """Path of the Prometheus server (``$PROMETHEUS_BIN`` first), None if absent."""
    configured = os.environ.get(BINARY_ENV)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    return shutil.which("prometheus")


def promtool_binary() -> str | None:
    """``promtool`` from the same package, beside the server."""
    server = prometheus_binary()
    beside = Path(server).with_name("promtool") if server else None
    if beside is not None and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("promtool")


@dataclass
class PrometheusProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def query(self, promql: str) -> list[dict[str, Any]]:
        """``/api/v1/query``: the instant vector's samples, each ``{metric, value}``."""
        answer = requests.get(f"{self.url}/api/v1/query", params={"query": promql},
                              timeout=10)
        answer.raise_for_status()
        return answer.json()["data"]["result"]

    def value(self, promql: str) -> float | None:
        """The single sample's value of ``promql``, None when it has none (yet)."""
        result = self.query(promql)
        if not result:
            return None
        assert len(result) == 1, result
        return float(result[0]["value"][1])

    def targets(self) -> list[dict[str, Any]]:
        answer = requests.get(f"{self.url}/api/v1/targets", timeout=10)
        answer.raise_for_status()
        return answer.json()["data"]["activeTargets"]

    def stop(self) -> None:
        stop_process(self.process)


def _is_ready(prom: PrometheusProcess) -> bool:
    return answers_ready(prom.process, prom.url, "Prometheus", prom.log_tail)


def scrape_config(scrape_configs: list[dict[str, Any]], interval: str = "1s"
                  ) -> dict[str, Any]:
    """A prometheus.yml as a dict: ``scrape_configs`` every ``interval``."""
    return {"global": {"scrape_interval": interval, "scrape_timeout": interval,
                       "evaluation_interval": interval},
            "scrape_configs": scrape_configs}


@contextmanager
def running_prometheus(workdir: Path, config: dict[str, Any]) -> Iterator[PrometheusProcess]:
    """A Prometheus for the ``with`` block, stopped however it ends."""
    binary = prometheus_binary()
    if binary is None:
        raise FileNotFoundError(f"prometheus not found (set ${BINARY_ENV})")
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = write_config(workdir / "prometheus.yml", config)
    last_error: Exception | None = None
    for attempt in range(START_ATTEMPTS):
        port = free_port()
        log_path = workdir / f"prometheus-{attempt}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [binary, f"--config.file={config_path}",
                 f"--storage.tsdb.path={workdir / f'tsdb-{attempt}'}",
                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        prom = PrometheusProcess(f"http://127.0.0.1:{port}", process, log_path)
        try:
            wait_for(lambda prom=prom: _is_ready(prom), READY_TIMEOUT,
                     f"Prometheus on port {port}")
        except (RuntimeError, TimeoutError) as exc:
            prom.stop()
            last_error = exc
            if "address already in use" in prom.log_tail():
                continue
            break
        try:
            yield prom
        finally:
            prom.stop()
        return
    raise RuntimeError(f"could not start Prometheus: {last_error}")
