"""From tickets and alerts to what the remediation model compares: cases and queries.

Training (``aiops train --alerts H --tickets T``) sees past alerts as a file, not as
stored incidents, so a ticket's alerts are found directly: the alerts whose ids it
lists together with the alerts on its entity's node and neighbours within
``around`` seconds of them (a ticket often lists only the first alerts of a
cascade), or without listed ids the alerts on the node and neighbours from ``lead``
seconds before it was opened until ``after`` seconds after.

The root alert type is chosen among the alerts on the root device (the ticket's
entity; for an incident, its top-ranked root cause), or among all its alerts when
that device raised none, by the learned causal graph (:mod:`aiops.tickets.root_type`),
and a distribution over root types goes with it for a dead device that shows only
its effects. Incidents are described by the same functions at recommendation time,
so training and use agree.

Alerts are read as the correlator reads them (``labelled_text``: the values of their
identity labels masked by the labels' names), and a ticket's text and root cause with
the instance names of its alerts masked the same way, so a past ticket for one pod's
crash loop describes another pod's. The texts are stored in the model's cases; a
model stores which reading made them (``RemediationModel.text_format``) and its
queries are read the same way (``query_from_incident(masked=..., format3=...)``).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiops.learning.remediation import RemediationCase, RemediationQuery, ticket_worked
from aiops.learning.templates import (
    alert_text,
    identities,
    labelled_text,
    mask_identities,
    template,
)
from aiops.models import Alert, Ticket
from aiops.tickets.linker import ticket_text
from aiops.tickets.root_type import Relations, causal_order
from topology.graph import TopologyGraph

MAX_TEXTS = 16  # alert templates kept per case or query: a storm repeats itself


@dataclass(frozen=True)
class CaseSettings:
    lead: float = 1800.0  # without listed alerts: window before the ticket was opened
    after: float = 600.0  # ... and after
    around: float = 300.0  # listed alerts: also those nearby within this of them


def node_facts(topology: TopologyGraph, node_id: str | None) -> tuple[str | None, str | None]:
    """(kind, role) of a topology node; role from ``attrs.role``, else the kind."""
    node = topology.nodes.get(node_id) if node_id else None
    if node is None:
        return None, None
    role = node.attrs.get("role")
    return node.kind, str(role) if role else node.kind


def _texts(alerts: Sequence[Alert]) -> list[str]:
    return list(dict.fromkeys(labelled_text(a.name, a.summary, a.labels)
                              for a in alerts))[:MAX_TEXTS]


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


def _linked_alerts(ticket: Ticket, node: str | None, index: _AlertIndex,
                   topology: TopologyGraph, settings: CaseSettings) -> list[Alert]:
    """The alerts a ticket was about: those it lists, with the alerts on its entity's
    node and neighbours around them (a ticket often lists only the first alerts of a
    cascade, and the root's alert need not be among them); without listed alerts,
    those on the node and neighbours from ``lead`` before the ticket was opened until
    ``after``."""
    listed = [index.by_id[i] for i in dict.fromkeys(ticket.alert_ids) if i in index.by_id]
    if not ticket.entity:
        return sorted(listed, key=lambda a: a.starts_at)
    keys = [node, *sorted(topology.neighbours(node))] if node \
        else [f"entity:{ticket.entity.lower()}"]
    if listed:
        starts = [a.starts_at for a in listed]
        lo, hi = min(starts) - settings.around, max(starts) + settings.around
    else:
        lo, hi = ticket.opened_at - settings.lead, ticket.opened_at + settings.after
    found = {a.id: a for a in listed}
    if not listed or settings.around > 0:
        found.update((a.id, a) for key in keys for a in index.near(key, lo, hi))
    return sorted(found.values(), key=lambda a: (a.starts_at, a.id))


@dataclass(frozen=True)
class TicketAlerts:
    """A past ticket with the alerts it was about: all of them (``linked``) and those
    on its entity's node (``own``; empty when the device raised nothing)."""

    ticket: Ticket
    node: str | None
    linked: list[Alert]
    own: list[Alert]


def ticket_alerts(tickets: Sequence[Ticket], alerts: Sequence[Alert], topology: TopologyGraph,
                  settings: CaseSettings | None = None) -> list[TicketAlerts]:
    """Each ticket with its alerts, found as the module docstring says; shared by the
    remediation cases and the root-cause priors so both read history the same way."""
    settings = settings or CaseSettings()
    index = _AlertIndex(alerts, topology)
    out: list[TicketAlerts] = []
    for ticket in tickets:
        node = topology.resolve(ticket.entity) if ticket.entity else None
        linked = _linked_alerts(ticket, node, index, topology, settings)
        own = [a for a in linked if node and index.node_of.get(a.entity) == node]
        out.append(TicketAlerts(ticket, node, linked, own))
    return out


def cases_from_history(tickets: Sequence[Ticket], alerts: Sequence[Alert],
                       topology: TopologyGraph, relations: Relations | None = None,
                       settings: CaseSettings | None = None) -> list[RemediationCase]:
    """One case per ticket that says what was done (tickets without a resolution teach
    nothing about remediation and are left out)."""
    order = causal_order(relations)
    cases: list[RemediationCase] = []
    with_resolution = [t for t in tickets if t.resolution and t.resolution.strip()]
    for found in ticket_alerts(with_resolution, alerts, topology, settings):
        ticket, node, linked, own = found.ticket, found.node, found.linked, found.own
        assert ticket.resolution is not None
        present = {a.name for a in linked}
        root_type = order.pick([(a.name, a.starts_at) for a in own or linked], present)
        kind, role = node_facts(topology, node)
        names = identities(a.labels for a in linked)
        cases.append(RemediationCase(
            ticket_id=ticket.id, action=ticket.resolution.strip(),
            worked=ticket_worked(ticket.labels), symptoms=ticket_text(ticket, names),
            alert_texts=_texts(linked), alert_types=sorted({a.name for a in linked}),
            cause=template(mask_identities(ticket.root_cause, names))
            if ticket.root_cause else None,
            root_type=root_type, root_types=order.weights(present, root_type),
            entity_kind=kind, entity_role=role))
    return cases


def query_from_incident(incident: dict[str, Any], topology: TopologyGraph,
                        relations: Relations | None = None, masked: bool = True,
                        format3: bool = True) -> RemediationQuery:
    """Describe a stored incident (``aiops.store.queries.get_incident``, whose alerts
    carry their labels) for the model. ``masked``: its alerts read with their identity
    labels masked, as ``cases_from_history`` reads them now; False for a model whose
    cases were read without (``text_format`` 1), which must keep scoring as trained.
    ``format3``: read with text format 3's masks (user names of login messages, IPv6
    addresses by their shapes: ``templates.template``); False for a model trained
    before them (``text_format`` below 3)."""
    def text(alert: dict[str, Any]) -> str:
        if masked:
            return labelled_text(alert["name"], alert["summary"], alert.get("labels"),
                                 format3)
        return alert_text(alert["name"], alert["summary"], format3)

    alerts = incident.get("alerts") or []
    causes = incident.get("root_causes") or []
    top = causes[0] if causes else {}
    node_id = top.get("node_id")
    own = [a for a in alerts if node_id and a.get("node_id") == node_id]
    present = {a["name"] for a in alerts}
    order = causal_order(relations)
    root_type = order.pick([(a["name"], a.get("starts_at_epoch") or 0.0)
                            for a in own or alerts], present)
    root_alert = next((a for a in own or alerts if a["name"] == root_type), None)
    if node_id is None and root_alert is not None:
        node_id = root_alert.get("node_id")
    kind, role = node_facts(topology, node_id)
    texts = list(dict.fromkeys(text(a) for a in alerts))
    return RemediationQuery(
        alert_texts=texts[:MAX_TEXTS], alert_types=sorted(present), root_type=root_type,
        root_types=order.weights(present, root_type),
        cause=text(root_alert) if root_alert else None,
        entity_kind=kind, entity_role=role)
