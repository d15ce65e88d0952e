"""Acknowledgements and suppressions (maintenance, downtime, silence) carried in the
labels ``acknowledged`` and ``suppressed``: one condition whatever they say, the latest
word of the source wins in the stored alert, and the incident says how many of its
alerts are acknowledged or suppressed (aiops.engine.alert_status)."""

from __future__ import annotations

import sqlalchemy as sa

from aiops.api import create_app
from aiops.engine.alert_status import incident_status, take_latest
from aiops.runtime import Runtime, open_runtime
from aiops.store import queries
from aiops.store.tables import alerts
from tests.unit.test_engine import alert, incidents_of, ingest, star


def stored_labels(rt: Runtime) -> dict[str, dict[str, str]]:
    with rt.db.connect() as conn:
        return {r.first_event_id: r.labels for r in conn.execute(
            sa.select(alerts.c.first_event_id, alerts.c.labels))}


def test_an_acknowledgement_after_the_first_event_reaches_the_stored_alert(
        runtime: Runtime) -> None:
    star(runtime)
    ingest(runtime, alert("a", "l1", 0, port="1", acknowledged="false", suppressed="false"),
           alert("b", "l2", 2, port="1"))
    [inc] = incidents_of(runtime)
    assert (inc["acknowledged_alerts"], inc["suppressed_alerts"]) == (0, 0)
    assert inc["suppressed"] is False
    # The same condition re-sent acknowledged and in maintenance: a duplicate, not a
    # second alert, and the stored alert reads the latest.
    result = ingest(runtime, alert("a2", "l1", 0, port="1", acknowledged="true",
                                   suppressed="maintenance"))
    assert dict(result.dispositions) == {"duplicate": 1}
    assert stored_labels(runtime)["a"] == {"port": "1", "acknowledged": "true",
                                           "suppressed": "maintenance"}
    [inc] = incidents_of(runtime)
    assert inc["alert_count"] == 2
    assert (inc["acknowledged_alerts"], inc["suppressed_alerts"]) == (1, 1)
    assert inc["suppressed"] is False  # b fires and is not suppressed
    # An event that does not say (a media type's notification) leaves them as they are.
    ingest(runtime, alert("a3", "l1", 0, port="1"))
    assert stored_labels(runtime)["a"]["acknowledged"] == "true"
    # b goes into a downtime: every firing alert of the incident is suppressed.
    ingest(runtime, alert("b2", "l2", 2, port="1", suppressed="downtime"))
    with runtime.db.connect() as conn:
        detail = queries.get_incident(conn, inc["id"])
    assert detail["suppressed"] is True and detail["firing_suppressed"] == 2
    # Survives a restart: the engine's memory is rebuilt from the stored labels, and
    # un-acknowledging changes the alert again.
    again = open_runtime(runtime.data_dir)
    try:
        ingest(again, alert("a4", "l1", 0, port="1", acknowledged="false"))
        assert stored_labels(again)["a"]["acknowledged"] == "false"
        assert incidents_of(again)[0]["acknowledged_alerts"] == 0
    finally:
        again.close()


def test_suppressed_alerts_still_count_for_correlation_and_root_cause(
        runtime: Runtime) -> None:
    """Suppression changes presentation only: the same grouping and root cause."""
    star(runtime)
    ingest(runtime, *(alert(f"s{leaf}", leaf, i, suppressed="maintenance")
                      for i, leaf in enumerate(("l1", "l2", "l3", "l4"))))
    [inc] = incidents_of(runtime)
    assert inc["alert_count"] == 4 and inc["suppressed"] is True
    assert inc["root_causes"][0]["entity"] == "h1"
    # What an operator reads: the API, the list and the incident page say it.
    client = create_app(runtime=runtime).test_client()
    listed = client.get("/api/v1/incidents").get_json()["incidents"][0]
    assert (listed["suppressed"], listed["suppressed_alerts"]) == (True, 4)
    assert 'class="badge suppressed"' in client.get("/").get_data(as_text=True)
    page = client.get(f"/incidents/{inc['id']}").get_data(as_text=True)
    assert 'id="incident-suppressed"' in page and page.count(">maintenance</span>") == 4


def test_a_suppression_by_hand_counts_and_shows_like_a_maintenance(
        runtime: Runtime) -> None:
    """Zabbix 6.2+'s suppression by hand (``manual``) is a suppression: counted, and
    badged on the incident page with who and until when."""
    star(runtime)
    by = "manually by user 5 until 2026-11-22T21:00:00Z"
    ingest(runtime, alert("m1", "l1", 0, suppressed="manual", suppressed_by=by))
    [inc] = incidents_of(runtime)
    assert inc["suppressed"] is True and inc["firing_suppressed"] == 1
    page = create_app(runtime=runtime).test_client().get(
        f"/incidents/{inc['id']}").get_data(as_text=True)
    assert '<span class="badge suppressed">manual</span>' in page
    assert f'<span class="status-by suppressed-by">{by}</span>' in page


def test_take_latest_and_incident_status() -> None:
    assert take_latest({"a": "1"}, {"a": "2"}) is None  # not a status label
    assert take_latest({"acknowledged": "true"}, {"acknowledged": "true"}) is None
    assert take_latest({}, {"suppressed": "silence"}) == {"suppressed": "silence"}
    # suppressed_by belongs to suppressed: an event saying suppressed without it ends it.
    during = {"k": "v", "suppressed": "maintenance", "suppressed_by": "maintenance 4"}
    assert take_latest(during, {"suppressed": "false"}) == {"k": "v", "suppressed": "false"}
    assert take_latest(during, {"acknowledged": "true"}) == during | {"acknowledged": "true"}
    status = incident_status([("resolved", {"suppressed": "maintenance"}),
                              ("firing", {"acknowledged": "true"}),
                              ("firing", {"acknowledged": "yes", "suppressed": "bogus"})])
    # Only the documented values count: "yes" and "bogus" are labels, nothing more.
    assert status == {"acknowledged_alerts": 1, "suppressed_alerts": 1, "firing_alerts": 2,
                      "firing_acknowledged": 1, "firing_suppressed": 0,
                      "acknowledged": False, "suppressed": False}
    assert incident_status([])["suppressed"] is False  # nothing firing: not "suppressed"


def test_a_source_saying_its_object_flaps_is_the_same_condition_labelled(
        runtime: Runtime) -> None:
    """``flapping`` (Icinga's own detection) is volatile like an acknowledgement: the
    condition re-sent flapping, then not, is one alert whose stored label reads the
    latest; the incident does not count it."""
    star(runtime)
    ingest(runtime, alert("a", "l1", 0, port="1"))
    result = ingest(runtime, alert("a2", "l1", 0, port="1", flapping="true"))
    assert dict(result.dispositions) == {"duplicate": 1}
    assert stored_labels(runtime)["a"] == {"port": "1", "flapping": "true"}
    ingest(runtime, alert("a3", "l1", 0, port="1", flapping="false"))
    assert stored_labels(runtime)["a"]["flapping"] == "false"
    [inc] = incidents_of(runtime)
    assert (inc["alert_count"], inc["acknowledged_alerts"], inc["suppressed"]) == (1, 0, False)
