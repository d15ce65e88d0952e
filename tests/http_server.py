"""A throw-away HTTP server on 127.0.0.1 for tests that need something real to talk to
(an ITSM endpoint a playbook calls, an engine a forwarder posts to)."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free port (a thread); yield the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def send_json(handler: BaseHTTPRequestHandler, status: int, body: Any) -> None:
    """Answer ``handler``'s request with ``body`` as JSON (bytes as they are: a test may
    need a body that is not JSON) and its length, as the real servers stood in for do."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def end_process(process: subprocess.Popen[Any], within: float = 10.0) -> None:
    """Stop a server a test started: SIGTERM, then SIGKILL if it is still there after
    ``within`` seconds (a test must not leave one behind for the next)."""
    process.terminate()
    try:
        process.wait(within)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
