"""Pictures for the incident view, drawn server-side as SVG.

Drawing here keeps the view a plain page (no JavaScript bundle to build or ship)
and lets the browser test assert on real shapes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import networkx as nx
from markupsafe import Markup, escape

SEVERITY_COLOURS = {"critical": "#c0392b", "major": "#e67e22", "minor": "#f1c40f",
                    "warning": "#3498db", "info": "#95a5a6"}
MAX_TIMELINE_ROWS = 60


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M:%S")


def timeline_svg(incident: dict[str, Any], width: int = 900) -> Markup:
    """One bar per alert from start to clear (or to now-ish while firing)."""
    alerts = incident["alerts"][:MAX_TIMELINE_ROWS]
    if not alerts:
        return Markup("<p>No alerts.</p>")
    root_alerts = {rc.get("alert_id") for rc in incident["root_causes"][:1]}
    starts = [a["starts_at_epoch"] for a in alerts]
    ends = [a["ends_at_epoch"] or a["starts_at_epoch"] for a in alerts]
    t0 = min(starts)
    t1 = max(max(ends), max(starts)) + 1.0
    label_w, row_h, top = 260, 16, 24
    plot_w = width - label_w - 20
    height = top + row_h * len(alerts) + 10

    def x(ts: float) -> float:
        return label_w + (ts - t0) / (t1 - t0) * plot_w

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{width}" '
             f'height="{height}" role="img" aria-label="alert timeline">']
    for i in range(5):
        ts = t0 + (t1 - t0) * i / 4
        parts.append(f'<line x1="{x(ts):.1f}" y1="{top - 6}" x2="{x(ts):.1f}" y2="{height}" '
                     'stroke="#ddd"/>')
        parts.append(f'<text x="{x(ts):.1f}" y="12" font-size="10" text-anchor="middle">'
                     f'{_clock(ts)}</text>')
    for row, alert in enumerate(alerts):
        y = top + row * row_h
        start = alert["starts_at_epoch"]
        end = alert["ends_at_epoch"] if alert["ends_at_epoch"] is not None else t1
        colour = SEVERITY_COLOURS.get(alert["severity"], "#777")
        outline = ' stroke="#000" stroke-width="2"' if alert["id"] in root_alerts else ""
        label = escape(f"{alert['name']} @ {alert['entity']}")
        parts.append(f'<text x="{label_w - 6}" y="{y + 11}" font-size="11" '
                     f'text-anchor="end">{label}</text>')
        parts.append(
            f'<rect class="alert-bar" data-alert-id="{escape(alert["id"])}" x="{x(start):.1f}" '
            f'y="{y + 2}" width="{max(x(end) - x(start), 3):.1f}" height="{row_h - 4}" '
            f'fill="{colour}"{outline}><title>{label}: {escape(alert["starts_at"])} → '
            f'{escape(alert["ends_at"] or "firing")}</title></rect>')
    parts.append("</svg>")
    more = len(incident["alerts"]) - len(alerts)
    note = f'<p class="note">{more} more alerts not drawn.</p>' if more > 0 else ""
    return Markup("".join(parts) + note)


def topology_svg(graph: dict[str, Any], width: int = 640, height: int = 420) -> Markup:
    """Alarming nodes in red, the top root cause ringed, silent neighbours in grey."""
    nodes = graph["nodes"]
    if not nodes:
        return Markup("<p>None of this incident's entities is in the topology.</p>")
    g = nx.Graph()
    g.add_nodes_from(n["id"] for n in nodes)
    g.add_edges_from((e["source"], e["target"]) for e in graph["edges"])
    pos = nx.spring_layout(g, seed=42) if len(g) > 1 else {nodes[0]["id"]: (0.0, 0.0)}
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    span_x = (max(xs) - min(xs)) or 1.0
    span_y = (max(ys) - min(ys)) or 1.0
    margin = 40

    def place(node_id: str) -> tuple[float, float]:
        px, py = pos[node_id]
        return (margin + (px - min(xs)) / span_x * (width - 2 * margin),
                margin + (py - min(ys)) / span_y * (height - 2 * margin))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="topology" width="{width}" '
             f'height="{height}" role="img" aria-label="topology around the incident">']
    for e in graph["edges"]:
        (x1, y1), (x2, y2) = place(e["source"]), place(e["target"])
        dash = ' stroke-dasharray="4 3"' if e["kind"] != "connected_to" else ""
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                     f'stroke="#888"{dash}/>')
    for n in nodes:
        cx, cy = place(n["id"])
        state = "root-cause" if n["root_cause"] else ("alarming" if n["alarming"] else "silent")
        fill = "#c0392b" if n["alarming"] else "#bdc3c7"
        ring = ' stroke="#000" stroke-width="4"' if n["root_cause"] else ' stroke="#555"'
        parts.append(f'<g class="node {state}" data-node-id="{escape(n["id"])}">'
                     f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="11" fill="{fill}"{ring}/>'
                     f'<text x="{cx:.1f}" y="{cy + 24:.1f}" font-size="11" '
                     f'text-anchor="middle">{escape(n["name"])}</text>'
                     f'<title>{escape(n["id"])}: {state}</title></g>')
    parts.append("</svg>")
    return Markup("".join(parts))
