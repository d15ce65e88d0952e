"""Shared fixtures: a fresh data dir, a real HTTP server of the app in a thread."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from aiops.api import create_app
from aiops.config import DataDir
from aiops.demo.generate import SPAN, demo_alerts
from aiops.models import parse_alert
from aiops.runtime import Runtime, open_runtime
from tests.ports import free_port
from topology.model import parse_topology

DATA = Path(__file__).parent / "data"

# The engine and its CLI read their settings from AIOPS_* variables (aiops/config.py),
# so one left exported in the shell that runs the tests (AIOPS_API_TOKENS_FILE or
# AIOPS_DATABASE_URL from setting up `make run`, AIOPS_SINK_WEBHOOK_URLS, ...) reached
# every runtime they open and every `aiops` process they start, and decided outcomes
# that CI's clean environment does not. Each test sets what it needs (monkeypatch or a
# subprocess's env); AIOPS_TEST_* name the tests' own servers (tests/pg_server.py).
for _name in [n for n in os.environ if n.startswith("AIOPS_") and not n.startswith("AIOPS_TEST_")]:
    del os.environ[_name]

# Tests stamp alerts at fixed times, many after today (T0 = 2027-01-15): like a lab that
# feeds simulated time through the API, they run without the live bound on times
# ahead of the wall clock (EngineSettings.max_clock_ahead). The tests of that bound
# (tests/unit/test_engine_clock.py, tests/integration/test_clock_api.py) lift this;
# a runtime built from DataDir(...) rather than from the environment has the bound.
os.environ["AIOPS_MAX_CLOCK_AHEAD"] = "off"


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    """An engine on a new SQLite data dir."""
    rt = open_runtime(DataDir.from_env(tmp_path / "data"))
    yield rt
    rt.close()


def import_linked(rt: Runtime, devices: list[str],
                  links: list[tuple[str, str, str, str]], source: str = "lldp") -> None:
    """Devices linked port to port, stored as LLDP and NetBox discovery store a link
    (port nodes ``part_of`` their devices, the ports and the devices connected)."""
    from topology.discovery.base import GraphBuilder, add_link
    builder = GraphBuilder(source)
    for name in devices:
        builder.node(name, "device", name)
    for a, a_port, b, b_port in links:
        add_link(builder, a, a_port, b, b_port)
    rt.import_topology(list(builder.nodes.values()), list(builder.edges.values()), source)


def load_demo(rt: Runtime, faults: int = 12, seed: int = 7) -> None:
    """The demo topology and alert stream, ingested through the live path."""
    data = demo_alerts(time.time() - SPAN, faults=faults, noise=10, seed=seed)
    nodes, edges = parse_topology(data.topology)
    rt.import_topology(nodes, edges, source="demo")
    rt.engine.ingest([parse_alert(a) for a in data.alerts])


@pytest.fixture
def demo_runtime(runtime: Runtime) -> Runtime:
    load_demo(runtime)
    return runtime


@dataclass
class LiveServer:
    url: str
    runtime: Runtime


@contextmanager
def serving_app(runtime: Runtime) -> Iterator[LiveServer]:
    """The app on ``runtime`` served over real HTTP on 127.0.0.1 (a thread)."""
    port = free_port()
    server = make_server("127.0.0.1", port, create_app(runtime=runtime), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", runtime=runtime)
    finally:
        server.shutdown()
        thread.join(timeout=5)


@contextmanager
def serving_with_tokens(data: Path, tokens_file: Path) -> Iterator[LiveServer]:
    """A new engine on the data dir ``data``, served over real HTTP with
    ``AIOPS_API_TOKENS_FILE`` naming ``tokens_file``: what the access-token tests run."""
    rt = open_runtime(replace(DataDir.from_env(data), api_tokens_file=str(tokens_file)))
    try:
        with serving_app(rt) as served:
            yield served
    finally:
        rt.close()


@pytest.fixture
def live_server(runtime: Runtime) -> Iterator[LiveServer]:
    """The app served over real HTTP on 127.0.0.1 (a thread), for outside clients."""
    with serving_app(runtime) as served:
        yield served


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a real PostgreSQL server for the whole session."""
    from tests.pg_server import postgres_server

    with postgres_server(free_port()) as url:
        yield url


_db_counter = iter(range(1, 1_000_000))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each storage test runs on SQLite and on a fresh database of a real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    from tests.pg_server import create_database

    server = request.getfixturevalue("postgres_url")
    return create_database(server, f"aiops_test_{next(_db_counter)}")
