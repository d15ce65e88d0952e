"""Learned links: entity pairs that alarm together far more often than chance.

Where no source saw a link but two nodes keep alarming within a short window of
each other, there is probably a dependency nobody recorded. This source suggests
such edges, marked so they are never mistaken for discovered ones: kind
``connected_to``, source ``learned``, attrs ``{"inferred": true, "confidence": c,
"support": n, "lift": l, "window_s": w}``.

Method. Alerts are resolved to nodes with the stored topology; alerts on one node
closer than ``window`` seconds to the previous one form one episode, so a storm
on one device counts once. For nodes a and b (a with fewer episodes),
``support`` is the number of a's episodes with an episode of b within ``window``;
chance expects ``n_a × (1 − exp(−n_b · 2·window / T))`` of them, T the span of the
history, and ``lift`` = support / expected. A pair becomes an edge when support ≥
``min_support``, lift ≥ ``min_lift`` and the share support / n_a ≥ ``min_share``,
and no edge other than an inferred one joins the two already.
``confidence = share × (1 − 1/lift)``: high when most episodes coincide and
coincidence is far above chance.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass

from aiops.models import Alert
from topology.discovery.base import Discovered, GraphBuilder
from topology.graph import TopologyGraph

NAME = "learned"


@dataclass(frozen=True, slots=True)
class Suggestion:
    a: str
    b: str
    support: int
    lift: float
    confidence: float


def episodes(alerts: list[Alert], topology: TopologyGraph,
             window: float) -> tuple[dict[str, list[float]], int]:
    """Episode start times per node, and how many alerts did not resolve."""
    starts: dict[str, list[float]] = defaultdict(list)
    unresolved = 0
    for alert in alerts:
        node = topology.resolve(alert.entity)
        if node is None:
            unresolved += 1
            continue
        starts[node].append(alert.starts_at)
    out: dict[str, list[float]] = {}
    for node, times in starts.items():
        times.sort()
        kept = [times[0]]
        for t in times[1:]:
            if t - kept[-1] > window:
                kept.append(t)
        out[node] = kept
    return out, unresolved


def _inferred_only(topology: TopologyGraph, a: str, b: str) -> bool:
    """True when a and b are not joined, or joined only by an inferred edge."""
    if not topology.graph.has_edge(a, b):
        return True
    attrs = topology.graph.edges[a, b].get("attrs") or {}
    return bool(attrs.get("inferred"))


def suggest(by_node: dict[str, list[float]], topology: TopologyGraph, window: float,
            min_support: int, min_lift: float, min_share: float) -> list[Suggestion]:
    """Pairs that co-alarm much more often than chance (see the module doc)."""
    timeline = sorted((t, node) for node, times in by_node.items() for t in times)
    if len(timeline) < 2:
        return []
    times = [t for t, _ in timeline]
    span = max(times[-1] - times[0], window) + window
    hits: dict[tuple[str, str], int] = defaultdict(int)
    for node, starts in by_node.items():
        for t in starts:
            lo = bisect.bisect_left(times, t - window)
            hi = bisect.bisect_right(times, t + window)
            for other in {n for _, n in timeline[lo:hi] if n != node}:
                hits[(node, other)] += 1
    out = []
    for (a, b), support in hits.items():
        n_a, n_b = len(by_node[a]), len(by_node[b])
        if (n_a, a) > (n_b, b):
            continue  # count each pair once, from the side with fewer episodes
        expected = n_a * (1.0 - math.exp(-n_b * 2.0 * window / span))
        lift = support / expected if expected > 0 else math.inf
        share = support / n_a
        if support < min_support or lift < min_lift or share < min_share:
            continue
        if not _inferred_only(topology, a, b):
            continue
        confidence = share * (1.0 - 1.0 / lift)
        out.append(Suggestion(a, b, support, lift, round(confidence, 3)))
    return sorted(out, key=lambda s: (-s.confidence, s.a, s.b))


class LearnedConnector:
    """Suggests inferred edges from an alert history file (canonical JSONL)."""

    name = NAME

    def __init__(self, alerts: str, window: float = 60.0, min_support: int = 3,
                 min_lift: float = 5.0, min_share: float = 0.5):
        self.alerts_path = alerts
        self.window = window
        self.min_support = min_support
        self.min_lift = min_lift
        self.min_share = min_share

    def collect(self, current: TopologyGraph | None = None) -> Discovered:
        from connectors.jsonl import read_alerts

        topology = current or TopologyGraph()
        alerts = read_alerts(self.alerts_path)
        by_node, unresolved = episodes(alerts, topology, self.window)
        builder = GraphBuilder(NAME)
        if unresolved:
            builder.warnings.append(f"{unresolved} of {len(alerts)} alerts name entities not "
                                    "in the topology; they were not used")
        for s in suggest(by_node, topology, self.window, self.min_support, self.min_lift,
                         self.min_share):
            builder.edge(s.a, s.b, "connected_to", inferred=True, confidence=s.confidence,
                         support=s.support,
                         lift=round(s.lift, 1) if math.isfinite(s.lift) else None,
                         window_s=self.window)
        return builder.result()
