"""Alembic environment: runs against the engine handed over by aiops.store.db."""

from alembic import context

import topology.tables  # noqa: F401  (registers the topology tables on the metadata)
from aiops.sinks import tables as sink_tables  # noqa: F401
from aiops.store import tables  # noqa: F401
from aiops.store.metadata import metadata
from aiops.tickets import tables as ticket_tables  # noqa: F401

config = context.config
engine = config.attributes["engine"]

with engine.begin() as connection:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=engine.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()
