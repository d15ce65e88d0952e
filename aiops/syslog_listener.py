"""Receiving syslog (UDP, TCP and TLS) and forwarding the messages rules make alerts of.

One process per listener, separate from ``aiops serve``: devices keep sending while
the engine restarts, and the forwarder keeps what they sent until it is back
(aiops/forwarder.py). Each message is parsed (connectors/syslog.py), the rules say
whether it fires or clears an alert condition (connectors/syslog_rules.py), and the
events go to the engine's ``/api/v1/webhooks/syslog``.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import selectors
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiops.forwarder import Forwarder
from connectors.syslog import MAX_MESSAGE_BYTES, TcpFramer, parse_syslog
from connectors.syslog_rules import RuleSet

if TYPE_CHECKING:
    from aiops.syslog_tls import TlsGate
    from aiops.syslog_tls_peers import HostBinding

log = logging.getLogger(__name__)


@dataclass(slots=True)
class ListenStats:
    messages: int = 0
    matched: int = 0
    unreadable: int = 0  # not syslog (or not a trap): counted, not forwarded
    refused: int = 0  # a trap whose community is not one of those accepted
    tls_refused: int = 0  # TLS connections whose handshake failed (no syslog read)
    v3_refused: int = 0  # SNMPv3 messages USM refused (wrong passphrase, unknown user...)
    tls_unbound: int = 0  # TLS messages for a host their certificate does not name
    lock: threading.Lock = field(default_factory=threading.Lock)


class SyslogHandler:
    """Message in, event (if a rule says so) to the forwarder."""

    def __init__(self, rules: RuleSet, forwarder: Forwarder):
        self.rules = rules
        self.forwarder = forwarder
        self.stats = ListenStats()

    def handle(self, data: bytes, peer: str, hosts: HostBinding | None = None) -> None:
        """Never raises: one odd message must not stop the receiving loop. ``hosts``:
        the hosts a TLS sender's certificate may send for (``--tls-bind-hostname``);
        a message for another is dropped, counted and logged."""
        try:
            message = parse_syslog(data, peer, time.time())
        except ValueError as exc:
            with self.stats.lock:
                self.stats.unreadable += 1
            log.debug("%s", exc)
            return
        if hosts is not None and not hosts.allows(message.host):
            with self.stats.lock:
                self.stats.tls_unbound += 1
            hosts.dropped(message.host)
            return
        pass_on(self.stats, self.forwarder, lambda: self.rules.event(message), peer)


def pass_on(stats: ListenStats, forwarder: Forwarder,
            make_event: Callable[[], dict[str, Any] | None], peer: str) -> None:
    """Apply the rules (``make_event``), count, and queue the event if there is one. A
    rule that raises on this message is logged and the message skipped: one odd
    message must not stop the receiving loop."""
    try:
        event = make_event()
    except Exception:  # noqa: BLE001 - see above
        log.exception("a rule failed on a message from %s", peer)
        event = None
    with stats.lock:
        stats.messages += 1
        stats.matched += event is not None
    if event is not None:
        forwarder.add(event)


RECEIVE_BUFFER = 32 * 1024 * 1024  # a burst waits in the kernel while one is handled
# Linux's SO_RCVBUFFORCE (asm-generic/socket.h), which Python's socket module lacks:
# a buffer beyond net.core.rmem_max, for a process that may (CAP_NET_ADMIN).
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33 if sys.platform == "linux" else None)


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


class _UdpReceiver:
    """All datagrams on one thread, in a tight loop: handling one is a parse, a few
    regular expressions and a queue append, cheaper than socketserver's per-request
    objects (let alone a thread per datagram), and a syslog storm comes as a burst."""

    def __init__(self, address: tuple[str, int], handler: Any):
        # No SO_REUSEADDR: a second listener on the port must fail, not split the traffic.
        self.socket = socket.socket(_family(address[0]), socket.SOCK_DGRAM)
        try:
            if SO_RCVBUFFORCE is None:
                raise OSError("no SO_RCVBUFFORCE here")
            self.socket.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
        except OSError:  # not permitted: as much as net.core.rmem_max allows
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        self.socket.bind(address)
        self.socket.settimeout(0.5)
        self.server_address = self.socket.getsockname()
        # What the kernel granted (it doubles the ask; without CAP_NET_ADMIN it caps it at
        # net.core.rmem_max): said at start, since a small one loses bursts.
        self.buffer_bytes = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self._handler = handler
        self._stop = threading.Event()

    def serve_forever(self) -> None:
        receive, handle = self.socket.recvfrom, self._handler.handle
        while not self._stop.is_set():
            try:
                data, peer = receive(MAX_MESSAGE_BYTES)
            except TimeoutError:
                continue
            except OSError as exc:
                if self._stop.is_set() or self.socket.fileno() < 0:
                    break  # closed by stop
                log.warning("udp receive failed (%s); going on", exc)
                continue
            try:
                answer = handle(data, peer[0])
            except Exception:  # noqa: BLE001 - a handler's bug must not end the receiving
                log.exception("a datagram from %s could not be handled; going on", peer[0])
                continue
            if answer:  # an SNMP inform's acknowledgement
                try:
                    self.socket.sendto(answer, peer)
                except OSError as exc:
                    log.debug("could not answer %s: %s", peer[0], exc)

    def shutdown(self) -> None:
        self._stop.set()

    def server_close(self) -> None:
        self.socket.close()


MAX_TCP_CONNECTIONS = 512
# With every slot taken, a new connection takes the slot of the connection that has
# sent nothing for longest, if that is at least this many seconds: peers that connect
# and stay silent must not shut real senders out for the hours keepalive takes.
EVICT_IDLE_SECONDS = 60.0
EVICT_WAIT_SECONDS = 1.0  # for the evicted connection's thread to give its slot back


class _Tcp(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A thread per connection: a device keeps one open and sends line after line; at
    most ``MAX_TCP_CONNECTIONS`` at once (more are closed at once, and logged)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slots = threading.BoundedSemaphore(MAX_TCP_CONNECTIONS)
        # The connections being read, with when each last sent something (or began).
        self._streams: dict[socket.socket, float] = {}
        self._streams_changed = threading.Condition()
        self._closed = False  # close_streams ran: no stream is read from then on

    @contextlib.contextmanager
    def reading(self, connection: socket.socket) -> Iterator[bool]:
        """While a connection's stream is read: ``close_streams`` can end it. False
        after ``close_streams``: a connection accepted just before the stop, or whose
        TLS handshake ended after it, must not be read, since what it sent would go
        to a forwarder that has sent its last batch (the sender sees the close)."""
        with self._streams_changed:
            readable = not self._closed
            if readable:
                self._streams[connection] = time.monotonic()
        if not readable:
            yield False
            return
        try:
            yield True
        finally:
            with self._streams_changed:
                self._streams.pop(connection, None)
                self._streams_changed.notify_all()

    def touch(self, connection: socket.socket) -> None:
        """The connection sent something (not idle); a dict write per chunk read."""
        if connection in self._streams:
            self._streams[connection] = time.monotonic()

    def close_streams(self, timeout: float) -> None:
        """End the reads of open connections and wait (up to ``timeout``) for what they
        had read to be handled: on stop, nothing may be read (and acknowledged by TCP)
        after the forwarder's last send, to be lost when the process exits. Senders see
        the close and connect again to the next listener."""
        with self._streams_changed:
            self._closed = True
            for connection in self._streams:
                # The socket's own shutdown: a TLS socket's would drop its state under
                # the thread reading it.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(connection, socket.SHUT_RDWR)
            self._streams_changed.wait_for(lambda: not self._streams, timeout)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        if self.slots.acquire(blocking=False):
            return True
        idle = self._evict_idlest()
        if idle is not None and self.slots.acquire(timeout=EVICT_WAIT_SECONDS):
            log.warning("syslog connections all taken: closed one silent for %.0f s to "
                        "take one from %s", idle, client_address[0])
            return True
        log.warning("refused a syslog connection from %s: %d already open",
                    client_address[0], MAX_TCP_CONNECTIONS)
        return False

    def _evict_idlest(self) -> float | None:
        """End the read of the connection silent for longest, if for at least
        ``EVICT_IDLE_SECONDS``; its idle seconds, or None when none was."""
        now = time.monotonic()
        with self._streams_changed:
            if not self._streams:
                return None
            connection, since = min(self._streams.items(), key=lambda item: item[1])
            if now - since < EVICT_IDLE_SECONDS:
                return None
            self._streams[connection] = now  # not chosen twice while it closes
            with contextlib.suppress(OSError):
                socket.socket.shutdown(connection, socket.SHUT_RDWR)
        return now - since

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class _Tcp6(_Tcp):
    address_family = socket.AF_INET6


class _Tls(_Tcp):
    """TCP whose connections are TLS (RFC 5425): the handshake runs on the connection's
    own thread, bounded in time, so a slow or silent client never holds the accept loop."""

    def __init__(self, address: tuple[str, int], handler: Any,
                 gate: TlsGate | ssl.SSLContext):
        from aiops.syslog_tls import TlsGate

        super().__init__(address, handler)
        self.gate = TlsGate.fixed(gate) if isinstance(gate, ssl.SSLContext) else gate


class _Tls6(_Tls):
    address_family = socket.AF_INET6


TlsEndpoint = tuple[tuple[str, int], "TlsGate | ssl.SSLContext"]  # address, what it checks


def _servers(handler: Any, udp: tuple[str, int] | None, tcp: tuple[str, int] | None,
             tls: TlsEndpoint | None = None) -> list[Any]:
    class Stream(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            framer = TcpFramer()
            peer = self.client_address[0]
            # No idle timeout: a quiet device keeps its connection (a sender that missed
            # the close would lose its next message, often the rare link-down);
            # keepalives find the peers that are gone, and with every slot taken the
            # longest-silent connection gives its slot up (``verify_request``).
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            connection, deliver = self.request, handler.handle
            gate = getattr(self.server, "gate", None)
            if gate is not None:
                admitted = _handshake(gate, self.request, peer, handler.stats)
                if admitted is None:
                    return
                connection, hosts = admitted
                if hosts is not None:
                    deliver = functools.partial(handler.handle, hosts=hosts)
            with self.server.reading(connection) as readable:
                try:
                    while readable:
                        chunk = connection.recv(65536)
                        if not chunk:
                            break
                        self.server.touch(connection)
                        for frame in framer.feed(chunk):
                            deliver(frame, peer)
                except OSError:  # ssl.SSLError too: a sender that broke off mid-record
                    pass
                finally:
                    if connection is not self.request:  # the TLS socket took the fd over
                        connection.close()
                for frame in framer.close():
                    deliver(frame, peer)

    servers: list[Any] = []
    if udp is not None:
        servers.append(_UdpReceiver(udp, handler))
    if tcp is not None:
        servers.append((_Tcp6 if _family(tcp[0]) == socket.AF_INET6 else _Tcp)(tcp, Stream))
    if tls is not None:
        where, gate = tls
        servers.append((_Tls6 if _family(where[0]) == socket.AF_INET6 else _Tls)(
            where, Stream, gate))
    return servers


def _handshake(gate: TlsGate, raw: socket.socket, peer: str,
               stats: ListenStats) -> tuple[ssl.SSLSocket, HostBinding | None] | None:
    """The server side of the TLS handshake, and the hosts the sender may send for
    (None: any); None (logged, counted) when it fails: a plain-TCP sender, an unknown,
    revoked or missing client certificate, one no ``--tls-permitted-peer`` matches,
    one its OCSP responder does not vouch for (``--tls-ocsp``), a timeout. Nothing the
    sender wrote has been read then."""
    from aiops.syslog_tls import HANDSHAKE_SECONDS, peer_subject
    from aiops.syslog_tls_ocsp import OcspRefused
    from aiops.syslog_tls_peers import NotPermitted

    connection = None
    hosts = None
    try:
        connection = gate.context().wrap_socket(raw, server_side=True,
                                                do_handshake_on_connect=False)
        _handshake_within(connection, time.monotonic() + HANDSHAKE_SECONDS)
        if gate.peers is not None:
            hosts = gate.peers.admit(connection.getpeercert() or {}, peer)
        if gate.ocsp is not None:  # on this connection's thread: only this sender waits
            gate.ocsp.check(connection.getpeercert(binary_form=True) or b"", peer)
    except OcspRefused as exc:
        connection.close()  # type: ignore[union-attr]  # set: the check follows the handshake
        with stats.lock:
            stats.tls_refused += 1
        said = gate.ocsp.warnings.check(str(exc))  # type: ignore[union-attr]
        if said is not None:  # once an hour per certificate and cause
            log.warning("refused a TLS syslog connection from %s: %s", peer, said)
        return None
    except (OSError, ValueError, NotPermitted) as exc:
        # The TLS socket took the descriptor over: closing the raw one (socketserver's
        # shutdown_request) would leave the connection open until garbage collection.
        (connection or raw).close()
        with stats.lock:
            stats.tls_refused += 1
        reason = getattr(exc, "reason", None) or exc
        verify = getattr(exc, "verify_message", None)  # what was wrong with the certificate
        if verify:
            reason = f"{reason} ({verify})"
        log.warning("refused a TLS syslog connection from %s: %s", peer, reason)
        return None
    log.info("TLS syslog connection from %s (%s, certificate %s)", peer,
             connection.version(), peer_subject(connection) or "none")
    return connection, hosts


def _handshake_within(connection: ssl.SSLSocket, deadline: float) -> None:
    """``do_handshake`` bounded by ``deadline`` in all: a socket timeout bounds each
    read, so a sender dripping its ClientHello a byte at a time within it would hold the
    connection's thread (and one of the ``MAX_TCP_CONNECTIONS`` slots) for hours.
    TimeoutError at the deadline; the socket is left blocking, as the stream reads it."""
    connection.setblocking(False)
    with selectors.DefaultSelector() as selector:
        while True:
            try:
                connection.do_handshake()
                break
            except ssl.SSLWantReadError:
                wanted = selectors.EVENT_READ
            except ssl.SSLWantWriteError:
                wanted = selectors.EVENT_WRITE
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("the TLS handshake took too long")
            selector.register(connection, wanted)
            try:
                selector.select(remaining)
            finally:
                selector.unregister(connection)
    connection.setblocking(True)


class SyslogListener:
    """The servers and the forwarder, each on a thread; ``stop`` ends them in order.
    Any handler with ``handle(data, peer)`` and a ``forwarder`` will do (the SNMP trap
    receiver uses it with UDP only)."""

    def __init__(self, handler: Any, udp: tuple[str, int] | None,
                 tcp: tuple[str, int] | None,
                 tls: TlsEndpoint | None = None):
        self.handler = handler
        self.servers = _servers(handler, udp, tcp, tls)
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def addresses(self) -> list[str]:
        out = []
        for server in self.servers:
            kind = ("udp" if server.socket.type == socket.SOCK_DGRAM
                    else "tls" if isinstance(server, _Tls) else "tcp")
            host, port = server.server_address[:2]
            shown = f"[{host}]" if ":" in host else host
            buffer = getattr(server, "buffer_bytes", None)
            out.append(f"{kind} {shown}:{port}"
                       + (f" (receive buffer {buffer / 2**20:.1f} MB)" if buffer else ""))
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
            if isinstance(server, _Tcp):
                server.close_streams(timeout=5.0)
        self._stop.set()
        self.handler.forwarder.wake()
        for thread in self._threads:
            thread.join(timeout=timeout)
