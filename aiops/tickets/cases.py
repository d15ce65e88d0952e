"""From tickets and alerts to what the remediation model compares: cases and queries.

Training (``aiops train --alerts H --tickets T``) sees past alerts as a file, not as
stored incidents, so a ticket's alerts are found directly: the alerts whose ids it
lists, or else the alerts on its entity's node and the node's neighbours from
``lead`` seconds before it was opened until ``after`` seconds after.

The root alert type is chosen among the alerts on the root device (the ticket's
entity; for an incident, its top-ranked root cause), or among all its alerts when
that device raised none: the type that the learned relations between alert types
say causes the most of the others present (``score(t) = Σ strength(t, u) −
strength(u, t)``), the earliest on ties or without a trained model. Reporting
delays make "earliest" wrong about a third of the time on simulated cascades; the
causal direction is right far more often (docs/tickets.md). Incidents are described
by the same function at recommendation time, so training and use agree.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiops.learning.remediation import RemediationCase, RemediationQuery, ticket_worked
from aiops.learning.templates import alert_text, template
from aiops.models import Alert, Ticket
from aiops.tickets.linker import ticket_text
from topology.graph import TopologyGraph

MAX_TEXTS = 16  # alert templates kept per case or query: a storm repeats itself


@dataclass(frozen=True)
class CaseSettings:
    lead: float = 1800.0
    after: float = 600.0


def node_facts(topology: TopologyGraph, node_id: str | None) -> tuple[str | None, str | None]:
    """(kind, role) of a topology node; role from ``attrs.role``, else the kind."""
    node = topology.nodes.get(node_id) if node_id else None
    if node is None:
        return None, None
    role = node.attrs.get("role")
    return node.kind, str(role) if role else node.kind


class Relations(Protocol):
    """What root-type choice needs of the correlation model's learned relations."""

    def strength(self, cause: str, effect: str) -> float: ...


def pick_root_type(candidates: Sequence[tuple[str, float]], present: set[str],
                   relations: Relations | None) -> str | None:
    """The most causal of the ``candidates`` (type, start) given the types ``present``."""
    if not candidates:
        return None
    first: dict[str, float] = {}
    for name, start in candidates:
        first[name] = min(start, first.get(name, start))

    def causal(name: str) -> float:
        if relations is None:
            return 0.0
        return sum(relations.strength(name, other) - relations.strength(other, name)
                   for other in present if other != name)

    return min(first, key=lambda name: (-causal(name), first[name], name))


def _texts(alerts: Sequence[Alert]) -> list[str]:
    return list(dict.fromkeys(alert_text(a.name, a.summary) for a in alerts))[:MAX_TEXTS]


class _AlertIndex:
    """Past alerts by id and, per node, by start time."""

    def __init__(self, alerts: Sequence[Alert], topology: TopologyGraph):
        self.by_id = {a.id: a for a in alerts}
        self.node_of: dict[str, str | None] = {}
        per_node: dict[str, list[Alert]] = defaultdict(list)
        for alert in alerts:
            if alert.entity not in self.node_of:
                self.node_of[alert.entity] = topology.resolve(alert.entity) or None
            per_node[self.node_of[alert.entity] or f"entity:{alert.entity.lower()}"].append(alert)
        self.per_node = {k: sorted(v, key=lambda a: a.starts_at) for k, v in per_node.items()}
        self.starts = {k: [a.starts_at for a in v] for k, v in self.per_node.items()}

    def near(self, key: str, lo: float, hi: float) -> list[Alert]:
        starts = self.starts.get(key)
        if not starts:
            return []
        i, j = bisect.bisect_left(starts, lo), bisect.bisect_right(starts, hi)
        return self.per_node[key][i:j]


def cases_from_history(tickets: Sequence[Ticket], alerts: Sequence[Alert],
                       topology: TopologyGraph, relations: Relations | None = None,
                       settings: CaseSettings | None = None) -> list[RemediationCase]:
    """One case per ticket that says what was done (tickets without a resolution teach
    nothing about remediation and are left out)."""
    settings = settings or CaseSettings()
    index = _AlertIndex(alerts, topology)
    cases: list[RemediationCase] = []
    for ticket in tickets:
        if not ticket.resolution or not ticket.resolution.strip():
            continue
        node = topology.resolve(ticket.entity) if ticket.entity else None
        linked = [index.by_id[i] for i in dict.fromkeys(ticket.alert_ids) if i in index.by_id]
        if not linked and ticket.entity:
            keys = [node, *sorted(topology.neighbours(node))] if node \
                else [f"entity:{ticket.entity.lower()}"]
            lo, hi = ticket.opened_at - settings.lead, ticket.opened_at + settings.after
            linked = [a for key in keys for a in index.near(key, lo, hi)]
        linked.sort(key=lambda a: a.starts_at)
        own = [a for a in linked if node and index.node_of.get(a.entity) == node]
        root_type = pick_root_type([(a.name, a.starts_at) for a in own or linked],
                                   {a.name for a in linked}, relations)
        kind, role = node_facts(topology, node)
        cases.append(RemediationCase(
            ticket_id=ticket.id, action=ticket.resolution.strip(),
            worked=ticket_worked(ticket.labels), symptoms=ticket_text(ticket),
            alert_texts=_texts(linked), alert_types=sorted({a.name for a in linked}),
            cause=template(ticket.root_cause) if ticket.root_cause else None,
            root_type=root_type, entity_kind=kind, entity_role=role))
    return cases


def query_from_incident(incident: dict[str, Any], topology: TopologyGraph,
                        relations: Relations | None = None) -> RemediationQuery:
    """Describe a stored incident (``aiops.store.queries.get_incident``) for the model."""
    alerts = incident.get("alerts") or []
    causes = incident.get("root_causes") or []
    top = causes[0] if causes else {}
    node_id = top.get("node_id")
    own = [a for a in alerts if node_id and a.get("node_id") == node_id]
    present = {a["name"] for a in alerts}
    root_type = pick_root_type([(a["name"], a.get("starts_at_epoch") or 0.0)
                                for a in own or alerts], present, relations)
    root_alert = next((a for a in own or alerts if a["name"] == root_type), None)
    if node_id is None and root_alert is not None:
        node_id = root_alert.get("node_id")
    kind, role = node_facts(topology, node_id)
    texts = list(dict.fromkeys(alert_text(a["name"], a["summary"]) for a in alerts))
    return RemediationQuery(
        alert_texts=texts[:MAX_TEXTS], alert_types=sorted(present), root_type=root_type,
        cause=alert_text(root_alert["name"], root_alert["summary"]) if root_alert else None,
        entity_kind=kind, entity_role=role)
