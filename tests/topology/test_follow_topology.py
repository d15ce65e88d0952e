"""A running engine (``aiops serve``) picks up a topology another process wrote.

A Celery discovery worker or ``aiops topology import`` writes the stored topology
while the server runs; before, the server kept grouping against the topology it
started with until restarted."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from aiops.api import create_app
from aiops.config import DataDir
from aiops.runtime import open_runtime


def _alert(i: str, entity: str, at: float) -> dict[str, object]:
    return {"id": i, "source": "nms", "name": "LINK_DOWN", "entity": entity,
            "severity": "major", "summary": f"link down on {entity}", "starts_at": at}


def test_server_follows_topology_imported_by_another_process(tmp_path: Path) -> None:
    data = tmp_path / "data"
    runtime = open_runtime(DataDir(path=data))
    try:
        client = create_app(runtime=runtime).test_client()
        now = time.time()
        before = client.post("/api/v1/alerts", json=[_alert("b1", "edge-1", now - 30)])
        assert before.json["unresolved_entities"] == ["edge-1"]
        revision = runtime.topology_revision

        # another process imports a topology into the same data dir
        topo = tmp_path / "topo.json"
        topo.write_text(json.dumps({
            "nodes": [{"id": "edge-1", "kind": "device", "name": "edge-1"},
                      {"id": "core-1", "kind": "device", "name": "core-1"}],
            "edges": [{"source": "edge-1", "target": "core-1", "kind": "connected_to"}]}))
        done = subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(data),
                               "topology", "import", str(topo)],
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr

        # within the polling interval the server does not look
        runtime.topology_checked_at = time.monotonic()
        assert runtime.follow_topology() is False
        runtime.topology_checked_at = 0.0  # the interval has passed
        noticed = client.post("/api/v1/alerts", json=[_alert("n1", "edge-1", now - 10)])
        assert noticed.status_code == 200
        # the request that noticed did not wait: the reload runs in the background
        assert runtime.topology_reload is not None
        runtime.topology_reload.join(timeout=60)
        after = client.post("/api/v1/alerts", json=[_alert("a1", "edge-1", now),
                                                    _alert("a2", "core-1", now + 2)])
        assert after.status_code == 200, after.json
        assert after.json["unresolved_entities"] == []
        assert runtime.topology_revision != revision
        assert set(runtime.current_topology().nodes) == {"edge-1", "core-1"}
        # linked devices now: one incident for both alerts
        assert len(after.json["incidents"]) == 1
        # nothing changed since: the next look reloads nothing
        assert runtime.follow_topology(every=0) is False
    finally:
        runtime.close()


def test_failed_background_reload_keeps_topology_and_retries(tmp_path: Path,
                                                              monkeypatch) -> None:
    from topology.embedded import EmbeddedGraphStore
    from topology.model import Edge, Node
    from topology.store import GraphStoreError

    runtime = open_runtime(DataDir(path=tmp_path / "data"))
    try:
        runtime.import_topology([Node("a", "device", "a")], [], "test")
        loaded = runtime.topology_revision
        # "another process": its own store object on the same database
        EmbeddedGraphStore(runtime.db).upsert(
            [Node("a", "device", "a"), Node("b", "device", "b")], [Edge("a", "b")], "other")
        real_history = runtime.topology_store.history

        def unreachable():
            raise GraphStoreError("graph server went away")

        monkeypatch.setattr(runtime.topology_store, "history", unreachable)
        assert runtime.follow_topology(every=0) is True
        runtime.topology_reload.join(timeout=60)
        assert set(runtime.current_topology().nodes) == {"a"}  # the previous one stays
        assert runtime.topology_revision == loaded
        monkeypatch.setattr(runtime.topology_store, "history", real_history)
        assert runtime.follow_topology(every=0) is True  # tried again
        runtime.topology_reload.join(timeout=60)
        assert set(runtime.current_topology().nodes) == {"a", "b"}
        assert runtime.follow_topology(every=0) is False
    finally:
        runtime.close()


def test_ingest_goes_on_when_the_topology_revision_cannot_be_read(tmp_path: Path,
                                                                   monkeypatch) -> None:
    """A graph server that is away must not cost the alerts of the request that
    happened to poll it."""
    from topology.store import GraphStoreError

    runtime = open_runtime(DataDir(path=tmp_path / "data"))
    try:
        def away() -> int:
            raise GraphStoreError("graph server went away")

        monkeypatch.setattr(runtime.topology_store, "revision", away)
        runtime.topology_checked_at = 0.0
        client = create_app(runtime=runtime).test_client()
        answer = client.post("/api/v1/alerts", json=[_alert("g1", "edge-1", time.time())])
        assert answer.status_code == 200, answer.json
        assert answer.json["accepted"] == 1
        assert runtime.topology_reload is None
    finally:
        runtime.close()
