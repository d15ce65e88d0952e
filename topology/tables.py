"""Tables of the embedded topology store, in the engine's database.

``first_seen``/``last_seen`` are kept from the start so topology history (issue:
topology) can age edges out without a data migration.
"""

from sqlalchemy import JSON, Column, Float, Index, String, Table

from aiops.store.metadata import metadata

topo_nodes = Table(
    "topo_nodes",
    metadata,
    Column("id", String(256), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("name", String(256), nullable=False),
    Column("attrs", JSON, nullable=False),
    Column("source", String(64), nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
)

topo_edges = Table(
    "topo_edges",
    metadata,
    Column("source_id", String(256), primary_key=True),
    Column("target_id", String(256), primary_key=True),
    Column("kind", String(64), primary_key=True),
    Column("attrs", JSON, nullable=False),
    Column("source", String(64), nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Index("ix_topo_edges_target", "target_id"),
)
