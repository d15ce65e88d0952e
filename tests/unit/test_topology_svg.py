"""The topology picture of the incident view, drawn from an incident's subgraph."""

from __future__ import annotations

import re
import time
from typing import Any

from aiops.api.topology_svg import MAX_LABEL_CHARS, MAX_TOPOLOGY_NODES, topology_svg


def node(node_id: str, alarming: bool, rank: int | None = None,
         name: str | None = None) -> dict[str, Any]:
    return {"id": node_id, "name": name or node_id, "kind": "device", "alarming": alarming,
            "root_cause": rank == 1, "candidate": rank is not None, "silent": not alarming}


def star(leaves: int, hub_name: str = "hub") -> dict[str, Any]:
    """A silent hub blamed for alarms on every leaf around it."""
    nodes = [node("hub", False, 1, hub_name)]
    nodes += [node(f"leaf-{i:05d}", True) for i in range(leaves)]
    edges = [{"source": "hub", "target": f"leaf-{i:05d}", "kind": "connected_to"}
             for i in range(leaves)]
    return {"nodes": nodes, "edges": edges}


def test_an_alarm_storm_draws_at_most_the_cap_and_says_what_it_left_out() -> None:
    """3,000 alarming devices drew 3,000 circles (4 s, a solid red disc); now the cap
    holds for alarming nodes too and the note says how many are missing."""
    started = time.perf_counter()
    svg = str(topology_svg(star(3000), [{"node_id": "hub"}]))
    elapsed = time.perf_counter() - started
    drawn = re.findall(r'<g class="node[^"]*" data-node-id="([^"]+)"', svg)
    assert len(drawn) == MAX_TOPOLOGY_NODES
    assert "hub" in drawn
    left_out = 3000 - (MAX_TOPOLOGY_NODES - 1)
    assert (f'<p class="note">{left_out} alarming nodes (their alerts are in the table '
            'below) not drawn.</p>') in svg
    assert elapsed < 1.0, f"{elapsed:.2f}s to draw a capped picture"


def test_ranked_candidates_are_kept_before_other_alarming_nodes() -> None:
    graph = star(200)
    graph["nodes"][150] = node("leaf-00149", True, 2)
    svg = str(topology_svg(graph, [{"node_id": "hub"}, {"node_id": "leaf-00149"}]))
    assert 'data-node-id="leaf-00149"' in svg
    assert re.search(r'class="node alarming candidate" data-node-id="leaf-00149"', svg)


def test_a_long_name_is_cut_inside_the_picture_and_whole_in_its_tooltip() -> None:
    """A 170-character name was drawn whole past both edges of the picture."""
    long_name = "core-router-" + "x" * 150 + ".example.net"
    svg = str(topology_svg(star(3, hub_name=long_name), [{"node_id": "hub"}]))
    width = float(re.search(r'<svg[^>]* width="(\d+)"', svg).group(1))
    labels = re.findall(r'<text x="([\d.]+)"[^>]*text-anchor="(\w+)"[^>]*>([^<]*)</text>', svg)
    hub = [label for label in labels if label[2].startswith("core-router-")]
    assert len(hub) == 1
    x, anchor, text = float(hub[0][0]), hub[0][1], hub[0][2]
    assert text == "core-router-" + "x" * (MAX_LABEL_CHARS - 13) + "… #1"
    half = 0.62 * 11 * len(text) / 2
    assert anchor == "middle" and x - half >= 0 and x + half <= width
    assert f"<title>{long_name} (hub): silent, candidate, root-cause</title>" in svg


def test_markup_in_names_is_text() -> None:
    evil = '<script>alert(1)</script>"'
    graph = star(2)
    graph["nodes"][1] = node(evil, True)
    graph["edges"][0]["target"] = evil
    svg = str(topology_svg(graph, [{"node_id": "hub"}]))
    assert "<script>" not in svg
    assert 'data-node-id="&lt;script&gt;alert(1)&lt;/script&gt;&#34;"' in svg


def test_an_incident_without_alerts_is_not_said_to_be_outside_the_topology() -> None:
    """A merged incident has no alerts left; the picture said its entities were not in
    the topology, which sent the operator looking for a topology problem."""
    assert str(topology_svg({"nodes": [], "edges": [], "unresolved_entities": []})) == (
        "<p>No alerts, so no entity to draw.</p>")


def test_entities_outside_the_topology_are_named() -> None:
    graph = {"nodes": [], "edges": [], "unresolved_entities": ["db-<7>", "web-1"]}
    assert str(topology_svg(graph)) == (
        "<p>None of this incident's entities is in the topology: db-&lt;7&gt;, web-1.</p>")
