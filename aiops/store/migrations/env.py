"""Alembic environment: runs against the engine handed over by aiops.store.db."""

from alembic import context

import topology.tables  # noqa: F401  (registers the topology tables on the metadata)
from aiops.sinks import tables as sink_tables  # noqa: F401
from aiops.store import tables  # noqa: F401
from aiops.store.metadata import metadata
from aiops.store.text_search import is_index_object
from aiops.tickets import tables as ticket_tables  # noqa: F401

config = context.config
engine = config.attributes["engine"]

# A transaction per migration, begun by Alembic rather than around it: migration 0025
# builds PostgreSQL's indexes outside any transaction (CREATE INDEX CONCURRENTLY, in
# an autocommit block), which commits what came before it and works only on a
# transaction Alembic began itself. Each revision commits with its version stamp, so
# an upgrade that fails stops at the last revision done and the next run goes on.
with engine.connect() as connection:
    # The text search's FTS5 tables and GIN indexes are migration 0025's alone, not
    # the metadata's: comparisons leave them out.
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=engine.dialect.name == "sqlite",
                      transaction_per_migration=True,
                      include_name=lambda name, _type, _parents: not is_index_object(name))
    with context.begin_transaction():
        context.run_migrations()
