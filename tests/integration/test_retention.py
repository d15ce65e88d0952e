"""``aiops prune`` on a real store (SQLite and PostgreSQL): what ended before the cutoff
goes, with what references it; open incidents, firing alerts, audit trails and what a
restart reads stay; the engine goes on after it as it would have without it."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from aiops import retention
from aiops.config import DataDir
from aiops.models import parse_alert
from aiops.runtime import Runtime, open_runtime
from aiops.sinks.tables import sink_deliveries, sink_tombstones
from aiops.store.tables import alerts, feedback, incidents, playbook_runs, raw_events, sessions
from aiops.tickets.tables import ticket_links, tickets
from aiops.timeutil import to_rfc3339
from topology.model import Edge, Node

T0 = 1_800_000_000.0  # 2027-01-15: ahead of the wall clock, as the other tests' times
DAY = 86400.0
LATER = T0 + 10 * DAY  # the new alerts: the store's clock
CUTOFF = T0 + 5 * DAY


def event(i: str, entity: str, start: float, end: float | None = None,
          name: str = "LINK_DOWN") -> dict:
    return {"id": i, "source": "test", "name": name, "entity": entity, "severity": "major",
            "summary": f"{name} on {entity}", "starts_at": start, "ends_at": end}


def ingest(rt: Runtime, *items: dict, unknown: tuple[int, ...] = ()) -> None:
    """As received at the latest of their times (wall clock and event time agree)."""
    at = max(max(i["starts_at"], i["ends_at"] or 0.0) for i in items)
    rt.engine.ingest([parse_alert(i) for i in items], received_at=at, start_unknown=unknown)


def open_store(path: Path, url: str | None) -> Runtime:
    return open_runtime(DataDir.from_env(path, database_url=url))


def incident_of(rt: Runtime, first_event: str) -> str:
    with rt.db.connect() as conn:
        return conn.execute(sa.select(alerts.c.incident_id)
                            .where(alerts.c.first_event_id == first_event)).scalar_one()


def rows(rt: Runtime) -> dict[str, set]:
    """Every table's keys, to compare before and after."""
    keyed = {"incidents": incidents.c.id, "alerts": alerts.c.first_event_id,
             "raw_events": raw_events.c.event_id, "ticket_links": ticket_links.c.incident_id,
             "tickets": tickets.c.id, "sink_deliveries": sink_deliveries.c.incident_id,
             "sink_tombstones": sink_tombstones.c.incident_id,
             "feedback": feedback.c.incident_id, "playbook_runs": playbook_runs.c.incident_id}
    with rt.db.connect() as conn:
        return {name: set(conn.execute(sa.select(key)).scalars()) for name, key in keyed.items()}


@pytest.fixture
def store(db_url: str, tmp_path: Path) -> Runtime:
    """Old and new history: an old resolved incident (with a ticket link, sink rows, a
    merged-away incident, feedback and a playbook run), an old one a sink has not
    delivered yet, an old open one, an old clear of no alert, and new alerts."""
    rt = open_store(tmp_path / "data", db_url)
    fill(rt, T0, LATER)
    yield rt
    rt.close()


def fill(rt: Runtime, t0: float, later: float) -> None:
    """The ``store`` fixture's rows, the old from ``t0``, the new at ``later``."""
    rt.import_topology([Node(n, "device", n) for n in ("r1", "r2", "r3", "r4", "r5")],
                       [Edge("r1", "r2")], "test")
    ingest(rt, event("a1", "r1", t0), event("a2", "r2", t0 + 10))
    ingest(rt, event("a1", "r1", t0, t0 + 100), event("a2", "r2", t0 + 10, t0 + 100))
    ingest(rt, event("b1", "r3", t0 + 20))  # never cleared: firing, its incident open
    ingest(rt, event("c1", "r4", t0 + 1000))
    ingest(rt, event("c1", "r4", t0 + 1000, t0 + 1100))
    ingest(rt, event("up-r5", "r5", t0 + 2000, t0 + 2000), unknown=(0,))  # ends no alert
    ingest(rt, event("n1", "r1", later), event("n2", "r2", later + 5))
    old, pending = incident_of(rt, "a1"), incident_of(rt, "c1")
    sink_row = {"sink": "webhook", "version": 2, "fingerprint": {}, "changed_at": t0,
                "next_attempt_at": t0, "attempts": 0, "delivered_version": 2}
    with rt.db.begin() as conn:
        conn.execute(sa.insert(incidents).values(
            id="inc-merged", seq=0, status="merged", title="merged away", severity="major",
            started_at=t0, updated_at=t0 + 5, merged_into=old, alert_count=0,
            root_causes=[]))
        conn.execute(sa.insert(tickets).values(
            id="T-1", source="test", opened_at=t0, title="link down", alert_ids=["a1"],
            labels={}, stored_at=t0))
        conn.execute(sa.insert(ticket_links).values(ticket_id="T-1", incident_id=old,
                                                    score=0.9, evidence=[]))
        conn.execute(sa.insert(sink_deliveries).values(incident_id=old, status="delivered",
                                                       **sink_row))
        conn.execute(sa.insert(sink_tombstones).values(sink="jira", incident_id=old,
                                                       version=1, delivered_version=1))
        conn.execute(sa.insert(sink_deliveries).values(incident_id=pending, status="pending",
                                                       **sink_row))
        conn.execute(sa.insert(feedback).values(
            kind="merge", incident_id=old, incidents=[old], created_at=t0 + 200,
            alerts_before={}, alerts_after={}))
        conn.execute(sa.insert(playbook_runs).values(
            incident_id=old, playbook="restart", status="succeeded", dry_run=False,
            requested_at=t0 + 300, reasons=[], steps=[]))


def test_what_ended_before_the_cutoff_goes_and_the_rest_stays(store: Runtime) -> None:
    before = rows(store)
    old, pending, open_ = (incident_of(store, e) for e in ("a1", "c1", "b1"))
    plan = retention.plan(store.db, CUTOFF, store.data_dir.settings)
    assert not plan.clamped
    report = retention.prune(store.db, plan, batch=1)  # one row per transaction
    after = rows(store)
    gone = {name: before[name] - after[name] for name in before}
    assert gone == {
        "incidents": {old, "inc-merged"}, "alerts": {"a1", "a2"},
        "raw_events": {"a1", "a2", "up-r5"}, "ticket_links": {old}, "tickets": set(),
        "sink_deliveries": {old}, "sink_tombstones": {old}, "feedback": set(),
        "playbook_runs": set()}
    assert report.deleted == {"incidents": 2, "alerts": 2, "raw_events": 5,
                              "ticket_links": 1, "sink_deliveries": 1, "sink_tombstones": 1,
                              "sessions": 0}
    assert {pending, open_} <= after["incidents"] and {"b1", "c1", "n1"} <= after["alerts"]
    # The foreign keys hold (PostgreSQL enforces them anyway; SQLite with the pragma).
    with store.db.connect() as conn:
        assert not conn.execute(sa.select(alerts.c.id).where(
            alerts.c.incident_id.is_not(None),
            alerts.c.incident_id.not_in(sa.select(incidents.c.id)))).all()
        assert not conn.execute(sa.select(raw_events.c.seq).where(
            raw_events.c.alert_id.is_not(None),
            raw_events.c.alert_id.not_in(sa.select(alerts.c.id)))).all()


def test_ended_and_expired_sessions_go_whatever_the_cutoff(store: Runtime) -> None:
    """Sign-in sessions are wall-clock rows: every ended or expired one goes, however
    recent, and every live one stays, however old."""
    from aiops.api.session_store import SessionStore, row_id

    sign_ins = SessionStore(store.db)
    now = time.time()
    sign_ins.start("live-old", "ann", expires=now + 3600, now=now - 7 * 86400)
    sign_ins.start("ended", "ann", expires=now + 3600, now=now - 60)
    sign_ins.end("ended", now=now - 30)
    with store.db.begin() as conn:  # expired a second ago (start() would delete it)
        conn.execute(sa.insert(sessions).values(id=row_id("expired"), user_name="wall",
                                                created_at=now - 3600, expires_at=now - 1))
    plan = retention.plan(store.db, CUTOFF, store.data_dir.settings, now=now)
    assert retention.dry_run(store.db, plan).deleted["sessions"] == 2
    assert retention.prune(store.db, plan, batch=1).deleted["sessions"] == 2
    with store.db.connect() as conn:
        assert conn.execute(sa.select(sessions.c.id)).scalars().all() == [row_id("live-old")]
    assert sign_ins.alive("live-old", now=now)


def test_a_dry_run_deletes_nothing_and_a_second_prune_nothing_more(store: Runtime) -> None:
    before = rows(store)
    plan = retention.plan(store.db, CUTOFF, store.data_dir.settings)
    dry = retention.dry_run(store.db, plan)
    assert rows(store) == before
    done = retention.prune(store.db, plan)
    assert done.deleted["alerts"] == dry.deleted["alerts"] == 2
    assert done.deleted["raw_events"] == dry.deleted["raw_events"] == 5
    assert dry.deleted["incidents"] == 2  # the merged one counted as it stands
    pruned = rows(store)
    again = retention.prune(store.db, retention.plan(store.db, CUTOFF,
                                                     store.data_dir.settings))
    assert again.total == 0 and rows(store) == pruned


def test_the_engine_goes_on_after_a_prune_and_a_restart(store: Runtime, db_url: str,
                                                        tmp_path: Path) -> None:
    retention.prune(store.db, retention.plan(store.db, CUTOFF, store.data_dir.settings))
    store.close()
    rt = open_store(tmp_path / "data", db_url)
    try:
        ingest(rt, event("n3", "r2", LATER + 30, name="BGP_DOWN"),
               event("b2", "r3", LATER + 40, name="BGP_DOWN"))
        assert incident_of(rt, "n3") == incident_of(rt, "n1")  # the live incident goes on
        # The counters did not go back: the new rows have new ids.
        with rt.db.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(incidents)).scalar() \
                == len(set(conn.execute(sa.select(incidents.c.seq)).scalars()))
        assert incident_of(rt, "b2") not in {incident_of(rt, "n1"), incident_of(rt, "b1")}
    finally:
        rt.close()


def aiops(data_dir: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(data_dir),
                           "--database-url", url, *args],
                          capture_output=True, text=True, timeout=120)


def test_the_command_clamps_a_cutoff_inside_the_restart_window(store: Runtime, db_url: str,
                                                               tmp_path: Path) -> None:
    floor = retention.plan(store.db, LATER, store.data_dir.settings).floor
    assert floor == LATER + 5 - DAY  # the live pace's day before the latest start (n2)
    before = rows(store)
    done = aiops(tmp_path / "data", db_url, "prune", "--older-than", to_rfc3339(LATER))
    assert done.returncode == 0, done.stderr
    assert f"the earliest allowed is {to_rfc3339(floor)}" in done.stderr
    assert "deleted what ended before" in done.stdout and "2 alerts" in done.stdout
    assert {"n1", "n2", "b1", "c1"} <= rows(store)["alerts"]
    assert rows(store)["raw_events"] == before["raw_events"] - {"a1", "a2", "up-r5"}


@pytest.mark.parametrize("value", ["soon", "-5d", "0", "2027-13-01T00:00:00Z", "5y"])
def test_a_bad_older_than_exits_2_and_deletes_nothing(store: Runtime, db_url: str,
                                                      tmp_path: Path, value: str) -> None:
    before = rows(store)
    done = aiops(tmp_path / "data", db_url, "prune", "--older-than", value)
    assert done.returncode == 2
    assert "'--older-than' must be an age such as 90d" in done.stderr
    assert rows(store) == before


def test_a_late_report_among_what_the_live_pace_keeps_holds_the_cutoff(store: Runtime
                                                                       ) -> None:
    """An old condition reported after the new alerts is among the events the live pace
    reads back and keeps: the cutoff stops before it (``restart_floor``)."""
    ingest(store, event("d1", "r5", T0 + 3000, T0 + 3100, name="BGP_DOWN"))
    plan = retention.plan(store.db, CUTOFF, store.data_dir.settings)
    assert plan.clamped and plan.cutoff == T0 + 3000  # its last event
    retention.prune(store.db, plan)
    kept = rows(store)["alerts"]
    assert "d1" in kept and "c1" in kept and not {"a1", "a2"} & kept


def test_a_restart_after_a_prune_decides_as_one_without_it(tmp_path: Path) -> None:
    """Three days of a scenario's alarms reported slowly (the live pace reads a scale),
    a restart (after pruning all it allows, or not), then more: the incidents of the
    alarms after the restart are the same, with the same root causes."""
    from benchmarks.correlation.scenario import ScenarioConfig, generate
    from tests.integration.test_live_pace import _import

    scenario = generate(ScenarioConfig(topology="huawei", seed=31, faults=32.0, hours=4.0,
                                       history_hours=72.0, noise=5.0, delay_scale=3.0))
    stream = sorted((parse_alert(a) for a in scenario.history.alerts + scenario.eval.alerts),
                    key=lambda a: a.starts_at)
    # Two days before the restart (one of them prunable), a day and more after it.
    split = next(n for n, a in enumerate(stream) if a.starts_at > stream[0].starts_at + 2 * DAY)
    after = {a.id for a in stream[split:]}

    def run(name: str, pruning: bool) -> tuple[set[frozenset[str]], int]:
        path = tmp_path / name
        rt = open_store(path, None)
        pruned = 0
        try:
            _import(rt, scenario)
            for start in range(0, split, 100):
                rt.engine.ingest(stream[start:min(start + 100, split)])
            if pruning:
                plan = retention.plan(rt.db, float("inf"), rt.data_dir.settings)
                pruned = retention.prune(rt.db, plan).deleted["alerts"]
            rt.close()
            rt = open_store(path, None)
            for start in range(split, len(stream), 100):
                rt.engine.ingest(stream[start:start + 100])
            return _decisions(rt, after), pruned
        finally:
            rt.close()

    whole, _ = run("kept", False)
    assert max(scale for _, scale, _ in whole) > 1.0  # the pace's scale decided
    pruned_groups, pruned = run("pruned", True)
    assert pruned > 1000 and len(whole) > 20
    assert pruned_groups == whole


def _decisions(rt: Runtime, after: set[str]) -> set[tuple[frozenset[str], float, str]]:
    """Each incident holding an alert of ``after``: its alerts, the live pace's scale
    when stored, and its root causes' entities in rank order."""
    with rt.db.connect() as conn:
        members: dict[str, set[str]] = {}
        for incident, first in conn.execute(sa.select(alerts.c.incident_id,
                                                      alerts.c.first_event_id)):
            members.setdefault(incident, set()).add(first)
        causes = dict(conn.execute(sa.select(incidents.c.id, incidents.c.root_causes)).all())
    scale = float((rt.engine.stats()["live_pace"] or {}).get("scale", 1.0))
    return {(frozenset(m), scale, ",".join(rc["entity"] for rc in causes[i] or []))
            for i, m in members.items() if m & after}


def test_a_serving_process_prunes_what_ended_before_its_keep(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """``AIOPS_RETENTION_KEEP`` starts the loop (``Runtime.close`` stops it), which deletes
    as the command does, by the wall clock."""
    import time

    from aiops.retention_loop import start_retention

    monkeypatch.setenv("AIOPS_RETENTION_KEEP", str(30 * DAY))
    rt = open_store(tmp_path / "data", None)
    try:
        now = time.time()
        fill(rt, now - 100 * DAY, now - 60)
        loop = start_retention(rt)
        assert loop is not None and loop.settings.every == 3600.0
        report = loop.prune_once()
        assert (report.deleted["alerts"], report.deleted["raw_events"]) == (2, 5)
        assert {"b1", "c1", "n1", "n2"} <= rows(rt)["alerts"]
        assert loop.prune_once().total == 0
    finally:
        rt.close()
    assert not loop._thread.is_alive()


@pytest.mark.parametrize("keep_days, warned", [(3, True), (7, False)])
def test_a_keep_shorter_than_retrainings_history_is_said(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
        keep_days: int, warned: bool) -> None:
    """Retraining reads the stored alerts of its last AIOPS_RETRAIN_DAYS (7): a keep of
    3 days leaves it less, which the log says when the loop starts."""
    from aiops.retention_loop import start_retention

    monkeypatch.setenv("AIOPS_RETENTION_KEEP", str(keep_days * DAY))
    rt = open_store(tmp_path / "data", None)
    try:
        with caplog.at_level("WARNING", logger="aiops.retention_loop"):
            assert start_retention(rt) is not None
    finally:
        rt.close()
    said = [r.getMessage() for r in caplog.records if "AIOPS_RETRAIN_DAYS" in r.getMessage()]
    assert bool(said) == warned
    if warned:
        assert said[0].startswith("AIOPS_RETENTION_KEEP keeps 3.0 days of history, less "
                                  "than the 7 days retraining trains on")


def test_no_loop_without_a_keep(runtime: Runtime) -> None:
    from aiops.retention_loop import start_retention

    assert start_retention(runtime) is None


@pytest.mark.parametrize("name, value, says", [
    ("AIOPS_RETENTION_KEEP", "3600", "must be 0 (off) or at least 86400"),
    ("AIOPS_RETENTION_KEEP", "-1", "must be a number at least 0"),
    ("AIOPS_RETENTION_KEEP", "90d", "must be a number"),
    ("AIOPS_RETENTION_EVERY", "10", "must be a number at least 60"),
])
def test_retention_settings_are_refused_by_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                name: str, value: str, says: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=re.escape(f"{name} {says}")):
        DataDir.from_env(tmp_path)


class Interrupted(Exception):
    pass


def test_an_interrupted_prune_deletes_only_what_was_to_go_and_finishes_when_run_again(
        store: Runtime, db_url: str, tmp_path: Path) -> None:
    """Stopped after its third transaction (the progress callback raising, as a Ctrl-C
    between batches), the store holds everything that was to stay; run again, the prune
    ends where one uninterrupted run ends."""
    before, old = rows(store), incident_of(store, "a1")
    plan = retention.plan(store.db, CUTOFF, store.data_dir.settings)
    batches = []

    def stop_at_third(rows_done: int) -> None:
        batches.append(rows_done)
        if len(batches) == 3:
            raise Interrupted

    with pytest.raises(Interrupted):
        retention.prune(store.db, plan, batch=1, progress=stop_at_third)
    midway = rows(store)
    assert midway != before
    kept = {"incidents": {incident_of(store, e) for e in ("b1", "c1", "n1")},
            "alerts": {"b1", "c1", "n1", "n2"}}
    assert all(kept[t] <= midway[t] for t in kept)
    again = retention.prune(store.db, retention.plan(store.db, CUTOFF,
                                                     store.data_dir.settings))
    assert again.total > 0
    assert rows(store)["alerts"] == before["alerts"] - {"a1", "a2"}
    assert rows(store)["incidents"] == before["incidents"] - {"inc-merged", old}
