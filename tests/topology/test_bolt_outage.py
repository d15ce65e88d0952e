"""A graph server that goes away mid-import: the error is reported and the stored
topology is as it was.

The server is a FalkorDB of its own (not the session one), killed with SIGKILL while
an import is staging its rows, or just before the one statement that publishes them.
Just before the kill an RDB snapshot is taken, so the restarted server holds the
staging rows of the half-done import: the test shows they are invisible to the
topology, not merely lost with the server's memory.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.topology.falkordb_server import FalkorDBServer
from tests.topology.test_conformance import random_topology
from topology import neo4j_store
from topology.neo4j_store import Neo4jGraphStore
from topology.store import GraphStoreError

pytestmark = pytest.mark.falkordb

OPTIONS = {"retry_time": 3.0, "connect_timeout": 2.0}
WAIT = 60.0  # bound on every wait below


@pytest.fixture(scope="module")
def server() -> Iterator[FalkorDBServer]:
    server = FalkorDBServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


def staged(server: FalkorDBServer, label: str) -> int:
    return server.query(f"MATCH (s:{label}) RETURN count(s)")[0][0]


@pytest.mark.parametrize("kill_before", [
    pytest.param((neo4j_store.STAGE_EDGES, 20), id="while-staging-edges"),
    pytest.param((neo4j_store.PUBLISH, 1), id="before-the-publishing-statement"),
])
def test_server_killed_mid_import_leaves_the_topology_as_it_was(
        server: FalkorDBServer, monkeypatch: pytest.MonkeyPatch,
        kill_before: tuple[str, int]) -> None:
    store = Neo4jGraphStore.connect(server.url, **OPTIONS)
    try:
        store.graph.write("MATCH (n) DETACH DELETE n")
        base_nodes, base_edges = random_topology(seed=1, n=60, m=90)
        store.upsert(base_nodes, base_edges, source="base", seen_at=100.0)
        before = store.load()

        # Kill the server from inside the import, right before the chosen statement
        # (the n-th of its kind): deterministic, unlike a timer racing the import.
        query, nth = kill_before
        sent = {"n": 0}
        write = store.graph.write

        def dying_write(text: str, **params: object) -> list[dict]:
            if text == query:
                sent["n"] += 1
                if sent["n"] == nth:
                    server.save()  # the snapshot holds the staging rows written so far
                    server.kill()
            return write(text, **params)

        monkeypatch.setattr(store.graph, "write", dying_write)
        nodes, edges = random_topology(seed=2, n=5_000, m=10_000, prefix="big")
        started = time.monotonic()
        with pytest.raises(GraphStoreError, match="unreachable"):
            store.upsert(nodes, edges, source="big", seen_at=200.0)
        assert time.monotonic() - started < WAIT
        monkeypatch.setattr(store.graph, "write", write)

        url = server.url
        server.start()
        if server.url != url:  # the old ports were taken meanwhile
            store.close()
            store = Neo4jGraphStore.connect(server.url, **OPTIONS)
        assert staged(server, "ImportEdge") > 0  # the snapshot holds the half import...
        after = store.load()  # ...and the topology does not show it
        assert store.counts() == (60, 90)
        assert set(after.nodes) == set(before.nodes)
        assert {e.key for e in after.edges} == {e.key for e in before.edges}

        # The store works on; a later upsert removes the stale staging rows.
        monkeypatch.setattr(neo4j_store, "STALE_STAGING", -1.0)
        store.upsert(nodes[:10], [], source="again", seen_at=300.0)
        assert store.counts() == (70, 90)
        assert staged(server, "ImportNode") == 0 and staged(server, "ImportEdge") == 0
    finally:
        store.close()
