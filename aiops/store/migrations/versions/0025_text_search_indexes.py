"""Trigram indexes for the incident filters' text search

Revision ID: 0025
Revises: 0024

The text filter (``q``) matches a substring of the incident's title or an alert's
name or summary, which read every alert (docs/benchmarks.md, "Incident filters":
0.24 s in SQLite, 0.37-0.46 s in PostgreSQL on 100,000 incidents and 200,000 alerts).
``aiops.store.text_search`` says how the indexes answer it:

- PostgreSQL: the ``pg_trgm`` extension and its GIN indexes on ``alerts.name``,
  ``alerts.summary`` and ``incidents.title``. Creating an extension needs the CREATE
  privilege on the database (pg_trgm is a trusted extension); a role without it gets
  no indexes and a warning naming the statements to run as one that has it. The
  search is right either way, only slower. The indexes are built ``CONCURRENTLY``
  (``aiops.store.trigram_build``), outside a transaction: writes to the tables go on
  meanwhile, an INVALID index a failed build left is built again, and what ran before
  the build is committed whatever happens to it (the environment runs a transaction
  per migration). The downgrade drops the indexes, concurrently too, and leaves the
  extension, which anything else in the database may use.

  This revision was first released with plain ``CREATE INDEX`` in the migration's
  transaction, and was changed in place rather than followed by a new one: the
  indexes it ends with are the same, a store that ran it already has them (valid: a
  transactional build is all or nothing) and has nothing to redo, and only a store
  still to pass 0025 gains: a later revision would run after its blocking build.
- SQLite: the FTS5 tables with the trigram tokenizer, their triggers (renames and
  deletions) and their marks (``alert_text_mark``, ``incident_text_mark``: new alerts
  and incidents are indexed by ``aiops serve``'s catch-up, not on insert), filled from
  the stored rows; skipped on a SQLite without FTS5 or older than 3.34, whose search
  keeps scanning.
"""

import logging

import sqlalchemy as sa
from alembic import op

from aiops.store import text_search, trigram_build

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

log = logging.getLogger("aiops.store.migrations")


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == 'sqlite':
        if text_search.sqlite_supports_trigrams(conn):
            text_search.create_sqlite_index(conn)
        else:
            log.warning("this SQLite has no FTS5 trigram tokenizer (3.34 or later with "
                        "FTS5): the incident filters' text search scans every alert")
        return
    try:
        # A savepoint: a refused statement must not abort the migration's transaction.
        with conn.begin_nested():
            conn.exec_driver_sql(text_search.POSTGRES_SETUP[0])
    except sa.exc.DBAPIError as exc:  # refused, or pg_trgm not installed on the server
        log.warning(
            "could not create the pg_trgm extension (%s): the incident filters' text "
            "search scans every alert. As a role with CREATE on this database (a "
            "superuser, the owner), run each on its own (not in a transaction): %s",
            str(exc).splitlines()[0], "; ".join(text_search.POSTGRES_SETUP))
        return
    # The extension commits with this migration's transaction; the indexes are built
    # outside it, on the block's own connection (op.get_bind() there, not ``conn``).
    with op.get_context().autocommit_block():
        for name, table, column in text_search.TRIGRAM_INDEXES:
            trigram_build.build(op.get_bind(), name, table, column)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name == 'sqlite':
        text_search.drop_sqlite_index(conn)
        return
    with op.get_context().autocommit_block():
        for name, _, _ in text_search.TRIGRAM_INDEXES:
            trigram_build.drop(op.get_bind(), name)
