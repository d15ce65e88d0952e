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

import re

import sqlalchemy as sa
from alembic import op

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


def _sqlite_retype(old: int, new: int) -> None:
    """Rewrite ``COLUMN VARCHAR(old)`` as ``VARCHAR(new)`` in the tables' schema text."""
    conn = op.get_bind()
    version = conn.exec_driver_sql('PRAGMA schema_version').scalar()
    conn.exec_driver_sql('PRAGMA writable_schema=ON')
    try:
        for table, columns in COLUMNS.items():
            sql = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE type='table' "
                                       "AND name=:t"), {'t': table}).scalar()
            for column, _nullable in columns:
                sql, count = re.subn(rf'(\b{column}\s+VARCHAR)\({old}\)', rf'\g<1>({new})', sql)
                if count != 1:
                    raise RuntimeError(f'{table}.{column}: no VARCHAR({old}) in its schema')
            conn.execute(sa.text("UPDATE sqlite_master SET sql=:sql WHERE type='table' "
                                 "AND name=:t"), {'sql': sql, 't': table})
        conn.exec_driver_sql(f'PRAGMA schema_version={int(version) + 1}')
    finally:
        conn.exec_driver_sql('PRAGMA writable_schema=OFF')


def _retype(old: int, new: int) -> None:
    if op.get_bind().dialect.name == 'sqlite':
        _sqlite_retype(old, new)
        return
    for table, columns in COLUMNS.items():
        for column, nullable in columns:
            op.alter_column(table, column, type_=sa.String(length=new),
                            existing_type=sa.String(length=old), existing_nullable=nullable)


def upgrade() -> None:
    _retype(256, 512)


def downgrade() -> None:
    # Fails on PostgreSQL while a stored id is longer than 256 characters: nothing is cut.
    _retype(512, 256)
