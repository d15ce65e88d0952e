"""The tickets table and the ticket ↔ incident link table.

A ticket keeps its canonical fields (CONTRACTS.md §5) plus where it came from and
the topology node its entity resolved to when it was stored. A link carries its
score and readable evidence, so an operator can see why a ticket was attached to an
incident, and a re-link replaces a ticket's links rather than adding to them.
"""

from sqlalchemy import JSON, Column, Float, ForeignKey, Index, String, Table, Text

from aiops.store.metadata import metadata
from topology.model import MAX_ID_LENGTH as MAX_NODE_ID

tickets = Table(
    "tickets",
    metadata,
    Column("id", String(256), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("opened_at", Float, nullable=False),
    Column("resolved_at", Float),
    Column("title", Text, nullable=False),
    Column("description", Text),
    Column("entity", String(MAX_NODE_ID)),
    Column("node_id", String(MAX_NODE_ID)),
    Column("root_cause", Text),
    Column("resolution", Text),
    Column("alert_ids", JSON, nullable=False),
    Column("labels", JSON, nullable=False),
    Column("stored_at", Float, nullable=False),
    Index("ix_tickets_opened", "opened_at"),
)

ticket_links = Table(
    "ticket_links",
    metadata,
    Column("ticket_id", String(256), ForeignKey("tickets.id", ondelete="CASCADE"),
           primary_key=True),
    Column("incident_id", String(32), ForeignKey("incidents.id", ondelete="CASCADE"),
           primary_key=True),
    Column("score", Float, nullable=False),
    Column("evidence", JSON, nullable=False),
    Index("ix_ticket_links_incident", "incident_id"),
)
