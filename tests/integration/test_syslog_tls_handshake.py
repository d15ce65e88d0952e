"""The TLS listener's handshake is bounded in all, not per read.

In process, on a real socket: a sender that drips its ClientHello a byte at a time,
each byte well within the per-read timeout, must lose its connection (and the slot it
holds of ``MAX_TCP_CONNECTIONS``) at the handshake deadline; a sender that completes
the handshake is still read as before.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from aiops import syslog_tls
from aiops.forwarder import Forwarder
from aiops.syslog_listener import MAX_TCP_CONNECTIONS, ListenStats, SyslogListener, _servers
from tests.polling import wait_for
from tests.tls_certs import OPENSSL, Certificates, make_certificates

pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")

DEADLINE = 1.0


class Frames:
    """Collects what the stream hands on: the listener's handler interface."""

    def __init__(self) -> None:
        self.stats = ListenStats()
        self.frames: list[bytes] = []
        self.forwarder: Forwarder | None = None

    def handle(self, data: bytes, peer: str) -> None:
        self.frames.append(data)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


def serving_tls(certs: Certificates) -> Iterator[tuple[Any, Frames]]:
    """A TLS syslog server on 127.0.0.1 that records the frames it reads, served in a
    thread until the generator is closed (the body of the modules' ``server``
    fixtures)."""
    frames = Frames()
    context = syslog_tls.server_context(certs.server_cert, certs.server_key, certs.ca)
    (tls,) = _servers(frames, None, None, (("127.0.0.1", 0), context))
    thread = threading.Thread(target=tls.serve_forever, daemon=True)
    thread.start()
    yield tls, frames
    tls.shutdown()
    tls.server_close()
    thread.join(timeout=5)


@pytest.fixture
def server(certs: Certificates, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Frames]]:
    monkeypatch.setattr(syslog_tls, "HANDSHAKE_SECONDS", DEADLINE)
    yield from serving_tls(certs)


def client_context(certs: Certificates) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.load_cert_chain(str(certs.client_cert), str(certs.client_key))
    return context


def client_hello(certs: Certificates) -> bytes:
    """The first flight of a real TLS client, as bytes to drip."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context(certs).wrap_bio(incoming, outgoing, server_hostname="aiops.test")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


def test_a_handshake_dripped_a_byte_at_a_time_is_cut_at_the_deadline(
        server: tuple[Any, Frames], certs: Certificates) -> None:
    tls, frames = server
    hello = client_hello(certs)
    assert len(hello) > 40
    started = time.monotonic()
    closed_after = None
    with socket.create_connection(tls.server_address[:2], timeout=5) as raw:
        raw.settimeout(0.25)  # each byte well within the per-read timeout
        for byte in hello[:-1]:
            try:
                raw.sendall(bytes([byte]))
                if raw.recv(1) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                pass
            except OSError:  # reset by the server
                closed_after = time.monotonic() - started
                break
            if time.monotonic() - started > 4 * DEADLINE:
                break
    assert closed_after is not None, "the dripping sender kept its connection"
    assert closed_after < DEADLINE + 1.0
    wait_for(lambda: frames.stats.tls_refused == 1, "the refusal counted", timeout=5)


def test_a_completed_handshake_is_still_read(server: tuple[Any, Frames],
                                              certs: Certificates) -> None:
    tls, frames = server
    message = b"<187>1 2026-11-23T08:00:00Z edge-router-1 ios - - - link down"
    with socket.create_connection(tls.server_address[:2], timeout=5) as raw, \
            client_context(certs).wrap_socket(raw, server_hostname="aiops.test") as conn:
        time.sleep(DEADLINE + 0.5)  # past the handshake deadline: must not matter now
        conn.sendall(str(len(message)).encode() + b" " + message)
        wait_for(lambda: frames.frames == [message], "the message read", timeout=5)
    assert frames.stats.tls_refused == 0


def test_stop_ends_open_connections_after_handing_on_what_they_sent(
        certs: Certificates) -> None:
    """A sender's connection open at stop is closed (it reconnects elsewhere) and what
    it sent before is handed on before the forwarder's last send, not read afterwards
    into a queue nobody empties. Plain TCP and TLS alike."""
    frames = Frames()
    frames.forwarder = Forwarder("http://127.0.0.1:9/unreachable", max_pause=0.1,
                                 timeout=1.0)
    context = syslog_tls.server_context(certs.server_cert, certs.server_key, certs.ca)
    listener = SyslogListener(frames, None, ("127.0.0.1", 0), (("127.0.0.1", 0), context))
    listener.start()
    tcp, tls = (server.server_address[:2] for server in listener.servers)
    message = b"<187>1 2026-11-23T08:00:00Z edge-router-1 ios - - - link down"
    framed = str(len(message)).encode() + b" " + message
    with socket.create_connection(tcp, timeout=5) as plain, \
            socket.create_connection(tls, timeout=5) as raw, \
            client_context(certs).wrap_socket(raw, server_hostname="aiops.test") as secure:
        plain.sendall(framed)
        secure.sendall(framed)
        wait_for(lambda: len(frames.frames) == 2, "both messages read")
        started = time.monotonic()
        listener.stop(timeout=5)
        assert time.monotonic() - started < 5
        assert plain.recv(1) == b""  # closed by the listener, not left hanging
        assert secure.recv(1) == b""


def test_a_connection_still_in_its_handshake_at_stop_is_not_read_after_it(
        certs: Certificates) -> None:
    """A sender accepted before the stop whose handshake ends after it (up to 10 s
    later) must not have its messages read then: the forwarder has sent its last batch,
    so they would be acknowledged by TCP and lost with the process. It sees the close."""
    frames = Frames()
    frames.forwarder = Forwarder("http://127.0.0.1:9/unreachable", max_pause=0.1,
                                 timeout=1.0)
    context = syslog_tls.server_context(certs.server_cert, certs.server_key, certs.ca)
    listener = SyslogListener(frames, None, None, (("127.0.0.1", 0), context))
    listener.start()
    (tls,) = listener.servers
    message = b"<187>1 2026-11-23T08:00:00Z edge-router-1 ios - - - link down"
    with socket.create_connection(tls.server_address[:2], timeout=5) as raw:
        # Accepted: its thread holds a slot and waits for the ClientHello.
        wait_for(lambda: tls.slots._value == MAX_TCP_CONNECTIONS - 1, "the accept")
        listener.stop(timeout=5)
        sent = False
        try:
            with client_context(certs).wrap_socket(raw, server_hostname="aiops.test") \
                    as secure:
                secure.sendall(str(len(message)).encode() + b" " + message)
                sent = True
                assert secure.recv(1) == b""  # closed, not read
        except OSError:  # reset or refused: the sender knows
            pass
    time.sleep(0.5)
    assert frames.frames == [], f"read after the stop (sent: {sent})"
