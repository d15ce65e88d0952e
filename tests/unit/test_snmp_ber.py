"""The fast SNMPv2c trap reader (connectors/snmp_ber.py) against pysnmp's decoder: on
traps pysnmp encodes with every value type, and on the same traps corrupted, the fast
path either gives exactly what pysnmp's path gives or steps aside (None); it never
reads a datagram pysnmp would refuse."""

from __future__ import annotations

import random

import pytest
from pyasn1.codec.ber import encoder
from pyasn1.type import univ
from pysnmp.proto import api, rfc1902

from connectors.snmp_ber import v2c_trap
from connectors.snmp_traps import SNMP_TRAP_OID, decode_trap, decode_with_pysnmp

V2 = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
V1 = api.PROTOCOL_MODULES[api.SNMP_VERSION_1]


def _random_value(rng: random.Random):
    kind = rng.randrange(11)
    if kind == 0:
        return rfc1902.Integer32(rng.randint(-(1 << 31), (1 << 31) - 1))
    if kind == 1:
        return rfc1902.OctetString(bytes(rng.randrange(256) for _ in range(rng.randrange(40))))
    if kind == 2:
        return rfc1902.OctetString(rng.choice(["Gi0/1", "Ethernet1/1\x00", "é port", ""]))
    if kind == 3:
        return rfc1902.ObjectIdentifier(_random_oid(rng))
    if kind == 4:
        return rfc1902.IpAddress(".".join(str(rng.randrange(256)) for _ in range(4)))
    if kind == 5:
        return rfc1902.Counter32(rng.randrange(1 << 32))
    if kind == 6:
        return rfc1902.Gauge32(rng.randrange(1 << 32))
    if kind == 7:
        return rfc1902.TimeTicks(rng.randrange(1 << 32))
    if kind == 8:
        return rfc1902.Counter64(rng.randrange(1 << 64))
    if kind == 9:
        return rfc1902.Opaque(bytes(rng.randrange(256) for _ in range(rng.randrange(8))))
    return univ.Null("")


def _random_oid(rng: random.Random) -> str:
    first = rng.randrange(3)
    second = rng.randrange(40) if first < 2 else rng.randrange(1000)
    return ".".join(map(str, [first, second] + [rng.choice([rng.randrange(128),
                                                            rng.randrange(1 << 32)])
                                                for _ in range(rng.randrange(1, 12))]))


def _trap(rng: random.Random, inform: bool = False) -> bytes:
    pdu = V2.InformRequestPDU() if inform else V2.TrapPDU()
    V2.apiTrapPDU.set_defaults(pdu)
    binds = list(V2.apiTrapPDU.get_varbinds(pdu))  # sysUpTime.0, snmpTrapOID.0
    binds[1] = (rfc1902.ObjectName(SNMP_TRAP_OID),
                rfc1902.ObjectIdentifier(rng.choice(["1.3.6.1.6.3.1.1.5.3",
                                                     _random_oid(rng)])))
    binds += [(rfc1902.ObjectName(_random_oid(rng)), _random_value(rng))
              for _ in range(rng.randrange(6))]
    V2.apiTrapPDU.set_varbinds(pdu, binds)
    message = V2.Message()
    V2.apiMessage.set_defaults(message)
    V2.apiMessage.set_community(message, rng.choice(["public", "s3cr3t", "é"]))
    V2.apiMessage.set_pdu(message, pdu)
    return encoder.encode(message)


def _outcome(decode, data: bytes):
    """What a decoder makes of a datagram: the trap's fields, or "refused"."""
    try:
        trap = decode(data, "192.0.2.1")
    except Exception:  # noqa: BLE001 - pysnmp refuses in many ways; decode_trap: ValueError
        return "refused"
    return trap.community, trap.varbinds, trap.oid, trap.device


def test_every_generated_trap_reads_as_pysnmp_reads_it() -> None:
    rng = random.Random(7)
    for _ in range(400):
        data = _trap(rng)
        assert v2c_trap(data) is not None, data.hex()  # the fast path took it
        assert _outcome(decode_trap, data) == _outcome(decode_with_pysnmp, data), data.hex()


def test_a_corrupted_trap_is_either_read_as_pysnmp_reads_it_or_left_to_pysnmp() -> None:
    rng = random.Random(11)
    stepped_aside = read = 0
    for _ in range(3000):
        data = bytearray(_trap(rng))
        for _ in range(rng.randrange(1, 4)):
            where = rng.randrange(len(data))
            action = rng.randrange(3)
            if action == 0:
                data[where] = rng.randrange(256)
            elif action == 1:
                del data[where:]
                if not data:
                    data = bytearray(b"\x30")
            else:
                data.insert(where, rng.randrange(256))
        if v2c_trap(bytes(data)) is None:
            stepped_aside += 1
            continue
        read += 1
        assert _outcome(decode_trap, bytes(data)) == _outcome(
            decode_with_pysnmp, bytes(data)), bytes(data).hex()
    assert stepped_aside > 100 and read > 10  # both ways were exercised


@pytest.mark.parametrize("data", [
    b"", b"\x30", b"\x30\x80\x00\x00", b"\x04\x03abc", b"\x30\x03\x02\x01\x00",
    b"\x30\x84\xff\xff\xff\xff",
    # A sub-identifier of 21 octets (found by review: pyasn1 0.6 refuses it, and a long
    # one costs time quadratic in its length): pysnmp's to decide.
    bytes.fromhex("304002010104067075626c6963a73302010502010002010030283026060a2b060106030101"
                  "0401000618818181818181818181818181818181818181818181010601"),
])
def test_not_a_trap_steps_aside(data: bytes) -> None:
    assert v2c_trap(data) is None


def test_informs_and_v1_traps_go_to_pysnmp() -> None:
    rng = random.Random(3)
    inform = _trap(rng, inform=True)
    assert v2c_trap(inform) is None
    assert decode_trap(inform, "192.0.2.1").answer is not None  # still acknowledged
    pdu = V1.TrapPDU()
    V1.apiTrapPDU.set_defaults(pdu)
    message = V1.Message()
    V1.apiMessage.set_defaults(message)
    V1.apiMessage.set_pdu(message, pdu)
    assert v2c_trap(encoder.encode(message)) is None


def test_a_request_id_anywhere_in_integer32_is_read_fast() -> None:
    """Net-SNMP agents draw request ids over the whole positive range."""
    data = bytes.fromhex("304302010104067075626c6963a736020459682f0002010002010030283"
                         "00d06082b0601020101030043017b3017060a2b0601060301010401000609"
                         "2b0601060301010503")
    assert v2c_trap(data) is not None
    assert _outcome(decode_trap, data) == _outcome(decode_with_pysnmp, data)
