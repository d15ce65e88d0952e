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

with engine.begin() as connection:
    # The text search's FTS5 tables and GIN indexes are migration 0025's alone, not
    # the metadata's: comparisons leave them out.
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=engine.dialect.name == "sqlite",
                      include_name=lambda name, _type, _parents: not is_index_object(name))
    with context.begin_transaction():
        context.run_migrations()
