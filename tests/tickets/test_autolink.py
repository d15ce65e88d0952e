"""Tickets linked as they arrive and as incidents resolve, not on every alert."""

from __future__ import annotations

import sqlalchemy as sa

from aiops.engine.state import MERGED, IncidentRecord
from aiops.models import Ticket, parse_alert
from aiops.runtime import Runtime
from aiops.store.tables import incidents
from aiops.tickets.autolink import TicketLinkSink, store_and_link
from aiops.tickets.store import count_tickets, incident_tickets
from tests.tickets.history import T0, fault, topology
from topology.model import parse_topology


def _sink(runtime: Runtime) -> TicketLinkSink:
    sinks = [s for s in runtime.engine.sinks if isinstance(s, TicketLinkSink)]
    assert len(sinks) == 1, "open_runtime registers one ticket-link sink"
    return sinks[0]


def _incident_ids(runtime: Runtime) -> list[str]:
    with runtime.db.connect() as conn:
        return list(conn.execute(sa.select(incidents.c.id).order_by(incidents.c.seq))
                    .scalars())


def test_a_ticket_stored_first_is_linked_when_its_incident_resolves(runtime: Runtime) -> None:
    nodes, edges = parse_topology(topology())
    runtime.import_topology(nodes, edges, source="test")
    early = Ticket("T-early", T0 + 200, "Power failure at ne-02", entity="ne-02",
                   resolved_at=T0 + 2000)
    far = Ticket("T-far", T0 + 90_000, "Power failure at ne-02", entity="ne-02")
    _, links = store_and_link(runtime.db, [early, far], "test", runtime.engine.topology, None)
    assert links == 0  # no incident yet

    alerts = fault("power", 1, T0, "ne-02", "a")
    runtime.engine.ingest([parse_alert({**a, "ends_at": None}) for a in alerts])
    with runtime.db.connect() as conn:
        assert count_tickets(conn) == (2, 0)  # firing alerts do not link: not the hot path
    assert _sink(runtime).relinked == 0

    runtime.engine.ingest([parse_alert({**a, "id": a["id"] + "-clear"}) for a in alerts])
    (incident,) = _incident_ids(runtime)
    with runtime.db.connect() as conn:
        linked = incident_tickets(conn, incident)
        assert [t["id"] for t in linked] == ["T-early"]  # T-far is a day later
        assert "entity ne-02 is a node of the incident" in linked[0]["evidence"]
        assert count_tickets(conn) == (2, 1)
    assert _sink(runtime).relinked == 1


def test_tickets_of_a_merged_incident_are_linked_again(runtime: Runtime) -> None:
    nodes, edges = parse_topology(topology())
    runtime.import_topology(nodes, edges, source="test")
    runtime.engine.ingest([parse_alert(a) for a in fault("power", 1, T0, "ne-02", "a")
                           + fault("fibre", 2, T0 + 20_000, "ne-08", "b")])
    power, fibre = _incident_ids(runtime)
    ticket = Ticket("T-ids", T0 + 300, "Outage", alert_ids=["a1-0"])
    store_and_link(runtime.db, [ticket], "test", runtime.engine.topology, None)
    with runtime.db.connect() as conn:
        assert [t["id"] for t in incident_tickets(conn, power)] == ["T-ids"]
    # The engine merged the power incident into the fibre one: its alerts live there now.
    with runtime.db.begin() as conn:
        conn.execute(incidents.update().where(incidents.c.id == power)
                     .values(status=MERGED, merged_into=fibre))
        conn.execute(sa.text("UPDATE alerts SET incident_id = :f WHERE incident_id = :p"),
                     {"f": fibre, "p": power})
    record = IncidentRecord(id=power, seq=1, started_at=T0, updated_at=T0 + 10,
                            status=MERGED, merged_into=fibre)
    assert _sink(runtime).publish([record], []) == 1
    with runtime.db.connect() as conn:
        assert incident_tickets(conn, power) == []
        assert [t["id"] for t in incident_tickets(conn, fibre)] == ["T-ids"]
