"""``aiops playbooks``: check a folder, run in the foreground, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aiops.config import DataDir
from aiops.models import parse_alert
from aiops.runtime import open_runtime
from tests.playbooks.test_runs import WRITE
from topology.model import Edge, Node

T0 = 1_800_000_000


def aiops(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
def data_dir(tmp_path: Path) -> tuple[Path, str]:
    """A data dir holding one incident (its id returned) and a playbooks folder."""
    path = tmp_path / "d"
    runtime = open_runtime(DataDir(path=path))
    try:
        runtime.import_topology([Node("r1", "device", "r1"), Node("r2", "device", "r2")],
                                [Edge("r1", "r2")], "test")
        runtime.engine.ingest([parse_alert({"id": f"a{i}", "source": "nms", "name": "LINK_DOWN",
                                            "entity": e, "severity": "major", "summary": "down",
                                            "starts_at": T0 + i})
                               for i, e in enumerate(["r1", "r2"])])
        (incident,) = runtime.engine.incidents.values()
        incident_id = incident.id
    finally:
        runtime.close()
    (path / "playbooks").mkdir()
    return path, incident_id


def test_check_names_every_refused_file_and_exits_2(data_dir: tuple[Path, str]) -> None:
    path, _ = data_dir
    (path / "playbooks" / "ok.yml").write_text("steps: [{command: ['true']}]")
    (path / "playbooks" / "bad.yml").write_text("steps: [{command: ['x', '{root.nme}']}]")
    r = aiops(path, "playbooks", "check")
    assert r.returncode == 2
    assert ("aiops: error: bad.yml: steps[0].command[1]: unknown placeholder '{root.nme}'"
            in r.stderr)
    assert "1 playbooks ok, 1 refused" in r.stderr
    (path / "playbooks" / "bad.yml").unlink()
    assert aiops(path, "playbooks", "check").returncode == 0


def test_run_in_the_foreground_prints_each_step_and_exits_1_on_failure(
        data_dir: tuple[Path, str], tmp_path: Path) -> None:
    path, incident_id = data_dir
    out = tmp_path / "ran.txt"
    (path / "playbooks" / "act.yml").write_text(
        f'steps: [{{command: [{sys.executable}, -c, "{WRITE}", "{out}", "{{incident.id}}"]}}]')
    (path / "playbooks" / "fails.yml").write_text(
        f'steps: [{{name: boom, command: [{sys.executable}, -c, "raise SystemExit(3)"]}}]')
    r = aiops(path, "playbooks", "run", incident_id, "act", "--dry-run")
    assert r.returncode == 0 and ": dry-run" in r.stdout and not out.exists()
    r = aiops(path, "playbooks", "run", incident_id, "act", "--by", "ana")
    assert r.returncode == 0, r.stderr
    assert "act on " + incident_id + ": succeeded" in r.stdout and out.read_text() == incident_id
    r = aiops(path, "playbooks", "run", incident_id, "fails")
    assert r.returncode == 1 and "failed (step 'boom' failed)" in r.stdout and "exit 3" in r.stdout
    runs = json.loads(aiops(path, "playbooks", "runs", "--json").stdout)["runs"]
    assert [(x["playbook"], x["status"]) for x in runs] == [
        ("fails", "failed"), ("act", "succeeded"), ("act", "dry-run")]
    assert runs[1]["requested_by"] == "ana"
    r = aiops(path, "playbooks", "run", incident_id, "act", "--queue")
    assert r.returncode == 2 and "--queue sends the run to a Celery worker and needs" in r.stderr
    r = aiops(path, "playbooks", "run", "INC-NOPE", "act")
    assert r.returncode == 2 and "no incident with id 'INC-NOPE'" in r.stderr
