"""Topology documents refused by name rather than with a traceback, and the views of a
node (API, ``aiops topology show``) that must show every relation it has."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiops.api import create_app
from aiops.errors import InputError
from aiops.runtime import Runtime
from topology.discovery.http import read_json_file
from topology.graph import TopologyGraph
from topology.loader import read_topology
from topology.model import Edge, Node, parse_topology

DOC_HEAD = '{"nodes": [{"id": "a", "attrs": {"x": '


@pytest.mark.parametrize(("body", "message"), [
    ("[" * 100_000 + "]" * 100_000, "malformed JSON: nested too deeply"),
    ("1" * 5000, "malformed JSON: a number with more than"),
    ('"\\ud800"', r"string at nodes\[0\]\.attrs\.x holds a lone UTF-16 surrogate"),
])
def test_json_the_decoder_or_the_store_cannot_take_is_refused_naming_the_file(
        tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "topo.json"
    path.write_text(DOC_HEAD + body + "}}], \"edges\": []}")
    with pytest.raises(InputError, match=message) as err:
        read_topology(path)
    assert str(err.value).startswith(f"{path}: ")
    with pytest.raises(InputError, match=message):
        read_json_file(str(path), "kubectl")


def test_a_malformed_document_still_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "topo.json"
    path.write_text('{"nodes": [\n  {"id": "a",}\n]}')
    with pytest.raises(InputError, match=r"topo.json: malformed JSON: .* at line 2 column"):
        read_topology(path)


def test_a_lone_surrogate_import_exits_2_and_stores_nothing(tmp_path: Path) -> None:
    path = tmp_path / "topo.json"
    path.write_text('{"nodes": [{"id": "a"}, {"id": "b\\udc00"}], "edges": []}')
    r = subprocess.run([sys.executable, "-m", "aiops", "--data-dir", str(tmp_path / "d"),
                        "topology", "import", str(path)], capture_output=True, text=True,
                       timeout=120, env={**os.environ})
    assert r.returncode == 2, r.stderr
    assert "nodes[1].id holds a lone UTF-16 surrogate" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_self_loop_in_a_document_is_refused_naming_the_edge() -> None:
    doc = {"nodes": [{"id": "a"}, {"id": "b"}],
           "edges": [{"source": "a", "target": "b"}, {"source": "a", "target": "a"}]}
    with pytest.raises(InputError, match=r"edges\[1\]: edge a-connected_to->a joins a node "
                                         "to itself"):
        parse_topology(doc)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("id", "x" * 513, r"nodes\[0\]: field 'id' is longer than 512 characters"),
    ("name", "a\x00b", r"nodes\[0\]: field 'name' contains a NUL character"),
    ("kind", "k" * 65, r"nodes\[0\]: field 'kind' is longer than 64 characters"),
])
def test_text_no_store_can_hold_is_refused_naming_node_and_field(
        field: str, value: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        parse_topology({"nodes": [{"id": "a", field: value}], "edges": []})


def two_relations() -> TopologyGraph:
    """A service that depends on a host it is also cabled to, and an interface."""
    nodes = [Node("svc", "service", "billing"), Node("h1", "host", "h1"),
             Node("h1:eth0", "interface", "h1:eth0", {"device": "h1", "ifname": "eth0"})]
    edges = [Edge("svc", "h1", "depends_on"), Edge("h1", "svc", "connected_to", {"lag": 1}),
             Edge("h1:eth0", "h1", "part_of")]
    return TopologyGraph(nodes, edges)


def test_a_subgraph_keeps_every_relation_between_two_nodes() -> None:
    graph = two_relations()
    _, edges = graph.subgraph(["svc"], 1)
    assert sorted(e.to_dict().items() for e in edges) == sorted(
        e.to_dict().items() for e in graph.edges if e.kind != "part_of")
    assert {e.key for e in graph.relations("svc", "h1")} == {
        ("svc", "h1", "depends_on"), ("h1", "svc", "connected_to")}
    assert graph.relations("svc", "nowhere") == []


def test_the_node_endpoint_answers_the_node_asked_for(runtime: Runtime) -> None:
    graph = two_relations()
    runtime.import_topology(list(graph.nodes.values()), graph.edges, "test")
    client = create_app(runtime=runtime).test_client()
    body = client.get("/api/v1/topology/nodes/h1:eth0").get_json()
    assert body["node"]["id"] == "h1:eth0"  # was its device, h1
    body = client.get("/api/v1/topology/nodes/h1:eth9").get_json()
    assert body["node"]["id"] == "h1"  # a port the topology does not list: its device
    body = client.get("/api/v1/topology/nodes/svc").get_json()
    assert {(e["source"], e["target"], e["kind"]) for e in body["neighbourhood"]["edges"]} \
        == {("svc", "h1", "depends_on"), ("h1", "svc", "connected_to")}


def test_show_lists_each_relation_with_its_direction(tmp_path: Path) -> None:
    graph = two_relations()
    path = tmp_path / "topo.json"
    path.write_text(json.dumps({"nodes": [n.to_dict() for n in graph.nodes.values()],
                                "edges": [e.to_dict() for e in graph.edges]}))

    def aiops(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "aiops", "--data-dir",
                               str(tmp_path / "d"), *args], capture_output=True, text=True,
                              timeout=120, env={**os.environ})

    assert aiops("topology", "import", str(path)).returncode == 0
    shown = json.loads(aiops("topology", "show", "svc", "--json").stdout)
    assert sorted((n["id"], n["edge"], n["direction"]) for n in shown["neighbours"]) == [
        ("h1", "connected_to", "connected_to"), ("h1", "depends_on", "depends_on ->")]
    text = aiops("topology", "show", "h1").stdout
    assert "neighbours (2):" in text
    assert "<- depends_on  svc" in text and "connected_to   svc" in text
