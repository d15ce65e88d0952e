"""Tickets stored (migration 0002) and linked to the incidents they were about."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from aiops.learning.embeddings import TemplateEmbedder
from aiops.models import Ticket, parse_alert
from aiops.runtime import Runtime
from aiops.store.db import alembic_config, open_database
from aiops.tickets.linker import LinkSettings, TicketLinker
from aiops.tickets.store import (
    count_tickets,
    incident_tickets,
    load_tickets,
    replace_links,
    store_tickets,
)
from tests.tickets.history import T0, fault, topology
from topology.model import parse_topology


def test_one_head_and_the_tables_exist(db_url: str) -> None:
    engine = open_database(db_url)
    try:
        heads = ScriptDirectory.from_config(alembic_config(engine)).get_heads()
        assert len(heads) == 1, f"expected one migration head, got {heads}"
        names = sa.inspect(engine).get_table_names()
        assert {"tickets", "ticket_links"} <= set(names)
    finally:
        engine.dispose()


def test_store_is_an_upsert(db_url: str) -> None:
    engine = open_database(db_url)
    try:
        first = Ticket("INC1", T0, "PSU", entity="ne-01", resolution="swap")
        with engine.begin() as conn:
            assert store_tickets(conn, [first], "file", lambda e: "ne-01").inserted == 1
        changed = Ticket("INC1", T0, "PSU", entity="ne-01", resolution="replaced PSU",
                         alert_ids=["a"], labels={"k": "v"})
        with engine.begin() as conn:
            result = store_tickets(conn, [changed, Ticket("INC2", T0 + 1, "x")], "file",
                                   lambda e: None)
        assert (result.inserted, result.updated) == (1, 1)
        with engine.connect() as conn:
            stored = load_tickets(conn)
            assert [t.id for t in stored] == ["INC1", "INC2"]
            assert stored[0].resolution == "replaced PSU" and stored[0].alert_ids == ["a"]
            assert count_tickets(conn) == (2, 0)
    finally:
        engine.dispose()


def _two_incidents(runtime: Runtime) -> tuple[str, str]:
    nodes, edges = parse_topology(topology())
    runtime.import_topology(nodes, edges, source="test")
    alerts = fault("power", 1, T0, "ne-02", "a") + fault("fibre", 2, T0 + 20_000, "ne-08", "b")
    runtime.engine.ingest([parse_alert(a) for a in alerts])
    with runtime.db.connect() as conn:
        rows = conn.execute(sa.text("SELECT id FROM incidents ORDER BY seq")).scalars().all()
    assert len(rows) == 2
    return rows[0], rows[1]


def test_linker_scores_alert_ids_entity_time_and_text(runtime: Runtime) -> None:
    power, fibre = _two_incidents(runtime)
    tickets = [
        Ticket("T-ids", T0 + 3600 * 9, "something", alert_ids=["a1-0", "zzz"]),
        Ticket("T-entity", T0 + 200, "Power failure at ne-02", entity="ne-02.example.net",
               resolved_at=T0 + 2000),
        Ticket("T-neighbour", T0 + 20_100, "Uplink flapping, loss of signal", entity="ne-09"),
        Ticket("T-nowhere", T0 + 500_000, "Power failure at ne-02", entity="ne-02"),
        Ticket("T-text-only", T0 + 100, "Printer out of toner"),
    ]
    linker = TicketLinker(runtime.engine.topology, TemplateEmbedder())
    with runtime.db.begin() as conn:
        store_tickets(conn, tickets, "test", runtime.engine.topology.resolve)
        links = linker.link(conn, tickets)
        replace_links(conn, [t.id for t in tickets], [link.row() for link in links])
    by_ticket = {}
    for link in links:
        by_ticket.setdefault(link.ticket_id, []).append(link)
    assert [x.incident_id for x in by_ticket["T-ids"]] == [power]  # far in time, ids decide
    ids_link = by_ticket["T-ids"][0]
    assert ids_link.score == 0.75 and "1 of 2 alert ids" in ids_link.evidence[0]
    entity_link = by_ticket["T-entity"][0]
    assert entity_link.incident_id == power and entity_link.score > 0.6
    assert "entity ne-02.example.net is a node of the incident" in entity_link.evidence
    neighbour = by_ticket["T-neighbour"][0]
    assert neighbour.incident_id == fibre and neighbour.parts["entity"] == 1.0  # ne-09 alarms
    assert "T-nowhere" not in by_ticket and "T-text-only" not in by_ticket
    with runtime.db.connect() as conn:
        linked = incident_tickets(conn, power)
    assert [t["id"] for t in linked] == ["T-ids", "T-entity"] or \
        [t["id"] for t in linked] == ["T-entity", "T-ids"]
    assert all(t["evidence"] for t in linked)


def test_relinking_replaces_links(runtime: Runtime) -> None:
    power, _ = _two_incidents(runtime)
    ticket = Ticket("T1", T0 + 100, "Power failure", entity="ne-02")
    linker = TicketLinker(runtime.engine.topology, None)
    for _ in range(2):
        with runtime.db.begin() as conn:
            store_tickets(conn, [ticket], "test", runtime.engine.topology.resolve)
            replace_links(conn, ["T1"], [x.row() for x in linker.link(conn, [ticket])])
    with runtime.db.connect() as conn:
        assert count_tickets(conn) == (1, 1)
        assert incident_tickets(conn, power)[0]["id"] == "T1"


class _CountingEmbedder(TemplateEmbedder):
    """Counts the calls that may reach the text model."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def prepare(self, templates) -> None:  # type: ignore[no-untyped-def]
        self.calls += 1
        super().prepare(templates)


def test_batched_link_equals_one_ticket_at_a_time(runtime: Runtime) -> None:
    """Linking a list embeds every text of it in one call and scores exactly as
    linking each ticket alone does."""
    _two_incidents(runtime)
    tickets = [
        Ticket("T-power", T0 + 200, "Power failure at ne-02", entity="ne-02",
               resolved_at=T0 + 2000),
        Ticket("T-fibre", T0 + 20_100, "Uplink flapping, loss of signal on ne-08"),
        Ticket("T-both", T0 + 9000, "LOS and power alarms", description="ne-02 and ne-08",
               resolved_at=T0 + 30_000),
        Ticket("T-ids", T0 + 3600 * 9, "something", alert_ids=["a1-0", "b2-0"]),
        Ticket("T-far", T0 + 500_000, "Power failure at ne-02", entity="ne-02"),
    ]
    with runtime.db.begin() as conn:
        store_tickets(conn, tickets, "test", runtime.engine.topology.resolve)
    every_pair = LinkSettings(min_score=0.0, max_links=10)  # compare all scores, not a few
    batched = _CountingEmbedder()
    with runtime.db.connect() as conn:
        together = TicketLinker(runtime.engine.topology, batched, every_pair).link(
            conn, tickets)
        alone = [link for t in tickets for link in TicketLinker(
            runtime.engine.topology, TemplateEmbedder(), every_pair).link(conn, [t])]
    assert batched.calls == 1
    # The same links with the same evidence; the scores agree to float32 rounding: a
    # text's vector can differ in its last bits with the other texts padded into its
    # model call, as it already did with the order in which the cache filled.
    assert [(x.ticket_id, x.incident_id, x.evidence) for x in together] == \
        [(x.ticket_id, x.incident_id, x.evidence) for x in alone]
    for a, b in zip(together, alone, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-6)
        assert a.parts == pytest.approx(b.parts, abs=1e-6)
    assert {x.ticket_id for x in together} == {"T-power", "T-fibre", "T-both", "T-ids"}
    assert sum(x.parts["text"] > 0 for x in together) >= 3  # the texts were scored
