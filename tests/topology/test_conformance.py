"""The GraphStore contract, run against every backend (see conftest.BACKENDS).

Each test says what any backend must do; a backend-specific expectation appears only
where docs/topology.md documents a difference (the request-size limit of FalkorDB).
"""

from __future__ import annotations

import random

import networkx as nx
import pytest

from aiops.errors import InputError
from topology.model import Edge, Node
from topology.store import GraphStore


def nodes_of(*ids: str, **attrs: object) -> list[Node]:
    return [Node(i, "device", i, dict(attrs)) for i in ids]


def as_sets(store: GraphStore, **window: float | None) -> tuple[set[str], set[tuple]]:
    graph = store.load(**window)
    return set(graph.nodes), {e.key for e in graph.edges}


def test_empty_store(store: GraphStore) -> None:
    assert store.counts() == (0, 0)
    assert len(store.load()) == 0
    assert store.node("nope") is None
    assert store.neighbourhood("nope", 2) == {}
    assert store.distance("nope", "nada", 2) is None
    assert store.upsert([], [], source="t") == (0, 0)


def test_round_trip_keeps_kinds_names_attrs_and_direction(store: GraphStore) -> None:
    nodes = [
        Node("site-par", "site", "Paris DC", {"city": "Paris"}),
        Node("r1", "device", "core-01", {"aliases": ["CORE1", "core-01.par.example"],
                                         "mgmt_ip": "10.0.0.1", "rack": {"row": 3, "u": 42},
                                         "ports": [1, 2.5, None, True], "note": "ünï ☃ 'q' \"d\""}),
        Node("r2", "device", "core-02"),
        Node("svc", "service", "checkout"),
    ]
    edges = [Edge("r1", "r2", "connected_to", {"speed": "100G", "lag": ["et-0/0/1"]}),
             Edge("r1", "site-par", "part_of"), Edge("r2", "site-par", "part_of"),
             Edge("svc", "r2", "runs_on"), Edge("svc", "r1", "depends_on")]
    assert store.upsert(nodes, edges, source="inventory", seen_at=1000.0) == (4, 5)
    assert store.counts() == (4, 5)
    graph = store.load()
    assert {n.id: n.to_dict() for n in graph.nodes.values()} == {n.id: n.to_dict()
                                                                 for n in nodes}
    assert sorted((e.to_dict() for e in graph.edges), key=str) == sorted(
        (e.to_dict() for e in edges), key=str)
    assert graph.dependencies.has_edge("svc", "r1")  # direction survives the round trip
    assert graph.resolve("core1") == "r1" and graph.resolve("10.0.0.1") == "r1"
    assert store.node("r1") == nodes[1]


def test_upsert_refreshes_and_adds(store: GraphStore) -> None:
    store.upsert(nodes_of("a", "b"), [Edge("a", "b")], source="t", seen_at=100.0)
    store.upsert([Node("a", "device", "a-renamed", {"v": 2}), Node("c", "device", "c")],
                 [Edge("a", "c"), Edge("a", "b", "connected_to", {"w": 1})],
                 source="t", seen_at=200.0)
    assert store.counts() == (3, 2)
    assert store.node("a") == Node("a", "device", "a-renamed", {"v": 2})
    assert store.node("b") == Node("b", "device", "b")  # not in the second call: unchanged
    graph = store.load()
    assert graph.distance("b", "c", 3) == 2
    assert {e.key: e.attrs for e in graph.edges}[("a", "b", "connected_to")] == {"w": 1}


def test_as_of_shows_the_topology_as_it_was(store: GraphStore) -> None:
    store.upsert(nodes_of("a", "b"), [Edge("a", "b")], source="t", seen_at=100.0)
    store.upsert(nodes_of("a", "b", "c"), [Edge("a", "b"), Edge("b", "c")],
                 source="t", seen_at=200.0)
    assert as_sets(store, as_of=50.0) == (set(), set())
    assert as_sets(store, as_of=150.0) == ({"a", "b"}, {("a", "b", "connected_to")})
    assert as_sets(store, as_of=200.0) == ({"a", "b", "c"}, {("a", "b", "connected_to"),
                                                             ("b", "c", "connected_to")})
    assert as_sets(store) == as_sets(store, as_of=10_000.0)


def test_edges_no_source_reports_age_out(store: GraphStore) -> None:
    store.upsert(nodes_of("a", "b", "c", "old"),
                 [Edge("a", "b"), Edge("b", "c"), Edge("c", "old")], source="t", seen_at=100.0)
    # A later run reports a, b, c and one edge: b-c and c-old are no longer reported.
    store.upsert(nodes_of("a", "b", "c"), [Edge("a", "b")], source="t", seen_at=1000.0)
    fresh = as_sets(store, as_of=1000.0, max_age=300.0)
    assert fresh == ({"a", "b", "c"}, {("a", "b", "connected_to")})
    # Back then, everything was fresh.
    assert as_sets(store, as_of=150.0, max_age=300.0)[1] == {
        ("a", "b", "connected_to"), ("b", "c", "connected_to"), ("c", "old", "connected_to")}
    # Nothing is deleted: ageing is a property of the question, not of the data.
    assert store.counts() == (4, 3)


def test_max_age_without_as_of_is_relative_to_now(store: GraphStore) -> None:
    import time

    now = time.time()
    store.upsert(nodes_of("a", "b"), [Edge("a", "b")], source="t", seen_at=now - 7200)
    store.upsert(nodes_of("a", "b"), [], source="t", seen_at=now)
    assert as_sets(store, max_age=3600.0) == ({"a", "b"}, set())
    assert as_sets(store, max_age=86400.0)[1] == {("a", "b", "connected_to")}


def test_an_old_snapshot_never_shortens_history(store: GraphStore) -> None:
    store.upsert(nodes_of("a", "b"), [Edge("a", "b")], source="t", seen_at=500.0)
    store.upsert(nodes_of("a", "b"), [Edge("a", "b")], source="backfill", seen_at=100.0)
    assert as_sets(store, as_of=200.0)[1] == {("a", "b", "connected_to")}  # first_seen 100
    assert as_sets(store, as_of=500.0, max_age=10.0)[1] == {("a", "b", "connected_to")}


def test_history_gives_every_item_with_its_sightings_and_last_source(
        store: GraphStore) -> None:
    store.upsert(nodes_of("a", "b", "c"), [Edge("a", "b"), Edge("b", "c", "depends_on")],
                 source="inventory", seen_at=100.0)
    store.upsert(nodes_of("a", "b"), [Edge("a", "b", "connected_to", {"w": 1})],
                 source="lldp", seen_at=300.0)
    history = store.history()
    nodes = {n.id: (s.first, s.last, s.source) for n, s in history.nodes}
    assert nodes == {"a": (100.0, 300.0, "lldp"), "b": (100.0, 300.0, "lldp"),
                     "c": (100.0, 100.0, "inventory")}
    edges = {e.key: (e.attrs, s.first, s.last, s.source) for e, s in history.edges}
    assert edges == {("a", "b", "connected_to"): ({"w": 1}, 100.0, 300.0, "lldp"),
                     ("b", "c", "depends_on"): ({}, 100.0, 100.0, "inventory")}
    # Everything stored, stale or not, is what load() without a window returns.
    everything = history.everything()
    assert set(everything.nodes) == set(store.load().nodes)
    assert {e.key for e in everything.edges} == {e.key for e in store.load().edges}


def test_negative_max_age_is_refused(store: GraphStore) -> None:
    with pytest.raises(InputError, match="max_age"):
        store.load(max_age=-1.0)


@pytest.mark.parametrize(("nodes", "edges", "message"), [
    (nodes_of("a", "b", "a"), [], "duplicate node ids: 'a'"),
    (nodes_of("a", "b"), [Edge("a", "b"), Edge("a", "b")], "duplicate edges: 'a-connected_to->b'"),
    (nodes_of("a", "b"), [Edge("a", "b"), Edge("b", "zz"), Edge("yy", "a")],
     r"edges refer to unknown nodes: 'edges\[1\]->zz', 'edges\[2\]->yy'"),
    # Each backend used to answer these differently (stored, a GraphStoreError naming no
    # node, an InputError half-way through staging); now all refuse them, by name.
    (nodes_of("a", "b"), [Edge("a", "b"), Edge("b", "b", "depends_on")],
     r"edges\[1\]: edge 'b'-depends_on->'b' joins a node to itself"),
    ([Node("a\x00b", "device", "ab")], [],
     r"nodes\[0\] 'a\\x00b': field 'id' contains a NUL character"),
    (nodes_of("x" * 513), [], r"nodes\[0\] 'xxx.*\.\.\.: field 'id' is longer than 512"),
    ([Node("a", "device", "n" * 513)], [], r"nodes\[0\] 'a': field 'name' is longer than 512"),
    # 512 characters of four bytes each: on PostgreSQL the edge's key passed the B-tree
    # limit (2,704 bytes), a server error naming nothing; now refused alike everywhere.
    (nodes_of("a", "\U0001F600" * 512), [Edge("a", "\U0001F600" * 512)],
     r"nodes\[1\] .*: field 'id' is longer than 1024 bytes in UTF-8"),
    ([Node("a", "d" * 65, "a")], [], r"nodes\[0\] 'a': field 'kind' is longer than 64"),
    (nodes_of("a", "b"), [Edge("a", "b", "k" * 65)], r"edges\[0\]: field 'kind' is longer"),
])
def test_bad_batches_are_refused_naming_ids_and_write_nothing(
        store: GraphStore, nodes: list[Node], edges: list[Edge], message: str) -> None:
    store.upsert(nodes_of("keep"), [], source="t", seen_at=1.0)
    with pytest.raises(InputError, match=message):
        store.upsert(nodes, edges, source="t")
    assert store.counts() == (1, 0)
    assert set(store.load().nodes) == {"keep"}


def test_a_kubernetes_pod_id_past_256_characters_is_stored(store: GraphStore) -> None:
    """``pod/NS/NAME`` reaches 321 characters (a namespace of 63, a pod name of 253):
    every backend refused ids past 256 (PostgreSQL's VARCHAR(256) columns) before
    migration 0012; now each stores, finds and links them like any other."""
    name = "batch-" + "x" * 247
    pod = f"pod/{'n' * 63}/{name}"
    assert len(pod) == 321
    store.upsert([Node(pod, "pod", name), Node("kind-worker", "host", "kind-worker")],
                 [Edge(pod, "kind-worker", "runs_on")], source="kubernetes", seen_at=1.0)
    graph = store.load()
    assert graph.nodes[pod].name == name
    assert store.neighbourhood(pod, 1) == {pod: 0, "kind-worker": 1}


def test_a_source_name_no_backend_stores_is_refused(store: GraphStore) -> None:
    with pytest.raises(InputError, match="source name 'sss.*is longer than 64 characters"):
        store.upsert(nodes_of("a"), [], source="s" * 65)
    assert store.counts() == (0, 0)


def test_edges_may_join_nodes_stored_earlier(store: GraphStore) -> None:
    store.upsert(nodes_of("a", "b"), [], source="inventory", seen_at=1.0)
    assert store.upsert([], [Edge("a", "b")], source="lldp", seen_at=2.0) == (0, 1)
    assert store.upsert(nodes_of("c"), [Edge("c", "a")], source="lldp", seen_at=2.0) == (1, 1)
    assert store.distance("b", "c", 2) == 2


def random_topology(seed: int, n: int, m: int, prefix: str = "n") -> tuple[list[Node], list[Edge]]:
    rnd = random.Random(seed)
    nodes = [Node(f"{prefix}{i:04d}", "device", f"{prefix}{i:04d}") for i in range(n)]
    keys: set[tuple[str, str, str]] = set()
    kinds = ["connected_to", "connected_to", "connected_to", "depends_on", "part_of"]
    while len(keys) < m:
        a, b = rnd.sample(range(n), 2)
        kind = rnd.choice(kinds)
        if kind == "connected_to":  # no direction: one edge per pair, ends sorted
            a, b = min(a, b), max(a, b)
        keys.add((f"{prefix}{a:04d}", f"{prefix}{b:04d}", kind))
    return nodes, [Edge(*k) for k in sorted(keys)]


def test_neighbourhood_and_distance_agree_with_networkx(store: GraphStore) -> None:
    nodes, edges = random_topology(seed=3, n=150, m=260)
    store.upsert(nodes, edges, source="t", seen_at=1.0)
    expected = nx.Graph()
    expected.add_nodes_from(n.id for n in nodes)
    expected.add_edges_from((e.source, e.target) for e in edges)
    rnd = random.Random(4)
    for node in rnd.sample([n.id for n in nodes], 8):
        for radius in (0, 1, 2, 3):
            want = nx.single_source_shortest_path_length(expected, node, cutoff=radius)
            assert store.neighbourhood(node, radius) == want, (node, radius)
    graph = store.load()
    for _ in range(40):
        a, b = rnd.sample([n.id for n in nodes], 2)
        for cutoff in (1, 2, 3):
            assert store.distance(a, b, cutoff) == graph.distance(a, b, cutoff), (a, b, cutoff)
    assert store.distance("n0001", "n0001", 2) == 0
    assert store.distance("n0001", "missing", 2) is None


@pytest.mark.parametrize("radius", [-1, 7, "2", 1.5, True])
def test_radius_must_be_a_small_integer(store: GraphStore, radius: object) -> None:
    with pytest.raises(InputError, match="integer from 0 to 6"):
        store.neighbourhood("a", radius)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="integer from 0 to 6"):
        store.distance("a", "b", radius)  # type: ignore[arg-type]


def test_thousands_of_items_in_one_atomic_upsert(store: GraphStore) -> None:
    nodes, edges = random_topology(seed=5, n=3000, m=6000)
    for node in nodes[::7]:
        node.attrs = {"mgmt_ip": f"10.{node.id[1:3]}.0.1", "aliases": [node.id.upper()]}
    assert store.upsert(nodes, edges, source="bulk", seen_at=10.0) == (3000, 6000)
    assert store.counts() == (3000, 6000)
    # Again, as a discovery re-run does: everything exists. (On FalkorDB this once
    # failed after a large import: see DISCARD in topology/neo4j_store.py.)
    assert store.upsert(nodes, edges, source="bulk", seen_at=20.0) == (3000, 6000)
    assert store.counts() == (3000, 6000)
    assert len(store.load(as_of=20.0, max_age=5.0).edges) == 6000
    graph = store.load()
    assert {e.key for e in graph.edges} == {e.key for e in edges}
    assert graph.nodes["n0007"].attrs == nodes[7].attrs


def test_a_node_too_large_for_the_server(store: GraphStore, backend: str) -> None:
    """FalkorDB takes ~4 KB per request (docs/topology.md): the item is refused by name
    before anything is written. The other backends store it."""
    big = Node("big", "device", "big", {"notes": "x" * 6000})
    if backend == "falkordb":
        with pytest.raises(InputError, match="node 'big' is too large for falkordb"):
            store.upsert([*nodes_of("a"), big], [], source="t")
        assert store.counts() == (0, 0)
    else:
        store.upsert([big], [], source="t")
        assert store.node("big") == big


def test_revision_changes_with_every_write_and_only_then(store: GraphStore) -> None:
    """What a running engine polls to notice a topology another process wrote."""
    start = store.revision()
    assert store.revision() == start  # reading changes nothing
    store.upsert(nodes_of("a", "b"), [Edge("a", "b", "connected_to")], source="t")
    first = store.revision()
    assert first != start
    store.upsert([], [], source="t")  # nothing written: same revision
    assert store.revision() == first
    with pytest.raises(InputError):
        store.upsert(nodes_of("c"), [Edge("c", "nowhere", "connected_to")], source="t")
    assert store.revision() == first  # a refused upsert wrote nothing
    store.upsert(nodes_of("a"), [], source="t")  # a refresh of a known node counts
    assert store.revision() not in (start, first)


def test_a_connected_pair_is_one_edge_whichever_end_states_it(store: GraphStore) -> None:
    """``connected_to`` has no direction: an imported ``b -> a`` beside a discovered
    ``a -> b`` (or both ends' statements in one batch) was stored as two edges, shown
    and counted twice. Every store keeps one, ends sorted, its sightings widened."""
    store.upsert(nodes_of("core-1", "edge-9"), [Edge("core-1", "edge-9", "connected_to",
                                                     {"port": "xe-0/0/1"})],
                 source="lldp", seen_at=1000.0)
    store.upsert([], [Edge("edge-9", "core-1", "connected_to", {"speed": "10G"})],
                 source="inventory", seen_at=2000.0)
    assert store.counts() == (2, 1)
    graph = store.load()
    assert [e.to_dict() for e in graph.edges] == [
        {"source": "core-1", "target": "edge-9", "kind": "connected_to",
         "attrs": {"speed": "10G"}}]
    assert len(graph.relations("edge-9", "core-1")) == 1
    (edge, seen), = store.history().edges
    assert (seen.first, seen.last, seen.source) == (1000.0, 2000.0, "inventory")

    assert store.upsert(nodes_of("a", "b"), [Edge("b", "a", "connected_to", {"x": "1"}),
                                             Edge("a", "b", "connected_to", {"y": "2"}),
                                             Edge("b", "a", "depends_on")],
                        source="t", seen_at=3000.0) == (2, 2)
    assert {e.key: e.attrs for e in store.load().relations("a", "b")} == {
        ("a", "b", "connected_to"): {"x": "1", "y": "2"}, ("b", "a", "depends_on"): {}}
    with pytest.raises(InputError, match="duplicate edges"):
        store.upsert([], [Edge("b", "a"), Edge("b", "a")], source="t")
