"""Which live incidents touch which node or entity: the correlator's candidate set.

Only incidents that saw an alert within the correlation horizon are indexed, so
finding candidates for an alert costs a few set look-ups however long the history.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections import defaultdict
from dataclasses import dataclass, field
from operator import attrgetter

from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.learning.templates import event_text

MAX_PROFILE_TEXTS = 8  # distinct alert templates kept per incident for text similarity
# Alerts kept per node (or entity) of an incident, to name the one a placement linked
# through: its first and its latest 7 by start. A late or skewed alert lands among
# the node's recent ones (a report delay, a clock's skew: seconds to minutes), and one
# before them all is nearest the first; a node that alarmed more often than this in
# one incident (a flapping port) names the nearest of those kept. Bounded so that a
# large incident costs a short list per node, not one entry per alert.
MAX_NODE_MEMBERS = 8

_start = attrgetter("starts_at")


@dataclass(slots=True)
class IncidentProfile:
    """What a correlator compares a new alert with, kept up to date as alerts join."""

    names: set[str] = field(default_factory=set)
    texts: list[str] = field(default_factory=list)
    # First and last alert start per node (or per unresolved entity): a new alert is
    # compared with the members next to it, not with the incident as a whole, so a
    # large incident does not pull in everything near any of its corners.
    spans: dict[str, tuple[float, float]] = field(default_factory=dict)
    # Alerts per node (or entity) in start order, at most ``MAX_NODE_MEMBERS``: the
    # member a placement names as the one it linked through is the one nearest in time
    # (``nearest``; ``aiops.engine.placement``).
    members: dict[str, list[AlertRecord]] = field(default_factory=dict)

    def add(self, alert: AlertRecord) -> None:
        key = alert.node_id or alert.entity
        held = self.members.get(key)
        if held is None:
            self.members[key] = [alert]
        elif alert not in held:  # a re-fired or re-indexed alert is held once
            if alert.starts_at >= held[-1].starts_at:
                held.append(alert)  # the usual case: alerts arrive in start order
            else:
                insort(held, alert, key=_start)
            if len(held) > MAX_NODE_MEMBERS:
                del held[1]  # keep the first and the latest
        first, last = self.spans.get(key, (alert.starts_at, alert.starts_at))
        self.spans[key] = (min(first, alert.starts_at), max(last, alert.starts_at))
        self.names.add(alert.name)
        if len(self.texts) < MAX_PROFILE_TEXTS:
            text = event_text(alert.event)
            if text not in self.texts:
                self.texts.append(text)

    def nearest(self, key: str, at: float) -> AlertRecord | None:
        """The alert held on ``key`` whose start is nearest ``at``; of two as near, the
        earlier (the one ``at`` follows, as an effect follows its cause)."""
        held = self.members.get(key)
        if not held:
            return None
        last = held[-1]
        if at >= last.starts_at:
            return last
        i = bisect_left(held, at, key=_start)
        if i == 0:
            return held[0]
        before, after = held[i - 1], held[i]
        return before if at - before.starts_at <= after.starts_at - at else after


class IncidentIndex:
    def __init__(self) -> None:
        self.incidents: dict[str, IncidentRecord] = {}
        self.profiles: dict[str, IncidentProfile] = {}
        self._by_node: dict[str, set[str]] = defaultdict(set)
        self._by_entity: dict[str, set[str]] = defaultdict(set)

    def __len__(self) -> int:
        return len(self.incidents)

    def add(self, incident: IncidentRecord, alert: AlertRecord) -> None:
        self.incidents[incident.id] = incident
        profile = self.profiles.get(incident.id)
        if profile is None:
            profile = self.profiles[incident.id] = IncidentProfile()
        profile.add(alert)
        if alert.node_id is not None:
            self._by_node[alert.node_id].add(incident.id)
        self._by_entity[alert.entity].add(incident.id)

    def at_node(self, node_id: str) -> list[IncidentRecord]:
        return [self.incidents[i] for i in self._by_node.get(node_id, ())]

    def for_entity(self, entity: str) -> list[IncidentRecord]:
        return [self.incidents[i] for i in self._by_entity.get(entity, ())]

    def remove(self, incident: IncidentRecord) -> None:
        self.incidents.pop(incident.id, None)
        self.profiles.pop(incident.id, None)
        for alert in incident.alerts.values():
            for table, key in ((self._by_node, alert.node_id), (self._by_entity, alert.entity)):
                ids = table.get(key) if key is not None else None
                if ids is not None:
                    ids.discard(incident.id)
                    if not ids:
                        del table[key]

    def expire(self, before: float) -> list[IncidentRecord]:
        """Drop incidents whose last alert is older than ``before``; return them."""
        old = [inc for inc in self.incidents.values() if inc.updated_at < before]
        for incident in old:
            self.remove(incident)
        return old
