"""Retraining as a real Celery task: a Redis server, ``celery worker --pool=solo`` and
``celery beat`` started here (skipped without redis-server), as for discovery."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiops.learning.training import MODEL_NAME
from aiops.tasks import make_app
from tests.discovery.test_tasks import _stop, broker, celery_worker  # noqa: F401 (a fixture)
from tests.integration.mlops_data import build_trained


def versions(data_dir: Path) -> dict[int, dict]:
    folder = data_dir / "models" / MODEL_NAME
    return {int(p.stem[1:]): json.loads(p.read_text())["meta"]
            for p in sorted(folder.glob("v*.json"))}


@pytest.fixture(scope="module")
def worker_data(broker: str,  # noqa: F811 (the fixture imported above)
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A worker whose data dir holds a trained model and two periods of stored alerts."""
    data_dir = build_trained(tmp_path_factory.mktemp("retrain-worker") / "data")
    with celery_worker(broker, data_dir, data_dir.parent / "worker.log", "aiops-retrain"):
        yield data_dir


def test_a_real_worker_retrains(broker: str, worker_data: Path) -> None:  # noqa: F811
    client = make_app(broker_url=broker)
    report = client.send_task("aiops.retrain", kwargs={"days": 2, "promote": "never"}
                              ).get(timeout=180)
    assert report["promoted"] is False and report["policy"] == "never"
    assert report["shadow"]["candidate"]["version"] == report["version"] >= 2
    assert versions(worker_data)[report["version"]]["retrain"]["promoted"] is False
    assert (worker_data / "models" / MODEL_NAME / "PROMOTED").read_text().strip() == "1"
    failed = client.send_task("aiops.retrain", kwargs={"days": 2, "promote": "sometimes"})
    with pytest.raises(Exception, match="'promote' must be one of"):
        failed.get(timeout=180)


def test_beat_schedules_retraining_on_the_worker(broker: str,  # noqa: F811
                                                  worker_data: Path, tmp_path: Path) -> None:
    before = set(versions(worker_data))
    env = {**os.environ, "AIOPS_BROKER_URL": broker, "AIOPS_RETRAIN_SCHEDULE": "2",
           "AIOPS_RETRAIN_DAYS": "2", "AIOPS_RETRAIN_PROMOTE": "never"}
    env.pop("AIOPS_DISCOVERY_SCHEDULE", None)
    log = open(tmp_path / "beat.log", "wb")  # noqa: SIM115 (closed in finally)
    proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "aiops.tasks", "beat",
                             "-s", str(tmp_path / "beat-state"), "--max-interval", "1"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 150
        done: list[dict] = []
        while time.monotonic() < deadline and not done:  # saved, then its decision recorded
            done = [meta["retrain"] for version, meta in versions(worker_data).items()
                    if version not in before and "retrain" in meta]
            time.sleep(0.5)
        assert done, (tmp_path / "beat.log").read_text()[-3000:]
    finally:
        _stop(proc)
        log.close()
    decision = done[0]
    assert decision["policy"] == "never" and decision["days"] == 2
    assert (worker_data / "models" / MODEL_NAME / "PROMOTED").read_text().strip() == "1"
