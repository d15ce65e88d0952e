"""Topology node ids and names up to 512 characters (were 256)

Revision ID: 0012
Revises: 0011

A Kubernetes pod is ``pod/NAMESPACE/NAME`` (a name of up to 253 characters, a
namespace of up to 63): past 256, every store refused it and discovery skipped it.
The columns that hold a node id or name widen to 512 (``topology.model.MAX_ID_LENGTH``):
the embedded store's nodes and edges, the identity conflicts, and the node an alert
or a ticket resolved to.

SQLite does not enforce a VARCHAR length and stores the same bytes either way, so
there only the declared type in the schema text changes (SQLite's documented way
for a change that does not touch stored content, ``writable_schema``); a batch copy
of ``alerts`` or ``tickets`` cannot be dropped under the foreign keys that point at
them (and ``tickets``' cascade would delete every ticket's incident links).
"""

from aiops.store.widen_columns import retype_varchar

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

COLUMNS = {
    'topo_nodes': (('id', False), ('name', False)),
    'topo_edges': (('source_id', False), ('target_id', False)),
    'topo_conflicts': (('node', False),),
    'alerts': (('node_id', True),),
    'tickets': (('node_id', True),),
}


def upgrade() -> None:
    retype_varchar(COLUMNS, 256, 512)


def downgrade() -> None:
    # Fails on PostgreSQL while a stored id is longer than 256 characters: nothing is cut.
    retype_varchar(COLUMNS, 512, 256)
