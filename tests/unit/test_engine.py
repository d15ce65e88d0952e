"""The pipeline end to end on an embedded data dir: grouping, root cause, lifecycle."""

from __future__ import annotations

import sqlalchemy as sa

from aiops.models import parse_alert
from aiops.runtime import Runtime
from aiops.store import queries
from aiops.store.tables import alerts, raw_events
from topology.model import Edge, Node

T0 = 1_800_000_000.0


def alert(i: str, entity: str, at: float, name: str = "LINK_DOWN", end: float | None = None,
          **labels: str) -> dict:
    return {"id": i, "source": "nms", "name": name, "entity": entity, "severity": "major",
            "summary": f"{name} on {entity}", "starts_at": T0 + at,
            "ends_at": None if end is None else T0 + end, "labels": labels}


def star(rt: Runtime) -> None:
    """hub h1 with leaves l1..l4 (l1-l2-l3 also linked in a row) and a chain x1-x2-x3."""
    names = ["h1", "l1", "l2", "l3", "l4", "x1", "x2", "x3", "far"]
    nodes = [Node(n, "device", n, {"aliases": [f"{n}.example.net"]}) for n in names]
    edges = [Edge("h1", leaf) for leaf in ("l1", "l2", "l3", "l4")]
    edges += [Edge("l1", "l2"), Edge("l2", "l3")]
    edges += [Edge("l4", "x1"), Edge("x1", "x2"), Edge("x2", "x3"), Edge("x3", "far")]
    rt.import_topology(nodes, edges, "test")


def ingest(rt: Runtime, *items: dict):
    return rt.engine.ingest([parse_alert(a) for a in items])


def incidents_of(rt: Runtime) -> list[dict]:
    with rt.db.connect() as conn:
        return queries.list_incidents(conn)


def test_silent_hub_is_named_root_cause(runtime: Runtime) -> None:
    star(runtime)
    result = ingest(runtime, alert("a1", "l1", 0), alert("a2", "l2", 3),
                    alert("a3", "l3.example.net", 7))
    assert result.accepted == 3 and not result.unresolved_entities
    [inc] = incidents_of(runtime)
    assert inc["alert_count"] == 3
    top = inc["root_causes"][0]
    assert top["entity"] == "h1" and top["alert_id"] is None
    assert any("3 of 3 alarming devices are its neighbours" in e for e in top["evidence"])


def test_far_or_late_alerts_open_new_incidents(runtime: Runtime) -> None:
    star(runtime)
    ingest(runtime, alert("a1", "l1", 0), alert("a2", "far", 5), alert("a3", "l2", 3600))
    assert len(incidents_of(runtime)) == 3


def test_alert_linking_two_incidents_merges_them(runtime: Runtime) -> None:
    star(runtime)
    # l4 and x2 are 2 hops apart (via x1); x2 starts after the l4 incident's fan-out
    # period, so it opens its own incident; x1 is next to both and merges them.
    ingest(runtime, alert("a1", "l4", 0), alert("a1b", "l4", 30, name="T2"))
    ingest(runtime, alert("a2", "x2", 31))
    assert len(incidents_of(runtime)) == 2
    ingest(runtime, alert("a3", "x1", 32))
    live = [i for i in incidents_of(runtime) if i["status"] != "merged"]
    assert len(live) == 1 and live[0]["alert_count"] == 4


def test_unknown_entity_is_kept_and_reported(runtime: Runtime) -> None:
    star(runtime)
    result = ingest(runtime, alert("a1", "mystery-box", 0), alert("a2", "mystery-box", 10,
                                                                   name="CPU_HIGH"))
    assert result.unresolved_entities == {"mystery-box"}
    [inc] = incidents_of(runtime)  # same entity, close in time: one incident
    assert inc["alert_count"] == 2
    with runtime.db.connect() as conn:
        count, items = queries.unresolved_alerts(conn)
    assert count == 2 and {a["id"] for a in items} == {"a1", "a2"}


def test_incident_resolves_when_all_alerts_have_and_refire_reopens(runtime: Runtime) -> None:
    star(runtime)
    ingest(runtime, alert("a1", "l1", 0), alert("a2", "l2", 2))
    ingest(runtime, alert("a1r", "l1", 0, end=60))
    [inc] = incidents_of(runtime)
    assert inc["status"] == "open"
    ingest(runtime, alert("a2r", "l2", 2, end=90))
    [inc] = incidents_of(runtime)
    assert inc["status"] == "resolved" and inc["resolved_at"] is not None
    ingest(runtime, alert("a1b", "l1", 120))  # re-fires 60 s after clearing
    [inc] = incidents_of(runtime)
    assert inc["status"] == "open" and inc["alert_count"] == 2


def test_every_raw_event_is_kept(runtime: Runtime) -> None:
    star(runtime)
    ingest(runtime, alert("a1", "l1", 0), alert("a2", "l1", 30), alert("a3", "l1", 60))
    with runtime.db.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(alerts)).scalar() == 1
        rows = conn.execute(sa.select(raw_events.c.event_id, raw_events.c.disposition)
                            .order_by(raw_events.c.seq)).all()
    assert [tuple(r) for r in rows] == [("a1", "new"), ("a2", "duplicate"), ("a3", "duplicate")]


def test_state_survives_restart(runtime: Runtime) -> None:
    from aiops.runtime import open_runtime

    star(runtime)
    ingest(runtime, alert("a1", "l1", 0), alert("a2", "l2", 2))
    again = open_runtime(runtime.data_dir)
    try:
        ingest(again, alert("a3", "l3", 5))  # joins the incident restored from the database
        ingest(again, alert("a1r", "l1", 0, end=50), alert("a2r", "l2", 2, end=50),
               alert("a3r", "l3", 5, end=50))
        [inc] = incidents_of(again)
        assert inc["alert_count"] == 3 and inc["status"] == "resolved"
        assert inc["root_causes"][0]["entity"] == "h1"
    finally:
        again.close()


def test_failed_write_keeps_nothing_of_the_batch(runtime: Runtime) -> None:
    star(runtime)
    ingest(runtime, alert("a1", "l1", 0))
    with runtime.db.begin() as conn:
        conn.execute(sa.text("ALTER TABLE raw_events RENAME TO raw_events_gone"))
    try:
        ingest(runtime, alert("a2", "l2", 1))
    except sa.exc.OperationalError:
        pass
    else:
        raise AssertionError("the write should have failed")
    with runtime.db.begin() as conn:
        conn.execute(sa.text("ALTER TABLE raw_events_gone RENAME TO raw_events"))
        assert conn.execute(sa.select(sa.func.count()).select_from(alerts)).scalar() == 1
    ingest(runtime, alert("a2", "l2", 1))  # memory was rolled back with the database
    [inc] = incidents_of(runtime)
    assert inc["alert_count"] == 2


def test_clock_skew_and_reporting_delay_do_not_split(runtime: Runtime) -> None:
    star(runtime)
    # l2's clock runs 20 s behind: its alarm seems to come before the first one.
    ingest(runtime, alert("a1", "l1", 0), alert("a2", "l2", -20), alert("a3", "l3", 15))
    [inc] = incidents_of(runtime)
    assert inc["alert_count"] == 3


def test_incidents_do_not_chain_past_their_span(runtime: Runtime) -> None:
    star(runtime)
    # A new alarm next door every 20 s for 8 minutes: each close to the last one,
    # but a fault's cascade does not last that long, so the chain is cut.
    ingest(runtime, *(alert(f"a{i}", ("l1", "l2", "l3")[i % 3], 20 * i, name=f"T{i}")
                      for i in range(25)))
    found = incidents_of(runtime)
    assert len(found) > 2 and sum(i["alert_count"] for i in found) == 25
    fade = runtime.engine.settings.incident_fade
    for incident in found:
        with runtime.db.connect() as conn:
            starts = conn.execute(sa.select(alerts.c.starts_at).where(
                alerts.c.incident_id == incident["id"])).scalars().all()
        assert max(starts) - min(starts) < fade


def test_alert_next_to_an_aging_incident_opens_a_new_one(runtime: Runtime) -> None:
    star(runtime)
    # l1 keeps alarming for 90 s; a first alarm on its neighbour l2 105 s after the
    # incident began is close in time and space, but the incident is past its prime:
    # such a late newcomer is more often the onset of another fault.
    ingest(runtime, *(alert(f"a{i}", "l1", 30 * i, name=f"T{i}") for i in range(4)))
    ingest(runtime, alert("b1", "l2", 105, name="OTHER"))
    sizes = sorted(i["alert_count"] for i in incidents_of(runtime))
    assert sizes == [1, 4]


def test_one_alert_does_not_merge_incidents_that_started_apart(runtime: Runtime) -> None:
    star(runtime)
    # l4 alarms from 0 s, x2 (two hops away) from 45 s: two incidents. x1 links both
    # equally, but cascades of one fault start together, so they stay apart.
    ingest(runtime, alert("a1", "l4", 0), alert("a2", "l4", 40, name="T2"))
    ingest(runtime, alert("b1", "x2", 45, name="T3"))
    ingest(runtime, alert("c1", "x1", 50, name="T4"))
    found = incidents_of(runtime)
    assert all(i["status"] != "merged" for i in found)
    assert sorted(i["alert_count"] for i in found) in ([1, 3], [2, 2])


def test_one_alert_does_not_merge_two_established_incidents(runtime: Runtime) -> None:
    star(runtime)
    limit = runtime.engine.settings.merge_piece_limit
    # l4 and x2 (two hops apart) each raise `limit` distinct alarms: two cascades of
    # their own (x2 starts after the l4 incident's fan-out period). x1 then links both
    # equally and they started within the merge onset gap, but a piece split off one
    # cascade would be small, so they stay apart.
    ingest(runtime, *(alert(f"a{i}", "l4", i * 4, name=f"A{i}") for i in range(limit)))
    ingest(runtime, *(alert(f"b{i}", "x2", 31 + i * 0.5, name=f"B{i}") for i in range(limit)))
    ingest(runtime, alert("c1", "x1", 4 * limit, name="C"))
    found = incidents_of(runtime)
    assert all(i["status"] != "merged" for i in found)
    assert sorted(i["alert_count"] for i in found) in ([limit, limit + 1], [limit + 1, limit])


def test_condition_that_starts_again_ends_its_old_episode(runtime: Runtime) -> None:
    star(runtime)
    # LINK_DOWN on l1 never clears; 20 minutes later the same condition is reported
    # with a new start (its clear was lost): a new occurrence in a new incident, and
    # the old incident, whose only alert has now ended, resolves.
    ingest(runtime, alert("a1", "l1", 0))
    ingest(runtime, alert("a2", "l1", 1200))
    found = sorted(incidents_of(runtime), key=lambda i: i["started_at"])
    assert [i["alert_count"] for i in found] == [1, 1]
    assert [i["status"] for i in found] == ["resolved", "open"]
    assert found[0]["resolved_at"] == found[1]["started_at"]


def test_alert_two_hops_from_a_young_incident_joins_it(runtime: Runtime) -> None:
    star(runtime)
    fan_out = runtime.engine.settings.fan_out
    # x2 is two hops from l4: within the incident's first seconds it joins (a cascade
    # fans out first); after the fan-out period it opens an incident of its own.
    ingest(runtime, alert("a1", "l4", 0), alert("a2", "x2", 2))
    assert [i["alert_count"] for i in incidents_of(runtime)] == [2]
    ingest(runtime, alert("b1", "l1", 600), alert("b2", "l3", 600 + fan_out + 1))
    assert sorted(i["alert_count"] for i in incidents_of(runtime)) == [1, 1, 2]


def test_a_firing_alert_reported_again_with_another_severity_shows_the_latest(
        runtime: Runtime) -> None:
    star(runtime)
    warning = alert("a1", "l1", 0) | {"severity": "warning", "summary": "loss 20%"}
    ingest(runtime, warning, alert("a2", "l2", 3) | {"severity": "minor"})
    assert incidents_of(runtime)[0]["severity"] == "minor"
    # A re-send with its start known (Alertmanager's group) keeps what the alert reads.
    resend = warning | {"id": "a1-resend", "severity": "critical", "summary": "other"}
    ingest(runtime, resend)
    assert incidents_of(runtime)[0]["severity"] == "minor"
    # The same condition now CRITICAL, as Nagios or Icinga report it (no start).
    escalation = parse_alert(warning | {"id": "a1-again", "severity": "critical",
                                        "summary": "loss 100%", "starts_at": T0 + 60})
    result = runtime.engine.ingest([escalation], start_unknown=[0])
    assert result.dispositions == {"duplicate": 1}
    [inc] = incidents_of(runtime)
    assert inc["severity"] == "critical"
    with runtime.db.connect() as conn:
        row = conn.execute(sa.select(alerts).where(alerts.c.first_event_id == "a1")).one()
    assert (row.severity, row.summary, row.event_count) == ("critical", "loss 100%", 3)
    # The state survives a restart of the engine (it was stored, not only held).
    runtime.engine._restore()
    (record,) = [r for r in runtime.engine.dedup.active.values() if r.event.id == "a1"]
    assert record.severity == "critical"


def test_an_event_marked_as_a_state_report_with_its_start_gives_its_severity(
        runtime: Runtime) -> None:
    """A Zabbix problem whose severity an operator changed says its start (the same as
    the alert's) and is marked (``state_reports``): the alert and its incident take its
    severity and summary; the same event unmarked is a re-send and does not."""
    star(runtime)
    warning = alert("z1", "l1", 0) | {"severity": "warning"}
    ingest(runtime, warning)
    changed = parse_alert(warning | {"severity": "critical", "summary": "raised"})
    assert runtime.engine.ingest([changed]).dispositions == {"duplicate": 1}
    assert [i["severity"] for i in incidents_of(runtime)] == ["warning"]
    result = runtime.engine.ingest([changed], state_reports=[0])
    assert result.dispositions == {"duplicate": 1}
    assert [i["severity"] for i in incidents_of(runtime)] == ["critical"]
    with runtime.db.connect() as conn:
        row = conn.execute(sa.select(alerts).where(alerts.c.first_event_id == "z1")).one()
    assert (row.severity, row.summary, row.status, row.starts_at) == (
        "critical", "raised", "firing", T0)
