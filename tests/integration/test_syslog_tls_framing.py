"""RFC 5425 framing as the TLS listener reads it, from a real TLS client on a real socket.

A frame whose octet count is larger than the listener keeps (64 KB) is legal (RFC 5425
sets no upper bound; rsyslog's ``maxMessageSize`` goes past it): it must be cut, and
the frames after it must still be read where they start, not swallowed.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.syslog import MAX_MESSAGE_BYTES
from tests.integration.test_syslog_tls_handshake import Frames, client_context, serving_tls
from tests.polling import wait_for
from tests.tls_certs import OPENSSL, Certificates, close_after_read, make_certificates

pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(certs: Certificates) -> Iterator[tuple[Any, Frames]]:
    yield from serving_tls(certs)


def counted(message: bytes) -> bytes:
    return str(len(message)).encode() + b" " + message


def message(number: int) -> bytes:
    return (b"<187>1 2026-11-23T08:00:00Z edge-router-1 ios - - - "
            b"%LINK-3-UPDOWN: Interface GigabitEthernet0/" + str(number).encode()
            + b", changed state to down")


def send(address: tuple[str, int], context: ssl.SSLContext, chunks: list[bytes]) -> None:
    with socket.create_connection(address, timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="aiops.test") as tls:
        for chunk in chunks:
            tls.sendall(chunk)
        close_after_read(tls)


def test_a_frame_longer_than_kept_is_cut_and_the_next_frames_are_still_read(
        server: tuple[Any, Frames], certs: Certificates) -> None:
    tls, frames = server
    big = b"<187>1 2026-11-23T08:00:00Z app-1 relay - - - " + b"x" * 200_000
    after = [message(n) for n in range(1, 51)]
    stream = counted(big) + b"".join(counted(m) for m in after)
    # Sent in pieces that split the count, the big frame and the ones after it
    # across TLS records.
    send(tls.server_address[:2], client_context(certs),
         [stream[at:at + 7001] for at in range(0, len(stream), 7001)])
    wait_for(lambda: len(frames.frames) >= 51, "the big frame and the 50 after it",
             timeout=10)
    assert frames.frames[0] == big[:MAX_MESSAGE_BYTES]
    assert frames.frames[1:] == after


def test_a_frame_just_past_the_limit_then_lines_then_frames(
        server: tuple[Any, Frames], certs: Certificates) -> None:
    """Mixed framing after a cut frame: a line, then a counted frame."""
    tls, frames = server
    big = b"<13>" + b"y" * (MAX_MESSAGE_BYTES + 1)
    send(tls.server_address[:2], client_context(certs),
         [counted(big) + message(1) + b"\n" + counted(message(2))])
    wait_for(lambda: len(frames.frames) >= 3, "three frames", timeout=10)
    assert frames.frames == [big[:MAX_MESSAGE_BYTES], message(1), message(2)]
