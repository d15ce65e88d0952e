"""The delivery loop against receivers that answer badly: odd ``Retry-After`` values,
an outage long enough for the back-off to overflow, a connection error that would
carry the webhook URL's secret query into status pages, and a huge answer."""

from __future__ import annotations

import math
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from aiops.api import create_app
from aiops.runtime import Runtime
from aiops.sinks.delivery import DeliveryLoop
from aiops.sinks.http import retry_after
from aiops.sinks.tables import sink_deliveries
from tests.conftest import free_port
from tests.sinks.receiver import Receiver, dripping, serving_on
from tests.sinks.runtimes import open_sink_runtime
from tests.sinks.test_webhook_outbox import (  # noqa: F401 (fixtures)
    Clock,
    alert,
    env,
    loop_for,
    receiver,
    rows,
)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e400"])
def test_a_retry_after_that_is_no_number_of_seconds_is_finite(value: str) -> None:
    seconds = retry_after(value, now=0)
    assert seconds is None or (math.isfinite(seconds) and 0 <= seconds <= 3600)


@pytest.mark.parametrize("header", ["nan", "0", "-30"])
def test_a_retry_after_of_nan_zero_or_negative_neither_blocks_nor_hammers(
        tmp_path: Path, env: pytest.MonkeyPatch,  # noqa: F811
        receiver: tuple[Receiver, str], header: str) -> None:  # noqa: F811
    """NaN stored in next_attempt_at made the row (and the receiver) never due again
    on SQLite's NULL or PostgreSQL's NaN; 0 or negative sent again in the same loop
    iteration, as fast as the receiver answered. Either way the exponential back-off
    is the least wait."""
    got, url = receiver
    got.answers = [(503, {"Retry-After": header}, "busy")] * 3
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    assert loop.run_once() == 1
    (row,) = rows(rt)
    assert row.next_attempt_at == clock.now + 1 and row.attempts == 1
    assert loop.run_once() == 0  # not again at once
    clock.now += 1
    assert loop.run_once() == 1
    (row,) = rows(rt)
    assert row.next_attempt_at == clock.now + 2
    clock.now += 2
    loop.run_once()
    clock.now += 4
    loop.run_once()
    assert len(got.requests) == 4
    assert rows(rt)[0].status == "delivered"
    rt.close()


def test_a_week_long_outage_keeps_backing_off(
        tmp_path: Path, env: pytest.MonkeyPatch,  # noqa: F811
        receiver: tuple[Receiver, str]) -> None:  # noqa: F811
    """2.0 ** attempts overflowed past 1024 failed attempts (a week at the 600 s
    back-off): the failure was never recorded, so the row was sent again every round."""
    got, url = receiver
    got.answers = [(503, {}, "down")]
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    with rt.db.begin() as conn:
        conn.execute(sink_deliveries.update().values(attempts=1100))
    assert loop.run_once() == 1
    (row,) = rows(rt)
    assert row.attempts == 1101
    assert row.next_attempt_at == clock.now + loop.settings.backoff_max
    rt.close()


def test_a_connection_error_does_not_reveal_the_query_secret(
        tmp_path: Path, env: pytest.MonkeyPatch) -> None:  # noqa: F811
    """requests names the URL with its query in a connection error; the outbox names
    the receiver without it, and so must the error kept, logged and served."""
    url = f"http://127.0.0.1:{free_port()}/hook?token=s3cret"
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    assert loop.run_once() == 1
    (row,) = rows(rt)
    assert row.status == "pending" and row.last_error
    assert "s3cret" not in row.last_error
    status = create_app(runtime=rt).test_client().get("/api/v1/sinks").get_data(True)
    assert "s3cret" not in status
    rt.close()


def huge_answer_handler() -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(500)
            self.send_header("Content-Length", str(200 * 1024 * 1024))
            self.end_headers()
            try:
                chunk = b"x" * 65536
                for _ in range(200 * 16):
                    self.wfile.write(chunk)
            except OSError:
                pass  # the client stopped reading, as it should

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def test_a_huge_answer_is_not_read_whole(tmp_path: Path,
                                         env: pytest.MonkeyPatch) -> None:  # noqa: F811
    """A receiver answering 200 MB to every request made the loop read all of it for
    the 500 characters it keeps."""
    import tracemalloc

    with serving_on(huge_answer_handler()) as base:
        clock = Clock()
        rt = open_sink_runtime(tmp_path, env, webhook_urls=base + "/hook")
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        tracemalloc.start()
        try:
            assert loop.run_once() == 1
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        (row,) = rows(rt)
        assert row.status == "pending" and "HTTP 500" in row.last_error
        assert peak < 20 * 1024 * 1024, peak
        rt.close()



def test_a_retry_after_date_without_zone_is_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """``-0000`` (RFC 5322: UTC, zone unknown) parsed to a naive time, read in the
    server's local zone: hours off, the wait dropped to 0 or capped to an hour."""
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        now = 1_445_412_480.0  # Wed, 21 Oct 2015 07:28:00 UTC
        assert retry_after("Wed, 21 Oct 2015 07:30:00 -0000", now=now) == 120
        assert retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now=now) == 120
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_an_incident_whose_document_cannot_be_built_holds_up_no_other(
        tmp_path: Path, env: pytest.MonkeyPatch,  # noqa: F811
        receiver: tuple[Receiver, str]) -> None:  # noqa: F811
    """A row whose document raised (here: the remediation ranker failing on one
    incident) aborted the round before the others; due first again next round, it
    held up every other incident's delivery for good."""
    from aiops.sinks.delivery import DeliveryLoop

    got, url = receiver
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=url)
    plain = loop_for(rt, clock)

    def ranker(conn: object, incident: dict) -> list:
        if any(a["entity"] == "r1" for a in incident["alerts"]):
            raise RuntimeError("model file truncated")
        return []

    loop = DeliveryLoop(rt.db, list(plain.targets.values()), plain.settings,
                        remediations=ranker, clock=clock)
    env.setenv("AIOPS_CORRELATION_WINDOW", "1")
    rt.engine.ingest([alert("a1", "r1")])
    clock.now += 1
    rt.engine.ingest([alert("a2", "r2", 3600)])
    ids = {r.incident_id for r in rows(rt)}
    assert len(ids) == 2, ids
    for _ in range(3):
        loop.run_once()
    assert [d["alert_count"] for d in got.documents()] == [1]
    assert {d["entities"][0] for d in got.documents()} == {"r2"}
    bad = next(r for r in rows(rt) if r.status == "pending")
    assert "model file truncated" in bad.last_error and bad.attempts == 1
    assert bad.next_attempt_at == clock.now + 1  # backs off, as a refused send does
    rt.close()


def dribbling_handler(length: int, pause: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            import time

            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(503)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            try:
                for _ in range(length):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(pause)
            except OSError:
                pass

        def log_message(self, *args: object) -> None:
            pass

    return Handler


def test_an_answer_dribbled_byte_by_byte_holds_the_loop_no_longer_than_the_timeout(
        tmp_path: Path, env: pytest.MonkeyPatch) -> None:  # noqa: F811
    """The timeout bounds each read, not the answer: a receiver sending its error body
    a byte every 0.4 s (each read in time) held the one delivery thread, and every
    other receiver with it, for as long as it liked (here 16 s; 500 bytes: 200 s)."""
    env.setenv("AIOPS_SINK_TIMEOUT", "1")
    with serving_on(dribbling_handler(40, 0.4)) as base:
        clock = Clock()
        rt = open_sink_runtime(tmp_path, env, webhook_urls=base + "/hook")
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        took = timed_round(loop)
        (row,) = rows(rt)
        assert row.status == "pending" and "HTTP 503" in row.last_error
        assert took < 4, took
        rt.close()


def timed_round(loop: DeliveryLoop) -> float:
    """Seconds one round of ``loop`` took, a round that sent one row."""
    started = time.monotonic()
    assert loop.run_once() == 1
    return time.monotonic() - started


def cut_at_the_timeout(rt: Runtime) -> Any:
    """The one outbox row, pending again after a request the 1 s deadline cut short."""
    (row,) = rows(rt)
    assert row.status == "pending" and "no complete answer within 1 s" in \
        row.last_error, row.last_error
    return row


DRIPPED = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 40\r\n\r\n" \
    + b'{"result": {"sys_id": "0123456789abcd"}}'


@pytest.mark.parametrize("fast", [0, DRIPPED.index(b"\r\n\r\n") + 4],
                         ids=["headers", "body"])
def test_a_webhook_dripping_its_answer_is_cut_at_the_timeout(
        tmp_path: Path, env: pytest.MonkeyPatch, fast: int) -> None:  # noqa: F811
    """Socket timeouts bound each read: a receiver sending its status line and headers
    a byte every 0.3 s (every read in time) held the delivery thread for the whole
    answer, here 36 s, and would for ever with a longer one. AIOPS_SINK_TIMEOUT bounds
    the whole exchange."""
    env.setenv("AIOPS_SINK_TIMEOUT", "1")
    with dripping(DRIPPED, fast) as base:
        clock = Clock()
        rt = open_sink_runtime(tmp_path, env, webhook_urls=base + "/hook")
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        took = timed_round(loop)
        if fast:  # a 2xx is delivered once its headers are in: the body is not read
            (row,) = rows(rt)
            assert row.status == "delivered"
        else:
            cut_at_the_timeout(rt)
        assert took < 3, took
        rt.close()


@pytest.mark.parametrize("fast", [0, DRIPPED.index(b"\r\n\r\n") + 4],
                         ids=["headers", "body"])
def test_servicenow_dripping_its_answer_is_cut_at_the_timeout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: int) -> None:
    """The ticket sinks read their answers whole (a sys_id is in the body): a body
    dripped a byte at a time held the thread as long as headers dripped did."""
    from tests.sinks.test_servicenow_sink import servicenow_settings

    monkeypatch.setenv("AIOPS_SINK_TIMEOUT", "1")
    with dripping(DRIPPED, fast) as base:
        clock = Clock()
        rt = open_sink_runtime(tmp_path / "data", monkeypatch,
                               **servicenow_settings(tmp_path, base))
        loop = loop_for(rt, clock)
        rt.engine.ingest([alert("a1")])
        took = timed_round(loop)
        row = cut_at_the_timeout(rt)
        assert row.last_error.startswith("GET ")  # the look-up by correlation_id
        assert took < 3, took
        rt.close()


def resolver_of(name: str, answer: Callable[[], object]) -> Callable[..., object]:
    """``socket.getaddrinfo`` with ``name`` answered by ``answer`` (DNS cannot be set up
    here); any other name as the system resolves it."""
    real = socket.getaddrinfo

    def getaddrinfo(host: str, *args: object, **kwargs: object) -> object:
        return answer() if host == name else real(host, *args, **kwargs)  # type: ignore[arg-type]
    return getaddrinfo


def test_a_name_look_up_that_hangs_is_cut_at_the_timeout(
        tmp_path: Path, env: pytest.MonkeyPatch) -> None:  # noqa: F811
    """``getaddrinfo`` takes no timeout: a receiver whose name the resolver does not
    answer for held the delivery thread until the resolver gave up (here 6 s; with a
    stuck NSS module, for ever), before any socket the deadline could cut existed. It
    is cut at AIOPS_SINK_TIMEOUT, and a retry while the look-up still hangs waits on
    that look-up rather than starting another thread."""
    asked: list[float] = []
    release = threading.Event()

    def hang() -> object:
        asked.append(time.monotonic())
        release.wait(6)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    env.setattr(socket, "getaddrinfo", resolver_of("hook.example", hang))
    env.setenv("AIOPS_SINK_TIMEOUT", "1")
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls="http://hook.example:9/hook")
    loop = loop_for(rt, clock)
    try:
        rt.engine.ingest([alert("a1")])
        for _ in range(2):
            took = timed_round(loop)
            cut_at_the_timeout(rt)
            assert took < 3, took
            clock.now += 600  # past the back-off
        assert len(asked) == 1
    finally:
        release.set()
        rt.close()


def test_a_name_looked_up_within_the_deadline_is_connected_to_by_its_address(
        tmp_path: Path, env: pytest.MonkeyPatch,  # noqa: F811
        receiver: tuple[Receiver, str]) -> None:  # noqa: F811
    """The look-up's addresses are what the request connects to, the name what it
    says it asks for (the Host header; TLS verifies it)."""
    got, url = receiver
    port = url.split(":")[2].split("/")[0]
    env.setattr(socket, "getaddrinfo", resolver_of(
        "hook.example", lambda: socket.getaddrinfo("127.0.0.1", int(port), 0,
                                                   socket.SOCK_STREAM)))
    clock = Clock()
    rt = open_sink_runtime(tmp_path, env, webhook_urls=f"http://hook.example:{port}/hook")
    loop = loop_for(rt, clock)
    rt.engine.ingest([alert("a1")])
    assert loop.run_once() == 1
    (row,) = rows(rt)
    assert row.status == "delivered", row.last_error
    (request,) = got.requests
    assert request["headers"]["Host"] == f"hook.example:{port}"
    rt.close()


@pytest.fixture
def tls_receiver(tmp_path: Path) -> Iterator[tuple[Receiver, int, Path]]:
    """A webhook receiver over HTTPS on 127.0.0.1 with a certificate for ``aiops.test``
    and 127.0.0.1 (tests/tls_certs.py): the receiver, its port and the CA to trust."""
    import ssl
    from http.server import ThreadingHTTPServer

    from tests.sinks.receiver import webhook_handler
    from tests.tls_certs import OPENSSL, make_certificates

    if OPENSSL is None:
        pytest.skip("needs the openssl command")
    certs = make_certificates(tmp_path / "certs")
    got = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), webhook_handler(got))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield got, server.server_address[1], certs.ca
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(("name", "delivered"), [("aiops.test", True),
                                                 ("other.test", False)])
def test_over_https_the_certificate_is_checked_against_the_name_not_the_address(
        tmp_path: Path, env: pytest.MonkeyPatch,  # noqa: F811
        tls_receiver: tuple[Receiver, int, Path], name: str, delivered: bool) -> None:
    """The request connects to the address the deadline-bound look-up gave, and TLS
    must still verify the receiver's *name*: the certificate also holds IP 127.0.0.1,
    so a connection that verified the address it reached would accept a server that
    is not the one named (``other.test`` here)."""
    got, port, ca = tls_receiver
    env.setattr(socket, "getaddrinfo", resolver_of(
        name, lambda: socket.getaddrinfo("127.0.0.1", port, 0, socket.SOCK_STREAM)))
    env.setenv("REQUESTS_CA_BUNDLE", str(ca))
    clock = Clock()
    rt = open_sink_runtime(tmp_path / "data", env, webhook_urls=f"https://{name}:{port}/hook")
    loop = loop_for(rt, clock)
    try:
        rt.engine.ingest([alert("a1")])
        loop.run_once()
        (row,) = rows(rt)
        if delivered:
            assert row.status == "delivered", row.last_error
            (request,) = got.requests
            assert request["headers"]["Host"] == f"{name}:{port}"
        else:
            assert row.status != "delivered" and got.requests == []
            assert "certificate" in row.last_error.lower(), row.last_error
            assert name in row.last_error or "hostname" in row.last_error.lower(), \
                row.last_error
    finally:
        rt.close()
