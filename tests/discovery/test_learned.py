"""Learned edges from alert co-occurrence: inferred, with a confidence, never discovered."""

from __future__ import annotations

import json
from pathlib import Path

from topology.discovery.learned import LearnedConnector
from topology.discovery.sync import sync
from topology.model import Edge, Node

T0 = 1_800_000_000


def alert(i: int, entity: str, at: float) -> dict:
    return {"id": f"a{i}", "source": "nms", "name": "DOWN", "entity": entity,
            "severity": "major", "summary": "down", "starts_at": T0 + at}


def history(path: Path) -> Path:
    """db-7 and app-3 fail together 6 times; noise on other nodes at random times;
    sw1 and sw2 (linked) fail together too; an unknown entity appears."""
    rows, i = [], 0
    for k in range(6):
        base = k * 3600
        for entity, offset in (("db-7", 0), ("app-3", 20), ("sw1", 1500), ("sw2", 1510)):
            rows.append(alert(i, entity, base + offset))
            i += 1
        rows.append(alert(i, "db-7", base + 30))  # a storm on one node counts once
        i += 1
    for k, entity in enumerate(["web-1", "web-2", "app-3", "web-1", "db-7", "web-2"]):
        rows.append(alert(i, entity, 600 + k * 4001))
        i += 1
    rows.append(alert(i, "mystery-box", 50))
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_co_occurring_pairs_become_inferred_edges(tmp_path: Path, store) -> None:
    names = ["db-7", "app-3", "sw1", "sw2", "web-1", "web-2"]
    store.upsert([Node(n, "host", n) for n in names], [Edge("sw1", "sw2")], source="inventory")
    report = sync(LearnedConnector(str(history(tmp_path / "h.jsonl"))), store)
    graph = store.load()
    edges = {(e.source, e.target): e for e in graph.edges}
    learned = edges[("app-3", "db-7")]
    assert learned.attrs["inferred"] is True and 0.5 < learned.attrs["confidence"] <= 1
    assert learned.attrs["support"] == 6 and learned.attrs["lift"] >= 5
    assert edges[("sw1", "sw2")].attrs == {}  # the discovered link is left alone
    assert not any(e.attrs.get("inferred") for k, e in edges.items() if "web-1" in k)
    assert report.source == "learned"
    assert any("1 of" in w and "not in the topology" in w for w in report.warnings)


def test_relearning_updates_inferred_edges(tmp_path: Path, store) -> None:
    store.upsert([Node(n, "host", n) for n in ("db-7", "app-3", "sw1", "sw2")], [],
                 source="inventory")
    path = history(tmp_path / "h.jsonl")
    sync(LearnedConnector(str(path)), store)
    sync(LearnedConnector(str(path), min_lift=2.0), store)
    assert store.counts()[1] == 2  # db-7/app-3 and sw1/sw2, each once
