"""Root-cause priors learned from resolved tickets, and their use in the ranking."""

from __future__ import annotations

import random

from aiops.engine.rank import CausalTopologyRanker
from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.learning.registry import ModelRegistry
from aiops.learning.root_priors import (
    RootCausePriors,
    load_promoted_priors,
    train_root_priors,
)
from aiops.models import Alert, Ticket
from topology.graph import TopologyGraph
from topology.model import Edge, Node


def ring(n: int = 20) -> TopologyGraph:
    nodes = [Node(f"d{i}", "device", f"d{i}") for i in range(n)]
    return TopologyGraph(nodes, [Edge(f"d{i}", f"d{(i + 1) % n}") for i in range(n)])


def ticketed_history(seed: int = 1) -> tuple[list[Alert], list[Ticket]]:
    """A failing PSU raises POWER_FAIL on its device and LINK_DOWN twice on a
    neighbour; a quarter of the failures are silent (the device reports nothing).
    Every fault has a ticket naming the failed device and its first alert."""
    rng = random.Random(seed)
    alerts: list[Alert] = []
    tickets: list[Ticket] = []
    t = 0.0
    for k in range(40):
        t += 3600.0
        d = rng.randrange(20)
        first = f"l{k}a"
        if rng.random() >= 0.25:
            alerts.append(Alert(f"p{k}", "s", "POWER_FAIL", f"d{d}", "critical", "", t + 5))
        alerts.append(Alert(first, "s", "LINK_DOWN", f"d{(d + 1) % 20}", "major", "", t))
        alerts.append(Alert(f"l{k}b", "s", "LINK_DOWN", f"d{(d + 1) % 20}", "major", "", t + 9))
        tickets.append(Ticket(f"T{k}", opened_at=t + 60, title="site down", entity=f"d{d}",
                              resolution="replaced PSU", alert_ids=[first]))
    return alerts, tickets


def test_priors_learn_where_the_fault_was() -> None:
    alerts, tickets = ticketed_history()
    priors = RootCausePriors().fit(tickets, alerts, ring())
    assert priors.tickets_ == 40 and priors.usable
    power, at_root, seen = priors.type_root_share("POWER_FAIL")
    assert power > 0.9 and at_root == seen
    assert priors.type_root_share("LINK_DOWN")[0] < 0.1
    assert 0.1 < priors.silent_share() < 0.45  # a quarter were silent
    again = RootCausePriors.from_dict(priors.to_dict())
    assert again.to_dict() == priors.to_dict()


def test_ticket_priors_move_the_ranking_to_the_device_at_fault() -> None:
    alerts, tickets = ticketed_history()
    topo = ring()
    priors = RootCausePriors().fit(tickets, alerts, topo)
    incident = IncidentRecord(id="inc-1", seq=1, started_at=0.0, updated_at=0.0)
    # the neighbour holds most alarms and the earliest one; the PSU alarm is on d5
    for k, (name, node, at) in enumerate([("LINK_DOWN", "d6", 100.0),
                                          ("LINK_DOWN", "d6", 101.0),
                                          ("POWER_FAIL", "d5", 110.0)]):
        incident.alerts[k] = AlertRecord(id=k, fingerprint=str(k),
                                         event=Alert(f"x{k}", "s", name, node, "major", "", at),
                                         node_id=node, starts_at=at)
    assert CausalTopologyRanker(topo).rank(incident)[0].entity == "d6"
    ranked = CausalTopologyRanker(topo, priors=priors).rank(incident)
    assert ranked[0].entity == "d5"
    assert any("past tickets with POWER_FAIL, the device raising it was at fault" in line
               for line in ranked[0].evidence)
    # too few tickets teach nothing: the priors are not used
    few = RootCausePriors().fit(tickets[:3], alerts, topo)
    assert CausalTopologyRanker(topo, priors=few).rank(incident)[0].entity == "d6"


def test_priors_are_versioned_and_promoted(tmp_path) -> None:
    alerts, tickets = ticketed_history()
    registry = ModelRegistry(tmp_path)
    assert load_promoted_priors(registry) is None
    _, meta = train_root_priors(registry, tickets, alerts, ring(), "history.jsonl")
    assert meta["tickets"] == 40 and meta["usable"]
    loaded = load_promoted_priors(registry)
    assert loaded is not None and loaded.tickets_ == 40
