"""Building and dropping PostgreSQL's trigram indexes (migration 0025) without
holding off writes to ``alerts`` and ``incidents``.

Why ``CONCURRENTLY``: a plain ``CREATE INDEX`` holds a SHARE lock on its table for the
whole build, which every insert and update waits for (2.0 s on 200,000 alerts,
docs/benchmarks.md; longer on a real store): an operator upgrading the database of a
running engine stopped its ingest meanwhile. A concurrent build takes SHARE UPDATE
EXCLUSIVE, which writes do not wait for, at the price of two passes over the table
and of waiting, before it ends, for every transaction older than its second pass
(a transaction left open elsewhere keeps it waiting). It cannot run inside a
transaction block: the migration runs it in Alembic's autocommit block.

A concurrent build that fails half-way (cancelled, its connection lost, the process
killed) leaves its index behind marked INVALID: queries never use it, every write
still maintains it, and ``IF NOT EXISTS`` would take it for built. ``build`` drops
such an index and builds it again, so running the migration again repairs it.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

log = logging.getLogger("aiops.store.migrations")


def create_statement(name: str, table: str, column: str) -> str:
    """The statement that builds one trigram index without blocking writes."""
    return (f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} "
            f"ON {table} USING gin ({column} gin_trgm_ops)")


def is_invalid(conn: sa.Connection, name: str) -> bool:
    """Whether index ``name`` (found by the search path, as the build names it) is
    there but INVALID: what a concurrent build that failed leaves."""
    return bool(conn.exec_driver_sql(
        "SELECT NOT indisvalid FROM pg_index WHERE indexrelid = to_regclass(%(name)s)",
        {"name": name}).scalar())


def build(conn: sa.Connection, name: str, table: str, column: str) -> None:
    """Build index ``name`` unless a valid one is there; an INVALID one is dropped and
    built again. ``conn`` must be in autocommit (no transaction block)."""
    if is_invalid(conn, name):
        log.warning("index %s is INVALID (a concurrent build of it failed): dropping it "
                    "and building it again", name)
        conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
    conn.exec_driver_sql(create_statement(name, table, column))


def drop(conn: sa.Connection, name: str) -> None:
    """Drop index ``name`` without the ACCESS EXCLUSIVE lock a plain ``DROP INDEX``
    queues behind every reader of the table (and every later reader behind it)."""
    conn.exec_driver_sql(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
