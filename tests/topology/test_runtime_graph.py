"""The data dir's choice of topology store (--graph-url) and the engine's sink hook.

Skipped until the wiring is in (``DataDir.graph_url``, ``Engine(sinks=...)``): it lives
in aiops/config.py, runtime.py and engine/engine.py, outside the topology package.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aiops.config import DataDir
from aiops.models import parse_alert
from aiops.runtime import open_runtime
from aiops.sinks.graph import IncidentGraphSink
from tests.topology.falkordb_server import FalkorDBServer
from topology.embedded import EmbeddedGraphStore
from topology.model import Edge, Node
from topology.neo4j_store import Neo4jGraphStore

NOW = 1_800_000_000.0

pytestmark = pytest.mark.skipif(
    "graph_url" not in DataDir.__dataclass_fields__,
    reason="--graph-url wiring (DataDir.graph_url, Engine sinks) not applied yet")


@pytest.fixture(scope="module")
def server() -> Iterator[FalkorDBServer]:
    """A server of its own: the runtime opens and closes its own driver, and a closed
    Bolt connection can stall the next handshake on a shared server."""
    server = FalkorDBServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def alert(i: str, entity: str, at: float) -> object:
    return parse_alert({"id": i, "source": "nms", "name": "LINK_DOWN", "entity": entity,
                        "severity": "major", "summary": "down", "starts_at": NOW + at})


@pytest.mark.falkordb
def test_graph_url_keeps_topology_and_incidents_in_the_graph(server: FalkorDBServer,
                                                             tmp_path: Path) -> None:
    rt = open_runtime(DataDir(path=tmp_path / "d", graph_url=server.url))
    try:
        assert isinstance(rt.topology_store, Neo4jGraphStore)
        rt.import_topology([Node(n, "device", n) for n in ("a", "b", "c")],
                           [Edge("a", "b"), Edge("b", "c")], "test")
        rt.engine.ingest([alert("x1", "a", 0), alert("x2", "c", 4)])
        read = rt.topology_store.graph.read
        touched = read("MATCH (i:Incident)-[:TOUCHED]->(n:Node) RETURN i.id AS i, n.id AS n "
                       "ORDER BY n")
        assert [r["n"] for r in touched] == ["a", "c"]
        assert read("MATCH (a:Alert)-[:ABOUT]->(:Node) RETURN count(a) AS n") == [{"n": 2}]
        assert rt.engine.stats()["sink_failures"] == 0
    finally:
        rt.close()
    # The embedded tables of the data dir were not used.
    local = open_runtime(DataDir(path=tmp_path / "d"))
    try:
        assert isinstance(local.topology_store, EmbeddedGraphStore)
        assert local.topology_store.counts() == (0, 0)
        # No graph to link incidents into (other sinks, such as ticket linking, may run).
        assert not any(isinstance(s, IncidentGraphSink) for s in local.engine.sinks)
    finally:
        local.close()


def test_a_failing_sink_does_not_fail_ingestion(tmp_path: Path) -> None:
    class Broken:
        def publish(self, incidents, alerts) -> None:
            raise RuntimeError("graph server on fire")

    rt = open_runtime(DataDir(path=tmp_path / "d"))
    try:
        rt.engine.sinks.append(Broken())
        result = rt.engine.ingest([alert("x1", "anything", 0)])
        assert result.accepted == 1
        assert rt.engine.stats()["sink_failures"] == 1
    finally:
        rt.close()
