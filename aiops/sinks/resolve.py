"""Host name look-ups that a request's deadline bounds.

``socket.getaddrinfo``, which urllib3 calls before it connects, takes no timeout: a
resolver that does not answer holds the calling thread for as long as the system's
resolver keeps trying (resolv.conf's timeout, times its attempts and servers), or for
ever with a stuck NSS module, and with it the one delivery thread and every other
receiver behind it. Here the look-up runs in a worker thread and the caller waits for
it only as long as it was given; a look-up that outlives its caller is left to end
on its own.

One look-up per host name (and address family) at a time: a caller asking while one
runs waits on that one, so a host whose resolution hangs costs one thread, not one
more per retry, nor one per receiver on another port of it. And at most
``MAX_LOOK_UPS`` at once: with a resolver that answers for no name, every receiver's
name would otherwise leave a thread behind; past the bound a look-up of another name
fails at once (``LookUpsBusy``), and the delivery is tried again later as any
unreachable receiver is. Answers are not kept once given (the system's resolver
caches as the records' TTLs allow).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from concurrent.futures import Future
from typing import Any

MAX_LOOK_UPS = 8  # look-ups running at once, those that hang included

Key = tuple[str, int]
_running: dict[Key, Future[list[Any]]] = {}
_lock = threading.Lock()


class LookUpsBusy(OSError):
    """Not looked up: ``MAX_LOOK_UPS`` look-ups of other names are still running."""


def is_literal(host: str) -> bool:
    """Whether ``host`` is an IP address (urllib3 may keep an IPv6 one in brackets):
    its look-up asks no resolver."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def running() -> int:
    """How many look-ups are running now (those that hang included)."""
    with _lock:
        return len(_running)


def resolve(host: str, family: int, within: float) -> list[Any]:
    """``getaddrinfo``'s stream addresses of ``host`` (port 0: the caller connects to
    its own), waited for at most ``within`` seconds: TimeoutError after that,
    ``socket.gaierror`` when the resolver says the name does not resolve,
    ``LookUpsBusy`` at once when ``MAX_LOOK_UPS`` other look-ups are running."""
    key = (host, family)
    with _lock:
        future = _running.get(key)
        if future is None:
            if len(_running) >= MAX_LOOK_UPS:
                raise LookUpsBusy(f"not looked up: {len(_running)} look-ups of other host "
                                  f"names are still waiting on the resolver (at most "
                                  f"{MAX_LOOK_UPS} at once)")
            future = _running[key] = Future()
            threading.Thread(target=_look_up, args=(key, future), daemon=True,
                             name=f"aiops-resolve {host}").start()
    return future.result(timeout=max(0.0, within))


def _look_up(key: Key, future: Future[list[Any]]) -> None:
    host, family = key
    try:
        # Read at call time: what urllib3 itself would have called.
        found = socket.getaddrinfo(host, 0, family, socket.SOCK_STREAM)
    except BaseException as exc:  # handed to whoever waits; nothing else runs here
        _done(key)
        future.set_exception(exc)
    else:
        _done(key)
        future.set_result(found)


def _done(key: Key) -> None:
    """The look-up of ``key`` ends: no longer counted, before its caller hears of it
    (a caller's next look-up must find the place free)."""
    with _lock:
        _running.pop(key, None)
