"""The HTTP API: ingestion, reads, OpenAPI, and every kind of bad input."""

from __future__ import annotations

import http.client
import json
import re
import threading

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from aiops.api import create_app
from aiops.runtime import Runtime
from aiops.store.tables import alerts, raw_events
from tests.conftest import DATA, import_linked, load_demo
from topology.model import Edge, Node

T0 = 1_800_000_000


def alert(i: str, entity: str = "r1", at: int = 0, **extra) -> dict:
    return {"id": i, "source": "nms", "name": "LINK_DOWN", "entity": entity,
            "severity": "major", "summary": "down", "starts_at": T0 + at, **extra}


@pytest.fixture
def client(runtime: Runtime) -> FlaskClient:
    runtime.import_topology([Node("r1", "device", "r1"), Node("r2", "device", "r2")],
                            [Edge("r1", "r2")], "test")
    return create_app(runtime=runtime).test_client()


def stored(runtime: Runtime) -> tuple[int, int]:
    with runtime.db.connect() as conn:
        return (conn.execute(sa.select(sa.func.count()).select_from(alerts)).scalar(),
                conn.execute(sa.select(sa.func.count()).select_from(raw_events)).scalar())


def error_of(response) -> str:
    assert response.is_json, response.data
    return response.get_json()["error"]["message"]


def test_single_batch_and_wrapped_forms(client: FlaskClient, runtime: Runtime) -> None:
    r = client.post("/api/v1/alerts", json=alert("a1"))
    assert r.status_code == 200 and r.get_json()["accepted"] == 1
    r = client.post("/api/v1/alerts", json=[alert("a2", "r2", 5), alert("a3", "r1", 9)])
    assert r.get_json()["accepted"] == 2
    r = client.post("/api/v1/alerts", json={"alerts": [alert("a4", "r2", 12)]})
    body = r.get_json()
    assert body["dispositions"] == {"duplicate": 1} and len(body["incidents"]) == 1
    assert stored(runtime) == (2, 4)


def test_incident_endpoints(client: FlaskClient) -> None:
    client.post("/api/v1/alerts", json=[alert("a1"), alert("a2", "r2", 3)])
    listing = client.get("/api/v1/incidents").get_json()
    assert listing["counts"] == {"open": 1}
    inc_id = listing["incidents"][0]["id"]
    detail = client.get(f"/api/v1/incidents/{inc_id}").get_json()
    assert [a["id"] for a in detail["alerts"]] == ["a1", "a2"]
    graph = client.get(f"/api/v1/incidents/{inc_id}/topology").get_json()
    assert {n["id"] for n in graph["nodes"]} == {"r1", "r2"}
    assert all(n["alarming"] for n in graph["nodes"])
    node = client.get("/api/v1/topology/nodes/r1").get_json()
    assert {n["id"] for n in node["neighbourhood"]["nodes"]} == {"r1", "r2"}
    assert client.get("/api/v1/topology").get_json() == {"nodes": 2, "edges": 1}


def test_incident_alerts_say_why_they_are_there(client: FlaskClient) -> None:
    """The API gives each alert its placement and the sentence; the view shows it."""
    client.post("/api/v1/alerts", json=[alert("a1"), alert("a2", "r2", 3)])
    inc_id = client.get("/api/v1/incidents").get_json()["incidents"][0]["id"]
    detail = client.get(f"/api/v1/incidents/{inc_id}").get_json()
    first, second = detail["alerts"]
    assert first["placement"]["decision"] == "opened"
    assert first["why_here"] == "opened: no open incident within reach"
    assert second["placement"]["decision"] == "joined"
    assert second["placement"]["via"]["alert"] == "a1"
    assert second["why_here"].startswith(
        f"joined {inc_id}: 3 s after LINK_DOWN on r1, 1 hop away (closeness 0.80")
    page = client.get(f"/incidents/{inc_id}").get_data(as_text=True)
    cells = re.findall(r'<td class="why-here">(.*?)</td>', page)
    assert cells == [first["why_here"], second["why_here"]]


def test_alertmanager_webhook_is_idempotent(client: FlaskClient, runtime: Runtime) -> None:
    firing = (DATA / "webhook-firing.json").read_bytes()
    resolved = (DATA / "webhook-resolved.json").read_bytes()
    replies = [client.post("/api/v1/webhooks/alertmanager", data=firing,
                           content_type="application/json")
               for _ in range(3)]  # at-least-once delivery: the same group again and again
    assert [r.status_code for r in replies] == [200, 200, 200]
    assert stored(runtime) == (1, 3)
    assert replies[0].get_json()["unresolved_entities"] == ["sw-core-01"]
    assert replies[2].get_json()["dispositions"] == {"duplicate": 1}
    client.post("/api/v1/webhooks/alertmanager", data=resolved, content_type="application/json")
    [inc] = client.get("/api/v1/incidents?status=resolved").get_json()["incidents"]
    assert inc["alert_count"] == 1
    unresolved = client.get("/api/v1/alerts/unresolved").get_json()
    assert unresolved["count"] == 1 and unresolved["alerts"][0]["entity"] == "sw-core-01"


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b"", 400, "request body is empty"),
        (b"   \n", 400, "request body is empty"),
        (b'{"id": "a1",', 400, "malformed JSON"),
        (b"\xff\xfe{}", 400, "not valid UTF-8"),
        (b"42", 400, "expected an alert object or an array"),
        (b"[]", 400, "no alerts in request"),
        (json.dumps([alert("a1"), {k: v for k, v in alert("a2").items() if k != "entity"}])
         .encode(), 400, "alerts[1]: field 'entity' is required"),
        (json.dumps([alert("a1", severity=3)]).encode(), 400,
         "alerts[0]: field 'severity' must be a string, got a number"),
        (json.dumps([alert("a1"), alert("a1", at=5)]).encode(), 400,
         "alerts[1]: duplicate alert id 'a1' (also at alerts[0])"),
    ],
)
def test_bad_input_is_refused_and_nothing_stored(client: FlaskClient, runtime: Runtime,
                                                 body: bytes, status: int, message: str) -> None:
    r = client.post("/api/v1/alerts", data=body, content_type="application/json")
    assert r.status_code == status
    assert message in error_of(r)
    assert stored(runtime) == (0, 0)


def test_huge_batch_and_huge_body(runtime: Runtime) -> None:
    app = create_app({"AIOPS_MAX_BATCH": 100, "MAX_CONTENT_LENGTH": 64 * 1024},
                     runtime=runtime)
    client = app.test_client()
    r = client.post("/api/v1/alerts", json=[alert(f"a{i}") for i in range(101)])
    assert r.status_code == 413 and "batch of 101 alerts is over the limit of 100" in error_of(r)
    big = alert("big", summary="x" * 70_000)
    r = client.post("/api/v1/alerts", json=big)
    assert r.status_code == 413 and "larger than the limit" in error_of(r)
    assert stored(runtime) == (0, 0)


def test_unknown_things_are_404_with_names(client: FlaskClient) -> None:
    r = client.get("/api/v1/incidents/inc-404")
    assert r.status_code == 404 and "inc-404" in error_of(r)
    r = client.get("/api/v1/topology/nodes/nowhere")
    assert r.status_code == 404 and "nowhere" in error_of(r)
    r = client.get("/api/v1/no-such-endpoint")
    assert r.status_code == 404 and r.is_json
    r = client.get("/api/v1/incidents?limit=zero")
    assert r.status_code == 400 and "'limit' must be an integer" in error_of(r)
    r = client.get("/api/v1/incidents?status=sleeping")
    assert r.status_code == 400 and "'status' must be one of" in error_of(r)
    r = client.delete("/api/v1/incidents")
    assert r.status_code == 405 and r.is_json
    # RFC 9110: a 405 names what the resource allows, on the API and on the view's pages
    assert set(r.headers["Allow"].split(", ")) >= {"GET", "HEAD"}
    r = client.post("/incidents/inc-1")
    assert r.status_code == 405 and "GET" in r.headers["Allow"]


def test_openapi_describes_every_api_route(client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    app_routes = set()
    for rule in client.application.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
            app_routes.add(path)
    assert app_routes == set(spec["paths"])


def test_html_views_render(runtime: Runtime) -> None:
    load_demo(runtime, faults=4)
    client = create_app(runtime=runtime).test_client()
    page = client.get("/")
    assert page.status_code == 200 and b"open-incidents" in page.data
    with runtime.db.connect() as conn:
        inc_id = conn.execute(sa.text("SELECT id FROM incidents LIMIT 1")).scalar()
    detail = client.get(f"/incidents/{inc_id}")
    assert detail.status_code == 200
    assert b'class="timeline"' in detail.data and b'class="topology"' in detail.data
    assert client.get("/incidents/inc-nope").status_code == 404


def test_a_text_model_that_cannot_load_is_a_503_that_stores_nothing(
        client: FlaskClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    from aiops.learning import embeddings

    assert client.post("/api/v1/alerts", json=alert("a1")).status_code == 200
    assert client.get("/api/v1/health").get_json()["text_similarity"] == "on"

    def missing() -> None:
        raise embeddings.EmbeddingsUnavailable("text similarity needs the 'ml' extra")

    monkeypatch.setattr(embeddings, "_load_model", missing)
    # A new template needs the model; the one of a1 is cached and would not.
    r = client.post("/api/v1/alerts", json=[alert("a2", "r2", 5, name="FAN_FAIL")])
    assert r.status_code == 503
    message = error_of(r)
    assert "text model unavailable" in message and "nothing of this request was stored" in message
    assert "AIOPS_TEXT_SIMILARITY=off" in message
    assert stored(runtime) == (1, 1)  # a1 kept, a2 not half-stored
    monkeypatch.undo()
    r = client.post("/api/v1/alerts", json=[alert("a2", "r2", 5, name="FAN_FAIL")])
    assert r.status_code == 200 and stored(runtime) == (2, 2)


def test_a_number_longer_than_python_reads_is_a_400(client: FlaskClient,
                                                     runtime: Runtime) -> None:
    """json.loads raises a plain ValueError past sys.get_int_max_str_digits(): it was a 500."""
    body = json.dumps(alert("a1")).replace(f"{T0}", "9" * 5000).encode()
    for path in ("/api/v1/alerts", "/api/v1/webhooks/nagios"):
        r = client.post(path, data=body, content_type="application/json")
        assert r.status_code == 400 and "a number with more than 4300 digits" in error_of(r)
    assert stored(runtime) == (0, 0)


def test_a_lone_surrogate_escape_is_a_400_naming_where(client: FlaskClient,
                                                       runtime: Runtime) -> None:
    """"\\ud800" is valid JSON but no character: the database refused the write (a 500)."""
    escaped = '"\\ud800 down"'
    body = json.dumps([alert("a1"), alert("a2", summary="X")]).replace('"X"', escaped)
    r = client.post("/api/v1/alerts", data=body.encode(), content_type="application/json")
    assert r.status_code == 400
    assert error_of(r).startswith("string at [1].summary holds a lone UTF-16 surrogate")
    assert r.get_json()["error"]["field"] == "[1].summary"
    label_key = json.dumps(alert("a3", labels={"K": "v"})).replace('"K"', '"\\udc00"')
    r = client.post("/api/v1/alerts", data=label_key.encode(), content_type="application/json")
    assert r.status_code == 400 and "lone UTF-16 surrogate" in error_of(r)
    assert stored(runtime) == (0, 0)
    # a pair is one character and is kept
    pair = json.dumps(alert("a4", summary="X")).replace('"X"', '"\\ud83d\\ude00"')
    r = client.post("/api/v1/alerts", data=pair.encode(), content_type="application/json")
    assert r.status_code == 200
    assert client.get("/api/v1/incidents").get_json()["counts"] == {"open": 1}


def test_an_alerts_field_that_is_not_an_array_is_named(client: FlaskClient,
                                                       runtime: Runtime) -> None:
    """{"alerts": null} was read as one alert and refused for a missing 'severity'."""
    for value in (None, {"id": "a1"}, "a1"):
        r = client.post("/api/v1/alerts", json={"alerts": value})
        assert r.status_code == 400
        assert error_of(r) == "field 'alerts' must be an array of alerts"
        assert r.get_json()["error"]["field"] == "alerts"
    assert stored(runtime) == (0, 0)


@pytest.mark.parametrize("starts_at", [1e12, 1e20, "0001-01-01T00:00:00+14:00",
                                       "9999-12-31T23:59:59-05:00"])
def test_times_no_rfc_3339_can_write_are_a_400(client: FlaskClient, runtime: Runtime,
                                               starts_at: object) -> None:
    """Past year 9999 or before year 1 in UTC: accepted, then failed writing the raw
    event's RFC 3339 copy (a 500)."""
    r = client.post("/api/v1/alerts", json=[alert("a1"), alert("a2", starts_at=starts_at)])
    assert r.status_code == 400
    assert error_of(r).startswith("alerts[1]: field 'starts_at' must be from "
                                  "0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z")
    r = client.post("/api/v1/alerts", json=alert("a3", ends_at=starts_at))
    assert r.status_code == 400 and "field 'ends_at' must be from" in error_of(r)
    assert stored(runtime) == (0, 0)


def test_a_chunked_body_over_the_limit_is_a_413(runtime: Runtime) -> None:
    """Without Content-Length werkzeug cuts the body at the limit: it was refused as
    malformed JSON at the limit's column, or accepted when the cut fell in spaces."""
    from werkzeug.serving import make_server

    from tests.conftest import free_port

    limit = 4096
    port = free_port()
    server = make_server("127.0.0.1", port, create_app({"MAX_CONTENT_LENGTH": limit},
                                                       runtime=runtime), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def send_chunked(body: bytes) -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.putrequest("POST", "/api/v1/alerts")
            conn.putheader("Content-Type", "application/json")
            conn.putheader("Transfer-Encoding", "chunked")
            conn.endheaders()
            for i in range(0, len(body), 1000):
                part = body[i:i + 1000]
                conn.send(b"%x\r\n%s\r\n" % (len(part), part))
            conn.send(b"0\r\n\r\n")
            answer = conn.getresponse()
            return answer.status, json.loads(answer.read())
        finally:
            conn.close()

    try:
        padded = json.dumps(alert("a1")).encode() + b" " * limit  # valid once cut
        status, body = send_chunked(padded)
        assert status == 413, body
        assert "larger than the limit of 4096 bytes" in body["error"]["message"]
        status, body = send_chunked(json.dumps([alert(f"a{i}") for i in range(40)]).encode())
        assert status == 413, body
        assert stored(runtime) == (0, 0)
        exact = json.dumps(alert("a1")).encode()
        status, body = send_chunked(exact + b" " * (limit - len(exact)))  # at the limit
        assert status == 200 and body["accepted"] == 1
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_playbook_run_ids_past_the_database_integer_are_404(client: FlaskClient) -> None:
    """SQLite raised OverflowError (a 500), PostgreSQL 'integer out of range' (a 503)."""
    for run_id in ("2147483648", "99999999999999999999999"):
        r = client.get(f"/api/v1/playbook-runs/{run_id}")
        assert r.status_code == 404 and f"no playbook run with id {run_id}" in error_of(r)


@pytest.mark.parametrize("version", ["\u00b2", "9" * 5000])
def test_a_model_version_int_cannot_read_is_a_400(client: FlaskClient, version: str) -> None:
    """str.isdigit passed '²' (and any length) on to int(): a 500."""
    for path in ("/api/v1/models/correlation/shadow?since=0&until=1&version=",
                 "/api/v1/models/correlation/drift?version="):
        r = client.get(path + version)
        assert r.status_code == 400 and r.get_json()["error"]["field"] == "version"
        assert "query parameter 'version' must be an integer" in error_of(r)


@pytest.mark.parametrize(("change", "field"), [
    ({"labels": {"alertname": "x" * 300}}, "name"),
    ({"fingerprint": "f" * 300}, "id"),
    ({"labels": {"alertname": "x", "port": "a\u0000b"}}, "labels.port"),
    ({"annotations": {"summary": "s" * 9000}}, "summary"),
])
def test_alertmanager_alerts_meet_the_canonical_limits(client: FlaskClient, runtime: Runtime,
                                                       change: dict, field: str) -> None:
    """The connector built alerts without the canonical checks: PostgreSQL refused a
    long one as a 503 'storage unavailable'; SQLite kept it."""
    payload = json.loads((DATA / "webhook-firing.json").read_text())
    payload["alerts"][0].update(change)
    r = client.post("/api/v1/webhooks/alertmanager", json=payload)
    assert r.status_code == 400 and r.get_json()["error"]["field"] == field
    assert error_of(r).startswith("alerts[0]: ")
    assert "canonical alert made of this Alertmanager alert" in error_of(r)
    assert stored(runtime) == (0, 0)


def test_the_pages_say_errors_as_pages_and_the_api_as_json(
        client: FlaskClient, runtime: Runtime) -> None:
    """An unknown page is our page with the way back (it was werkzeug's bare 404), and a
    database gone bad while an engineer opens the list is a 503 page, not raw JSON."""
    r = client.get("/no-such-page")
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert b"Back to the incident list" in r.data
    assert client.get("/api/v1/no-such-thing").get_json()["error"]["status"] == 404
    assert client.post("/api/v1/alerts", json=alert("a1")).status_code == 200
    database = runtime.data_dir.path / "aiops.db"
    runtime.db.dispose()
    with open(database, "r+b") as handle:  # the same file, its header overwritten
        handle.write(b"\xff" * 4096)
    r = client.get("/")
    assert r.status_code == 503 and r.mimetype == "text/html"
    assert b"storage unavailable" in r.data and b"Back to the incident list" in r.data
    r = client.get("/api/v1/incidents")
    assert r.status_code == 503 and "storage unavailable" in r.get_json()["error"]["message"]


def test_the_incident_picture_draws_devices_not_their_ports(runtime: Runtime) -> None:
    # As LLDP discovery stores a link: two port nodes part_of their devices and
    # connected_to each other, and the devices connected_to each other naming the ports.
    import_linked(runtime, ["r1", "r2", "r3"],
                  [("r1", "Gi0/1", "r2", "Gi0/1"), ("r2", "Gi0/2", "r3", "Gi0/1")])
    client = create_app(runtime=runtime).test_client()
    client.post("/api/v1/alerts", json=[alert("a1", "r1"),
                                        alert("a2", "r2", 1)])
    inc_id = client.get("/api/v1/incidents").get_json()["incidents"][0]["id"]
    graph = client.get(f"/api/v1/incidents/{inc_id}/topology").get_json()
    assert {n["id"] for n in graph["nodes"]} == {"r1", "r2", "r3"}
    link = next(e for e in graph["edges"] if {e["source"], e["target"]} == {"r1", "r2"})
    assert link["attrs"]["ports"] == ["r1:Gi0/1", "r2:Gi0/1"]
    # the stored topology still has the ports
    node = client.get("/api/v1/topology/nodes/r1").get_json()
    assert "r1:Gi0/1" in {n["id"] for n in node["neighbourhood"]["nodes"]}
