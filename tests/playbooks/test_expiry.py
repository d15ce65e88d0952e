"""Runs nothing will finish are given up: a queued run no worker started in time, and a
running run whose process died (killed for real) or outlived its deadline."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import sqlalchemy as sa

from aiops.config import PlaybookSettings
from aiops.playbooks import runs
from aiops.playbooks.execute import execute_run
from aiops.playbooks.request import request_run
from aiops.store.tables import playbook_runs
from tests.playbooks.test_runs import (
    WRITE,
    Receiver,
    one_incident,
    playbook,
    receiver,  # noqa: F401 (fixture)
)

SLEEP = "import sys, time; time.sleep(float(sys.argv[1]))"


def python(name: str, code: str, *args: str, **options: float) -> dict:
    """A command step running ``code`` in this Python (JSON is YAML: no quoting games)."""
    return {"name": name, "command": [sys.executable, "-c", code, *args], **options}


def test_a_run_no_worker_started_in_time_is_not_started_late(
        db_url: str, tmp_path: Path, receiver: str) -> None:  # noqa: F811
    settings = PlaybookSettings(start_within=0.3)
    with one_incident(db_url, tmp_path, settings) as (runtime, incident_id):
        playbook(runtime, "call", f"steps: [{{http: {{url: '{receiver}/late'}}}}]")
        record = request_run(runtime, incident_id, "call")
        assert record["start_by"] == record["requested_at"] + 0.3
        time.sleep(0.5)  # the broker held it, or no worker was up
        done = execute_run(runtime.db, record["id"], settings)  # delivered after all
        assert Receiver.seen == []  # nothing ran
        assert done["status"] == "failed" and done["started_at"] is None
        assert done["error"].startswith("not started: no worker took it within 0.3 s")
        assert [s["status"] for s in done["steps"]] == ["skipped"]


def test_a_queued_run_within_its_time_and_a_run_stored_before_the_limit_stay_queued(
        db_url: str, tmp_path: Path) -> None:
    with one_incident(db_url, tmp_path) as (runtime, incident_id):
        playbook(runtime, "noop", "steps: [{command: ['true']}]")
        fresh = request_run(runtime, incident_id, "noop")
        old = request_run(runtime, incident_id, "noop")
        with runtime.db.begin() as conn:  # as migration 0007 leaves runs stored before it
            conn.execute(playbook_runs.update().where(playbook_runs.c.id == old["id"])
                         .values(start_by=None, requested_at=time.time() - 86400))
        assert runs.expire_stale(runtime.db, now=time.time() + 60) == 0
        listed = {r["id"]: r["status"] for r in runs.current_runs(runtime.db)}
        assert listed == {fresh["id"]: "queued", old["id"]: "queued"}
        assert runs.expire_stale(runtime.db, now=time.time() + 601) == 1  # the default 600 s
        assert runs.current_run(runtime.db, fresh["id"])["status"] == "failed"


def test_a_run_whose_process_is_killed_is_given_up_after_its_steps_could_have_ended(
        tmp_path: Path) -> None:
    """A real ``aiops playbooks run`` killed with SIGKILL in its second step."""
    marker = tmp_path / "first-done"
    with one_incident(f"sqlite:///{tmp_path / 'runs.db'}", tmp_path) as (runtime, incident_id):
        playbook(runtime, "slow", json.dumps({"steps": [
            python("mark", WRITE, str(marker), "x", timeout=5),
            python("wait", SLEEP, "30", timeout=3),
            {"name": "after", "command": ["true"], "timeout": 1}]}))
        env = {**os.environ, "AIOPS_DATABASE_URL": runtime.data_dir.url()}
        cli = subprocess.Popen([sys.executable, "-m", "aiops", "--data-dir",
                                str(runtime.data_dir.path), "playbooks", "run", incident_id,
                                "slow"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               start_new_session=True)
        try:
            deadline = time.time() + 60
            while _first_step(runtime.db) != "succeeded":  # stored; 'wait' is under way
                assert cli.poll() is None and time.time() < deadline, cli.stderr.read()
                time.sleep(0.02)
            assert marker.exists()
            os.killpg(cli.pid, signal.SIGKILL)
        finally:
            cli.wait(timeout=30)
        (run,) = runs.current_runs(runtime.db)
        assert run["status"] == "running"  # within its steps' timeouts and the grace
        settings = PlaybookSettings(grace=0.5)
        time.sleep(max(0.0, runs.step_budget(run["steps"]) + 0.6
                       - (time.time() - _started(runtime.db, run["id"]))))
        (run,) = runs.current_runs(runtime.db, settings)
    assert run["status"] == "failed"
    assert run["error"].startswith("abandoned: no outcome 9.5 s after it started")
    assert "step 'wait' may or may not have taken effect" in run["error"]
    assert [s["status"] for s in run["steps"]] == ["succeeded", "unknown", "skipped"]
    assert run["finished_at"] is not None


def _first_step(db: sa.Engine) -> str | None:
    with db.connect() as conn:
        found = conn.execute(sa.select(playbook_runs.c.steps)).scalars().all()
    return found[0][0]["status"] if found else None


def _started(db: sa.Engine, run_id: int) -> float:
    with db.connect() as conn:
        return runs.get_run(conn, run_id)["started_at"]


def test_a_worker_slower_than_the_deadline_stops_and_records_what_its_step_did(
        db_url: str, tmp_path: Path) -> None:
    marker = tmp_path / "second-ran"
    with one_incident(db_url, tmp_path) as (runtime, incident_id):
        playbook(runtime, "two", json.dumps({"steps": [
            python("slow", SLEEP, "1.5"), python("next", WRITE, str(marker), "x")]}))
        record = request_run(runtime, incident_id, "two")
        worker = threading.Thread(target=execute_run, args=(runtime.db, record["id"]))
        worker.start()
        deadline = time.time() + 30
        while runs.current_run(runtime.db, record["id"])["status"] == "queued":
            assert time.time() < deadline
            time.sleep(0.05)
        # Someone reads the runs as if the deadline had passed while the step runs.
        assert runs.expire_stale(runtime.db, now=time.time() + 3600) == 1
        worker.join(timeout=60)
        run = runs.current_run(runtime.db, record["id"])
    assert not marker.exists()  # the run was given up: its next step did not start
    assert run["status"] == "failed" and run["error"].startswith("abandoned")
    slow, after = run["steps"]
    assert slow["status"] == "succeeded"
    assert slow["detail"].startswith("finished after the run was given up: exit 0")
    assert after["status"] == "skipped"


def test_the_page_follows_only_queued_and_running_runs() -> None:
    assert runs.in_flight({"status": "running"}) and runs.in_flight({"status": "queued"})
    assert not any(runs.in_flight({"status": s}) for s in ("failed", "succeeded", "dry-run"))


def test_runs_stored_before_migration_0007_are_kept_with_no_start_limit(db_url: str) -> None:
    """A data dir at revision 0006 upgraded on open: its queued run stays queued."""
    from alembic import command

    from aiops.store.db import alembic_config, create_db_engine, open_database

    old = create_db_engine(db_url)
    command.upgrade(alembic_config(old), "0006")
    with old.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO playbook_runs (incident_id, playbook, status, dry_run, requested_at,"
            " reasons, steps) VALUES ('INC-1', 'p', 'queued', false, 1.0, '[]', '[]')"))
    old.dispose()
    db = open_database(db_url)
    try:
        assert runs.expire_stale(db) == 0
        (run,) = runs.current_runs(db)
        assert (run["status"], run["start_by"]) == ("queued", None)
    finally:
        db.dispose()
