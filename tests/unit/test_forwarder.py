"""The forwarder against a real HTTP server on localhost that answers as told: events
kept in order through an outage, one refused event dropped and the rest sent, a batch
too large halved, the queue bounded."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from aiops.forwarder import Forwarder
from tests.http_server import serving
from tests.ports import free_port


class Engine(BaseHTTPRequestHandler):
    answers: list[tuple[int, dict]] = []  # what to answer next; then 200
    batches: list[list[dict]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server interface
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        status, payload = Engine.answers.pop(0) if Engine.answers else (200, {})
        if 200 <= status < 300:
            Engine.batches.append(body)
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def engine() -> Iterator[str]:
    Engine.answers, Engine.batches = [], []
    with serving(Engine) as url:
        yield f"{url}/api/v1/webhooks/syslog"


def events(n: int, start: int = 0) -> list[dict]:
    return [{"n": i} for i in range(start, start + n)]


def sent() -> list[int]:
    return [e["n"] for batch in Engine.batches for e in batch]


def test_an_engine_that_fails_keeps_the_events_in_order_until_it_takes_them(
        engine: str) -> None:
    forwarder = Forwarder(engine, batch=3)
    for event in events(5):
        forwarder.add(event)
    Engine.answers = [(503, {"error": {"message": "database unavailable"}})]
    assert not forwarder.flush_once() and forwarder.pending() == 5
    assert "HTTP 503: database unavailable" in forwarder.last_error
    while forwarder.pending():
        assert forwarder.flush_once()
    assert sent() == [0, 1, 2, 3, 4]
    assert (forwarder.stats.forwarded, forwarder.stats.failures) == (5, 1)


def test_any_success_status_delivers(engine: str) -> None:
    """A proxy in front of the engine may answer 202 or 204: that is delivery, not a
    failure to send again (which re-sent the batch for ever, holding the queue)."""
    forwarder = Forwarder(engine, batch=2)
    for event in events(4):
        forwarder.add(event)
    Engine.answers = [(202, {}), (204, {})]
    assert forwarder.flush_once() and forwarder.flush_once()
    assert forwarder.pending() == 0 and sent() == [0, 1, 2, 3]
    assert (forwarder.stats.forwarded, forwarder.stats.failures) == (4, 0)


def test_an_engine_that_is_not_there_keeps_the_events(engine: str) -> None:
    closed = free_port()
    forwarder = Forwarder(f"http://127.0.0.1:{closed}/api/v1/webhooks/syslog", timeout=2)
    forwarder.add({"n": 0})
    assert not forwarder.flush_once()
    assert forwarder.pending() == 1 and "ConnectionError" in forwarder.last_error


def test_one_refused_event_is_dropped_and_the_others_are_sent(engine: str) -> None:
    forwarder = Forwarder(engine, batch=10)
    for event in events(4):
        forwarder.add(event)
    Engine.answers = [(400, {"error": {"message": "alerts[2]: field 'entity' is empty"}})]
    assert forwarder.flush_once() and forwarder.flush_once()
    assert sent() == [0, 1, 3] and forwarder.stats.refused == 1


def test_a_batch_too_large_is_halved(engine: str) -> None:
    forwarder = Forwarder(engine, batch=8)
    for event in events(8):
        forwarder.add(event)
    Engine.answers = [(413, {"error": {"message": "too large"}})]
    while forwarder.pending():
        assert forwarder.flush_once()
    assert [len(b) for b in Engine.batches] == [4, 4] and sent() == list(range(8))


def test_a_full_queue_drops_the_oldest_and_counts_them(engine: str) -> None:
    forwarder = Forwarder(engine, max_pending=3)
    for event in events(5):
        forwarder.add(event)
    assert forwarder.stats.dropped == 2 and forwarder.pending() == 3
    forwarder.flush_once()
    assert sent() == [2, 3, 4]


def test_run_sends_what_is_left_when_stopped(engine: str) -> None:
    forwarder = Forwarder(engine, interval=30)
    stop = threading.Event()
    worker = threading.Thread(target=forwarder.run, args=(stop,))
    worker.start()
    for event in events(3):
        forwarder.add(event)
    stop.set()
    forwarder.wake()
    worker.join(timeout=10)
    assert sent() == [0, 1, 2] and forwarder.pending() == 0


def test_a_refusal_naming_no_event_keeps_the_batch_for_later(engine: str) -> None:
    """A broken mapping on the engine's side refuses every batch: it is the engine's
    to fix, so nothing is dropped meanwhile."""
    forwarder = Forwarder(engine)
    for event in events(3):
        forwarder.add(event)
    Engine.answers = [(400, {"error": {"message": "webhook mapping 'syslog' cannot be "
                                                  "used: syslog.yml: line 2"}})]
    assert not forwarder.flush_once()
    assert forwarder.pending() == 3 and forwarder.stats.refused == 0
    assert forwarder.flush_once() and sent() == [0, 1, 2]


def test_the_pause_after_a_failure_holds_while_events_keep_coming(engine: str) -> None:
    """A storm must not turn retries into a flood on an engine that is restarting."""
    forwarder = Forwarder(engine, batch=2, interval=0.05, max_pause=30)
    Engine.answers = [(503, {"error": {"message": "restarting"}})] * 100
    stop = threading.Event()
    worker = threading.Thread(target=forwarder.run, args=(stop,))
    worker.start()
    for i in range(40):  # a full batch after the first failure, again and again
        forwarder.add({"n": i})
        time.sleep(0.02)
    answered = 100 - len(Engine.answers)
    stop.set()
    worker.join(timeout=10)
    assert answered <= 2  # the first try, perhaps one more: not one per event


def test_an_event_the_engine_refuses_as_not_unicode_is_dropped_and_the_others_sent(
        live_server) -> None:
    """The engine refuses a lone surrogate escape as it reads the body, naming the item
    in the error's field (``[1].output``), not in the message: that batch was kept and
    retried for ever, and everything queued behind it with it."""
    forwarder = Forwarder(f"{live_server.url}/api/v1/webhooks/icinga", batch=10)
    good = {"host": "h1", "check": "ping", "service": "ping", "state": "CRITICAL",
            "output": "no answer", "since": time.time() - 60}
    for item in (good, {**good, "host": "h2", "output": "bad \udc80 byte"},
                 {**good, "host": "h3"}):
        forwarder.add(item)
    assert forwarder.flush_once() and forwarder.flush_once()
    assert forwarder.pending() == 0
    assert (forwarder.stats.forwarded, forwarder.stats.refused) == (2, 1)


class SlowEngine(BaseHTTPRequestHandler):
    """Holds each request until ``release`` is set, then answers 503."""

    arrived = threading.Event()
    release = threading.Event()

    def do_POST(self) -> None:  # noqa: N802 - the http.server interface
        self.rfile.read(int(self.headers["Content-Length"]))
        SlowEngine.arrived.set()
        SlowEngine.release.wait(10)
        data = b'{"error": {"message": "restarting"}}'
        self.send_response(503)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_a_batch_on_its_way_is_still_pending() -> None:
    """A follower writes its state once the forwarder holds nothing: a batch being
    posted, which the engine may yet refuse (and the forwarder keep), is not delivered."""
    SlowEngine.arrived.clear()
    SlowEngine.release.clear()
    with serving(SlowEngine) as url:
        forwarder = Forwarder(f"{url}/api/v1/webhooks/zabbix")
        for event in events(3):
            forwarder.add(event)
        posting = threading.Thread(target=forwarder.flush_once)
        posting.start()
        assert SlowEngine.arrived.wait(10)
        assert forwarder.pending() == 3
        SlowEngine.release.set()
        posting.join(timeout=10)
    assert forwarder.pending() == 3 and forwarder.stats.forwarded == 0
