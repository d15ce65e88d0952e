"""Baselines the engine must beat, run on the same alert events as the engine.

Grouping:

* ``alertmanager``: Prometheus Alertmanager with ``group_by: [entity]`` and
  ``group_interval: 5m``. Alertmanager keeps one aggregation group per value of
  the group_by labels and sends what is new in it every group_interval; a group
  whose alerts are all resolved is flushed and deleted, and the next alert on that
  entity starts a new notification thread. We read "one notification thread" as
  one incident and end it when no alert has arrived on the entity for 5 minutes
  (gap to the group's *last* alert). That is kinder than real Alertmanager on a
  busy entity (which never splits while anything fires) and it ignores group_wait,
  which delays but does not change the groups.
* ``window60``: a global 60 s window. An event joins the current group when it
  starts within 60 s of the group's *first* event, else it opens a new group. We
  measure from the first event, not the last, so a steady stream cannot chain the
  whole day into one group (the usual tumbling-window reading).
* ``alec``: OpenNMS ALEC's spatio-temporal clustering: DBSCAN with distance
  α(β·Δt + (1−β)·hops), Δt in minutes, hops the shortest path between the events'
  devices (unreachable or unknown: a large number), α = 144.47, β = 0.5526,
  ε = 100, minPts = 1. With minPts = 1 every point is a core point, so the
  clusters are exactly the connected components of the "distance ≤ ε" graph.
  ε bounds Δt (hops ≥ 0) and hops (Δt ≥ 0): with these constants only events on
  one device within 75 s or on adjacent devices within 26.6 s are linked, and
  farther or unreachable pairs never are. A time-sorted sweep therefore compares an
  event only with recent events on devices within the hop bound: no n×n matrix.

Root cause for all three: the "earliest alert's entity" rule: the group's distinct
entities in the order of their first event, so rank 1 is the entity that spoke first.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import networkx as nx

from benchmarks.correlation.metrics import Prediction

GROUP_INTERVAL = 300.0
WINDOW = 60.0
ALEC_ALPHA, ALEC_BETA, ALEC_EPSILON = 144.47, 0.5526, 100.0
ROOT_CAUSES_KEPT = 5


@dataclass(frozen=True, slots=True)
class Event:
    """What the baselines look at: the id, the entity and when it started; for
    ``alec-folded`` also the condition it reports (``key``: type, entity, labels) and
    when that cleared."""

    id: str
    entity: str
    starts_at: float
    key: str = ""
    ends_at: float | None = None


def by_time(events: Iterable[Event]) -> list[Event]:
    """Events in ``starts_at`` order, ties by id, as every baseline consumes them."""
    return sorted(events, key=lambda e: (e.starts_at, e.id))


def earliest_entities(group: Sequence[Event], keep: int = ROOT_CAUSES_KEPT) -> list[str]:
    """Distinct entities in the order of their first event: the earliest-alert rule."""
    seen: dict[str, None] = {}
    for event in sorted(group, key=lambda e: (e.starts_at, e.id)):
        seen.setdefault(event.entity, None)
        if len(seen) >= keep:
            break
    return list(seen)


def to_prediction(groups: Iterable[Sequence[Event]]) -> Prediction:
    groups = [g for g in groups if g]
    return Prediction(groups=[[e.id for e in g] for g in groups],
                      root_causes=[earliest_entities(g) for g in groups])


def alertmanager(events: Iterable[Event], group_interval: float = GROUP_INTERVAL) -> Prediction:
    """group_by entity; a group ends after ``group_interval`` s without a new alert."""
    open_groups: dict[str, list[Event]] = {}
    done: list[list[Event]] = []
    for event in by_time(events):
        group = open_groups.get(event.entity)
        if group is not None and event.starts_at - group[-1].starts_at > group_interval:
            done.append(group)
            group = None
        if group is None:
            group = open_groups[event.entity] = []
        group.append(event)
    done.extend(open_groups.values())
    return to_prediction(done)


def time_window(events: Iterable[Event], window: float = WINDOW) -> Prediction:
    """One global window: join the current group within ``window`` s of its first event."""
    groups: list[list[Event]] = []
    for event in by_time(events):
        if groups and event.starts_at - groups[-1][0].starts_at <= window:
            groups[-1].append(event)
        else:
            groups.append([event])
    return to_prediction(groups)


class _UnionFind:
    def __init__(self, n: int):
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        parent = self.parent
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def alec_distance(dt_seconds: float, hops: int, alpha: float = ALEC_ALPHA,
                  beta: float = ALEC_BETA) -> float:
    """ALEC's spatio-temporal distance between two alarms."""
    return alpha * (beta * abs(dt_seconds) / 60.0 + (1.0 - beta) * hops)


def alec(events: Iterable[Event], graph: nx.Graph, alpha: float = ALEC_ALPHA,
         beta: float = ALEC_BETA, epsilon: float = ALEC_EPSILON) -> Prediction:
    """DBSCAN (minPts = 1) under ALEC's distance, by a time-sorted sweep."""
    ordered = by_time(events)
    max_dt = epsilon / (alpha * beta) * 60.0  # seconds, reached at 0 hops
    max_hops = int(epsilon // (alpha * (1.0 - beta))) if beta < 1.0 else 0
    rings = _hop_lookup(graph, max_hops)
    recent: dict[str, deque[int]] = {}  # entity -> indices of its events within max_dt
    union = _UnionFind(len(ordered))
    for i, event in enumerate(ordered):
        for entity, hops in rings(event.entity).items():
            queue = recent.get(entity)
            if not queue:
                continue
            while queue and event.starts_at - ordered[queue[0]].starts_at > max_dt:
                queue.popleft()
            for j in queue:
                if alec_distance(event.starts_at - ordered[j].starts_at, hops, alpha,
                                 beta) <= epsilon:
                    union.union(i, j)
        recent.setdefault(event.entity, deque()).append(i)
    clusters: dict[int, list[Event]] = {}
    for i, event in enumerate(ordered):
        clusters.setdefault(union.find(i), []).append(event)
    return to_prediction(clusters.values())


def alec_folded(events: Iterable[Event], graph: nx.Graph) -> Prediction:
    """ALEC as OpenNMS feeds it: repeats of a condition still uncleared fold into one
    alarm (OpenNMS's reduction key), clustered at its first time; every repeat goes where
    its alarm goes. Why beside ``alec``: the issue's spec is DBSCAN on the alerts, which
    clusters each re-send on its own; this is the peer at its strongest."""
    alarms: list[Event] = []
    members: dict[str, list[Event]] = {}
    open_alarm: dict[str, Event] = {}
    for event in by_time(events):
        first = open_alarm.get(event.key) if event.key else None
        if first is not None and (first.ends_at is None or event.starts_at <= first.ends_at):
            members[first.id].append(event)
            continue
        open_alarm[event.key] = event
        alarms.append(event)
        members[event.id] = [event]
    clustered = alec(alarms, graph)
    groups = [[e for alarm_id in group for e in members[alarm_id]]
              for group in clustered.groups]
    return to_prediction(groups)


def _hop_lookup(graph: nx.Graph, max_hops: int) -> Callable[[str], dict[str, int]]:
    """Entity -> {entity within ``max_hops``: hops}; unknown entities reach only themselves."""
    cache: dict[str, dict[str, int]] = {}

    def lookup(entity: str) -> dict[str, int]:
        found = cache.get(entity)
        if found is None:
            if entity in graph:
                found = dict(nx.single_source_shortest_path_length(graph, entity,
                                                                   cutoff=max_hops))
            else:
                found = {entity: 0}
            cache[entity] = found
        return found

    return lookup


BASELINES: dict[str, Callable[[list[Event], nx.Graph], Prediction]] = {
    "alertmanager": lambda events, _graph: alertmanager(events),
    "window60": lambda events, _graph: time_window(events),
    "alec": alec,
    "alec-folded": alec_folded,
}
