"""Receiving syslog (UDP and TCP) and forwarding the messages rules make alerts of.

One process per listener, separate from ``aiops serve``: devices keep sending while
the engine restarts, and the forwarder keeps what they sent until it is back
(aiops/forwarder.py). Each message is parsed (connectors/syslog.py), the rules say
whether it fires or clears an alert condition (connectors/syslog_rules.py), and the
events go to the engine's ``/api/v1/webhooks/syslog``.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import threading
import time
from dataclasses import dataclass, field

from aiops.forwarder import Forwarder
from connectors.syslog import MAX_MESSAGE_BYTES, TcpFramer, parse_syslog
from connectors.syslog_rules import RuleSet

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ListenStats:
    messages: int = 0
    matched: int = 0
    not_syslog: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class SyslogHandler:
    """Message in, event (if a rule says so) to the forwarder."""

    def __init__(self, rules: RuleSet, forwarder: Forwarder):
        self.rules = rules
        self.forwarder = forwarder
        self.stats = ListenStats()

    def handle(self, data: bytes, peer: str) -> None:
        try:
            message = parse_syslog(data, peer, time.time())
        except ValueError as exc:
            with self.stats.lock:
                self.stats.not_syslog += 1
            log.debug("%s", exc)
            return
        event = self.rules.event(message)
        with self.stats.lock:
            self.stats.messages += 1
            self.stats.matched += event is not None
        if event is not None:
            self.forwarder.add(event)


class _Udp(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True
    allow_reuse_address = True
    max_packet_size = MAX_MESSAGE_BYTES


class _Tcp(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def _servers(handler: SyslogHandler, udp: tuple[str, int] | None,
             tcp: tuple[str, int] | None) -> list[socketserver.BaseServer]:
    class Datagram(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            handler.handle(self.request[0], self.client_address[0])

    class Stream(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            framer = TcpFramer()
            self.request.settimeout(300)
            try:
                while True:
                    chunk = self.request.recv(65536)
                    if not chunk:
                        break
                    for frame in framer.feed(chunk):
                        handler.handle(frame, self.client_address[0])
            except (TimeoutError, OSError):
                pass
            for frame in framer.close():
                handler.handle(frame, self.client_address[0])

    servers: list[socketserver.BaseServer] = []
    if udp is not None:
        servers.append(_Udp(udp, Datagram))
    if tcp is not None:
        servers.append(_Tcp(tcp, Stream))
    return servers


class SyslogListener:
    """The servers and the forwarder, each on a thread; ``stop`` ends them in order."""

    def __init__(self, handler: SyslogHandler, udp: tuple[str, int] | None,
                 tcp: tuple[str, int] | None):
        self.handler = handler
        self.servers = _servers(handler, udp, tcp)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def addresses(self) -> list[str]:
        out = []
        for server in self.servers:
            kind = "udp" if server.socket.type == socket.SOCK_DGRAM else "tcp"
            host, port = server.server_address[:2]
            out.append(f"{kind} {host}:{port}")
        return out

    def start(self) -> None:
        for server in self.servers:
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            self._threads.append(thread)
        forward = threading.Thread(target=self.handler.forwarder.run, args=(self._stop,),
                                   daemon=True)
        forward.start()
        self._threads.append(forward)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop taking messages, then give the forwarder ``timeout`` to send what it holds."""
        for server in self.servers:
            server.shutdown()
            server.server_close()
        self._stop.set()
        self.handler.forwarder.wake()
        for thread in self._threads:
            thread.join(timeout=timeout)
