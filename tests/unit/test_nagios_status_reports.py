"""Nagios acknowledgement, downtime and flapping notifications, as deploy/nagios/aiops-notify
sends them, through the built-in nagios mapping into the engine: they change the labels
of their condition's firing alert and nothing else of it, make no alert of a condition
that is not firing, and a later state change (a new PROBLEM, a RECOVERY) clears the
acknowledgement as Nagios does without saying so."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from aiops.engine.engine import IngestResult
from aiops.runtime import Runtime
from aiops.store.tables import alerts, incidents, raw_events
from connectors.webhook_mapping import find_mapping

T0 = 1_800_000_000.0
OFF = {"acknowledged": "false", "suppressed": "false", "flapping": "false"}
ENDED = {"acknowledged": "false", "flapping": "false"}  # what a RECOVERY says


def body(kind: str, state: str = "CRITICAL", **extra: str) -> dict[str, str]:
    """What aiops-notify posts (tests/integration/test_nagios_notify.py checks it)."""
    return {"type": kind, "host": "core-1", "address": "192.0.2.1", "check": "BGP peer",
            "state": state, "output": f"BGP {state}", **extra}


def send(rt: Runtime, item: dict[str, Any], at: float) -> IngestResult:
    """As POST /api/v1/webhooks/nagios does, at time ``at``."""
    mapped = find_mapping(Path("/nonexistent"), "nagios").apply(item, at)
    return rt.engine.ingest(mapped.alerts, received_at=at,
                            start_unknown=mapped.start_unknown,
                            state_reports=mapped.state_report)


def alert_rows(rt: Runtime) -> list[Any]:
    with rt.db.connect() as conn:
        return conn.execute(sa.select(alerts).order_by(alerts.c.id)).all()


def count(rt: Runtime, table: sa.Table) -> int:
    with rt.db.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


def problem(rt: Runtime) -> Any:
    send(rt, body("PROBLEM", since=str(int(T0)), **OFF), T0 + 5)
    (row,) = alert_rows(rt)
    return row


def test_each_status_notification_changes_only_its_label_of_the_firing_alert(
        runtime: Runtime) -> None:
    first = problem(runtime)
    steps = [
        (body("ACKNOWLEDGEMENT", acknowledged="true", note="acknowledged by ann: on it"),
         {"acknowledged": "true", "suppressed": "false", "flapping": "false"}),
        (body("DOWNTIMESTART", suppressed="downtime"),
         {"acknowledged": "true", "suppressed": "downtime", "flapping": "false"}),
        (body("FLAPPINGSTART", flapping="true"),
         {"acknowledged": "true", "suppressed": "downtime", "flapping": "true"}),
        (body("DOWNTIMECANCELLED", suppressed="false"),
         {"acknowledged": "true", "suppressed": "false", "flapping": "true"}),
        (body("FLAPPINGDISABLED", flapping="false"),
         {"acknowledged": "true", "suppressed": "false", "flapping": "false"}),
    ]
    for i, (item, labels) in enumerate(steps):
        result = send(runtime, item, T0 + 60 * (i + 1))
        assert dict(result.dispositions) == {"duplicate": 1}, item["type"]
        (row,) = alert_rows(runtime)
        assert {k: row.labels[k] for k in OFF} == labels, item["type"]
        assert (row.id, row.status, row.starts_at, row.ends_at, row.severity) == (
            first.id, "firing", T0, None, "critical"), item["type"]
    assert count(runtime, incidents) == 1
    with runtime.db.connect() as conn:
        kept = conn.execute(sa.select(raw_events.c.payload).where(
            raw_events.c.seq == 2)).scalar_one()
    assert kept["description"] == "acknowledged by ann: on it"  # with the event


def test_a_state_change_or_a_recovery_ends_the_acknowledgement(runtime: Runtime) -> None:
    """Nagios removes a non-sticky acknowledgement when the state changes, and every
    acknowledgement at the recovery, notifying neither; it notifies no problem or
    recovery while one holds. So a PROBLEM or a RECOVERY says it is over."""
    first = problem(runtime)
    send(runtime, body("ACKNOWLEDGEMENT", acknowledged="true"), T0 + 60)
    send(runtime, body("PROBLEM", "WARNING", **OFF), T0 + 120)  # from CRITICAL: no since
    (row,) = alert_rows(runtime)
    assert (row.labels["acknowledged"], row.severity, row.starts_at, row.status) == (
        "false", "warning", T0, "firing")
    send(runtime, body("ACKNOWLEDGEMENT", "WARNING", acknowledged="true"), T0 + 180)
    assert alert_rows(runtime)[0].labels["acknowledged"] == "true"
    send(runtime, body("RECOVERY", "OK", ended=str(int(T0 + 240)), **ENDED), T0 + 245)
    (row,) = alert_rows(runtime)
    assert (row.id, row.status, row.ends_at, row.labels["acknowledged"]) == (
        first.id, "resolved", T0 + 240, "false")


def test_a_status_notification_of_no_firing_alert_makes_none_and_is_kept(
        runtime: Runtime) -> None:
    """An acknowledgement or a downtime of a problem the engine never saw (it was down),
    or of one that is over, is not a new problem: no alert, no incident, no re-fire;
    the raw event is kept (disposition unmatched_report)."""
    result = send(runtime, body("DOWNTIMESTART", suppressed="downtime"), T0)
    assert (result.accepted, dict(result.dispositions), result.incidents) == (
        1, {"unmatched_report": 1}, set())
    assert (count(runtime, alerts), count(runtime, incidents), count(runtime, raw_events)) \
        == (0, 0, 1)
    problem(runtime)
    send(runtime, body("RECOVERY", "OK", ended=str(int(T0 + 60)), **ENDED), T0 + 61)
    clock = runtime.engine.clock
    result = send(runtime, body("ACKNOWLEDGEMENT", acknowledged="true"), T0 + 120)
    assert dict(result.dispositions) == {"unmatched_report": 1}
    (row,) = alert_rows(runtime)
    assert (row.status, row.ends_at, row.labels["acknowledged"]) == ("resolved", T0 + 60,
                                                                     "false")
    assert runtime.engine.clock == clock and count(runtime, raw_events) == 4
    with runtime.db.connect() as conn:
        kept = conn.execute(sa.select(raw_events).order_by(raw_events.c.seq.desc())).first()
    assert (kept.alert_id, kept.disposition, kept.payload["labels"]["acknowledged"]) == (
        None, "unmatched_report", "true")


def test_a_status_notification_of_an_object_that_is_fine_ends_its_problem(
        runtime: Runtime) -> None:
    """Nagios sends no RECOVERY while a service flaps: the FLAPPINGSTOP of a service
    that is OK again ends the firing alert at the service's last state change."""
    first = problem(runtime)
    send(runtime, body("FLAPPINGSTART", flapping="true"), T0 + 60)
    result = send(runtime, body("FLAPPINGSTOP", "OK", flapping="false",
                                ended=str(int(T0 + 300))), T0 + 900)
    assert dict(result.dispositions) == {"resolved": 1}
    (row,) = alert_rows(runtime)
    assert (row.id, row.status, row.ends_at, row.labels["flapping"]) == (
        first.id, "resolved", T0 + 300, "false")
    # Of an object with no alert, such a notification is a clear of nothing.
    result = send(runtime, {**body("DOWNTIMESTART", "UP", suppressed="downtime",
                                   ended=str(int(T0))), "check": "host"}, T0 + 950)
    assert dict(result.dispositions) == {"unmatched_clear": 1}
