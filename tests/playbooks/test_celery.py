"""Playbook runs on a real Celery worker: a Redis server and ``celery worker
--pool=solo`` started here (skipped without redis-server, which .ci/run installs)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from aiops.api import create_app
from aiops.runtime import Runtime
from tests.discovery.test_tasks import broker, celery_worker  # noqa: F401 (a fixture)
from tests.playbooks.test_runs import (  # noqa: F401 (fixtures)
    WRITE,
    finished,
    incident,
    playbook,
)
from tests.ports import free_port


def test_a_real_worker_runs_the_playbook(broker: str, runtime: Runtime,  # noqa: F811
                                         incident: dict, tmp_path: Path,  # noqa: F811
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "ran.txt"
    playbook(runtime, "act", f"""
steps:
  - command: [{sys.executable}, -c, "{WRITE}", "{out}", "{{incident.id}} {{root.entity}}"]
""")
    monkeypatch.setenv("AIOPS_BROKER_URL", broker)
    client = create_app(runtime=runtime).test_client()
    with celery_worker(broker, runtime.data_dir.path, tmp_path / "worker.log", "aiops-playbook"):
        r = client.post(f"/api/v1/incidents/{incident['id']}/playbooks/act/runs", json={})
        assert r.status_code == 202 and r.get_json()["dispatched"] == "celery"
        run = finished(client, r.get_json()["run"]["id"], timeout=90)
    assert run["status"] == "succeeded", (tmp_path / "worker.log").read_text()[-3000:]
    assert out.read_text() == f"{incident['id']} {incident['root_causes'][0]['entity']}"


def test_a_broker_that_is_down_is_a_503_and_the_run_is_recorded_failed(
        runtime: Runtime, incident: dict, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    playbook(runtime, "act", "steps: [{command: ['true']}]")
    monkeypatch.setenv("AIOPS_BROKER_URL", f"redis://127.0.0.1:{free_port()}/0")
    client = create_app(runtime=runtime).test_client()
    started = time.monotonic()
    r = client.post(f"/api/v1/incidents/{incident['id']}/playbooks/act/runs", json={})
    assert r.status_code == 503 and time.monotonic() - started < 15  # not Celery's minute
    assert "not started: the broker at AIOPS_BROKER_URL did not take it" in (
        r.get_json()["error"]["message"])
    (run,) = client.get("/api/v1/playbook-runs").get_json()["runs"]
    assert run["status"] == "failed" and run["error"].startswith("not started")
