"""A fast path for the common SNMPv2c trap: its BER read directly, without pysnmp.

pysnmp's decoder (pyasn1) builds a typed object tree and checks every constraint,
which caps a trap listener near 3,000 traps/s, below a link storm's rate. Nearly
every trap on a network is an SNMPv2c ``SNMPv2-Trap-PDU`` whose variables are
integers, strings, object identifiers, addresses, counters or time ticks; this module
reads exactly that shape, with the same text for each value as pysnmp's path in
``connectors/snmp_traps.py``, and answers ``None`` for anything else (SNMPv1,
informs, which need an answer encoded, other value types, any encoding it is not
sure of), which then goes the pysnmp way. So the fast path never accepts what pysnmp
would refuse, nor reads a value differently: tests/unit/test_snmp_ber.py compares
the two on generated traps and on corrupted ones.

BER as in ITU-T X.690 (definite lengths only, as SNMP requires); the application
types as in RFC 2578 (IpAddress 0x40, Counter32 0x41, Gauge32 0x42, TimeTicks 0x43,
Opaque 0x44, Counter64 0x46); the message and PDU as in RFC 3416 and RFC 1901.
"""

from __future__ import annotations

SEQUENCE, INTEGER, OCTET_STRING, NULL, OID = 0x30, 0x02, 0x04, 0x05, 0x06
IP_ADDRESS, COUNTER32, GAUGE32, TIME_TICKS, OPAQUE, COUNTER64 = (
    0x40, 0x41, 0x42, 0x43, 0x44, 0x46)
SNMPV2_TRAP = 0xA7
VERSION_2C = 1
_UNSIGNED = {COUNTER32: 1 << 32, GAUGE32: 1 << 32, TIME_TICKS: 1 << 32, COUNTER64: 1 << 64}
# RFC 3416's ranges: request-id (Integer32, as pysnmp 7 has it), error-status,
# error-index.
_PDU_INTEGERS = ((-(1 << 31), (1 << 31) - 1), (0, 18), (0, 2147483647))
# A sub-identifier is at most 2^32 - 1 (RFC 2578; the first encoded one holds two
# arcs, up to 2.(2^32 - 1)), so at most 5 octets; longer ones (which pyasn1 reads or
# refuses depending on its version, and which cost time quadratic in their length)
# go the pysnmp way.
_MAX_SUBID, _MAX_SUBID_OCTETS = (1 << 32) + 79, 5


class _Unsure(Exception):
    """Not the shape this fast path reads: let pysnmp decide."""


def _element(data: bytes, at: int, end: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the element at ``at``."""
    if at + 2 > end:
        raise _Unsure
    tag, first = data[at], data[at + 1]
    if tag & 0x1F == 0x1F:
        raise _Unsure  # a multi-byte tag: none in SNMP
    at += 2
    if first < 0x80:
        length = first
    else:
        size = first & 0x7F
        if size == 0 or size > 4 or at + size > end:
            raise _Unsure  # indefinite, or longer than any datagram
        length = int.from_bytes(data[at:at + size], "big")
        if length < 0x80 or data[at] == 0:
            raise _Unsure  # a length not in its shortest form
        at += size
    if at + length > end:
        raise _Unsure
    return tag, at, at + length


def _integer(data: bytes, start: int, end: int) -> int:
    if start == end or (end - start > 1 and (
            (data[start] == 0 and data[start + 1] < 0x80)
            or (data[start] == 0xFF and data[start + 1] >= 0x80))):
        raise _Unsure  # empty, or not in its shortest form
    return int.from_bytes(data[start:end], "big", signed=True)


def _oid(data: bytes, start: int, end: int) -> str:
    if start == end:
        raise _Unsure
    arcs: list[int] = []
    value = octets = 0
    fresh = True
    for byte in data[start:end]:
        if fresh and byte == 0x80:
            raise _Unsure  # a sub-identifier padded with a leading zero group
        value = (value << 7) | (byte & 0x7F)
        octets += 1
        if octets > _MAX_SUBID_OCTETS:
            raise _Unsure
        fresh = not byte & 0x80
        if fresh:
            if value > _MAX_SUBID:
                raise _Unsure
            arcs.append(value)
            value = octets = 0
    if not fresh:
        raise _Unsure  # the last sub-identifier is cut
    first = arcs[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(map(str, head + arcs[1:]))


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace").rstrip("\x00")


def _value(data: bytes, tag: int, start: int, end: int) -> str:
    if tag == INTEGER:
        number = _integer(data, start, end)
        if not -(1 << 31) <= number < 1 << 31:
            raise _Unsure  # beyond Integer32
        return str(number)
    if tag in (OCTET_STRING, OPAQUE):
        return _text(data[start:end])
    if tag == OID:
        return _oid(data, start, end)
    if tag == IP_ADDRESS:
        if end - start != 4:
            raise _Unsure
        return ".".join(str(b) for b in data[start:end])
    if tag in _UNSIGNED:
        number = _integer(data, start, end)
        if not 0 <= number < _UNSIGNED[tag]:
            raise _Unsure
        return str(number)
    if tag == NULL and start == end:
        return ""
    raise _Unsure  # noSuchObject and the like, or anything else: pysnmp's


def v2c_trap(data: bytes) -> tuple[str, dict[str, str]] | None:
    """(community, variables as text by OID) of an SNMPv2c trap, or None when the
    datagram is anything else or anything about it is unsure (then: pysnmp)."""
    try:
        return _trap(data)
    except _Unsure:
        return None


def _trap(data: bytes) -> tuple[str, dict[str, str]]:
    tag, at, end = _element(data, 0, len(data))
    if tag != SEQUENCE or end != len(data):
        raise _Unsure  # bytes after the message: pysnmp refuses those
    tag, start, stop = _element(data, at, end)
    if tag != INTEGER or _integer(data, start, stop) != VERSION_2C:
        raise _Unsure
    tag, start, at = _element(data, stop, end)
    if tag != OCTET_STRING:
        raise _Unsure
    community = data[start:at].decode("utf-8", "replace")
    tag, at, pdu_end = _element(data, at, end)
    if tag != SNMPV2_TRAP or pdu_end != end:
        raise _Unsure
    for low, high in _PDU_INTEGERS:  # request-id, error-status, error-index
        tag, start, at = _element(data, at, pdu_end)
        if tag != INTEGER or not low <= _integer(data, start, at) <= high:
            raise _Unsure
    tag, at, list_end = _element(data, at, pdu_end)
    if tag != SEQUENCE or list_end != pdu_end:
        raise _Unsure
    variables: dict[str, str] = {}
    while at < list_end:
        tag, start, at = _element(data, at, list_end)
        if tag != SEQUENCE:
            raise _Unsure
        tag, name_start, name_end = _element(data, start, at)
        if tag != OID:
            raise _Unsure
        tag, value_start, value_end = _element(data, name_end, at)
        if value_end != at:
            raise _Unsure
        variables[_oid(data, name_start, name_end)] = _value(data, tag, value_start,
                                                             value_end)
    return community, variables


VERSION_3 = 3


def v3_security_parameters(data: bytes) -> tuple[bytes, int, int, bytes] | None:
    """(msgAuthoritativeEngineID, msgAuthoritativeEngineBoots, msgAuthoritativeEngineTime,
    msgUserName) of an SNMPv3 message (RFC 3412 §6, RFC 3414 §2.4), read without pyasn1,
    or None when unsure (then: pyasn1). The SNMPv3 receiver needs only these before
    pysnmp reads the message in full; a misread costs nothing but a refusal, since USM
    then authenticates the whole message."""
    try:
        tag, at, end = _element(data, 0, len(data))
        if tag != SEQUENCE:
            raise _Unsure
        tag, start, stop = _element(data, at, end)
        if tag != INTEGER or _integer(data, start, stop) != VERSION_3:
            raise _Unsure
        tag, _, at = _element(data, stop, end)  # msgGlobalData
        if tag != SEQUENCE:
            raise _Unsure
        tag, start, stop = _element(data, at, end)  # msgSecurityParameters
        if tag != OCTET_STRING:
            raise _Unsure
        tag, at, inner = _element(data, start, stop)
        if tag != SEQUENCE:
            raise _Unsure
        tag, start, at = _element(data, at, inner)
        if tag != OCTET_STRING:
            raise _Unsure
        engine_id = data[start:at]
        clock = []  # msgAuthoritativeEngineBoots, msgAuthoritativeEngineTime
        for _ in range(2):
            tag, start, at = _element(data, at, inner)
            if tag != INTEGER:
                raise _Unsure
            clock.append(_integer(data, start, at))
        tag, start, at = _element(data, at, inner)
        if tag != OCTET_STRING:
            raise _Unsure
        return engine_id, clock[0], clock[1], data[start:at]
    except _Unsure:
        return None


def _claimed(data: bytes, at: int, end: int) -> tuple[int, int] | None:
    """(start, claimed end) of the content of the element at ``at``, its length read in
    any definite form (long forms not in their shortest form included: BER allows
    them); None when the header itself runs past ``end`` or the length is indefinite."""
    if at + 2 > end:
        return None
    first = data[at + 1]
    at += 2
    if first < 0x80:
        return at, at + first
    size = first & 0x7F
    if size == 0 or at + size > end:
        return None
    return at + size, at + size + int.from_bytes(data[at:at + size], "big")


def v3_overruns(data: bytes) -> bool:
    """True when a length in an SNMPv3 message's outer structure (the message, its four
    parts, the USM security parameters and their six fields) claims more octets than
    what holds it: a message no engine can read, which pysnmp drops without a word
    or a counter (or, for a length of 2^63 or more, with an OverflowError). The
    receiver then calls it unreadable, not refused: a refusal says a setting is to be
    fixed, and this is line noise or an attack."""
    outer = _claimed(data, 0, len(data))
    if outer is None or outer[1] > len(data):
        return True
    at, end = outer
    parts = []
    while at < end:
        element = _claimed(data, at, end)
        if element is None or element[1] > end:
            return True
        parts.append(element)
        at = element[1]
    if len(parts) < 3:
        return False  # not the shape of an SNMPv3 message: pysnmp says what it is
    start, stop = parts[2]  # msgSecurityParameters: an OCTET STRING holding a SEQUENCE
    usm = _claimed(data, start, stop)
    if usm is None or usm[1] > stop:
        return True
    at, end = usm
    while at < end:
        element = _claimed(data, at, end)
        if element is None or element[1] > end:
            return True
        at = element[1]
    return False
