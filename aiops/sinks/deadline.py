"""A total deadline for one outbound request, the whole exchange.

``requests`` (urllib3 beneath it) bounds the connect and each read of a socket, not
the exchange: a receiver that sends its status line, headers or body one byte every
few seconds answers every read in time and holds the one delivery thread, and every
other receiver behind it, for as long as it likes. Here every socket a sink's session
opens or reuses during a request is registered with the request's ``Deadline``; when
the deadline passes, a timer shuts those sockets down, the blocked read returns, and
``requests`` raises, which the sink reads as "try again later". Before a connection
is opened, its host name is looked up within what is left of the deadline
(``aiops.sinks.resolve``): ``getaddrinfo`` takes no timeout, and a resolver that does
not answer would hold the thread before any socket exists to shut down. Then each of
the name's addresses is tried in turn with what is left (none once the deadline has
passed), not with the whole timeout each: two addresses that drop the connection took
twice the timeout. A new socket is watched from its connect on, so the TLS handshake
is cut at the deadline too. The deadline knows the step the request is in, and says
which one it cut (``late``).

Only the sessions of ``deadline_session`` take part: they carry an adapter whose
connections register their sockets with the deadline of the calling thread.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from aiops.sinks.resolve import LookUpsBusy, is_literal, resolve

_local = threading.local()


class Deadline:
    """``with Deadline(seconds) as d:`` around one request (in the calling thread);
    ``d.expired`` afterwards says whether the deadline cut it short."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._done = False
        self._timer: threading.Timer | None = None
        self._end = 0.0  # time.monotonic() when it passes
        self._held: list[socket.socket] = []  # copies of new sockets (``hold``)
        # What the request is doing now (set by the connection), and what it was
        # doing when the deadline passed: the error kept says where it was stuck.
        self.step = "sending the request"
        self.cut_while = ""

    def __enter__(self) -> Deadline:
        self._end = time.monotonic() + self.seconds
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()
        _local.current = self
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            # After this the sockets go back to the pool for other requests: never
            # shut one down from here on.
            self._done = True
            self._sockets.clear()
            held, self._held = self._held, []
        if self._timer is not None:
            self._timer.cancel()
        for copy in held:
            copy.close()
        _local.current = None

    def watch(self, sock: socket.socket | None) -> None:
        """Cut ``sock`` off when the deadline passes (at once if it has)."""
        if sock is None:
            return
        with self._lock:
            if self._done:
                return
            if self.expired:
                _cut(sock)
            else:
                self._sockets.append(sock)

    def hold(self, sock: socket.socket) -> None:
        """Cut a new connection when the deadline passes, whatever wraps ``sock`` later:
        TLS takes the descriptor over (``sock`` is detached) and shakes hands before
        the connection has a socket to ``watch``. A copy of the descriptor is watched
        (shutting it down shuts the connection down) and closed when the request ends."""
        copy = sock.dup()
        with self._lock:
            if self._done:
                copy.close()
                return
            self._held.append(copy)
            if self.expired:
                _cut(copy)
            else:
                self._sockets.append(copy)

    def remaining(self) -> float:
        """Seconds left before the deadline passes (0 once it has)."""
        return max(0.0, self._end - time.monotonic())

    def lapse(self) -> None:
        """The deadline ran out while the calling thread waited on something it bounds
        (a name look-up), maybe a moment before the timer fired: expired from now."""
        self._expire()

    def _expire(self) -> None:
        with self._lock:
            if self._done:
                return
            if not self.expired:
                self.cut_while = self.step
            self.expired = True
            for sock in self._sockets:
                _cut(sock)


def _cut(sock: socket.socket) -> None:
    """Shut the socket down under whoever reads it: the read returns at once. The plain
    socket's shutdown, not ``SSLSocket.shutdown`` (which also drops the TLS state the
    reading thread is using)."""
    with contextlib.suppress(OSError):  # closed already
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watch(sock: Any) -> None:
    current: Deadline | None = getattr(_local, "current", None)
    if current is not None:
        current.watch(sock)


def _resolved_conn(conn: HTTPConnection, connect: Callable[[], socket.socket]) -> socket.socket:
    """``connect`` (urllib3's ``_new_conn``) within the calling thread's deadline: the
    connection's host looked up within what is left of it, then each address in turn
    given what is left (at most the connection's own timeout), none tried once it has
    passed; as urllib3 alone without a deadline. The host name stays the connection's
    own (TLS verifies it, the Host header names it)."""
    deadline: Deadline | None = getattr(_local, "current", None)
    if deadline is None:
        return connect()
    host = conn._dns_host
    if is_literal(host):
        addresses = [host]
    else:
        deadline.step = f"looking up {conn.host}"
        addresses = _look_up(conn, deadline)
    own_timeout = conn.timeout
    failed: Exception = NameResolutionError(conn.host, conn,
                                            socket.gaierror(f"no address for {host}"))
    try:
        for i, address in enumerate(addresses, 1):
            left = deadline.remaining()
            if left <= 0:
                break
            deadline.step = f"connecting to {address}:{conn.port}" + (
                f" (address {i} of {len(addresses)} of {conn.host})" if len(addresses) > 1
                else "")
            conn._dns_host = address
            conn.timeout = min(own_timeout, left) if isinstance(own_timeout, (int, float)) \
                else left
            try:
                sock = connect()
            except (NewConnectionError, ConnectTimeoutError) as exc:
                failed = exc
                continue
            deadline.hold(sock)
            return sock
    finally:
        conn._dns_host, conn.timeout = host, own_timeout
    if deadline.remaining() <= 0:  # the deadline, not the receiver, ended the attempts
        deadline.lapse()
        raise ConnectTimeoutError(conn, f"the deadline of {deadline.seconds:g} s passed "
                                        f"while {deadline.cut_while}")
    raise failed


def _look_up(conn: HTTPConnection, deadline: Deadline) -> list[str]:
    """The addresses of the connection's host, looked up within what is left of
    ``deadline``."""
    try:
        found = resolve(conn._dns_host, allowed_gai_family(), deadline.remaining())
    except TimeoutError:
        deadline.lapse()
        raise ConnectTimeoutError(conn, f"looking up {conn.host} took longer than the "
                                        f"deadline of {deadline.seconds:g} s") from None
    except (socket.gaierror, LookUpsBusy) as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc  # type: ignore[arg-type]
    return list(dict.fromkeys(sockaddr[0] for *_, sockaddr in found))


def _step(step: str) -> None:
    current: Deadline | None = getattr(_local, "current", None)
    if current is not None:
        current.step = step


class _WatchedHTTP(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _resolved_conn(self, super()._new_conn)

    def connect(self) -> None:
        super().connect()
        _watch(self.sock)
        _step("sending the request")

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:  # a reused connection too
        _watch(self.sock)
        _step("reading the answer")
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPS(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        sock = _resolved_conn(self, super()._new_conn)
        _step(f"in the TLS handshake with {self.host}")  # what ``connect`` does next
        return sock

    def connect(self) -> None:
        super().connect()
        _watch(self.sock)
        _step("sending the request")

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _watch(self.sock)
        _step("reading the answer")
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTP


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPS


_WATCHED = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}


class _WatchedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _WATCHED

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:  # HTTPS_PROXY set
        manager = super().proxy_manager_for(proxy, **kwargs)
        if not proxy.lower().startswith("socks"):
            manager.pool_classes_by_scheme = _WATCHED
        return manager


def deadline_session() -> requests.Session:
    """A session whose requests a ``Deadline`` around them can cut short."""
    session = requests.Session()
    adapter = _WatchedAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def late(what: str, deadline: Deadline) -> str:
    """The error kept for a request the deadline cut short, with the step it cut."""
    return (f"{what}: no complete answer within {deadline.seconds:g} s "
            f"(AIOPS_SINK_TIMEOUT, the whole exchange): the deadline passed while "
            f"{deadline.cut_while}")
