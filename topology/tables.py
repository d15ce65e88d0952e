"""Tables of the topology in the engine's database: the embedded store, and the
identity conflicts discovery reports (kept whichever store holds the graph).

``first_seen``/``last_seen`` are kept from the start so topology history (issue:
topology) can age edges out without a data migration.
"""

from sqlalchemy import JSON, Column, Float, Index, Integer, String, Table, Text

from aiops.store.metadata import metadata
from topology.model import MAX_ID_LENGTH as MAX_NODE_ID

topo_nodes = Table(
    "topo_nodes",
    metadata,
    Column("id", String(MAX_NODE_ID), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("name", String(MAX_NODE_ID), nullable=False),
    Column("attrs", JSON, nullable=False),
    Column("source", String(64), nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
)

topo_edges = Table(
    "topo_edges",
    metadata,
    Column("source_id", String(MAX_NODE_ID), primary_key=True),
    Column("target_id", String(MAX_NODE_ID), primary_key=True),
    Column("kind", String(64), primary_key=True),
    Column("attrs", JSON, nullable=False),
    Column("source", String(64), nullable=False),
    Column("first_seen", Float, nullable=False),
    Column("last_seen", Float, nullable=False),
    Index("ix_topo_edges_target", "target_id"),
)

# One row, bumped in the transaction of every upsert: a process that holds the
# topology in memory (``aiops serve``) asks it, cheaply, whether another process (a
# Celery discovery worker, ``aiops topology import``) changed the stored topology.
topo_revision = Table(
    "topo_revision",
    metadata,
    Column("key", String(32), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("changed_at", Float, nullable=False),
)

# One row per distinct conflict (topology/conflicts.py): a scheduled source re-reports
# the same disagreement every run, so runs bump last_reported and reports rather than
# adding rows. ``key`` hashes (source, node, what, message).
topo_conflicts = Table(
    "topo_conflicts",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("source", String(64), nullable=False),
    Column("node", String(MAX_NODE_ID), nullable=False),
    Column("what", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("details", JSON, nullable=False),
    Column("first_reported", Float, nullable=False),
    Column("last_reported", Float, nullable=False),
    Column("reports", Integer, nullable=False),
    Index("ix_topo_conflicts_last_reported", "last_reported"),
    Index("ix_topo_conflicts_node", "node"),
)
