"""The Alertmanager connector against a real Prometheus Alertmanager process.

The unit tests feed recorded payloads to ``parse_webhook``; these tests let a real
Alertmanager (Debian's ``prometheus-alertmanager``) group, re-send and resolve
alerts and deliver them over HTTP to the app, because the properties that matter
(at-least-once group re-sends, the resolved notification, what ``/api/v2/alerts``
lists) are Alertmanager's behaviour, not ours, and recorded payloads cannot show
how it changes between versions.

Every wait polls observable state (the runtime's database, Alertmanager's API)
with a bound, never a fixed sleep.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from aiops.runtime import Runtime
from aiops.store.queries import alert_view, get_incident, list_incidents
from aiops.store.tables import alerts as alerts_table
from aiops.store.tables import raw_events
from connectors.alertmanager import AlertmanagerPuller
from tests.conftest import LiveServer
from tests.integration.alertmanager_server import (
    AlertmanagerProcess,
    alertmanager_binary,
    config_document,
    running_alertmanager,
    wait_for,
)
from topology.model import Edge, Node

pytestmark = [
    pytest.mark.alertmanager,
    pytest.mark.skipif(alertmanager_binary() is None,
                       reason="prometheus-alertmanager is not installed "
                              "(scripts/install-test-deps.sh installs it)"),
]

WEBHOOK_PATH = "/api/v1/webhooks/alertmanager"
DELIVERY_TIMEOUT = 30.0  # group_wait and group_interval are 1 s; deliveries take ~1-2 s

# edge-a, core-b and edge-c are neighbours (a chain within max_hops = 2); far-f is
# three hops past edge-c, too far to share their incident.
NEIGHBOURS = ("edge-a", "core-b", "edge-c")
FAR = "far-f"
CHAIN = (*NEIGHBOURS, "agg-d", "agg-e", FAR)


@pytest.fixture
def small_topology(runtime: Runtime) -> tuple[str, ...]:
    """Import the chain topology into the runtime; return its device ids in order."""
    nodes = [Node(device, "device", device, {"site": "lab"}) for device in CHAIN]
    edges = [Edge(a, b, "connected_to") for a, b in zip(CHAIN, CHAIN[1:], strict=False)]
    runtime.import_topology(nodes, edges, source="am-test")
    return CHAIN


@pytest.fixture
def alertmanager(tmp_path: Path, live_server: LiveServer,
                 small_topology: tuple[str, ...]) -> Iterator[AlertmanagerProcess]:
    """A real Alertmanager whose webhook receiver is the app under test."""
    config = config_document(live_server.url + WEBHOOK_PATH)
    with running_alertmanager(tmp_path / "alertmanager", config) as am:
        yield am


@pytest.fixture
def bare_alertmanager(tmp_path: Path,
                      small_topology: tuple[str, ...]) -> Iterator[AlertmanagerProcess]:
    """A real Alertmanager that notifies nobody, for tests where only the puller feeds
    the runtime (so no webhook delivery races the assertions)."""
    with running_alertmanager(tmp_path / "alertmanager", config_document(None)) as am:
        yield am


def rfc3339(ts: float) -> str:
    """Millisecond RFC 3339, the precision Alertmanager keeps in its API."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def am_alert(name: str, device: str, starts_at: float, ends_at: float | None = None,
             severity: str = "critical", **labels: str) -> dict[str, Any]:
    """An alert as Prometheus posts it to ``/api/v2/alerts``."""
    alert: dict[str, Any] = {
        "labels": {"alertname": name, "device": device, "severity": severity, **labels},
        "annotations": {"summary": f"{name} on {device}"},
        "startsAt": rfc3339(starts_at),
    }
    if ends_at is not None:
        alert["endsAt"] = rfc3339(ends_at)
    return alert


def resolved(alerts: list[dict[str, Any]], at: float) -> list[dict[str, Any]]:
    """The same alerts with ``endsAt`` set, as Prometheus sends when a rule stops firing."""
    return [{**a, "endsAt": rfc3339(at)} for a in alerts]


def stored_alerts(rt: Runtime) -> list[dict[str, Any]]:
    """Every deduplicated alert the runtime stored from Alertmanager, oldest first."""
    with rt.db.connect() as conn:
        rows = conn.execute(sa.select(alerts_table)
                            .where(alerts_table.c.source == "alertmanager")
                            .order_by(alerts_table.c.id)).all()
    return [alert_view(r) for r in rows]


def stored_events(rt: Runtime) -> list[tuple[str, str]]:
    """(event id, disposition) of every raw event, in arrival order."""
    with rt.db.connect() as conn:
        rows = conn.execute(sa.select(raw_events.c.event_id, raw_events.c.disposition)
                            .order_by(raw_events.c.seq)).all()
    return [(r.event_id, r.disposition) for r in rows]


def events_if_at_least(rt: Runtime, count: int) -> list[tuple[str, str]] | None:
    """The stored raw events once there are ``count`` of them, for polling."""
    events = stored_events(rt)
    return events if len(events) >= count else None


def incidents(rt: Runtime) -> list[dict[str, Any]]:
    """Incidents that are not merged away, with their alerts."""
    with rt.db.connect() as conn:
        return [get_incident(conn, i["id"]) for i in list_incidents(conn)]


def incident_of(rt: Runtime, entities: set[str]) -> dict[str, Any] | None:
    """The one incident whose alerts are exactly on ``entities``, if there is one yet.

    ``get_incident`` reads the incident row and its alerts in two SELECTs, which on
    SQLite are not one snapshot; while deliveries are still landing the two can
    disagree, so a view counts only once its ``alert_count`` matches its alerts.
    """
    found = [i for i in incidents(rt)
             if {a["entity"] for a in i["alerts"]} == entities
             and i["alert_count"] == len(i["alerts"])]
    return found[0] if len(found) == 1 else None


def test_webhook_alerts_on_neighbours_become_one_incident(
        alertmanager: AlertmanagerProcess, runtime: Runtime) -> None:
    now = time.time()
    sent = [am_alert("LinkDown", "edge-a", now - 3),
            am_alert("BGPDown", "core-b", now - 2, severity="major"),
            am_alert("LinkDown", "edge-c", now - 1),
            am_alert("FanFail", FAR, now - 2, severity="warning")]
    alertmanager.post_alerts(sent)

    incident = wait_for(lambda: incident_of(runtime, set(NEIGHBOURS)), DELIVERY_TIMEOUT,
                        "one incident holding the three neighbours' alerts")
    far = wait_for(lambda: incident_of(runtime, {FAR}), DELIVERY_TIMEOUT,
                   "an incident for the far device's alert")

    assert incident["status"] == "open"
    assert incident["alert_count"] == 3
    assert incident["severity"] == "critical"
    assert incident["root_causes"], "a firing incident has ranked root causes"
    for alert in incident["alerts"]:
        assert alert["source"] == "alertmanager"
        assert alert["status"] == "firing"
        assert alert["node_id"] == alert["entity"], "device label resolved in the topology"
        assert alert["id"].startswith("am-")
    by_entity = {a["entity"]: a for a in incident["alerts"]}
    assert by_entity["core-b"]["severity"] == "major"
    assert by_entity["core-b"]["summary"] == "BGPDown on core-b"
    assert by_entity["edge-a"]["starts_at_epoch"] == pytest.approx(now - 3, abs=1e-3)
    assert far["id"] != incident["id"]
    assert len(incidents(runtime)) == 2
    assert len(stored_alerts(runtime)) == 4


def test_group_resends_are_folded_as_duplicates(
        alertmanager: AlertmanagerProcess, runtime: Runtime) -> None:
    """Alertmanager re-sends a whole group when an alert joins it: old members arrive again.

    With repeat_interval 1 h the only re-send inside a test's time is that one, so
    a second interface going down on the same device (same alertname and device,
    so the same group) makes Alertmanager deliver the first interface again.
    """
    now = time.time()
    first = [am_alert("LinkDown", "edge-a", now - 5, interface="ge-0/0/1"),
             am_alert("LinkDown", "core-b", now - 5, interface="ge-0/0/1")]
    alertmanager.post_alerts(first)
    wait_for(lambda: len(stored_events(runtime)) >= 2, DELIVERY_TIMEOUT, "the first two alerts")

    joining = [am_alert("LinkDown", "edge-a", now - 1, interface="ge-0/0/2"),
               am_alert("LinkDown", "core-b", now - 1, interface="ge-0/0/2")]
    alertmanager.post_alerts(joining)
    # Each of the two groups is re-sent whole: 2 first + 2 x (old member + newcomer).
    events = wait_for(lambda: events_if_at_least(runtime, 6), DELIVERY_TIMEOUT,
                      "both groups re-sent with their old members")

    assert len(events) == 6
    dispositions = Counter(d for _, d in events)
    assert dispositions == {"new": 4, "duplicate": 2}
    first_ids = [event_id for event_id, d in events[:2]]
    duplicate_ids = [event_id for event_id, d in events if d == "duplicate"]
    assert sorted(duplicate_ids) == sorted(first_ids), "re-sent events carry the same ids"

    stored = stored_alerts(runtime)
    assert len(stored) == 4, "one alert per condition, however often it was delivered"
    counts = {(a["entity"], a["labels"]["interface"]): a["event_count"] for a in stored}
    assert counts == {("edge-a", "ge-0/0/1"): 2, ("core-b", "ge-0/0/1"): 2,
                      ("edge-a", "ge-0/0/2"): 1, ("core-b", "ge-0/0/2"): 1}
    assert len(incidents(runtime)) == 1


def test_resolving_in_alertmanager_resolves_alerts_and_incident(
        alertmanager: AlertmanagerProcess, runtime: Runtime) -> None:
    now = time.time()
    sent = [am_alert("LinkDown", "edge-a", now - 10),
            am_alert("LinkDown", "core-b", now - 9),
            am_alert("CRCErrors", "edge-c", now - 8, severity="minor")]
    alertmanager.post_alerts(sent)
    incident = wait_for(lambda: incident_of(runtime, set(NEIGHBOURS)), DELIVERY_TIMEOUT,
                        "the incident of the three alerts")
    assert incident["status"] == "open"

    ends = time.time()
    alertmanager.post_alerts(resolved(sent, ends))
    assert alertmanager.get_alerts() == [], "the v2 API drops resolved alerts at once"

    def resolved_incident() -> dict[str, Any] | None:
        with runtime.db.connect() as conn:
            current = get_incident(conn, incident["id"])
        return current if current["status"] == "resolved" else None

    final = wait_for(resolved_incident, DELIVERY_TIMEOUT, "the incident to resolve")
    assert [a["status"] for a in final["alerts"]] == ["resolved"] * 3
    for alert in final["alerts"]:
        assert alert["ends_at_epoch"] == pytest.approx(ends, abs=1e-3)
    assert final["resolved_at"] is not None
    dispositions = Counter(d for _, d in stored_events(runtime))
    assert dispositions == {"new": 3, "resolved": 3}
    assert len(stored_alerts(runtime)) == 3
    assert len(incidents(runtime)) == 1


def test_puller_reads_active_alerts_and_reports_resolutions(
        alertmanager: AlertmanagerProcess, runtime: Runtime) -> None:
    now = time.time()
    sent = [am_alert("LinkDown", "edge-a", now - 4),
            am_alert("PowerLoss", "core-b", now - 3, severity="page")]
    alertmanager.post_alerts(sent)
    puller = AlertmanagerPuller(alertmanager.url)

    pulled = {a.entity: a for a in puller.pull()}
    fingerprints = {a["labels"]["device"]: a["fingerprint"] for a in alertmanager.get_alerts()}
    assert set(pulled) == {"edge-a", "core-b"}
    for device, start, name in (("edge-a", now - 4, "LinkDown"), ("core-b", now - 3, "PowerLoss")):
        alert = pulled[device]
        assert alert.id == f"am-{fingerprints[device]}-{int(start)}"
        assert alert.source == "alertmanager"
        assert alert.name == name
        assert alert.summary == f"{name} on {device}"
        assert alert.starts_at == pytest.approx(start, abs=1e-3)
        assert alert.ends_at is None, "an active alert has no end, whatever endsAt says"
    assert pulled["edge-a"].severity == "critical"
    assert pulled["core-b"].severity == "critical", "'page' maps onto critical"

    # Webhook and puller name an episode alike, so both paths into one engine dedup.
    wait_for(lambda: len(stored_events(runtime)) >= 2, DELIVERY_TIMEOUT, "webhook delivery")
    assert {event_id for event_id, _ in stored_events(runtime)} == {a.id for a in pulled.values()}
    result = runtime.engine.ingest(list(pulled.values()))
    assert dict(result.dispositions) == {"duplicate": 2}
    assert len(stored_alerts(runtime)) == 2

    assert sorted(a.id for a in puller.pull()) == sorted(a.id for a in pulled.values())

    ends = time.time()
    alertmanager.post_alerts(resolved(sent, ends))
    resolutions = puller.pull()
    noticed = time.time()
    assert sorted(a.id for a in resolutions) == sorted(a.id for a in pulled.values())
    for event in resolutions:
        assert event.ends_at is not None
        assert ends - 1e-3 <= event.ends_at <= noticed
    assert puller.pull() == [], "a resolution is reported once"

    wait_for(lambda: all(a["status"] == "resolved" for a in stored_alerts(runtime)),
             DELIVERY_TIMEOUT, "the webhook's resolved notifications")
    result = runtime.engine.ingest(resolutions)
    assert dict(result.dispositions) == {"duplicate": 2}, "already resolved by the webhook"


def test_puller_alert_that_resolved_and_fired_again_between_pulls_stays_firing(
        bare_alertmanager: AlertmanagerProcess, runtime: Runtime) -> None:
    """Between two pulls the alert ended and a new episode began: both must be seen.

    The old episode vanishes from the v2 API and the new one appears with a new
    ``startsAt``; the puller has to report the end before the new start, and in
    that order, or the engine folds the new episode into the old one and closes it.
    """
    now = time.time()
    first = am_alert("LinkDown", "edge-a", now - 20)
    bare_alertmanager.post_alerts([first])
    puller = AlertmanagerPuller(bare_alertmanager.url)
    assert dict(runtime.engine.ingest(puller.pull()).dispositions) == {"new": 1}

    bare_alertmanager.post_alerts(resolved([first], now - 10))
    bare_alertmanager.post_alerts([am_alert("LinkDown", "edge-a", now - 5)])
    listed = bare_alertmanager.get_alerts()
    assert [a["startsAt"] for a in listed] == [rfc3339(now - 5)], "a new episode, not a merge"

    events = puller.pull()
    assert [e.ends_at is not None for e in events] == [True, False], "resolution first"
    assert events[0].ends_at < events[1].starts_at
    result = runtime.engine.ingest(events)
    assert dict(result.dispositions) == {"resolved": 1, "refired": 1}
    [alert] = stored_alerts(runtime)
    assert alert["status"] == "firing"
    assert alert["starts_at_epoch"] == pytest.approx(now - 20, abs=1e-3)
    [incident] = incidents(runtime)
    assert incident["status"] == "open"


def test_puller_reads_a_silence_into_the_suppressed_label(
        bare_alertmanager: AlertmanagerProcess, runtime: Runtime) -> None:
    """A silenced alert is sent to no webhook, but the v2 API lists it with
    ``status.state`` suppressed and ``silencedBy``: the puller gives it the label
    ``suppressed: silence`` (``false`` while active), the engine folds the change into
    the same alert, and the incident reads suppressed; an expired silence clears it."""
    now = time.time()
    bare_alertmanager.post_alerts([am_alert("LinkDown", "edge-a", now - 5)])
    puller = AlertmanagerPuller(bare_alertmanager.url)
    (active,) = puller.pull()
    assert active.labels["suppressed"] == "false"
    runtime.engine.ingest([active])
    answer = requests.post(f"{bare_alertmanager.url}/api/v2/silences", timeout=10, json={
        "matchers": [{"name": "device", "value": "edge-a", "isRegex": False,
                      "isEqual": True}],
        "startsAt": rfc3339(now - 1), "endsAt": rfc3339(now + 3600),
        "createdBy": "ann", "comment": "fibre work"})
    assert answer.status_code == 200, answer.text
    silenced = wait_for(lambda: [a for a in puller.pull()
                                 if a.labels["suppressed"] == "silence"] or None,
                        DELIVERY_TIMEOUT, "the silence in the v2 API")
    assert [a.id for a in silenced] == [active.id]  # the same episode
    result = runtime.engine.ingest(silenced)
    assert dict(result.dispositions) == {"duplicate": 1}
    (stored,) = stored_alerts(runtime)
    assert stored["labels"]["suppressed"] == "silence"
    assert stored["labels"]["suppressed_by"] == f"silence {answer.json()['silenceID']}"
    (incident,) = incidents(runtime)
    assert (incident["suppressed_alerts"], incident["suppressed"]) == (1, True)
    requests.delete(f"{bare_alertmanager.url}/api/v2/silence/{answer.json()['silenceID']}",
                    timeout=10).raise_for_status()
    active_again = wait_for(lambda: [a for a in puller.pull()
                                     if a.labels["suppressed"] == "false"] or None,
                            DELIVERY_TIMEOUT, "the expired silence in the v2 API")
    runtime.engine.ingest(active_again)
    assert stored_alerts(runtime)[0]["labels"]["suppressed"] == "false"
    assert "suppressed_by" not in stored_alerts(runtime)[0]["labels"]
    assert incidents(runtime)[0]["suppressed"] is False
