"""The topology around an incident, drawn server-side as SVG rings.

The top root cause sits in the centre and nodes sit on rings by hop distance, so
the picture answers "what is around the suspect" at a glance; labels are placed so
they never overlap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import networkx as nx
from markupsafe import Markup, escape

from aiops.api.display import columns, visible_controls
from aiops.api.timeline_svg import shorten

# Beyond this many nodes a ring picture is unreadable; silent bystanders go first.
MAX_TOPOLOGY_NODES = 80
# A longer name is cut with "…" (the tooltip has it whole): a 150-character device
# name was drawn past the picture's edge, its start cut off, and covered its neighbours.
MAX_LABEL_CHARS = 24
MIN_NODE_GAP = 24.0  # pixels between neighbours on one ring
LABELLED_GAP = 46.0  # ... when the node carries a full-size label
MIN_OUTER_RADIUS = 110.0  # pixels: even three nodes get a readable ring
LABEL_ROOM_X, LABEL_ROOM_Y = 70.0, 40.0  # pixels outside the outer ring kept for labels
RING_GAP = 40.0  # least radial distance between rings, before scaling
MIN_CANVAS = (280, 120)  # pixels
ALARMING_FILL = "#c0392b"
SILENT_FILL = "#d5d8dc"


def _centre(g: nx.Graph, nodes: Sequence[Mapping[str, Any]]) -> str:
    """The node the rings are drawn around: the top root cause if it is in the picture."""
    for n in nodes:
        if n["root_cause"]:
            return str(n["id"])
    alarming = [n["id"] for n in nodes if n["alarming"]] or [n["id"] for n in nodes]
    return max(sorted(alarming), key=g.degree)


def _named(node: Mapping[str, Any]) -> str:
    """The node's name and, when they differ, its id: what its tooltip says."""
    name, node_id = str(node.get("name") or node["id"]), str(node["id"])
    named = node_id if name == node_id else f"{name} ({node_id})"
    return visible_controls(named)


def _circular_mean(angles: Sequence[float]) -> float:
    return math.atan2(sum(math.sin(a) for a in angles), sum(math.cos(a) for a in angles))


def _ring_layout(g: nx.Graph, centre: str, alarming: set[str], labelled: set[str],
                 outer: float) -> dict[str, tuple[float, float]]:
    """Concentric rings by hop distance from ``centre``, as offsets in pixels.

    A force layout of an incident's neighbourhood is a hairball in which the root
    cause sits anywhere; rings make "how far from the suspected cause" readable at a
    glance. Each ring is ordered by the mean angle of its inner neighbours (few
    crossings); the first ring's alarming nodes are kept together at the top. Ring
    radii grow with their population (a crowded ring needs a longer circumference)
    and are then scaled up to at most ``outer``: a small neighbourhood stays small.
    """
    dist = nx.single_source_shortest_path_length(g, centre)
    unreachable = max(dist.values()) + 1
    rings: dict[int, list[str]] = {}
    for node in sorted(g):
        rings.setdefault(dist.get(node, unreachable), []).append(node)
    levels = sorted(level for level in rings if level > 0)
    radii: dict[int, float] = {}
    previous = 0.0
    for level in levels:
        needed = sum(LABELLED_GAP if m in labelled else MIN_NODE_GAP
                     for m in rings[level]) / (2 * math.pi)
        previous = radii[level] = max(needed, previous + RING_GAP)
    scale = min(outer, max(MIN_OUTER_RADIUS, 1.5 * previous)) / previous if previous else 1.0

    angle: dict[str, float] = {centre: 0.0}
    pos: dict[str, tuple[float, float]] = {centre: (0.0, 0.0)}
    for level in levels:
        members = rings[level]
        step = 2 * math.pi / len(members)

        def target(node: str) -> float:
            inner = [angle[m] for m in g[node] if m in angle and m != centre]
            return _circular_mean(inner) % (2 * math.pi) if inner else math.inf

        if level == 1:
            members.sort(key=lambda m: (m not in alarming, m))
            shout = sum(1 for m in members if m in alarming)
            offset = -math.pi / 2 - step * (shout - 1) / 2
        else:
            members.sort(key=lambda m: (target(m), m))
            placed = [target(m) - i * step for i, m in enumerate(members)
                      if target(m) != math.inf]
            offset = _circular_mean(placed) if placed else -math.pi / 2
        radius = radii[level] * scale
        for i, node in enumerate(members):
            a = offset + step * i
            angle[node] = a
            pos[node] = (radius * math.cos(a), radius * math.sin(a))
    return pos


def _keep_readable(nodes: list[dict[str, Any]], edges: list[dict[str, Any]],
                   limit: int) -> list[dict[str, Any]]:
    """The ranked candidates, then the alarming nodes and the silent bystanders that
    touch them most, up to ``limit`` nodes.

    Alarming nodes are capped too: an alarm storm on thousands of devices drew every
    one of them (4 s of label placement for 3,000 nodes, a 1.3 MB picture of solid
    red); the alerts table below still lists every alert.
    """
    ranked = [n for n in nodes if n.get("candidate") or n["root_cause"]]
    ranked_ids = {n["id"] for n in ranked}
    touching: dict[str, int] = {}
    for e in edges:
        for a, b in ((e["source"], e["target"]), (e["target"], e["source"])):
            if b in ranked_ids:
                touching[a] = touching.get(a, 0) + 1
    alarming = sorted((n for n in nodes if n["alarming"] and n["id"] not in ranked_ids),
                      key=lambda n: (-touching.get(n["id"], 0), n["id"]))
    vital = ranked + alarming[: max(0, limit - len(ranked))]
    vital_ids = {n["id"] for n in vital}
    touching = {}
    for e in edges:
        for a, b in ((e["source"], e["target"]), (e["target"], e["source"])):
            if b in vital_ids:
                touching[a] = touching.get(a, 0) + 1
    rest = sorted((n for n in nodes if not n["alarming"] and n["id"] not in vital_ids),
                  key=lambda n: (-touching.get(n["id"], 0), n["id"]))
    return vital + rest[: max(0, limit - len(vital))]


Box = tuple[float, float, float, float]


class _Labels:
    """Greedy label placement: each label takes the first free spot around its node.

    Important labels (root cause, candidates, alarming nodes) are placed first and
    always drawn; a silent bystander whose label fits nowhere keeps only its tooltip,
    which beats a pile of overlapping text.
    """

    def __init__(self, width: float, height: float, circles: Sequence[Box]):
        self.width, self.height = width, height
        self.taken: list[Box] = list(circles)

    @staticmethod
    def _box(x: float, y: float, anchor: str, text: str, size: float) -> Box:
        w = 0.62 * size * columns(text)
        x0 = {"start": x, "end": x - w}.get(anchor, x - w / 2)
        return (x0, y - 0.8 * size, x0 + w, y + 0.25 * size)

    def _inside(self, box: Box) -> bool:
        x0, y0, x1, y1 = box
        return x0 >= 0 and y0 >= 0 and x1 <= self.width and y1 <= self.height

    def _free(self, box: Box) -> bool:
        x0, y0, x1, y1 = box
        if not self._inside(box):
            return False
        return all(x1 <= a0 or x0 >= a1 or y1 <= b0 or y0 >= b1
                   for a0, b0, a1, b1 in self.taken)

    def place(self, spots: Sequence[tuple[float, float, str]], text: str, size: float,
              force: bool) -> tuple[float, float, str] | None:
        for x, y, anchor in spots:
            box = self._box(x, y, anchor, text, size)
            if self._free(box):
                self.taken.append(box)
                return x, y, anchor
        if force:  # overlapping beats cut off at the picture's edge
            inside = [s for s in spots if self._inside(self._box(*s, text, size))]
            x, y, anchor = (inside or spots)[0]
            self.taken.append(self._box(x, y, anchor, text, size))
            return x, y, anchor
        return None


def _spots(x: float, y: float, r: float, size: float, cx0: float, cy0: float,
           at_centre: bool) -> list[tuple[float, float, str]]:
    """Where a label may go, best first: pushed radially outwards, then the four sides."""
    below = (x, y + r + size + 1, "middle")
    above = (x, y - r - 4, "middle")
    right = (x + r + 4, y + size * 0.35, "start")
    left = (x - r - 4, y + size * 0.35, "end")
    if at_centre:
        return [below, above, right, left]
    a = math.atan2(y - cy0, x - cx0)
    c, s = math.cos(a), math.sin(a)
    if c > 0.3:
        radial = (x + c * (r + 4), y + s * (r + 4) + size * 0.35, "start")
    elif c < -0.3:
        radial = (x + c * (r + 4), y + s * (r + 4) + size * 0.35, "end")
    else:
        radial = below if s > 0 else above
    return [radial, below, above, right, left]


def topology_svg(graph: dict[str, Any], root_causes: Sequence[Mapping[str, Any]] = (),
                 width: int = 720, height: int = 560) -> Markup:
    """The incident's neighbourhood as rings around the top root cause.

    Alarming nodes are red, silent ones grey; the top root cause is ringed thickly
    and the other ranked candidates dashed, each labelled with its rank so the
    picture and the ranked list read together. Every node carries the classes
    ``node`` + ``alarming``/``silent`` (+ ``candidate``) (+ ``root-cause``), so a
    silent root cause is ``node silent candidate root-cause``.
    """
    all_nodes = graph["nodes"]
    if not all_nodes:  # a merged incident has no alerts left: it has no entities at all
        outside = graph.get("unresolved_entities") or []
        if not outside:
            return Markup("<p>No alerts, so no entity to draw.</p>")
        shown = ", ".join(visible_controls(e) for e in outside[:20])
        more = f" and {len(outside) - 20} more" if len(outside) > 20 else ""
        return Markup("<p>None of this incident's entities is in the topology: "
                      f"{escape(shown)}{more}.</p>")
    nodes = _keep_readable(all_nodes, graph["edges"], MAX_TOPOLOGY_NODES)
    kept = {n["id"] for n in nodes}
    edges = [e for e in graph["edges"] if e["source"] in kept and e["target"] in kept]
    rank = {rc["node_id"]: i + 1 for i, rc in enumerate(root_causes) if rc.get("node_id")}
    g = nx.Graph()
    g.add_nodes_from(n["id"] for n in nodes)
    g.add_edges_from((e["source"], e["target"]) for e in edges)
    alarming = {n["id"] for n in nodes if n["alarming"]}
    important = alarming | {n["id"] for n in nodes if n.get("candidate") or n["root_cause"]}
    centre = _centre(g, nodes)
    offsets = _ring_layout(g, centre, alarming, important,
                           min(width / 2 - LABEL_ROOM_X, height / 2 - LABEL_ROOM_Y))
    extent = max(math.hypot(dx, dy) for dx, dy in offsets.values())
    # No wide margins round a small graph, but room for one long label under one node.
    width = min(width, max(MIN_CANVAS[0], round(2 * (extent + LABEL_ROOM_X))))
    height = min(height, max(MIN_CANVAS[1], round(2 * (extent + LABEL_ROOM_Y))))
    cx0, cy0 = width / 2, height / 2
    place = {n: (cx0 + dx, cy0 + dy) for n, (dx, dy) in offsets.items()}

    def radius(n: Mapping[str, Any]) -> float:
        if n["root_cause"]:
            return 13.0
        return 10.0 if n["id"] in rank else 9.0 if n["alarming"] else 6.0

    def priority(n: Mapping[str, Any]) -> tuple[int, str]:
        return (0 if n["root_cause"] else 1 if n["id"] in rank else
                2 if n["alarming"] else 3, n["id"])

    labels = _Labels(width, height, [
        (place[n["id"]][0] - radius(n), place[n["id"]][1] - radius(n),
         place[n["id"]][0] + radius(n), place[n["id"]][1] + radius(n)) for n in nodes])
    label_at: dict[str, tuple[str, float, tuple[float, float, str] | None]] = {}
    for n in sorted(nodes, key=priority):
        text = shorten(visible_controls(n["name"]), MAX_LABEL_CHARS)
        text += f" #{rank[n['id']]}" if n["id"] in rank else ""
        size = 11.0 if n["id"] in important else 9.0
        x, y = place[n["id"]]
        spots = _spots(x, y, radius(n), size, cx0, cy0, n["id"] == centre)
        label_at[n["id"]] = (text, size, labels.place(spots, text, size,
                                                      force=n["id"] in important))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="topology" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             'aria-label="topology around the incident" font-family="system-ui, sans-serif">']

    def edge_style(e: Mapping[str, Any]) -> tuple[int, str]:
        ends = {e["source"], e["target"]}
        if centre in ends and ends & alarming and len(ends) == 2:
            return 2, 'stroke="#c0392b" stroke-opacity="0.7" stroke-width="1.6"'
        if ends <= important:
            return 1, 'stroke="#999"'
        return 0, 'stroke="#e3e3e3"'

    for e in sorted(edges, key=lambda e: edge_style(e)[0]):
        (x1, y1), (x2, y2) = place[e["source"]], place[e["target"]]
        dash = ' stroke-dasharray="4 3"' if e["kind"] != "connected_to" else ""
        parts.append(f'<line class="edge" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" '
                     f'y2="{y2:.1f}" {edge_style(e)[1]}{dash}/>')

    for n in sorted(nodes, key=priority, reverse=True):
        node_id = n["id"]
        x, y = place[node_id]
        classes = ["node", "alarming" if n["alarming"] else "silent"]
        if n.get("candidate") or n["root_cause"]:
            classes.append("candidate")
        if n["root_cause"]:
            classes.append("root-cause")
        fill = ALARMING_FILL if n["alarming"] else SILENT_FILL
        if n["root_cause"]:
            ring = 'stroke="#000" stroke-width="4"'
        elif node_id in rank:
            ring = 'stroke="#000" stroke-width="2" stroke-dasharray="3 2"'
        elif n["alarming"]:
            ring = 'stroke="#7b241c"'
        else:
            ring = 'stroke="#aaa"'
        text, size, spot = label_at[node_id]
        label = ""
        if spot is not None:
            lx, ly, anchor = spot
            colour = "#222" if node_id in important else "#888"
            weight = ' font-weight="700"' if n["root_cause"] else ""
            label = (f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="{size:g}" fill="{colour}" '
                     f'text-anchor="{anchor}" stroke="#fff" stroke-width="3" '
                     f'paint-order="stroke"{weight}>{escape(text)}</text>')
        parts.append(f'<g class="{" ".join(classes)}" data-node-id="{escape(node_id)}">'
                     f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius(n):g}" fill="{fill}" '
                     f'{ring}/>{label}<title>{escape(_named(n))}: '
                     f'{", ".join(classes[1:])}</title></g>')
    parts.append("</svg>")
    return Markup("".join(parts) + _left_out_note(all_nodes, kept))


def _left_out_note(all_nodes: Sequence[Mapping[str, Any]], kept: set[str]) -> str:
    """Say what the picture leaves out, so a capped storm is not read as a small fault."""
    left_out = [n for n in all_nodes if n["id"] not in kept]
    shouting = sum(1 for n in left_out if n["alarming"])
    said = []
    if shouting:
        said.append(f"{shouting} alarming nodes (their alerts are in the table below)")
    if len(left_out) > shouting:
        said.append(f"{len(left_out) - shouting} silent neighbours")
    return f'<p class="note">{" and ".join(said)} not drawn.</p>' if said else ""
