"""A local HTTP server that answers like an ITSM system, from documented payloads.

SaaS systems (ServiceNow, Jira Cloud) cannot be run here, so their connectors are
tested against the response shapes their documentation shows, served over real
HTTP so that paging, status codes, broken connections and oversized bodies go
through the same ``requests`` code as in production.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

DROP = object()  # answer nothing and close the connection: a server that went away


@dataclass
class Request:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


Handler = Callable[[Request], Any]


@dataclass
class FakeServer:
    url: str
    routes: dict[str, Handler]
    requests: list[Request] = field(default_factory=list)


def reply(status: int, body: Any, content_type: str = "application/json",
          headers: dict[str, str] | None = None) -> tuple:
    """An explicit answer: status, body (JSON-encoded unless bytes), content type, and
    any further headers (``Link``, ``X-Total-Count``)."""
    return (status, body, content_type, headers or {})


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *_args: Any) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        parts = urlsplit(self.path)
        request = Request(parts.path, {k: v[-1] for k, v in parse_qs(parts.query).items()},
                          {k.lower(): v for k, v in self.headers.items()})
        fake: FakeServer = self.server.fake
        fake.requests.append(request)
        handler = fake.routes.get(parts.path)
        result = handler(request) if handler else reply(404, {"error": "no such route"})
        if result is DROP:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        status, body, content_type, headers = result if isinstance(result, tuple) \
            else (200, result, "application/json", {})
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def fake_server(routes: dict[str, Handler]) -> Iterator[FakeServer]:
    """Serve ``routes`` (path → handler) on 127.0.0.1 in a thread."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    fake = FakeServer(f"http://127.0.0.1:{server.server_address[1]}", routes)
    server.fake = fake  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
