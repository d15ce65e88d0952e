"""PostgreSQL goes away mid-stream: the request fails cleanly, nothing is half-stored,
and ingestion carries on once the server is back."""

from __future__ import annotations

import pytest

from aiops.api import create_app
from aiops.config import DataDir
from aiops.runtime import open_runtime
from aiops.store import queries
from tests.conftest import free_port
from tests.pg_server import PostgresServer
from topology.model import Edge, Node

T0 = 1_800_000_000


def alert(i: str, entity: str, at: int) -> dict:
    return {"id": i, "source": "nms", "name": "LINK_DOWN", "entity": entity,
            "severity": "major", "summary": "down", "starts_at": T0 + at}


@pytest.mark.postgres
def test_database_outage_and_recovery(tmp_path) -> None:
    server = PostgresServer(free_port())
    server.start()
    try:
        rt = open_runtime(DataDir(path=tmp_path / "d", database_url=server.url))
        rt.import_topology([Node(n, "device", n) for n in ("r1", "r2", "r3")],
                           [Edge("r1", "r2"), Edge("r2", "r3")], "test")
        client = create_app(runtime=rt).test_client()
        assert client.post("/api/v1/alerts", json=alert("a1", "r1", 0)).status_code == 200

        server.stop()
        r = client.post("/api/v1/alerts", json=[alert("a2", "r2", 2), alert("a3", "r3", 3)])
        assert r.status_code == 503
        assert "nothing of this request was stored" in r.get_json()["error"]["message"]

        server.start()
        rt.db.dispose()  # drop pooled connections to the old server process
        r = client.post("/api/v1/alerts", json=[alert("a2", "r2", 2), alert("a3", "r3", 3)])
        assert r.status_code == 200, r.get_json()
        with rt.db.connect() as conn:
            [inc] = queries.list_incidents(conn)
            detail = queries.get_incident(conn, inc["id"])
        assert [a["id"] for a in detail["alerts"]] == ["a1", "a2", "a3"]
        rt.close()
    finally:
        server.remove()
