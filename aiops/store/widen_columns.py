"""Widening VARCHAR columns in a migration, on SQLite and PostgreSQL alike.

Why a helper: SQLite does not enforce a VARCHAR length and stores the same bytes
either way, so only the declared type in the schema text needs to change (SQLite's
documented way for a change that does not touch stored content, ``writable_schema``);
a batch copy of ``alerts`` or ``tickets`` cannot be dropped under the foreign keys that
point at them (and ``tickets``' cascade would delete every ticket's incident links).
PostgreSQL widens in place with ``ALTER COLUMN ... TYPE``. Migrations 0012 and 0015
use it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import sqlalchemy as sa
from alembic import op

# table -> ((column, nullable), ...)
Columns = Mapping[str, Sequence[tuple[str, bool]]]


def retype_varchar(columns: Columns, old: int, new: int) -> None:
    """Change every named ``VARCHAR(old)`` column to ``VARCHAR(new)``.

    Narrowing fails on PostgreSQL while a stored value is longer than ``new``:
    nothing is cut.
    """
    if op.get_bind().dialect.name == 'sqlite':
        _sqlite_retype(columns, old, new)
        return
    for table, named in columns.items():
        for column, nullable in named:
            op.alter_column(table, column, type_=sa.String(length=new),
                            existing_type=sa.String(length=old), existing_nullable=nullable)


def _sqlite_retype(columns: Columns, old: int, new: int) -> None:
    """Rewrite ``COLUMN VARCHAR(old)`` as ``VARCHAR(new)`` in the tables' schema text."""
    conn = op.get_bind()
    version = conn.exec_driver_sql('PRAGMA schema_version').scalar()
    conn.exec_driver_sql('PRAGMA writable_schema=ON')
    try:
        for table, named in columns.items():
            sql = conn.execute(sa.text("SELECT sql FROM sqlite_master WHERE type='table' "
                                       "AND name=:t"), {'t': table}).scalar()
            for column, _nullable in named:
                sql, count = re.subn(rf'(\b{column}\s+VARCHAR)\({old}\)', rf'\g<1>({new})', sql)
                if count != 1:
                    raise RuntimeError(f'{table}.{column}: no VARCHAR({old}) in its schema')
            conn.execute(sa.text("UPDATE sqlite_master SET sql=:sql WHERE type='table' "
                                 "AND name=:t"), {'sql': sql, 't': table})
        conn.exec_driver_sql(f'PRAGMA schema_version={int(version) + 1}')
    finally:
        conn.exec_driver_sql('PRAGMA writable_schema=OFF')
