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
not answer would hold the thread before any socket exists to shut down.

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

from aiops.sinks.resolve import is_literal, resolve

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
        if self._timer is not None:
            self._timer.cancel()
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
    """``connect`` (urllib3's ``_new_conn``) to the addresses of the connection's host
    as looked up within the calling thread's deadline, each in turn as urllib3 tries
    them; as urllib3 alone without a deadline or for an IP address. The host name stays
    the connection's own (TLS verifies it, the Host header names it)."""
    deadline: Deadline | None = getattr(_local, "current", None)
    host = conn._dns_host
    if deadline is None or is_literal(host):
        return connect()
    try:
        addresses = resolve(host, conn.port or 0, allowed_gai_family(), deadline.remaining())
    except TimeoutError:
        deadline.lapse()
        raise ConnectTimeoutError(conn, f"looking up {conn.host} took longer than the "
                                        f"deadline of {deadline.seconds:g} s") from None
    except socket.gaierror as exc:
        raise NameResolutionError(conn.host, conn, exc) from exc
    failed: Exception = NameResolutionError(conn.host, conn,
                                            socket.gaierror(f"no address for {host}"))
    for *_, sockaddr in addresses:
        conn._dns_host = sockaddr[0]
        try:
            return connect()
        except (NewConnectionError, ConnectTimeoutError) as exc:
            failed = exc
        finally:
            conn._dns_host = host
    raise failed


class _WatchedHTTP(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _resolved_conn(self, super()._new_conn)

    def connect(self) -> None:
        super().connect()
        _watch(self.sock)

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:  # a reused connection too
        _watch(self.sock)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPS(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _resolved_conn(self, super()._new_conn)

    def connect(self) -> None:
        super().connect()
        _watch(self.sock)

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _watch(self.sock)
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


def late(what: str, seconds: float) -> str:
    """The error kept for a request the deadline cut short."""
    return (f"{what}: no complete answer within {seconds:g} s (AIOPS_SINK_TIMEOUT, "
            f"the whole exchange)")
