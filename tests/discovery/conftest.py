"""A local HTTP server that plays a discovery source, well or badly, and a fresh store."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from aiops.store.db import open_database
from topology.embedded import EmbeddedGraphStore

DATA = Path(__file__).parent / "data"


@dataclass
class Reply:
    """How the fake source answers one path: JSON, a status, slowly, or cut short."""

    body: Any = None
    status: int = 200
    delay: float = 0.0
    raw: bytes | None = None
    truncate: bool = False


@dataclass
class FakeSource:
    url: str
    routes: dict[str, Reply] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def json(self, path: str, body: Any) -> None:
        self.routes[path] = Reply(body)


class _Handler(BaseHTTPRequestHandler):
    source: FakeSource

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.source.requests.append((self.path, dict(self.headers)))
        reply = self.source.routes.get(self.path)
        if reply is None:
            self.send_error(404)
            return
        if reply.delay:
            time.sleep(reply.delay)
        data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if reply.truncate:
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(data)


@pytest.fixture
def fake_source() -> Iterator[FakeSource]:
    """An HTTP server on 127.0.0.1 answering from ``routes`` (path with query → Reply)."""
    source = FakeSource(url="")
    handler = type("Handler", (_Handler,), {"source": source})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    source.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield source
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[EmbeddedGraphStore]:
    db = open_database(f"sqlite:///{tmp_path / 'topology.db'}")
    yield EmbeddedGraphStore(db)
    db.dispose()


def snapshot(store: EmbeddedGraphStore) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Everything stored, comparable before and after a failed run."""
    graph = store.load()
    return ([graph.nodes[n].to_dict() for n in sorted(graph.nodes)],
            sorted((e.to_dict() for e in graph.edges),
                   key=lambda e: (e["source"], e["target"], e["kind"])))
