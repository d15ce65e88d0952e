"""Incidents and alerts in the graph, and the Cypher examples of docs/topology.md.

The graph is filled the way production fills it: topology upserted through the
Neo4j store, alerts ingested by the real engine (SQLite for its own records), and
the engine's incidents and alerts published by ``IncidentGraphSink``. Every query
of the docs is then run and compared with what the engine itself decided.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiops.config import EngineSettings
from aiops.engine.engine import Engine
from aiops.engine.state import MERGED, AlertRecord, IncidentRecord, RootCause
from aiops.models import parse_alert
from aiops.sinks.graph import IncidentGraphSink
from aiops.store.db import open_database
from tests.topology.conftest import wipe
from topology.embedded import EmbeddedGraphStore
from topology.model import Edge, Node
from topology.neo4j_store import Neo4jGraphStore

DOC = Path(__file__).resolve().parents[2] / "docs" / "topology.md"
NOW = 1_800_000_000.0
DAY = 86_400.0


@pytest.fixture(params=[pytest.param("falkordb", marks=pytest.mark.falkordb),
                        pytest.param("neo4j", marks=pytest.mark.neo4j)])
def bolt_store(request: pytest.FixtureRequest) -> Iterator[Neo4jGraphStore]:
    store: Neo4jGraphStore = request.getfixturevalue(f"{request.param}_store")
    wipe(store)
    yield store


def doc_queries() -> dict[str, str]:
    """The ```cypher blocks of docs/topology.md, keyed by their first MATCH line."""
    blocks = re.findall(r"```cypher\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    return {block.splitlines()[0]: block for block in blocks}


def run_doc_query(store: Neo4jGraphStore, start: str, **params: object) -> list[dict]:
    [query] = [q for first, q in doc_queries().items() if first.startswith(start)]
    used = set(re.findall(r"\$(\w+)", query))
    assert used == set(params), f"the docs query uses {sorted(used)}"
    return store.graph.read(query, **params)


# par1 (site) <- ra (rack) <- r1; par1 <- r2; lon1 <- r3; r1 - r2 - r3 - r4 linked.
SITE_NODES = [Node("par1", "site", "par1"), Node("lon1", "site", "lon1"),
              Node("ra", "rack", "ra"), *(Node(d, "device", d) for d in ("r1", "r2", "r3", "r4"))]
SITE_EDGES = [Edge("ra", "par1", "part_of"), Edge("r1", "ra", "part_of"),
              Edge("r2", "par1", "part_of"), Edge("r3", "lon1", "part_of"),
              Edge("r1", "r2"), Edge("r2", "r3"), Edge("r3", "r4")]


def alert(i: str, entity: str, at: float, name: str = "LINK_DOWN",
          ends: float | None = None) -> dict:
    return {"id": i, "source": "nms", "name": name, "entity": entity, "severity": "major",
            "summary": f"{name} on {entity}: it's down", "starts_at": at, "ends_at": ends}


def run_engine(store: Neo4jGraphStore, tmp_path: Path) -> Engine:
    store.upsert(SITE_NODES, SITE_EDGES, source="inventory", seen_at=NOW - 30 * DAY)
    db = open_database(f"sqlite:///{tmp_path / 'engine.db'}")
    engine = Engine(db, store.load(), EngineSettings(text_similarity=False))
    sink = IncidentGraphSink.for_store(store)
    assert sink is not None
    batches = [
        [alert("old", "r1", NOW - 10 * DAY, ends=NOW - 10 * DAY + 60)],
        [alert("p1", "r1", NOW - 3 * DAY), alert("p2", "r2", NOW - 3 * DAY + 5, "BGP_DOWN"),
         alert("p3", "r3", NOW - 3 * DAY + 9, "BGP_DOWN")],
        [alert("l1", "r3", NOW - DAY), alert("l2", "r4", NOW - DAY + 4)],
        [alert("u1", "mystery-box", NOW - DAY + 900)],
    ]
    for batch in batches:
        engine.ingest([parse_alert(a) for a in batch])
        # What the proposed engine hook does after each stored batch; publishing all
        # live state each time also shows that a re-publish changes nothing.
        sink.publish(engine.incidents.values(), all_alerts(engine))
    db.dispose()
    return engine


def all_alerts(engine: Engine) -> list[AlertRecord]:
    return [a for i in engine.incidents.values() for a in i.alerts.values()]


def live(engine: Engine) -> list[IncidentRecord]:
    return [i for i in engine.incidents.values() if i.status != MERGED]


def test_docs_queries_answer_what_the_engine_decided(bolt_store: Neo4jGraphStore,
                                                     tmp_path: Path) -> None:
    engine = run_engine(bolt_store, tmp_path)
    since = NOW - 7 * DAY
    touched = {i.id: i.node_ids for i in live(engine)}
    old = next(i.id for i in live(engine) if any(a.event.id == "old" for a in i.alerts.values()))

    rows = run_doc_query(bolt_store, "MATCH (site:Node", site="par1", since=since)
    par = {"par1", "ra", "r1", "r2"}
    expected = sorted((i for i in live(engine) if i.node_ids & par and i.started_at >= since),
                      key=lambda i: i.started_at)
    assert [r["incident"] for r in rows] == [i.id for i in expected]
    assert expected and old not in {r["incident"] for r in rows}
    assert rows[0]["title"] == expected[0].title()

    rows = run_doc_query(bolt_store, "MATCH (a:Alert)", device="r1", since=since)
    want = sorted((a for a in all_alerts(engine) if a.node_id == "r1" and a.starts_at >= since),
                  key=lambda a: -a.starts_at)
    assert [(r["alert"], r["incident"]) for r in rows] == [(a.id, a.incident_id) for a in want]
    assert want

    rows = run_doc_query(bolt_store, "MATCH (i:Incident)-[c:ROOT_CAUSE",
                         since=NOW - 30 * DAY)
    firsts = Counter(i.root_causes[0].node_id for i in live(engine)
                     if i.root_causes and i.root_causes[0].node_id
                     and i.started_at >= NOW - 30 * DAY)
    assert [(r["device"], r["incidents"]) for r in rows] == sorted(
        firsts.items(), key=lambda kv: (-kv[1], kv[0]))
    assert firsts

    rows = run_doc_query(bolt_store, "MATCH (d:Node {name: $device})-[:LINK*0..1]",
                         device="r2")
    blast = {"r2", "r1", "r3", "par1"}
    assert {(r["incident"], r["via"]) for r in rows} == {
        (inc, node) for inc, nodes in touched.items() for node in nodes & blast}


def test_docs_query_on_topology_history(bolt_store: Neo4jGraphStore) -> None:
    bolt_store.upsert(SITE_NODES, SITE_EDGES, source="inventory", seen_at=NOW - 30 * DAY)
    # The latest discovery no longer reports r2-r3.
    bolt_store.upsert(SITE_NODES, [e for e in SITE_EDGES if e.key != ("r2", "r3", "connected_to")],
                      source="lldp", seen_at=NOW - DAY)
    query = "MATCH (d:Node {name: $device})-[e:LINK]-"
    now = run_doc_query(bolt_store, query, device="r2", as_of=NOW, max_age=7 * DAY)
    assert [(r["neighbour"], r["kind"]) for r in now] == [("par1", "part_of"),
                                                          ("r1", "connected_to")]
    then = run_doc_query(bolt_store, query, device="r2", as_of=NOW - 25 * DAY, max_age=7 * DAY)
    assert [r["neighbour"] for r in then] == ["par1", "r1", "r3"]
    # The store's own answer agrees with the Cypher one.
    graph = bolt_store.load(as_of=NOW, max_age=7 * DAY)
    assert graph.neighbours("r2") == {"par1", "r1"}


def incident(id_: str, status: str, alerts: list[AlertRecord], merged_into: str | None = None,
             root: str | None = None) -> IncidentRecord:
    inc = IncidentRecord(id=id_, seq=int(id_.split("-")[1]), started_at=NOW, updated_at=NOW,
                         status=status, merged_into=merged_into)
    inc.alerts = {a.id: a for a in alerts}
    for a in alerts:
        a.incident_id = id_
    if root:
        inc.root_causes = [RootCause(root, 0.9, None, ["test"], node_id=root)]
    return inc


def record(id_: int, node: str | None) -> AlertRecord:
    event = parse_alert(alert(f"e{id_}", node or "nowhere", NOW + id_))
    return AlertRecord(id=id_, fingerprint=f"f{id_}", event=event, node_id=node,
                       starts_at=event.starts_at)


def test_merges_move_alerts_and_links(bolt_store: Neo4jGraphStore) -> None:
    bolt_store.upsert(SITE_NODES, SITE_EDGES, source="inventory", seen_at=NOW)
    sink = IncidentGraphSink(bolt_store.graph)
    a1, a2, a3 = record(1, "r1"), record(2, "r3"), record(3, None)
    sink.publish([incident("inc-1", "open", [a1], root="r2"),
                  incident("inc-2", "open", [a2, a3], root="r3")], [a1, a2, a3])
    # An alert showed both are one fault: inc-1 merges into inc-2 and its alert moves.
    merged = incident("inc-1", MERGED, [], merged_into="inc-2")
    into = incident("inc-2", "open", [a1, a2, a3], root="r2")
    for _ in range(2):  # a second publish of the same records changes nothing
        assert sink.publish([merged, into], [a1, a2, a3]) == (2, 3)
        g = bolt_store.graph.read
        assert g("MATCH (a:Alert)-[:IN]->(i:Incident) RETURN a.id AS a, i.id AS i "
                 "ORDER BY a") == [{"a": 1, "i": "inc-2"}, {"a": 2, "i": "inc-2"},
                                   {"a": 3, "i": "inc-2"}]
        assert g("MATCH (i:Incident)-[:TOUCHED]->(n:Node) RETURN i.id AS i, n.id AS n "
                 "ORDER BY n") == [{"i": "inc-2", "n": "r1"}, {"i": "inc-2", "n": "r3"}]
        assert g("MATCH (i:Incident)-[c:ROOT_CAUSE]->(n:Node) RETURN i.id AS i, n.id AS n, "
                 "c.rank AS rank") == [{"i": "inc-2", "n": "r2", "rank": 1}]
        assert g("MATCH (:Incident {id: 'inc-1'})-[:MERGED_INTO]->(j:Incident) "
                 "RETURN j.id AS j") == [{"j": "inc-2"}]
        assert g("MATCH (a:Alert)-[:ABOUT]->(n:Node) RETURN count(a) AS n") == [{"n": 2}]
        assert g("MATCH (a:Alert {id: 1}) RETURN a.summary AS s") == [
            {"s": "LINK_DOWN on r1: it's down"}]


def test_the_embedded_default_has_no_graph_sink(tmp_path: Path) -> None:
    db = open_database(f"sqlite:///{tmp_path / 'e.db'}")
    assert IncidentGraphSink.for_store(EmbeddedGraphStore(db)) is None
    db.dispose()
