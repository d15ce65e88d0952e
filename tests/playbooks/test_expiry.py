"""Runs nothing will finish are given up: a queued run no worker started in time, a
running run whose process died (killed for real) or outlived its deadline; and giving
up never overwrites what a worker stored in between."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from aiops.config import PlaybookSettings
from aiops.playbooks import runs
from aiops.playbooks.execute import execute_run
from aiops.playbooks.request import request_run
from aiops.store.tables import playbook_runs
from aiops.timeutil import parse_timestamp
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


def test_a_queued_run_stays_queued_until_its_start_by(db_url: str, tmp_path: Path) -> None:
    with one_incident(db_url, tmp_path) as (runtime, incident_id):
        playbook(runtime, "noop", "steps: [{command: ['true']}]")
        record = request_run(runtime, incident_id, "noop")
        assert runs.expire_stale(runtime.db, now=record["start_by"]) == 0
        assert runs.current_run(runtime.db, record["id"])["status"] == "queued"
        assert runs.expire_stale(runtime.db, now=record["start_by"] + 1) == 1  # 600 s default
        assert runs.current_run(runtime.db, record["id"])["status"] == "failed"


def _first_step(db: sa.Engine) -> str | None:
    with db.connect() as conn:
        found = conn.execute(sa.select(playbook_runs.c.steps)).scalars().all()
    return found[0][0]["status"] if found else None


def test_a_run_whose_process_is_killed_is_given_up_at_the_deadline_it_was_claimed_with(
        tmp_path: Path) -> None:
    """A real ``aiops playbooks run`` killed with SIGKILL in its second step. Its grace
    (0.5 s) is the claiming process's, recorded in the run: the reader's does not count."""
    marker = tmp_path / "first-done"
    with one_incident(f"sqlite:///{tmp_path / 'runs.db'}", tmp_path) as (runtime, incident_id):
        playbook(runtime, "slow", json.dumps({"steps": [
            python("mark", WRITE, str(marker), "x", timeout=5),
            python("wait", SLEEP, "30", timeout=3),
            {"name": "after", "command": ["true"], "timeout": 1}]}))
        env = {**os.environ, "AIOPS_DATABASE_URL": runtime.data_dir.url(),
               "AIOPS_PLAYBOOK_GRACE": "0.5"}
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
        give_up_at = parse_timestamp(run["give_up_at"], "give_up_at")
        assert give_up_at == pytest.approx(parse_timestamp(run["started_at"], "s") + 9.5)
        time.sleep(max(0.0, give_up_at + 0.1 - time.time()))
        (run,) = runs.current_runs(runtime.db)  # default grace 60 s: not used
    assert run["status"] == "failed"
    assert run["error"].startswith("abandoned: no outcome 9.5 s after it started")
    assert "step 'wait' may or may not have taken effect" in run["error"]
    assert [s["status"] for s in run["steps"]] == ["succeeded", "unknown", "skipped"]
    assert run["finished_at"] is not None


def test_a_worker_slower_than_its_deadline_stops_and_records_what_its_step_did(
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
    assert run["status"] == "failed"
    assert run["error"].startswith("abandoned") and run["error"].endswith(
        "; then the worker finished slow (succeeded) after all")
    slow, after = run["steps"]
    assert slow["status"] == "succeeded"
    assert slow["detail"].startswith("finished after the run was given up: exit 0")
    assert after["status"] == "skipped"


def test_a_run_given_up_during_its_last_step_keeps_the_step_outcome(
        db_url: str, tmp_path: Path) -> None:
    """The last outcome and the run's end are one write: a give-up in between cannot
    leave a run that did everything marked as abandoned with nothing to show."""
    with one_incident(db_url, tmp_path) as (runtime, incident_id):
        playbook(runtime, "one", json.dumps({"steps": [python("only", SLEEP, "1")]}))
        record = request_run(runtime, incident_id, "one")
        worker = threading.Thread(target=execute_run, args=(runtime.db, record["id"]))
        worker.start()
        while runs.current_run(runtime.db, record["id"])["status"] == "queued":
            time.sleep(0.02)
        assert runs.expire_stale(runtime.db, now=time.time() + 3600) == 1
        worker.join(timeout=60)
        run = runs.current_run(runtime.db, record["id"])
    assert run["status"] == "failed"
    assert run["steps"][0]["status"] == "succeeded"
    assert run["error"].endswith("then the worker finished only (succeeded) after all")


def test_giving_up_never_overwrites_an_outcome_stored_after_the_run_was_read(
        db_url: str, tmp_path: Path) -> None:
    """A reader decides from what it read; the worker stores an outcome before the
    reader's update lands: the update must not happen (nor write the old steps)."""
    with one_incident(db_url, tmp_path) as (runtime, incident_id):
        playbook(runtime, "two", "steps: [{command: ['true']}, {command: ['true']}]")
        record = request_run(runtime, incident_id, "two")
        assert runs.claim(runtime.db, record["id"])
        (stale,) = runs.stale_runs(runtime.db, now=time.time() + 3600)  # read ...
        steps = [{**record["steps"][0], "status": "succeeded", "detail": "exit 0: "},
                 record["steps"][1]]
        assert runs.save_steps(runtime.db, record["id"], steps)  # ... the worker writes ...
        assert not runs.give_up(runtime.db, *stale)  # ... the reader's update is refused
        run = runs.current_run(runtime.db, record["id"])
        assert run["status"] == "running" and run["steps"][0]["status"] == "succeeded"
        # A later reader, seeing what is stored now, gives it up with the right steps.
        assert runs.expire_stale(runtime.db, now=time.time() + 3600) == 1
        run = runs.current_run(runtime.db, record["id"])
    assert [s["status"] for s in run["steps"]] == ["succeeded", "unknown"]


def test_a_reader_that_cannot_write_still_reads_the_runs(tmp_path: Path) -> None:
    """A read-only database (a replica, a read-only file): the page still shows the runs
    as stored; giving up waits for a reader that can write."""
    with one_incident(f"sqlite:///{tmp_path / 'runs.db'}", tmp_path) as (runtime, incident_id):
        playbook(runtime, "noop", "steps: [{command: ['true']}]")
        record = request_run(runtime, incident_id, "noop")
    read_only = sa.create_engine(f"sqlite:///file:{tmp_path / 'runs.db'}?mode=ro&uri=true")
    try:
        with pytest.raises(sa.exc.OperationalError, match="readonly"):
            runs.expire_stale(read_only, now=time.time() + 3600)
        (run,) = runs.current_runs(read_only)  # no error: shown as stored
        assert (run["id"], run["status"]) == (record["id"], "queued")
    finally:
        read_only.dispose()


def test_runs_stored_before_migration_0007_get_the_default_limits(db_url: str) -> None:
    """A data dir at revision 0006 upgraded on open: its queued run gets a start_by 600 s
    after its request, and its running run the default deadline from its steps."""
    from alembic import command

    from aiops.store.db import alembic_config, create_db_engine, open_database

    old = create_db_engine(db_url)
    command.upgrade(alembic_config(old), "0006")
    steps = json.dumps([{"name": "s", "timeout": 10, "status": "pending"}])
    with old.begin() as conn:
        for status, started in (("queued", None), ("running", 5.0)):
            conn.execute(sa.text(
                "INSERT INTO playbook_runs (incident_id, playbook, status, dry_run,"
                " requested_at, started_at, reasons, steps) VALUES ('INC-1', 'p', :status,"
                " false, 1.0, :started, '[]', :steps)"),
                {"status": status, "started": started, "steps": steps})
    old.dispose()
    db = open_database(db_url)
    try:
        def stale(now: float) -> dict[str, dict]:
            return {r["status"]: r for r, _, _ in runs.stale_runs(db, now=now)}

        assert stale(74.0) == {}
        assert set(stale(76.0)) == {"running"}  # started at 5, a 10 s step, 60 s grace
        assert set(stale(602.0)) == {"queued", "running"}
        assert stale(602.0)["queued"]["start_by"] == 601.0  # asked at 1, 600 s to start
        assert runs.expire_stale(db, now=700.0) == 2
    finally:
        db.dispose()
