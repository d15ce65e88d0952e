"""One opened data dir: database, topology store and engine, shared by CLI and API."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from aiops.config import DataDir
from aiops.engine.engine import Engine
from aiops.store.db import open_database
from topology.embedded import EmbeddedGraphStore
from topology.model import Edge, Node


@dataclass
class Runtime:
    data_dir: DataDir
    db: sa.Engine
    topology_store: EmbeddedGraphStore
    engine: Engine

    def import_topology(self, nodes: list[Node], edges: list[Edge], source: str) -> None:
        """Store nodes and edges, then let the engine use the new graph."""
        self.topology_store.upsert(nodes, edges, source=source)
        self.engine.set_topology(self.topology_store.load())

    def close(self) -> None:
        self.db.dispose()


def open_runtime(data_dir: DataDir) -> Runtime:
    """Create the data dir if needed, migrate the schema, restore live state."""
    data_dir.path.mkdir(parents=True, exist_ok=True)
    db = open_database(data_dir.url())
    store = EmbeddedGraphStore(db)
    engine = Engine(db, store.load(), data_dir.settings)
    return Runtime(data_dir=data_dir, db=db, topology_store=store, engine=engine)
