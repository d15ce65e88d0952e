"""POST /api/v1/webhooks/{name}: tools' own JSON through their mappings, problems and
recoveries as one alert episode, and every kind of bad request refused with nothing
stored."""

from __future__ import annotations

import sqlalchemy as sa
from flask.testing import FlaskClient

from aiops.runtime import Runtime
from aiops.store.tables import alerts as alerts_table
from aiops.store.tables import incidents as incidents_table
from aiops.store.tables import raw_events
from tests.integration.test_api import client, error_of, stored  # noqa: F401 (fixture)
from tests.unit.test_webhook_mapping import ZABBIX_PROBLEM

NAGIOS = {"type": "PROBLEM", "host": "r1", "address": "192.0.2.1", "check": "BGP peer",
          "state": "CRITICAL", "output": "peer Idle", "since": "1800000000"}


def alert_rows(runtime: Runtime) -> list[dict]:
    with runtime.db.connect() as conn:
        rows = conn.execute(sa.select(alerts_table).order_by(alerts_table.c.id)).all()
    return [dict(r._mapping) for r in rows]


def incident_rows(runtime: Runtime) -> list[dict]:
    with runtime.db.connect() as conn:
        rows = conn.execute(sa.select(incidents_table).order_by(incidents_table.c.seq)).all()
    return [dict(r._mapping) for r in rows]


def test_a_zabbix_update_changes_the_severity_a_re_send_does_not(
        client: FlaskClient, runtime: Runtime) -> None:  # noqa: F811
    """A problem re-sent with its start (a retried notification, both Zabbix paths
    reporting it) keeps the alert's severity; an update ({EVENT.UPDATE.STATUS} 1, an
    operator changed the severity) gives it to the alert and its incident, stored."""
    warning = {**ZABBIX_PROBLEM, "severity": "2"}
    assert client.post("/api/v1/webhooks/zabbix", json=warning).get_json()[
        "dispositions"] == {"new": 1}
    resent = {**ZABBIX_PROBLEM, "severity": "5"}
    assert client.post("/api/v1/webhooks/zabbix", json=resent).get_json()[
        "dispositions"] == {"duplicate": 1}
    assert [(a["severity"], i["severity"]) for a, i in zip(
        alert_rows(runtime), incident_rows(runtime), strict=True)] == [("warning", "warning")]
    update = {**resent, "event_update_status": "1"}
    assert client.post("/api/v1/webhooks/zabbix", json=update).get_json()[
        "dispositions"] == {"duplicate": 1}
    (alert,), (incident,) = alert_rows(runtime), incident_rows(runtime)
    assert (alert["severity"], alert["status"], alert["event_count"], incident["severity"]
            ) == ("critical", "firing", 3, "critical")
    assert alert["summary"] == ZABBIX_PROBLEM["event_name"]


def test_a_nagios_recovery_ends_the_alert_its_problem_opened(
        client: FlaskClient, runtime: Runtime) -> None:  # noqa: F811
    r = client.post("/api/v1/webhooks/nagios", json=NAGIOS)
    assert r.status_code == 200, r.data
    assert r.get_json()["dispositions"] == {"new": 1}
    (incident,) = r.get_json()["incidents"]
    # A re-sent problem folds; then the recovery, 10 minutes later, says no start.
    assert client.post("/api/v1/webhooks/nagios", json=NAGIOS).get_json()[
        "dispositions"] == {"duplicate": 1}
    recovery = {**NAGIOS, "type": "RECOVERY", "state": "OK", "output": "peer Established",
                "ended": "1800000600"}
    del recovery["since"]
    r = client.post("/api/v1/webhooks/nagios", json=recovery)
    assert r.get_json()["dispositions"] == {"resolved": 1}
    (row,) = alert_rows(runtime)
    assert (row["status"], row["starts_at"], row["ends_at"]) == (
        "resolved", 1_800_000_000.0, 1_800_000_600.0)
    detail = client.get(f"/api/v1/incidents/{incident}").get_json()
    assert detail["status"] == "resolved" and detail["alerts"][0]["source"] == "nagios"


def raw_rows(runtime: Runtime) -> list[tuple[str, int | None, str]]:
    with runtime.db.connect() as conn:
        rows = conn.execute(sa.select(raw_events.c.event_id, raw_events.c.alert_id,
                                      raw_events.c.disposition)
                            .order_by(raw_events.c.seq)).all()
    return [tuple(r) for r in rows]


def test_a_recovery_of_a_problem_never_seen_makes_no_alert_and_is_counted(
        client: FlaskClient, runtime: Runtime) -> None:  # noqa: F811
    """It ends nothing the engine knows of: as an alert it would only be noise in an
    incident. It is kept as a raw event of no alert, and the answer counts it."""
    recovery = {"type": "RECOVERY", "host": "r2", "check": "host", "state": "UP",
                "output": "PING OK", "ended": "1800000100"}
    r = client.post("/api/v1/webhooks/nagios", json=recovery)
    assert r.status_code == 200, r.data
    body = r.get_json()
    assert (body["accepted"], body["dispositions"], body["incidents"]) == (
        1, {"unmatched_clear": 1}, [])
    assert alert_rows(runtime) == []
    assert client.get("/api/v1/incidents").get_json()["incidents"] == []
    ((event_id, alert_id, disposition),) = raw_rows(runtime)
    assert (alert_id, disposition) == (None, "unmatched_clear") and event_id
    # The problem, when it comes, is an alert; its recovery ends it.
    problem = {**recovery, "type": "PROBLEM", "state": "DOWN", "since": "1800000200"}
    del problem["ended"]
    assert client.post("/api/v1/webhooks/nagios", json=problem).get_json()[
        "dispositions"] == {"new": 1}
    r = client.post("/api/v1/webhooks/nagios", json={**recovery, "ended": "1800000300"})
    assert r.get_json()["dispositions"] == {"resolved": 1}
    (row,) = alert_rows(runtime)
    assert (row["status"], row["starts_at"], row["ends_at"]) == (
        "resolved", 1_800_000_200.0, 1_800_000_300.0)


def test_link_ups_of_a_booting_switch_make_no_incident(
        client: FlaskClient, runtime: Runtime) -> None:  # noqa: F811
    """What ``aiops syslog listen`` and ``aiops traps listen`` post when a switch boots:
    every port comes up, and none was seen down."""
    ups = [{"name": "LINK_DOWN", "host": "r1", "summary": f"ge-0/0/{port} up",
            "severity": "info", "ended": str(1_800_000_000 + port),
            "labels": {"interface": f"ge-0/0/{port}"}} for port in range(4)]
    for webhook in ("syslog", "snmptrap"):
        r = client.post(f"/api/v1/webhooks/{webhook}", json=ups)
        assert r.status_code == 200, r.data
        assert (r.get_json()["dispositions"], r.get_json()["incidents"]) == (
            {"unmatched_clear": 4}, [])
    assert alert_rows(runtime) == [] and stored(runtime) == (0, 8)
    # A port that goes down and up again after the boot is one alert, resolved.
    down = {**ups[2], "severity": "major", "since": "1800000100", "ended": ""}
    r = client.post("/api/v1/webhooks/syslog", json=[down, {**ups[2], "ended": "1800000160"}])
    assert r.get_json()["dispositions"] == {"new": 1, "resolved": 1}
    (row,) = alert_rows(runtime)
    assert (row["status"], row["starts_at"], row["ends_at"]) == (
        "resolved", 1_800_000_100.0, 1_800_000_160.0)


def test_zabbix_problem_and_recovery_through_the_built_in_mapping(
        client: FlaskClient, runtime: Runtime) -> None:  # noqa: F811
    problem = {**ZABBIX_PROBLEM, "host": "r1"}
    assert client.post("/api/v1/webhooks/zabbix", json=problem).status_code == 200
    recovery = {**problem, "event_value": "0", "recovery_date": "2026.11.22",
                "recovery_time": "16:31:00"}
    r = client.post("/api/v1/webhooks/zabbix", json=recovery)
    assert r.get_json()["dispositions"] == {"resolved": 1}
    (row,) = alert_rows(runtime)
    assert row["status"] == "resolved" and row["entity"] == "r1"


def test_a_mapping_in_the_data_dir_is_used_without_a_restart(
        client: FlaskClient, runtime: Runtime) -> None:  # noqa: F811
    folder = runtime.data_dir.path / "webhooks"
    folder.mkdir()
    (folder / "uptime.yml").write_text(
        "alerts: checks\nname: '{monitor}'\nentity: '{target}'\nstarts_at: '{since}'\n"
        "severity: {value: '{level}', map: {down: critical}}\n", encoding="utf-8")
    listing = client.get("/api/v1/webhooks").get_json()
    assert [w["name"] for w in listing["webhooks"]] == ["icinga", "nagios", "snmptrap", "syslog",
                                                         "uptime", "zabbix"]
    body = {"checks": [{"monitor": "http", "target": "r1", "since": 1_800_000_000,
                        "level": "down"},
                       {"monitor": "http", "target": "r2", "since": 1_800_000_004,
                        "level": "down"}]}
    r = client.post("/api/v1/webhooks/uptime", json=body)
    assert r.status_code == 200 and r.get_json()["accepted"] == 2
    assert len(r.get_json()["incidents"]) == 1  # neighbours, 4 s apart: one incident
    assert {row["severity"] for row in alert_rows(runtime)} == {"critical"}


def test_bad_webhook_requests_are_refused_by_name_and_store_nothing(
        client: FlaskClient, runtime: Runtime) -> None:  # noqa: F811
    folder = runtime.data_dir.path / "webhooks"
    folder.mkdir()
    (folder / "broken.yml").write_text("name: '{x'\nentity: '{y}'\n", encoding="utf-8")
    r = client.post("/api/v1/webhooks/datadog", json=NAGIOS)
    assert r.status_code == 404
    assert "no webhook mapping named 'datadog' (known: alertmanager, icinga, nagios" in error_of(r)
    r = client.post("/api/v1/webhooks/broken", json=NAGIOS)
    assert r.status_code == 400
    assert error_of(r).startswith("webhook mapping 'broken' cannot be used: broken.yml: "
                                  "name: unmatched '{'")
    r = client.post("/api/v1/webhooks/nagios", data=b'{"host": "r1",',
                    content_type="application/json")
    assert r.status_code == 400 and "JSON" in error_of(r)
    # The second notification of a batch lacks its host: neither is stored.
    r = client.post("/api/v1/webhooks/nagios", json=[NAGIOS, {**NAGIOS, "host": ""}])
    assert r.status_code == 400
    assert error_of(r).startswith("alerts[1]: field 'entity' is empty: '{host}' gave no "
                                  "text (nothing at host)")
    r = client.post("/api/v1/webhooks/nagios", json={**NAGIOS, "since": "last tuesday"})
    assert r.status_code == 400 and "field 'starts_at' is not an RFC 3339" in error_of(r)
    assert stored(runtime) == (0, 0)
    errors = client.get("/api/v1/webhooks").get_json()["errors"]
    assert len(errors) == 1 and errors[0].startswith("broken.yml:")


def _nagios(kind: str, at: int, **extra) -> dict:
    body = {**NAGIOS, "type": kind, **extra}
    body.pop("since", None)
    if kind == "PROBLEM" and "no_since" not in extra:
        body["since"] = str(at)
    body.pop("no_since", None)
    if kind == "RECOVERY":
        body.update(state="OK", ended=str(at))
    return body


def test_more_recoveries_of_an_ended_episode_are_duplicates_not_re_fires(
        client: FlaskClient, runtime: Runtime) -> None:  # noqa: F811
    """An interface reported up again and again (a recovery whose problem was lost, a
    device repeating itself): the alert stays as it ended, not re-fired and flapping."""
    t0 = 1_800_000_000
    client.post("/api/v1/webhooks/nagios", json=_nagios("PROBLEM", t0))
    client.post("/api/v1/webhooks/nagios", json=_nagios("RECOVERY", t0 + 60))
    for later in (90, 150, 500):
        r = client.post("/api/v1/webhooks/nagios", json=_nagios("RECOVERY", t0 + later))
        assert r.status_code == 200 and r.get_json()["dispositions"] == {"duplicate": 1}
    (row,) = alert_rows(runtime)
    assert (row["status"], row["starts_at"], row["ends_at"]) == ("resolved", t0, t0 + 60)
    assert not row["flapping"]


def test_a_late_clear_of_an_earlier_episode_does_not_end_the_current_one(
        client: FlaskClient, runtime: Runtime) -> None:  # noqa: F811
    t0 = 1_800_000_000
    client.post("/api/v1/webhooks/nagios", json=_nagios("PROBLEM", t0 + 1000))
    r = client.post("/api/v1/webhooks/nagios", json=_nagios("RECOVERY", t0 + 900))
    assert r.get_json()["dispositions"] == {"duplicate": 1}
    (row,) = alert_rows(runtime)
    assert (row["status"], row["starts_at"], row["ends_at"]) == ("firing", t0 + 1000, None)


def test_a_problem_and_its_recovery_in_one_request_and_an_escalation_fold(
        client: FlaskClient, runtime: Runtime) -> None:  # noqa: F811
    t0 = 1_800_000_000
    r = client.post("/api/v1/webhooks/nagios",
                    json=[_nagios("PROBLEM", t0), _nagios("RECOVERY", t0 + 600)])
    assert r.get_json()["dispositions"] == {"new": 1, "resolved": 1}
    other = {"check": "disk", "host": "r2"}
    client.post("/api/v1/webhooks/nagios", json=_nagios("PROBLEM", t0, state="WARNING",
                                                        **other))
    # WARNING to CRITICAL 15 minutes later: aiops-notify sends no start (it began before).
    r = client.post("/api/v1/webhooks/nagios",
                    json=_nagios("PROBLEM", t0 + 900, state="CRITICAL", no_since=True,
                                 **other))
    assert r.get_json()["dispositions"] == {"duplicate": 1}
    rows = {a["name"]: a for a in alert_rows(runtime)}
    assert (rows["disk"]["status"], rows["disk"]["starts_at"]) == ("firing", t0)
    assert rows["BGP peer"]["status"] == "resolved"


def test_too_many_alerts_and_json_nested_without_end_are_refused_cheaply(
        client: FlaskClient, runtime: Runtime) -> None:  # noqa: F811
    r = client.post("/api/v1/webhooks/nagios", json=[NAGIOS] * 10_001)
    assert r.status_code == 413 and "batch of 10001 alerts is over the limit" in error_of(r)
    r = client.post("/api/v1/webhooks/nagios", data="[" * 100_000,
                    content_type="application/json")
    assert r.status_code == 400 and error_of(r) == "malformed JSON: nested too deeply"
    assert stored(runtime) == (0, 0)
