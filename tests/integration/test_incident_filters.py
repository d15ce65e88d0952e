"""Filters of GET /api/v1/incidents on SQLite and PostgreSQL: each alone, together,
paging through what they keep, an alias found by its node, LIKE wildcards taken as
text, and every bad value refused by name."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from aiops.api import create_app
from aiops.config import DataDir
from aiops.runtime import open_runtime
from topology.model import Node

T0 = 1_800_000_000
HOUR = 3600


def alert(i: str, entity: str, at: int, name: str, severity: str, summary: str = "down",
          **extra) -> dict:
    return {"id": i, "source": "nms", "name": name, "entity": entity, "severity": severity,
            "summary": summary, "starts_at": T0 + at, **extra}


# One incident each: unconnected nodes, hours apart.
ALERTS = [
    alert("bgp", "ne-15", 0, "BGP_SESSION_DOWN", "critical",
          labels={"acknowledged": "true"}),
    alert("loss", "r2", 2 * HOUR, "PACKET_LOSS", "major", summary="100% loss on uplink",
          labels={"suppressed": "maintenance"}),
    alert("cpu", "r3", 4 * HOUR, "CPU_HIGH", "warning", summary="cpu_busy",
          ends_at=T0 + 4 * HOUR + 60),
    alert("disk", "box-x", 6 * HOUR, "DISK_FULL", "minor", summary="/var full"),
    alert("fan", "r4", 8 * HOUR, "FAN_FAIL", "info"),
]


@pytest.fixture
def client(db_url: str, tmp_path: Path) -> Iterator[FlaskClient]:
    # from the environment: times after today pass (tests/conftest.py says why)
    rt = open_runtime(replace(DataDir.from_env(tmp_path / "d"), database_url=db_url))
    try:
        rt.import_topology([Node("r1", "device", "r1", {"aliases": ["ne-15"],
                                                        "fqdn": "r1.core.example.net"}),
                            Node("r2", "device", "r2"), Node("r3", "device", "r3"),
                            Node("r4", "device", "r4")],
                           [], "test")
        rt.engine.ingest([])
        app = create_app(runtime=rt).test_client()
        assert app.post("/api/v1/alerts", json=ALERTS).status_code == 200
        yield app
    finally:
        rt.close()


def names(client: FlaskClient, query: str) -> list[str]:
    """The first alert name of each incident listed (newest first) for ``query``."""
    body = client.get(f"/api/v1/incidents?{query}").get_json()
    return [item["title"].split(" on ")[0] for item in body["incidents"]]


def test_each_filter_alone(client: FlaskClient) -> None:
    assert names(client, "") == ["FAN_FAIL", "DISK_FULL", "CPU_HIGH", "PACKET_LOSS",
                                 "BGP_SESSION_DOWN"]
    assert names(client, "severity=major") == ["PACKET_LOSS", "BGP_SESSION_DOWN"]
    assert names(client, "severity=critical") == ["BGP_SESSION_DOWN"]
    assert names(client, "severity=info") == names(client, "")
    assert names(client, "entity=box-x") == ["DISK_FULL"]  # in no topology: the string
    assert names(client, "q=bgp") == ["BGP_SESSION_DOWN"]  # name, any case
    assert names(client, "q=UPLINK") == ["PACKET_LOSS"]  # summary
    assert names(client, "acknowledged=true") == ["BGP_SESSION_DOWN"]
    assert names(client, "acknowledged=false") == ["FAN_FAIL", "DISK_FULL", "CPU_HIGH",
                                                   "PACKET_LOSS"]
    assert names(client, "suppressed=true") == ["PACKET_LOSS"]
    assert "PACKET_LOSS" not in names(client, "suppressed=false")
    assert names(client, f"since={T0 + 4 * HOUR}") == ["FAN_FAIL", "DISK_FULL", "CPU_HIGH"]
    assert names(client, "until=2027-01-15T10:00:00Z") == ["BGP_SESSION_DOWN"]  # T0 + 2h
    assert names(client, "status=resolved&q=cpu") == ["CPU_HIGH"]
    assert names(client, "severity=&entity=&q=+&since=") == names(client, "")  # a blank form


def test_an_alias_finds_the_incidents_of_its_node(client: FlaskClient) -> None:
    """The alert was sent on ne-15, an alias of r1: the node's id, its FQDN (any case)
    and the alias all find it, as they would place an alert."""
    for name in ("ne-15", "r1", "R1.core.example.net"):
        body = client.get(f"/api/v1/incidents?entity={name}").get_json()
        assert [i["title"].split(" on ")[0] for i in body["incidents"]] == [
            "BGP_SESSION_DOWN"], name
        assert body["filters"]["node_id"] == "r1"


def test_like_wildcards_are_text(client: FlaskClient) -> None:
    assert names(client, "q=100%25") == ["PACKET_LOSS"]
    assert names(client, "q=%25") == ["PACKET_LOSS"]  # not "anything"
    assert names(client, "q=cpu_busy") == ["CPU_HIGH"]
    assert names(client, "q=cpu_b_sy") == []  # _ is no single-character wildcard
    assert names(client, "q=/var") == ["DISK_FULL"]


def test_filters_together_and_the_counts(client: FlaskClient) -> None:
    body = client.get("/api/v1/incidents?severity=minor&acknowledged=false").get_json()
    assert [i["title"].split(" on ")[0] for i in body["incidents"]] == ["DISK_FULL",
                                                                       "PACKET_LOSS"]
    assert body["counts"] == {"open": 4, "resolved": 1}  # all, as before
    assert body["matching"] == {"open": 2} and body["total"] == 2
    assert body["filters"]["severity"] == ["critical", "major", "minor"]
    assert names(client, "severity=major&suppressed=false&entity=ne-15&q=session"
                 ) == ["BGP_SESSION_DOWN"]
    assert names(client, "severity=major&entity=r3") == []
    body = client.get("/api/v1/incidents?status=resolved&severity=warning").get_json()
    assert body["total"] == 1 and body["matching"] == {"open": 3, "resolved": 1}


def test_paging_goes_through_what_matches(client: FlaskClient) -> None:
    seen, offset = [], 0
    while True:
        body = client.get(f"/api/v1/incidents?acknowledged=false&limit=3&offset={offset}"
                          ).get_json()
        assert body["total"] == 4
        seen += [i["title"].split(" on ")[0] for i in body["incidents"]]
        offset += 3
        if offset >= body["total"]:
            break
    assert seen == ["FAN_FAIL", "DISK_FULL", "CPU_HIGH", "PACKET_LOSS"]


@pytest.mark.parametrize("query, parameter", [
    ("severity=high", "severity"), ("severity=Major", "severity"),
    ("acknowledged=yes", "acknowledged"), ("suppressed=1", "suppressed"),
    ("since=yesterday", "since"), ("until=-5", "until"),
    (f"since={T0}&until={T0}", "until"), ("q=" + "x" * 201, "q"),
    ("entity=" + "x" * 513, "entity"), ("q=a%00b", "q"), ("entity=%00", "entity"),
])
def test_bad_values_are_refused_by_name(client: FlaskClient, query: str,
                                        parameter: str) -> None:
    r = client.get(f"/api/v1/incidents?{query}")
    assert r.status_code == 400, query
    error = r.get_json()["error"]
    assert f"'{parameter}'" in error["message"] and error.get("field") == parameter, error
