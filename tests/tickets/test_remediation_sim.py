"""The benchmark's ticket simulator: canonical tickets, deterministic, truth kept aside."""

from __future__ import annotations

from aiops.models import parse_ticket
from benchmarks.correlation.scenario import ScenarioConfig, generate
from benchmarks.remediation import metrics
from benchmarks.remediation_sim import TicketSimulator


def test_simulated_tickets_are_canonical_and_deterministic() -> None:
    scenario = generate(ScenarioConfig(topology="huawei", seed=5, faults=12, hours=2,
                                       history_hours=4))
    roles = {n: "device" for n in scenario.topology.graph.nodes}
    first = TicketSimulator(5).simulate(scenario.history, roles, "H")
    again = TicketSimulator(5).simulate(scenario.history, roles, "H")
    assert first.tickets and first.tickets == again.tickets
    for raw in first.tickets:
        ticket = parse_ticket(raw)
        assert ticket.resolution and ticket.id in first.action_of
        group = first.group_of[ticket.id]
        root_type, role = first.fault_class[group]
        assert first.action_of[ticket.id] in TicketSimulator(5).class_actions(root_type, role)
        assert set(ticket.alert_ids) <= set(scenario.history.alert_group)
    assert any(not w for w in first.worked.values()) or len(first.tickets) < 20


def test_metrics() -> None:
    assert metrics([1, 2, None, 4]) == {"n": 4, "hit1": 0.25, "hit3": 0.5,
                                        "mrr": (1 + 0.5 + 0.25) / 4}
