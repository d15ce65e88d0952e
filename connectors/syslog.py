"""Syslog from network devices: RFC 5424 and RFC 3164 messages, and TCP framing.

Routers and switches report link, protocol-adjacency and hardware events as syslog
lines, mostly in the old BSD form (RFC 3164) and often with vendor quirks: Cisco IOS
puts a sequence number and its own timestamp (``123: *Nov 22 16:20:05.123:``) before
the message and leaves out the host unless told otherwise. So parsing is lenient:
the structured header is read when it is there, the rest is the message, and a
message with no host takes the sender's address, which entity resolution matches
to a node's management IP.

Time: an RFC 5424 timestamp carries its zone and is used; an RFC 3164 one has no year
and no zone, so the time the message arrived is used instead (the engine learns each
device's clock offset anyway, docs/architecture.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

MAX_MESSAGE_BYTES = 64 * 1024  # a datagram can't be larger; a TCP frame is cut here
# An octet count (RFC 6587 §3.4.1: MSG-LEN SP), up to 9 digits: a frame longer than
# MAX_MESSAGE_BYTES is still a frame, cut, and the stream stays in step after it.
_COUNT = re.compile(rb"^(\d{1,9}) (?=<|$)")
_COUNT_PREFIX = 11  # 9 digits, the space and the "<"
_PRI = re.compile(rb"^<(\d{1,3})>")
_RFC5424 = re.compile(
    r"^1 (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) (?P<msgid>\S+) "
    r"(?P<sd>-|(?:\[(?:[^\]\\]|\\.)*\])+)(?: (?P<msg>.*))?$", re.S)
_RFC3164 = re.compile(
    r"^(?P<ts>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) (?P<host>[^\s:\[]+) "
    r"(?P<tag>[^\s:\[]+)(?:\[\d+\])?: ?(?P<msg>.*)$", re.S)
# Cisco IOS: "[SEQ: ][HOST: ][SEQ: ][*.]Mmm dd hh:mm:ss[.mmm][ ZONE]: %FAC-SEV-MNEMONIC: ..."
# (the syslog counter, "logging origin-id" and "service sequence-numbers" each add one;
# a host is never all digits, so a sequence number is not taken for one).
_CISCO = re.compile(
    r"^(?:\d+: )?(?:(?!\d+:)(?P<host>[\w.-]+): )?(?:\d+: )?[*.]?[A-Z][a-z]{2} +\d+ "
    r"(?:\d{4} )?\d\d:\d\d:\d\d(?:\.\d+)?(?: [A-Z]{2,5})?: (?P<msg>%.*)$", re.S)
# Cisco NX-OS: "YYYY Mmm dd hh:mm:ss[.mmm][ ZONE] HOST %FAC-SEV-MNEMONIC: ..."
_NXOS = re.compile(
    r"^\d{4} [A-Z][a-z]{2} +\d+ \d\d:\d\d:\d\d(?:\.\d+)?(?: [A-Z]{2,5})? "
    r"(?P<host>[\w.-]+):? (?P<msg>%.*)$", re.S)
MAX_HOST = 255  # a DNS name's limit; longer is not a host
CLOCK_TRUST = 3600.0  # a device's own time further off than this is a clock without NTP


@dataclass(frozen=True, slots=True)
class SyslogMessage:
    host: str  # the header's host, else the sender's address
    app: str  # RFC 5424 APP-NAME or the RFC 3164 tag; "" when there is none
    msgid: str  # RFC 5424 MSGID ("" otherwise): Junos puts the event's name there
    facility: int
    severity: int  # 0 emerg .. 7 debug
    timestamp: float  # the message's own (RFC 5424) or when it arrived
    text: str  # the message, without the header
    peer: str  # the address it came from


def parse_syslog(data: bytes, peer: str, received: float) -> SyslogMessage:
    """One message; anything after a valid ``<PRI>`` is accepted (``ValueError`` only
    when there is no PRI: then it is not syslog)."""
    pri = _PRI.match(data)
    if pri is None or int(pri.group(1)) > 191:
        raise ValueError(f"not a syslog message from {peer}: it must start with <PRI> "
                         f"(0-191), got {data[:40]!r}")
    facility, severity = divmod(int(pri.group(1)), 8)
    text = data[pri.end():MAX_MESSAGE_BYTES].decode("utf-8", errors="replace")
    # A NUL inside the message (some devices pad fields with them) is no text the
    # engine stores (PostgreSQL cannot); it becomes U+FFFD as an undecodable byte does,
    # rather than the whole event being refused and lost.
    text = text.removeprefix("\ufeff").rstrip("\r\n\x00").replace("\x00", "\ufffd")
    peer = sender_address(peer)
    modern = _RFC5424.match(text)
    if modern:
        host, msgid = modern.group("host"), modern.group("msgid")
        msg = (modern.group("msg") or "").removeprefix("\ufeff")
        return SyslogMessage(host=_host(host, peer),
                             app="" if modern.group("app") == "-" else modern.group("app"),
                             msgid="" if msgid == "-" else msgid,
                             facility=facility, severity=severity,
                             timestamp=_rfc5424_time(modern.group("ts"), received),
                             text=msg, peer=peer)
    old = _RFC3164.match(text)
    if old:
        return SyslogMessage(host=_host(old.group("host"), peer), app=old.group("tag"),
                             msgid="", facility=facility, severity=severity,
                             timestamp=received, text=old.group("msg"), peer=peer)
    cisco = _CISCO.match(text) or _NXOS.match(text)
    if cisco:
        return SyslogMessage(host=_host(cisco.group("host"), peer), app="", msgid="",
                             facility=facility, severity=severity, timestamp=received,
                             text=cisco.group("msg"), peer=peer)
    return SyslogMessage(host=peer, app="", msgid="", facility=facility, severity=severity,
                         timestamp=received, text=text.strip(), peer=peer)


def sender_address(peer: str) -> str:
    """The sender as entity resolution knows it: an IPv4 address that reached an IPv6
    socket (``::ffff:192.0.2.7``) as IPv4, without an IPv6 zone (``%eth0``)."""
    peer = peer.split("%", 1)[0]
    return peer[7:] if peer.lower().startswith("::ffff:") and "." in peer else peer


def _host(header: str | None, peer: str) -> str:
    if not header or header == "-" or len(header) > MAX_HOST:
        return peer
    return header


def _rfc5424_time(text: str, received: float) -> float:
    """The message's own time, unless it has none, or it is more than ``CLOCK_TRUST``
    from when it arrived (a device whose clock was never set: 1970, 1993), when the
    arrival time says more."""
    if text == "-":
        return received
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return received
    if parsed.tzinfo is None:
        return received
    stamped = parsed.timestamp()
    return stamped if abs(stamped - received) <= CLOCK_TRUST else received


class TcpFramer:
    """Splits a TCP stream into messages: RFC 6587 octet counting (``LEN SP <PRI>...``)
    or one message per line, decided per frame. A counted frame longer than
    ``MAX_MESSAGE_BYTES`` is cut there and the rest of it skipped as it arrives (not
    held), so the frames after it are read where they start; a line longer than
    ``MAX_MESSAGE_BYTES`` is cut there."""

    def __init__(self) -> None:
        self._buffer = b""
        self._skip = 0  # bytes of a cut frame still to come, to be dropped

    def feed(self, data: bytes) -> list[bytes]:
        if self._skip:
            dropped = min(self._skip, len(data))
            self._skip -= dropped
            data = data[dropped:]
        self._buffer += data
        frames: list[bytes] = []
        while self._buffer:
            # RFC 6587: "LEN SP <PRI>...": the "<" keeps a line that merely starts with
            # digits and a space from being read as a length.
            counted = _COUNT.match(self._buffer[:_COUNT_PREFIX])
            if counted:
                start = counted.end()
                end = start + int(counted.group(1))
                if end - start > MAX_MESSAGE_BYTES:  # longer than we keep: cut it
                    if len(self._buffer) < start + MAX_MESSAGE_BYTES:
                        break
                    frames.append(self._buffer[start:start + MAX_MESSAGE_BYTES])
                    self._skip = max(0, end - len(self._buffer))
                    self._buffer = self._buffer[end:]
                    continue
                if len(self._buffer) < end:
                    break
                frames.append(self._buffer[start:end])
                self._buffer = self._buffer[end:]
                continue
            newline = self._buffer.find(b"\n")
            if newline < 0:
                if len(self._buffer) > MAX_MESSAGE_BYTES:  # a line without end
                    frames.append(self._buffer[:MAX_MESSAGE_BYTES])
                    self._buffer = b""
                break
            line = self._buffer[:newline].rstrip(b"\r")
            self._buffer = self._buffer[newline + 1:]
            if line.strip():
                frames.append(line[:MAX_MESSAGE_BYTES])
        return frames

    def close(self) -> list[bytes]:
        """What is left when the sender closes: a last line without its newline."""
        rest, self._buffer = self._buffer.strip(), b""
        return [rest[:MAX_MESSAGE_BYTES]] if rest else []
