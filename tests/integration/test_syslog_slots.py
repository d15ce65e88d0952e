"""Connections that stay silent cannot shut real senders out: with every slot of the
TCP listener taken, a new connection takes the slot of the one silent for longest (if
long enough), in process on real sockets. Before, silent peers held every slot until
keepalive (about two hours) and every new sender was refused."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from aiops import syslog_listener
from aiops.syslog_listener import _servers
from tests.integration.test_syslog_tls_handshake import Frames
from tests.polling import wait_for

LINE = b"<187>Nov 23 13:00:00 r1 ios: %LINK-3-UPDOWN: Interface Gi0/1, changed state to down\n"


@pytest.fixture
def tcp(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Frames]]:
    monkeypatch.setattr(syslog_listener, "MAX_TCP_CONNECTIONS", 2)
    frames = Frames()
    (server,) = _servers(frames, None, ("127.0.0.1", 0))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, frames
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def silent_pair(server: Any) -> list[socket.socket]:
    peers = [socket.create_connection(server.server_address[:2], timeout=5) for _ in range(2)]
    wait_for(lambda: server.slots._value == 0, "both slots taken")
    return peers


def test_a_new_sender_takes_the_slot_of_the_longest_silent_connection(
        tcp: tuple[Any, Frames], monkeypatch: pytest.MonkeyPatch) -> None:
    server, frames = tcp
    monkeypatch.setattr(syslog_listener, "EVICT_IDLE_SECONDS", 0.3)
    peers = silent_pair(server)
    threading.Event().wait(0.5)
    with socket.create_connection(server.server_address[:2], timeout=5) as sender:
        sender.sendall(LINE)
        wait_for(lambda: frames.frames == [LINE.rstrip(b"\n")], "the new sender's line")
    closed = []
    for peer in peers:
        peer.settimeout(0.2)
        try:
            closed.append(peer.recv(1) == b"")
        except TimeoutError:
            closed.append(False)
        peer.close()
    assert closed.count(True) == 1  # exactly one silent connection gave its slot up


def test_connections_that_sent_recently_keep_their_slots(
        tcp: tuple[Any, Frames], monkeypatch: pytest.MonkeyPatch) -> None:
    server, frames = tcp
    monkeypatch.setattr(syslog_listener, "EVICT_IDLE_SECONDS", 60.0)
    peers = silent_pair(server)
    with socket.create_connection(server.server_address[:2], timeout=5) as late:
        late.sendall(LINE)
        late.settimeout(5)
        assert late.recv(1) == b""  # refused: nobody has been silent for a minute
    assert frames.frames == []
    for peer in peers:
        peer.close()
