"""AIOPS_SINK_TIMEOUT bounds the whole exchange, the steps before the answer included:
the look-up, every connect attempt across the name's addresses, the TLS handshake. Each
step bounded on its own let a name with two addresses that do not answer, or a slow
look-up before a handshake that never completes, hold the one delivery thread (and
every receiver behind it) for a multiple of the timeout. And look-ups that hang are
bounded in number: a resolver that answers for no name costs at most a few threads,
not one per receiver's name."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiops.sinks import resolve
from tests.sinks.runtimes import open_sink_runtime
from tests.sinks.test_delivery_hostile import resolver_of, timed_round
from tests.sinks.test_webhook_outbox import (  # noqa: F401 (fixtures)
    Clock,
    alert,
    env,
    loop_for,
    rows,
)

SECOND_ADDRESS = "127.0.0.2"  # loopback too on Linux (all of 127.0.0.0/8)


@contextlib.contextmanager
def full_backlog(host: str, port: int = 0) -> Iterator[int]:
    """A listening socket on ``host``:``port`` that never accepts, its accept queue
    filled: the kernel drops the SYN of any further connection, so a connect to it
    hangs until the client's own timeout, as a host that drops packets does. Yields
    the port."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, port))
    listener.listen(0)
    address = listener.getsockname()
    held: list[socket.socket] = []
    try:
        for _ in range(16):  # Linux queues backlog + 1 connections
            client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            client.settimeout(0.3)
            try:
                client.connect(address)
            except TimeoutError:
                client.close()
                break
            held.append(client)
        else:
            pytest.skip("the accept queue never filled: connects here do not hang")
        yield address[1]
    finally:
        for client in held:
            client.close()
        listener.close()


@contextlib.contextmanager
def two_hanging_addresses() -> Iterator[int]:
    """127.0.0.1 and 127.0.0.2 on one port, connects to both hanging; yields the port."""
    with full_backlog("127.0.0.1") as port:
        probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            probe.bind((SECOND_ADDRESS, port))
        except OSError as exc:  # the port is taken on the second address
            pytest.skip(f"cannot listen on {SECOND_ADDRESS}:{port}: {exc}")
        finally:
            probe.close()
        with full_backlog(SECOND_ADDRESS, port):
            yield port


def addresses(*hosts: str, port: int) -> list[tuple]:
    """What ``getaddrinfo`` answers for a name with the addresses ``hosts``."""
    return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (h, port))
            for h in hosts]


def first_round(tmp_path: Path, patch: pytest.MonkeyPatch, url: str) -> tuple[float, Any]:
    """One incident's first delivery round to the webhook ``url`` with a deadline of
    1 s: how long the round took, and the incident's outbox row after it."""
    patch.setenv("AIOPS_SINK_TIMEOUT", "1")
    rt = open_sink_runtime(tmp_path, patch, webhook_urls=url)
    try:
        loop = loop_for(rt, Clock())
        rt.engine.ingest([alert("a1")])
        took = timed_round(loop)
        (row,) = rows(rt)
        return took, row
    finally:
        rt.close()


def test_two_addresses_that_do_not_answer_share_one_deadline(
        tmp_path: Path, env: pytest.MonkeyPatch) -> None:  # noqa: F811
    """Each connect attempt had the whole timeout: a name with two addresses that
    drop the connection took 2 s against a 1 s deadline (n addresses, n seconds). Each
    attempt now gets what is left, and none starts after the deadline."""
    with two_hanging_addresses() as port:
        env.setattr(socket, "getaddrinfo", resolver_of(
            "hook.example", lambda: addresses("127.0.0.1", SECOND_ADDRESS, port=port)))
        took, row = first_round(tmp_path, env, f"http://hook.example:{port}/h")
    assert row.status == "pending" and row.attempts == 1
    assert "no complete answer within 1 s" in row.last_error, row.last_error
    assert "the deadline passed while connecting to 127.0.0.1" in row.last_error
    assert took < 1.7, took


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A server that accepts connections (the kernel does, into its queue) and never
    says a word: a TLS client waits for the server's hello. Yields the port."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_a_slow_look_up_and_a_handshake_that_never_ends_share_one_deadline(
        tmp_path: Path, env: pytest.MonkeyPatch) -> None:  # noqa: F811
    """A look-up of 0.8 s, then a server that never answers the TLS hello: the
    handshake had its own 1 s and the exchange took 1.8 s against a deadline of 1 s.
    The socket is cut at the deadline whatever step it is in."""
    with silent_server() as port:
        def slow() -> object:
            time.sleep(0.8)
            return addresses("127.0.0.1", port=port)

        env.setattr(socket, "getaddrinfo", resolver_of("hook.example", slow))
        took, row = first_round(tmp_path, env, f"https://hook.example:{port}/h")
    assert row.status == "pending"
    assert "no complete answer within 1 s" in row.last_error, row.last_error
    assert "the deadline passed while in the TLS handshake with hook.example" \
        in row.last_error, row.last_error
    assert took < 1.5, took


def look_up_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("aiops-resolve")]


@pytest.fixture
def hanging_resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """``getaddrinfo`` hanging for every name ``hung-*.example`` until the test ends;
    yields the names it was asked for. Waits for the look-up threads to end after, so
    the next test starts with none running."""
    asked: list[str] = []
    release = threading.Event()
    real = socket.getaddrinfo

    def getaddrinfo(host: str, *args: object, **kwargs: object) -> object:
        if host.startswith("hung-"):
            asked.append(host)
            release.wait(30)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    try:
        yield asked
    finally:
        release.set()
        ended = time.monotonic() + 10
        while resolve.running() and time.monotonic() < ended:
            time.sleep(0.01)


def test_hung_look_ups_are_bounded_and_one_more_fails_at_once(
        tmp_path: Path, env: pytest.MonkeyPatch,  # noqa: F811
        hanging_resolver: list[str]) -> None:
    """A resolver that answers for no name left a thread per receiver's name behind,
    each until the resolver gave up (or for ever with a stuck NSS module): with many
    receivers, threads without end. At most ``MAX_LOOK_UPS`` hang; a delivery to
    another name then fails at once, as unreachable, saying why, and is retried."""
    for i in range(resolve.MAX_LOOK_UPS):
        with pytest.raises(TimeoutError):
            resolve.resolve(f"hung-{i}.example", socket.AF_UNSPEC, 0.05)
    # The same name again waits on its look-up: no second thread for it.
    with pytest.raises(TimeoutError):
        resolve.resolve("hung-0.example", socket.AF_UNSPEC, 0.05)
    assert resolve.running() == resolve.MAX_LOOK_UPS == len(look_up_threads())

    took, row = first_round(tmp_path, env, "http://hung-more.example:9/hook")
    assert row.status == "pending" and row.attempts == 1
    assert f"{resolve.MAX_LOOK_UPS} look-ups of other host names" in row.last_error, \
        row.last_error
    assert took < 0.5, took
    assert "hung-more.example" not in hanging_resolver
    assert len(look_up_threads()) == resolve.MAX_LOOK_UPS


def test_a_finished_look_up_frees_its_place(
        hanging_resolver: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """The bound counts look-ups still running, not every one ever started."""
    for i in range(resolve.MAX_LOOK_UPS - 1):
        with pytest.raises(TimeoutError):
            resolve.resolve(f"hung-{i}.example", socket.AF_UNSPEC, 0.05)
    for _ in range(3):  # answered ones come and go
        assert resolve.resolve("localhost", socket.AF_UNSPEC, 5)
    assert resolve.running() == resolve.MAX_LOOK_UPS - 1
