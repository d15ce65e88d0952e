"""Operator feedback through the API: merge and split change live state and the
database together, re-rank root causes, store an audit record, and refuse bad input
without changing anything."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from aiops.api import create_app
from aiops.config import DataDir
from aiops.models import parse_alert
from aiops.runtime import Runtime, open_runtime
from aiops.store import feedback as feedback_store
from aiops.store.tables import alerts, feedback, incidents
from topology.model import Edge, Node

T0 = 1_800_000_000.0


def alert(i: str, entity: str, at: float, name: str = "LINK_DOWN",
          end: float | None = None) -> dict[str, Any]:
    return {"id": i, "source": "nms", "name": name, "entity": entity, "severity": "major",
            "summary": f"{name} on {entity}", "starts_at": T0 + at,
            "ends_at": None if end is None else T0 + end}


def build(rt: Runtime) -> None:
    """Two separate cascades in one topology: a1,a2 around hub h1 and b1,b2 far away,
    plus a3 on h1's leaf that the engine groups with a1,a2."""
    names = ["h1", "l1", "l2", "l3", "x1", "x2", "far"]
    edges = [Edge("h1", leaf) for leaf in ("l1", "l2", "l3")]
    edges += [Edge("l1", "l2"), Edge("l2", "l3"), Edge("l3", "x1"), Edge("x1", "x2"),
              Edge("x2", "far")]
    rt.import_topology([Node(n, "device", n) for n in names], edges, "test")
    rt.engine.ingest([parse_alert(a) for a in (
        alert("a1", "l1", 0), alert("a2", "l2", 3), alert("a3", "l3", 6, name="POWER_FAIL"),
        alert("b1", "far", 5), alert("b2", "far", 9, name="PORT_FLAP"),
        alert("b2-resend", "far", 9, name="PORT_FLAP"))])


def incident_of(rt: Runtime, event_id: str) -> str:
    with rt.db.connect() as conn:
        return conn.execute(sa.select(alerts.c.incident_id)
                            .where(alerts.c.first_event_id == event_id)).scalar_one()


def snapshot(rt: Runtime) -> tuple[list[Any], list[Any], int]:
    """Everything feedback may change in the database."""
    with rt.db.connect() as conn:
        return (conn.execute(sa.select(incidents).order_by(incidents.c.id)).all(),
                conn.execute(sa.select(alerts.c.id, alerts.c.incident_id)
                             .order_by(alerts.c.id)).all(),
                conn.execute(sa.select(sa.func.count()).select_from(feedback)).scalar_one())


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    build(runtime)
    return create_app(runtime=runtime).test_client()


def test_merge_folds_incidents_and_stores_feedback(client: FlaskClient,
                                                    runtime: Runtime) -> None:
    a, b = incident_of(runtime, "a1"), incident_of(runtime, "b1")
    assert a != b and incident_of(runtime, "a3") == a
    answer = client.post(f"/api/v1/incidents/{a}/merge",
                         json={"incident_ids": [b], "author": "ann", "comment": "one fault"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    record = body["feedback"]
    assert record["kind"] == "merge" and record["author"] == "ann"
    assert record["comment"] == "one fault" and record["incidents"] == [a, b]
    assert record["created_at"].endswith("Z")
    assert record["alerts_before"] == {a: ["a1", "a2", "a3"], b: ["b1", "b2"]}
    assert record["alerts_after"] == {a: ["a1", "a2", "a3", "b1", "b2"], b: []}
    assert [i["id"] for i in body["incidents"]] == [a, b]
    merged = client.get(f"/api/v1/incidents/{b}").get_json()
    assert merged["status"] == "merged" and merged["merged_into"] == a
    assert merged["alerts"] == [] and merged["root_causes"] == []
    target = client.get(f"/api/v1/incidents/{a}").get_json()
    assert {x["id"] for x in target["alerts"]} == {"a1", "a2", "a3", "b1", "b2"}
    assert target["status"] == "open" and target["alert_count"] == 5
    # Re-ranked over all five alerts: "far" now takes part in the candidates.
    assert any("far" in (rc["node_id"] or "") for rc in target["root_causes"])
    # Live state agrees with the database.
    live = runtime.engine.incidents[a]
    assert len(live.alerts) == 5 and live.firing == 5 and b not in runtime.engine.incidents
    assert runtime.engine.index.incidents.get(a) is live and b not in runtime.engine.index.incidents


def test_split_moves_alerts_to_a_new_incident(client: FlaskClient, runtime: Runtime) -> None:
    a = incident_of(runtime, "a1")
    before = client.get(f"/api/v1/incidents/{a}").get_json()["root_causes"]
    answer = client.post(f"/api/v1/incidents/{a}/split", json={"alert_ids": ["a3"]})
    assert answer.status_code == 200, answer.get_json()
    record = answer.get_json()["feedback"]
    new = record["incidents"][1]
    assert record["kind"] == "split" and record["incident_id"] == a
    assert record["alerts_before"] == {a: ["a1", "a2", "a3"]}
    assert record["alerts_after"] == {a: ["a1", "a2"], new: ["a3"]}
    assert incident_of(runtime, "a3") == new and incident_of(runtime, "a1") == a
    split_off = client.get(f"/api/v1/incidents/{new}").get_json()
    assert split_off["status"] == "open" and split_off["alert_count"] == 1
    assert split_off["root_causes"][0]["node_id"] == "l3"
    rest = client.get(f"/api/v1/incidents/{a}").get_json()
    assert rest["alert_count"] == 2 and rest["root_causes"] != before
    # The moved alert stays live in its new incident: its clear resolves that incident.
    runtime.engine.ingest([parse_alert(alert("a3-clear", "l3", 6, name="POWER_FAIL",
                                             end=60))])
    assert client.get(f"/api/v1/incidents/{new}").get_json()["status"] == "resolved"
    assert client.get(f"/api/v1/incidents/{a}").get_json()["status"] == "open"


def test_split_by_a_folded_duplicates_event_id(client: FlaskClient, runtime: Runtime) -> None:
    b = incident_of(runtime, "b1")
    answer = client.post(f"/api/v1/incidents/{b}/split", json={"alert_ids": ["b2-resend"]})
    assert answer.status_code == 200
    assert answer.get_json()["feedback"]["alerts_after"][b] == ["b1"]


def test_feedback_survives_a_restart(client: FlaskClient, runtime: Runtime) -> None:
    a, b = incident_of(runtime, "a1"), incident_of(runtime, "b1")
    assert client.post(f"/api/v1/incidents/{a}/merge",
                       json={"incident_ids": [b]}).status_code == 200
    new = client.post(f"/api/v1/incidents/{a}/split",
                      json={"alert_ids": ["b1", "b2"]}).get_json()["feedback"]["incidents"][1]
    again = open_runtime(runtime.data_dir)
    try:
        assert set(again.engine.incidents) >= {a, new} and b not in again.engine.incidents
        assert {x.event.id for x in again.engine.incidents[new].alerts.values()} == {"b1", "b2"}
        with again.db.connect() as conn:
            records = feedback_store.feedback_records(conn)
        assert [r["kind"] for r in records] == ["merge", "split"]
    finally:
        again.close()


@pytest.mark.parametrize(("action", "body", "status", "words"), [
    ("merge", {"incident_ids": ["inc-404", "inc-405"]}, 404, ["'inc-404'", "'inc-405'"]),
    ("merge", {"incident_ids": ["SELF"]}, 400, ["with itself"]),
    ("merge", {"incident_ids": []}, 400, ["incident_ids", "non-empty"]),
    ("merge", {"incident_ids": "inc-2"}, 400, ["incident_ids", "array"]),
    ("merge", {"incident_ids": ["OTHER", "OTHER"]}, 400, ["listed twice"]),
    ("merge", {}, 400, ["'incident_ids' is required"]),
    ("merge", {"incident_ids": ["OTHER"], "author": 7}, 400, ["author"]),
    ("merge", {"incidents": ["OTHER"]}, 400, ["unknown field 'incidents'"]),
    ("merge", ["OTHER"], 400, ["JSON object"]),
    ("split", {"alert_ids": ["b1", "nope"]}, 400, ["not alerts of", "'b1'", "'nope'"]),
    ("split", {"alert_ids": ["a1", "a2", "a3"]}, 400, ["leaves it empty"]),
    ("split", {"alert_ids": [3]}, 400, ["alert_ids[0]"]),
    ("split", {"alert_ids": ["a1"], "comment": "x" * 9000}, 400, ["comment"]),
    ("split", {"alert_ids": ["a1"], "author": "x" * 257}, 400, ["'author'", "256"]),
])
def test_bad_feedback_is_refused_and_changes_nothing(client: FlaskClient, runtime: Runtime,
                                                     action: str, body: Any, status: int,
                                                     words: list[str]) -> None:
    a, b = incident_of(runtime, "a1"), incident_of(runtime, "b1")
    if isinstance(body, dict) and "incident_ids" in body and isinstance(body["incident_ids"],
                                                                        list):
        body["incident_ids"] = [{"SELF": a, "OTHER": b}.get(i, i)
                                for i in body["incident_ids"]]
    before = snapshot(runtime)
    live = {k: set(v.alerts) for k, v in runtime.engine.incidents.items()}
    answer = client.post(f"/api/v1/incidents/{a}/{action}", json=body)
    assert answer.status_code == status
    message = answer.get_json()["error"]["message"]
    assert all(w in message for w in words), message
    assert snapshot(runtime) == before
    assert {k: set(v.alerts) for k, v in runtime.engine.incidents.items()} == live


def test_feedback_not_sent_as_json_is_refused_so_no_web_page_can_send_it(
        client: FlaskClient, runtime: Runtime) -> None:
    a, b = incident_of(runtime, "a1"), incident_of(runtime, "b1")
    before = snapshot(runtime)
    answer = client.post(f"/api/v1/incidents/{a}/merge", content_type="text/plain",
                         data=json.dumps({"incident_ids": [b]}))
    assert answer.status_code == 415
    assert "Content-Type: application/json" in answer.get_json()["error"]["message"]
    assert snapshot(runtime) == before


def test_unknown_and_merged_incidents_are_named(client: FlaskClient, runtime: Runtime) -> None:
    a, b = incident_of(runtime, "a1"), incident_of(runtime, "b1")
    answer = client.post("/api/v1/incidents/inc-999/split", json={"alert_ids": ["a1"]})
    assert answer.status_code == 404 and "'inc-999'" in answer.get_json()["error"]["message"]
    assert client.post(f"/api/v1/incidents/{a}/merge",
                       json={"incident_ids": [b]}).status_code == 200
    for action, path_id, body in (("merge", a, {"incident_ids": [b]}),
                                  ("split", b, {"alert_ids": ["b1"]}),
                                  ("merge", b, {"incident_ids": [a]})):
        answer = client.post(f"/api/v1/incidents/{path_id}/{action}", json=body)
        assert answer.status_code == 400
        assert f"'{b}' was merged into '{a}'" in answer.get_json()["error"]["message"]


def test_resolved_incidents_can_be_corrected(client: FlaskClient, runtime: Runtime) -> None:
    """Review happens after the fact; those corrections are what training learns from."""
    runtime.engine.ingest([parse_alert(alert(f"{i}-clear", e, t, name=n, end=120))
                           for i, e, t, n in (("b1", "far", 5, "LINK_DOWN"),
                                              ("b2", "far", 9, "PORT_FLAP"))])
    b = incident_of(runtime, "b1")
    assert client.get(f"/api/v1/incidents/{b}").get_json()["status"] == "resolved"
    answer = client.post(f"/api/v1/incidents/{b}/split", json={"alert_ids": ["b2"]})
    assert answer.status_code == 200
    assert [i["status"] for i in answer.get_json()["incidents"]] == ["resolved", "resolved"]


def test_a_failed_write_leaves_memory_and_database_as_they_were(
        client: FlaskClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = incident_of(runtime, "a1"), incident_of(runtime, "b1")
    before = snapshot(runtime)

    def broken(conn: sa.Connection, record: dict[str, Any]) -> int:
        raise sa.exc.OperationalError("INSERT INTO feedback", {}, Exception("disk full"))

    monkeypatch.setattr("aiops.engine.engine.insert_feedback", broken)
    answer = client.post(f"/api/v1/incidents/{a}/merge", json={"incident_ids": [b]})
    assert answer.status_code == 503 and "nothing of this request" in answer.get_json()[
        "error"]["message"]
    assert snapshot(runtime) == before
    monkeypatch.undo()
    # The next request starts again from the database: b is still its own incident.
    assert client.post(f"/api/v1/incidents/{a}/split",
                       json={"alert_ids": ["a3"]}).status_code == 200
    assert len(runtime.engine.incidents[a].alerts) == 2
    assert {x.event.id for x in runtime.engine.incidents[b].alerts.values()} == {"b1", "b2"}


def test_feedback_of_an_incident_no_longer_in_memory(tmp_path) -> None:
    """Old incidents are read back from the database, corrected and stored."""
    rt = open_runtime(DataDir.from_env(tmp_path / "d"))
    try:
        build(rt)
        a, b = incident_of(rt, "a1"), incident_of(rt, "b1")
        rt.engine.incidents.clear()  # as after eviction of settled incidents
        for incident in list(rt.engine.index.incidents.values()):
            rt.engine.index.remove(incident)
        answer = create_app(runtime=rt).test_client().post(
            f"/api/v1/incidents/{a}/merge", json={"incident_ids": [b]})
        assert answer.status_code == 200
        merged = rt.engine.incidents[a]
        assert merged.firing == 5 and len(merged.alerts) == 5
        # Firing alerts keep their live objects, so a clear reaches the merged incident.
        live_b1 = next(r for r in rt.engine.dedup.active.values() if r.event.id == "b1")
        assert merged.alerts[live_b1.id] is live_b1
        rt.engine.ingest([parse_alert(alert("b1-clear", "far", 5, end=60))])
        assert merged.firing == 4 and merged.status == "open"
    finally:
        rt.close()


def test_merge_and_split_on_both_backends(db_url: str, tmp_path) -> None:
    """The engine's own calls (what the CLI uses), on SQLite and on PostgreSQL."""
    rt = open_runtime(DataDir(path=tmp_path / "d", database_url=db_url))
    try:
        build(rt)
        a, b = incident_of(rt, "a1"), incident_of(rt, "b1")
        merged = rt.engine.merge_incidents(a, [b], author="ann", comment="one fault")
        assert merged.incidents == [a, b] and merged.record["id"] >= 1
        split = rt.engine.split_incident(a, ["b1", "b2-resend"], author="bob")
        new = split.incidents[1]
        assert incident_of(rt, "b1") == incident_of(rt, "b2") == new
        with rt.db.connect() as conn:
            records = feedback_store.feedback_records(conn)
        assert [(r["kind"], r["author"]) for r in records] == [("merge", "ann"),
                                                                ("split", "bob")]
        assert records[1]["alerts_after"] == {a: ["a1", "a2", "a3"], new: ["b1", "b2"]}
    finally:
        rt.close()
