"""Real HTTP receivers for the sink tests: a webhook that records what it got and
answers as told, and a ServiceNow Table API stand-in."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """What the handler records and how it answers: ``answers`` is a list of
    (status, headers, body) taken one per request; empty: 200."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answers: list[tuple[int, dict[str, str], str]] = []
        self.delay = 0.0  # seconds each answer takes (a slow receiver)
        self.lock = threading.Lock()

    def documents(self) -> list[dict[str, Any]]:
        return [r["body"] for r in self.requests]


def webhook_handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if receiver.delay:
                time.sleep(receiver.delay)
            with receiver.lock:
                receiver.requests.append({"path": self.path, "headers": dict(self.headers),
                                          "body": json.loads(body), "raw": body})
                status, headers, text = receiver.answers.pop(0) if receiver.answers \
                    else (200, {}, "{}")
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(text.encode())))
            self.end_headers()
            self.wfile.write(text.encode())

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


class ServiceNowTable:
    """The incident table as the Table API documents it: POST answers 201 with
    ``{"result": {record}}`` and a Location header, PATCH 200 with the record, GET a
    ``{"result": [records]}`` list filtered by ``sysparm_query=correlation_id=X``
    (newest first, as ``^ORDERBYDESCsys_created_on`` asks) with the
    ``sysparm_fields`` asked for. ``required``: fields a data policy requires on
    create; a create without one is refused as an instance refuses it."""

    def __init__(self) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, dict[str, Any] | None]] = []
        self.auth: list[str] = []
        self.required: tuple[str, ...] = ()
        self.lock = threading.Lock()


def servicenow_handler(table: ServiceNowTable) -> type[BaseHTTPRequestHandler]:
    from urllib.parse import parse_qs, urlsplit

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: Any, headers: dict[str, str] | None = None
                    ) -> None:
            text = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(text)))
            self.end_headers()
            self.wfile.write(text)

        def _body(self) -> dict[str, Any]:
            return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            query = parse_qs(parts.query).get("sysparm_query", [""])[0]
            with table.lock:
                table.calls.append(("GET", self.path, None))
                table.auth.append(self.headers.get("Authorization", ""))
                # "correlation_id=X^ORDERBYDESCsys_created_on": the newest first
                key = query.split("^")[0].removeprefix("correlation_id=")
                fields = parse_qs(parts.query).get("sysparm_fields", ["sys_id"])[0]
                found = [{f: r.get(f, "") for f in fields.split(",")}
                         for r in reversed(table.records.values())
                         if r.get("correlation_id") == key]
            self._answer(200, {"result": found[:1]})

        def do_POST(self) -> None:  # noqa: N802
            body = self._body()
            with table.lock:
                table.calls.append(("POST", self.path, body))
                table.auth.append(self.headers.get("Authorization", ""))
                missing = [f for f in table.required if not body.get(f)]
            if missing:  # what a data policy answers (a 403 on some instances)
                self._answer(400, {"error": {
                    "message": f"Data Policy Exception: The following fields are "
                               f"mandatory: {', '.join(missing)}",
                    "detail": "Operation against file 'incident' was aborted"},
                    "status": "failure"})
                return
            with table.lock:
                sys_id = uuid.uuid4().hex
                record = {**body, "sys_id": sys_id, "state": "1",
                          "number": f"INC{10001 + len(table.records):07d}"}
                table.records[sys_id] = record
            self._answer(201, {"result": record},
                         {"Location": f"http://instance/api/now/table/incident/{sys_id}"})

        def do_PATCH(self) -> None:  # noqa: N802
            body = self._body()
            sys_id = self.path.rsplit("/", 1)[-1]
            with table.lock:
                table.calls.append(("PATCH", self.path, body))
                table.auth.append(self.headers.get("Authorization", ""))
                record = table.records.get(sys_id)
                if record is not None:
                    record.update(body)
            if record is None:
                self._answer(404, {"error": {"message": "No Record found",
                                             "detail": "Record doesn't exist"},
                                   "status": "failure"})
            else:
                self._answer(200, {"result": record})

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def serving_on(handler: type[BaseHTTPRequestHandler], port: int = 0) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1:``port`` (0: a free one); yield the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def dripping(answer: bytes, fast: int = 0, pause: float = 0.3) -> Iterator[str]:
    """A raw socket server that reads a request and sends ``answer``: its first
    ``fast`` bytes at once, the rest one byte every ``pause`` seconds, each in time for
    any per-read timeout. ``BaseHTTPRequestHandler`` cannot drip its status line."""
    import socket

    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer_one(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)  # the request (small: one read takes it)
                conn.sendall(answer[:fast])
                for i in range(fast, len(answer)):
                    if stop.is_set():
                        return
                    conn.sendall(answer[i:i + 1])
                    time.sleep(pause)
            except OSError:
                pass  # the client gave up, as it should

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=answer_one, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        server.close()
