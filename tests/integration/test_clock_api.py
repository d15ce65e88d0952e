"""Live ingestion over the API against the wall clock: an alert stamped far ahead of
its arrival (a device that lost its time, an epoch typed wrong) is taken as arriving
now, the answer's ``clock_ahead`` says so, and today's incidents go on taking alerts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from aiops.api import create_app
from aiops.config import DataDir
from aiops.runtime import Runtime, open_runtime
from aiops.store.tables import alerts, raw_events
from aiops.timeutil import to_rfc3339
from topology.model import Edge, Node

YEARS = 4 * 365 * 86400.0


@pytest.fixture
def bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """The default bound, which tests/conftest.py lifts for the other tests."""
    monkeypatch.delenv("AIOPS_MAX_CLOCK_AHEAD", raising=False)
    rt = open_runtime(DataDir.from_env(tmp_path / "data"))
    rt.import_topology([Node("r1", "device", "r1"), Node("r2", "device", "r2")],
                       [Edge("r1", "r2")], "test")
    yield rt
    rt.close()


@pytest.fixture
def client(bounded: Runtime) -> FlaskClient:
    return create_app(runtime=bounded).test_client()


def alert(i: str, entity: str, at: float) -> dict:
    return {"id": i, "source": "nms", "name": "LINK_DOWN", "entity": entity,
            "severity": "major", "summary": "down", "starts_at": at}


def starts_of(rt: Runtime, event_id: str) -> float:
    with rt.db.connect() as conn:
        return conn.execute(sa.select(alerts.c.starts_at)
                            .where(alerts.c.first_event_id == event_id)).scalar_one()


def test_an_alert_years_ahead_is_taken_as_arriving_now_and_said_so(
        client: FlaskClient, bounded: Runtime) -> None:
    now = time.time()
    r = client.post("/api/v1/alerts", json=[alert("a1", "r1", now - 5),
                                            alert("z1", "r2", now + YEARS)])
    assert r.status_code == 200, r.data
    body = r.get_json()
    assert body["accepted"] == 2 and len(body["incidents"]) == 1
    (item,) = body["clock_ahead"]
    assert (item["index"], item["id"], item["sent_starts_at"]) == (
        1, "z1", to_rfc3339(now + YEARS))
    assert now <= starts_of(bounded, "z1") <= time.time()
    assert bounded.engine.clock <= time.time() + 30
    with bounded.db.connect() as conn:
        payload = conn.execute(sa.select(raw_events.c.payload)
                               .where(raw_events.c.event_id == "z1")).scalar_one()
    assert payload["sent"]["starts_at"] == to_rfc3339(now + YEARS)
    # The next real alert next to r1 joins today's incident.
    r = client.post("/api/v1/alerts", json=alert("a2", "r2", time.time()))
    assert r.get_json()["incidents"] == body["incidents"]
    assert r.get_json()["clock_ahead"] == []


def test_alertmanager_and_mapped_webhooks_are_bounded_too(
        client: FlaskClient, bounded: Runtime) -> None:
    later = to_rfc3339(time.time() + YEARS)
    webhook = {"version": "4", "status": "firing", "receiver": "aiops", "alerts": [
        {"status": "firing", "labels": {"alertname": "InterfaceDown", "device": "r1"},
         "annotations": {}, "startsAt": later, "endsAt": "0001-01-01T00:00:00Z",
         "fingerprint": "f1"}]}
    r = client.post("/api/v1/webhooks/alertmanager", json=webhook)
    assert r.status_code == 200, r.data
    assert [c["sent_starts_at"] for c in r.get_json()["clock_ahead"]] == [later]
    nagios = {"type": "PROBLEM", "host": "r2", "check": "BGP peer", "state": "CRITICAL",
              "output": "peer Idle", "since": str(int(time.time() + YEARS))}
    r = client.post("/api/v1/webhooks/nagios", json=nagios)
    assert r.status_code == 200, r.data
    assert [c["index"] for c in r.get_json()["clock_ahead"]] == [0]
    assert bounded.engine.clock <= time.time() + 30


def test_the_answer_lists_no_rewrite_for_alerts_on_time(client: FlaskClient) -> None:
    r = client.post("/api/v1/alerts", json=alert("a1", "r1", time.time()))
    assert r.get_json()["clock_ahead"] == []
