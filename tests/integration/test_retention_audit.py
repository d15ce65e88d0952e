"""The audit trails' own age (``aiops prune --audit-older-than``,
``AIOPS_RETENTION_AUDIT_KEEP``) on SQLite and PostgreSQL: old feedback, finished
playbook runs and resolved tickets go, with the tickets' links; runs in flight,
unresolved tickets and what retraining and drift read stay."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from aiops.retention_audit import AuditRetention, count, prune_audit
from aiops.retention_loop import RetentionLoop
from aiops.runtime import Runtime
from aiops.store.tables import feedback, playbook_runs
from aiops.tickets.tables import ticket_links, tickets
from aiops.timeutil import to_rfc3339
from tests.integration.test_retention import (
    DAY,
    LATER,
    T0,
    Interrupted,
    fill,
    incident_of,
    open_store,
    rows,
)

AUDIT = LATER + DAY  # the audit cutoff: after every row below but the newest
FLOOR = LATER + 5 - DAY  # the drift check's window (a day) before the latest start


def audit_rows(rt: Runtime) -> dict[str, set]:
    with rt.db.connect() as conn:
        return {"feedback": set(conn.execute(sa.select(feedback.c.comment)).scalars()),
                "playbook_runs": set(conn.execute(sa.select(playbook_runs.c.playbook))
                                     .scalars()),
                "tickets": set(conn.execute(sa.select(tickets.c.id)).scalars()),
                "ticket_links": set(conn.execute(sa.select(ticket_links.c.ticket_id))
                                    .scalars())}


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Runtime:
    """The retention tests' store with audit trails old and new, some of them naming
    the alerts of the drift check's window."""
    rt = open_store(tmp_path / "data", db_url)
    fill(rt, T0, LATER)
    old, pending, new = (incident_of(rt, e) for e in ("a1", "c1", "n1"))

    def note(comment: str, at: float, incidents: list[str], after: dict) -> dict:
        return {"kind": "merge", "incident_id": incidents[0], "incidents": incidents,
                "author": "ann", "comment": comment, "created_at": at,
                "alerts_before": {}, "alerts_after": after}

    def run(name: str, status: str, at: float, finished: float | None) -> dict:
        return {"incident_id": "inc-gone", "playbook": name, "status": status,
                "dry_run": False, "requested_at": at, "finished_at": finished,
                "reasons": [], "steps": []}

    def ticket(name: str, opened: float, resolved: float | None) -> dict:
        return {"id": name, "source": "test", "opened_at": opened, "resolved_at": resolved,
                "title": name, "alert_ids": [], "labels": {}, "stored_at": opened}

    with rt.db.begin() as conn:
        conn.execute(sa.update(feedback).values(comment="fill"))
        conn.execute(sa.update(playbook_runs).values(playbook="fill"))
        conn.execute(sa.insert(feedback), [
            note("old", T0 + 200, [old], {old: ["a1", "a2"]}),
            note("names-window-alert", T0 + 200, ["inc-gone"], {"inc-gone": ["n1"]}),
            note("names-window-incident", T0 + 200, [new], {}),
            note("new", AUDIT + 10, [old], {})])
        conn.execute(sa.insert(playbook_runs), [
            run("done", "succeeded", T0, T0 + 60), run("refused", "rejected", T0, T0 + 1),
            run("never-started", "failed", T0, None),
            run("queued", "queued", T0, None), run("running", "running", T0, None),
            run("waiting", "needs-approval", T0, None),
            run("done-late", "failed", AUDIT, AUDIT + 5)])
        conn.execute(sa.insert(tickets), [
            ticket("T-old", T0, T0 + 500), ticket("T-window", LATER, LATER + 100),
            ticket("T-late", T0, AUDIT + 1)])
        conn.execute(sa.insert(ticket_links), [
            {"ticket_id": "T-old", "incident_id": pending, "score": 0.5, "evidence": []},
            {"ticket_id": "T-window", "incident_id": new, "score": 0.5, "evidence": []}])
    yield rt
    rt.close()


GONE = {"feedback": {"fill", "old"},
        "playbook_runs": {"fill", "done", "refused", "never-started"},
        "tickets": {"T-old"}, "ticket_links": {"T-old"}}


def test_old_audit_trails_go_and_what_retraining_and_drift_read_stays(store: Runtime
                                                                      ) -> None:
    before, alerts_before = audit_rows(store), rows(store)["alerts"]
    plan = AuditRetention(AUDIT, FLOOR)
    dry = count(store.db, plan)
    assert audit_rows(store) == before
    done = prune_audit(store.db, plan, batch=1)  # one row per transaction
    after = audit_rows(store)
    assert {t: before[t] - after[t] for t in before} == GONE
    assert done.deleted == dry.deleted == {"feedback": 2, "playbook_runs": 4, "tickets": 1,
                                           "ticket_links": 1}
    assert done.kept == dry.kept == {"feedback": 2, "tickets": 1}
    assert {"names-window-alert", "names-window-incident", "new"} <= after["feedback"]
    assert {"queued", "running", "waiting", "done-late"} <= after["playbook_runs"]
    assert rows(store)["alerts"] == alerts_before  # only the audit trails
    assert prune_audit(store.db, plan).total == 0


def test_without_the_window_protected_its_feedback_and_tickets_go(store: Runtime) -> None:
    before = audit_rows(store)
    done = prune_audit(store.db, AuditRetention(AUDIT, None))
    after = audit_rows(store)
    assert before["feedback"] - after["feedback"] == GONE["feedback"] | {
        "names-window-alert", "names-window-incident"}
    assert before["tickets"] - after["tickets"] == {"T-old", "T-window"}
    assert done.kept == {"feedback": 0, "tickets": 0}


def aiops(data_dir: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(data_dir),
                           "--database-url", url, "prune", *args],
                          env={**os.environ, "AIOPS_TEXT_SIMILARITY": "off"},
                          capture_output=True, text=True, timeout=120)


def test_the_command_counts_then_deletes_only_the_audit_trails(store: Runtime, db_url: str,
                                                               tmp_path: Path) -> None:
    before, alerts_before = audit_rows(store), rows(store)["alerts"]
    dry = aiops(tmp_path / "data", db_url, "--audit-older-than", to_rfc3339(AUDIT),
                "--dry-run", "--json")
    assert dry.returncode == 0, dry.stderr
    counted = json.loads(dry.stdout)
    assert counted["deleted"] is None and counted["dry_run"] is True
    assert counted["audit"] == {"cutoff": to_rfc3339(AUDIT), "deleted": {
        "feedback": 2, "playbook_runs": 4, "tickets": 1, "ticket_links": 1},
        "kept_for_history": {"feedback": 2, "tickets": 1}}
    assert audit_rows(store) == before
    done = aiops(tmp_path / "data", db_url, "--audit-older-than", to_rfc3339(AUDIT))
    assert done.returncode == 0, done.stderr
    assert "deleted the audit trails older than" in done.stdout
    assert "2 feedback, 4 playbook runs, 1 tickets, 1 ticket links (kept, read by " \
           "retraining or drift: 2 feedback, 1 tickets)" in done.stdout
    assert "pruning" in done.stderr  # the progress bar
    after = audit_rows(store)
    assert {t: before[t] - after[t] for t in before} == GONE
    assert rows(store)["alerts"] == alerts_before
    both = aiops(tmp_path / "data", db_url, "--audit-older-than", to_rfc3339(AUDIT),
                 "--older-than", to_rfc3339(T0 + 5 * DAY), "--allow-short-history", "--json",
                 "--vacuum")
    assert both.returncode == 0, both.stderr
    report = json.loads(both.stdout)
    assert report["deleted"]["alerts"] == 2
    assert report["audit"]["deleted"]["feedback"] == 2  # the window's, now allowed
    assert report["vacuum_seconds"] is not None  # VACUUM ANALYZE of the audit tables too


@pytest.mark.parametrize("args, says", [
    ((), "give --older-than, --audit-older-than or both"),
    (("--audit-older-than", "soon"), "'--audit-older-than' must be an age such as 90d"),
])
def test_a_prune_without_a_cutoff_or_with_a_bad_one_exits_2(store: Runtime, db_url: str,
                                                            tmp_path: Path, args: tuple,
                                                            says: str) -> None:
    before = audit_rows(store)
    done = aiops(tmp_path / "data", db_url, *args)
    assert done.returncode == 2 and says in done.stderr
    assert audit_rows(store) == before


def test_an_interrupted_audit_prune_finishes_when_run_again(store: Runtime) -> None:
    before = audit_rows(store)
    plan = AuditRetention(AUDIT, FLOOR)
    batches: list[int] = []

    def stop_at_third(rows_done: int) -> None:
        batches.append(rows_done)
        if len(batches) == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        prune_audit(store.db, plan, batch=1, progress=stop_at_third)
    midway = audit_rows(store)
    assert midway != before
    assert all(before[t] - GONE[t] <= midway[t] for t in before)  # nothing meant to stay
    assert prune_audit(store.db, plan).total > 0
    after = audit_rows(store)
    assert {t: before[t] - after[t] for t in before} == GONE


def test_a_serving_process_prunes_the_audit_trails_to_its_audit_keep(
        store: Runtime, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiops.config import DataDir

    monkeypatch.setenv("AIOPS_RETENTION_AUDIT_KEEP", str(DAY))
    data_dir = DataDir.from_env(tmp_path / "data", database_url=db_url)
    before = audit_rows(store)
    loop = RetentionLoop(store.db, data_dir, clock=lambda: AUDIT + DAY)
    assert loop.audit_once().deleted["playbook_runs"] == 4
    after = audit_rows(store)
    assert {t: before[t] - after[t] for t in before} == GONE
