"""Host name look-ups that a request's deadline bounds.

``socket.getaddrinfo``, which urllib3 calls before it connects, takes no timeout: a
resolver that does not answer holds the calling thread for as long as the system's
resolver keeps trying (resolv.conf's timeout, times its attempts and servers), or for
ever with a stuck NSS module, and with it the one delivery thread and every other
receiver behind it. Here the look-up runs in a worker thread and the caller waits for
it only as long as it was given; a look-up that outlives its caller is left to end
on its own.

One look-up per (host, port, family) at a time: a caller asking while one runs waits
on that one, so a host whose resolution hangs costs one thread, not one more per
retry. Answers are not kept once given (the system's resolver caches as the records'
TTLs allow).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from concurrent.futures import Future
from typing import Any

Key = tuple[str, int, int]
_running: dict[Key, Future[list[Any]]] = {}
_lock = threading.Lock()


def is_literal(host: str) -> bool:
    """Whether ``host`` is an IP address (urllib3 may keep an IPv6 one in brackets):
    its look-up asks no resolver."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def resolve(host: str, port: int, family: int, within: float) -> list[Any]:
    """``getaddrinfo``'s stream addresses of ``host``, waited for at most ``within``
    seconds: TimeoutError after that, ``socket.gaierror`` when the resolver says the
    name does not resolve."""
    key = (host, port, family)
    with _lock:
        future = _running.get(key)
        if future is None:
            future = _running[key] = Future()
            threading.Thread(target=_look_up, args=(key, future), daemon=True,
                             name=f"aiops-resolve {host}").start()
    return future.result(timeout=max(0.0, within))


def _look_up(key: Key, future: Future[list[Any]]) -> None:
    host, port, family = key
    try:
        # Read at call time: what urllib3 itself would have called.
        future.set_result(socket.getaddrinfo(host, port, family, socket.SOCK_STREAM))
    except BaseException as exc:  # handed to whoever waits; nothing else runs here
        future.set_exception(exc)
    finally:
        with _lock:
            _running.pop(key, None)
