"""SNMP traps (v1, v2c and v3) from network devices, and the rules that make alert
conditions of them: linkDown fires, linkUp clears.

A trap is decoded with pysnmp's protocol modules (no SNMP engine: a trap receiver only
reads). An SNMPv1 trap is put in SNMPv2 terms (RFC 3584 section 3.1): its generic
trap number becomes ``snmpTraps.(n+1)`` (linkDown is 1.3.6.1.6.3.1.1.5.3 in both), an
enterprise-specific one ``ENTERPRISE.0.SPECIFIC``, and its agent address is the
device. A v2c trap's device is ``snmpTrapAddress.0`` when a proxy forwarded it, else
the sender. An SNMPv3 trap or inform (connectors/snmp_v3.py, users given by the
operator) is read as a v2c one once USM has authenticated and decrypted it
(``v3_trap``).

A rule names a trap OID, the alert it fires or clears, and where its labels are: the
value of the first variable binding under one of some OID prefixes (``ifName``, else
``ifDescr``, else ``ifIndex``), or the index an OID carries after its prefix (the
peer address in ``bgpPeerState.10.0.0.9``). A firing trap and its clearing one give
the same alert name, device and labels, so the engine folds them into one alert.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyasn1.codec.ber import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import univ
from pysnmp.proto import api

from aiops.errors import InputError
from aiops.models import SEVERITIES
from aiops.yamlfile import load_named, read_list
from connectors.snmp_ber import v2c_trap
from connectors.syslog import sender_address
from connectors.syslog_rules import rule_head

if TYPE_CHECKING:  # pysnmp's SNMP engine is loaded only by a listener with v3 users
    from connectors.snmp_v3 import V3Message

SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
SNMP_TRAP_ADDRESS = "1.3.6.1.6.3.18.1.3.0"
SYS_UPTIME = "1.3.6.1.2.1.1.3.0"
GENERIC_TRAPS = "1.3.6.1.6.3.1.1.5"  # coldStart .1 .. linkDown .3, linkUp .4
BUILT_IN = Path(__file__).with_name("trap_rules")
MAX_FILE_BYTES = 256 * 1024
MAX_LABEL = 255
_OID = re.compile(r"^\d+(?:\.\d+)+$")


@dataclass(frozen=True, slots=True)
class Trap:
    version: str  # "1", "2c" or "3"
    community: str  # "" for SNMPv3
    oid: str  # the trap's identity, in SNMPv2 terms
    device: str  # who it is about: agent address, snmpTrapAddress, or the sender
    varbinds: dict[str, str]  # OID -> value as text, in the order sent
    peer: str
    # An inform's acknowledgement (a Response PDU with its request id), to send back
    # to the sender: unanswered, it retries, and a late repeat of a linkDown would
    # re-fire an alert its linkUp had cleared. None for a trap.
    answer: bytes | None = None
    user: str | None = None  # the SNMPv3 user USM authenticated


def decode_trap(data: bytes, peer: str) -> Trap:
    """One v1 or v2c trap or inform datagram; ``ValueError`` naming the sender for
    anything else (not SNMP, a GET, a response, BER that pysnmp cannot read; SNMPv3 is
    read by ``v3_trap`` when users are configured)."""
    peer = sender_address(peer)
    try:
        return _decode(data, peer)
    except ValueError:
        raise
    except Exception:  # noqa: BLE001 - pyasn1/pysnmp raise many kinds on crafted BER
        raise ValueError(f"not an SNMP v1 or v2c message from {peer}") from None


def _decode(data: bytes, peer: str) -> Trap:
    fast = v2c_trap(data)  # the common SNMPv2c trap, read directly (connectors/snmp_ber.py)
    if fast is not None:
        return _v2_trap(*fast, peer)
    if is_snmpv3(data):
        raise ValueError(f"an SNMPv3 message from {peer}: no SNMPv3 users are configured "
                         "(--v3-users)")
    return decode_with_pysnmp(data, peer)


def is_snmpv3(data: bytes) -> bool:
    """Whether the datagram says it is SNMPv3 (its msgVersion), read or not."""
    try:
        return int(api.decodeMessageVersion(data)) == 3
    except Exception:  # noqa: BLE001 - pyasn1 raises many kinds on crafted BER
        return False


def v3_trap(message: V3Message, peer: str) -> Trap:
    """An SNMPv3 notification USM let through, as a trap: its variables as a v2c
    trap's (RFC 3416's PDU is the same), the user who sent it, its answer if an inform."""
    peer = sender_address(peer)
    varbinds = {oid: _value(value) for oid, value in (message.varbinds or {}).items()}
    return replace(_v2_trap("", varbinds, peer), version="3", answer=message.answer,
                   user=message.user)


def decode_with_pysnmp(data: bytes, peer: str) -> Trap:
    """Any SNMP v1 or v2c trap or inform, through pysnmp's decoder (BER errors raise
    what pyasn1 raises: ``decode_trap`` turns them into ValueError)."""
    try:
        version = int(api.decodeMessageVersion(data))
        module = api.PROTOCOL_MODULES[version]
    except (PyAsn1Error, KeyError):
        raise ValueError(f"not an SNMP v1 or v2c message from {peer}") from None
    message, _ = decoder.decode(data, asn1Spec=module.Message())
    community = module.apiMessage.get_community(message).asOctets().decode("utf-8", "replace")
    pdu = module.apiMessage.get_pdu(message)
    if version == api.SNMP_VERSION_1:
        if not pdu.isSameTypeWith(module.TrapPDU()):
            raise ValueError(f"not a trap from {peer} ({type(pdu).__name__})")
        generic = int(module.apiTrapPDU.get_generic_trap(pdu))
        specific = int(module.apiTrapPDU.get_specific_trap(pdu))
        if not 0 <= generic <= 6 or specific < 0:
            raise ValueError(f"a v1 trap from {peer} with generic {generic}, specific "
                             f"{specific}")
        enterprise = module.apiTrapPDU.get_enterprise(pdu).prettyPrint()
        oid = (f"{GENERIC_TRAPS}.{generic + 1}" if generic < 6 else
               f"{enterprise}.0.{specific}")
        agent = module.apiTrapPDU.get_agent_address(pdu).prettyPrint()
        varbinds = {o.prettyPrint(): _value(v) for o, v in module.apiTrapPDU.get_varbinds(pdu)}
        device = agent if agent not in ("0.0.0.0", "") else peer
        return Trap("1", community, oid, device, varbinds, peer)
    inform = pdu.isSameTypeWith(module.InformRequestPDU())
    if not pdu.isSameTypeWith(module.SNMPv2TrapPDU()) and not inform:
        raise ValueError(f"not a trap from {peer} ({type(pdu).__name__})")
    pairs = module.apiPDU.get_varbinds(pdu)
    varbinds = {o.prettyPrint(): _value(v) for o, v in pairs}
    trap = _v2_trap(community, varbinds, peer)
    if not inform:
        return trap
    response = module.apiPDU.get_response(pdu)
    module.apiPDU.set_varbinds(response, pairs)
    reply = module.apiMessage.get_response(message)
    module.apiMessage.set_pdu(reply, response)
    return replace(trap, answer=encoder.encode(reply))


def _v2_trap(community: str, varbinds: dict[str, str], peer: str) -> Trap:
    """A v2c trap (or inform) from its variables: the trap's OID is snmpTrapOID.0's
    value, the device a proxy's snmpTrapAddress.0 or the sender."""
    oid = varbinds.get(SNMP_TRAP_OID)
    if not oid or not _OID.match(oid):
        raise ValueError(f"a trap from {peer} without an snmpTrapOID.0 OID")
    device = _address(varbinds.get(SNMP_TRAP_ADDRESS) or peer, peer)
    return Trap("2c", community, oid, device, varbinds, peer)


def _value(value: Any) -> str:
    """A variable's value as text: an octet string as UTF-8 (a name with an accent or a
    trailing NUL stays a name, not pyasn1's hex), anything else as pysnmp prints it."""
    if isinstance(value, univ.OctetString) and type(value).__name__ != "IpAddress":
        return value.asOctets().decode("utf-8", "replace").rstrip("\x00")
    return value.prettyPrint()


def _address(text: str, peer: str) -> str:
    """snmpTrapAddress as pysnmp prints an IpAddress (dotted, or 0x-hex); the sender
    when it is not an address or is 0.0.0.0."""
    if text.startswith("0x") and len(text) == 10:
        text = str(ipaddress.IPv4Address(bytes.fromhex(text[2:])))
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return peer
    return peer if address.is_unspecified else str(address)


@dataclass(frozen=True, slots=True)
class TrapRule:
    name: str
    alert: str
    traps: tuple[str, ...]  # the trap OIDs it takes
    state: str  # "fire" or "clear"
    origin: str
    # label -> ("first", prefixes) or ("index", prefixes)
    labels: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    severity: str | None = None
    describe: tuple[str, ...] = ()  # prefixes whose value goes in the summary (a name)

    def event(self, trap: Trap, received: float) -> dict[str, Any] | None:
        if trap.oid not in self.traps:
            return None
        labels = {}
        for label, (how, prefixes) in self.labels.items():
            value = _label(trap.varbinds, how, prefixes)
            if value:
                labels[label] = value[:MAX_LABEL]
        what = ", ".join(f"{k} {v}" for k, v in labels.items())
        named = _label(trap.varbinds, "first", self.describe) if self.describe else None
        if named:
            what = f"{named[:MAX_LABEL]}, {what}" if what else named[:MAX_LABEL]
        event: dict[str, Any] = {
            "host": trap.device, "name": self.alert,
            "state": "firing" if self.state == "fire" else "clear",
            "severity": self.severity or ("major" if self.state == "fire" else "info"),
            "summary": f"{self.alert} {'cleared' if self.state == 'clear' else ''}"
                       f"{' (' + what + ')' if what else ''}".replace("  ", " ").strip(),
            "labels": labels, "trap": trap.oid}
        event["since" if self.state == "fire" else "ended"] = received
        return event


def _label(varbinds: dict[str, str], how: str, prefixes: tuple[str, ...]) -> str | None:
    for prefix in prefixes:
        for oid, value in varbinds.items():
            if oid.startswith(prefix + "."):
                return oid[len(prefix) + 1:] if how == "index" else value
    return None


@dataclass(slots=True)
class TrapRuleSet:
    rules: list[TrapRule] = field(default_factory=list)

    def event(self, trap: Trap, received: float) -> dict[str, Any] | None:
        for rule in self.rules:
            found = rule.event(trap, received)
            if found is not None:
                return found
        return None


def _oid(raw: Any, where: str) -> str:
    if not isinstance(raw, str) or not _OID.match(raw):
        raise InputError(f"{where} must be a numeric OID such as 1.3.6.1.6.3.1.1.5.3")
    return raw


def _prefixes(raw: Any, where: str, expected: str) -> tuple[str, ...]:
    """One OID prefix or a non-empty list of them, checked."""
    found = [raw] if isinstance(raw, str) else raw
    if not isinstance(found, list) or not found:
        raise InputError(f"{where} {expected}")
    return tuple(_oid(prefix, where) for prefix in found)


def parse_trap_rule(raw: Any, where: str, origin: str) -> TrapRule:
    where = rule_head(raw, where, ("name", "alert", "trap", "state", "labels", "severity",
                                   "describe"), ("name", "alert", "trap", "state"))
    if raw["state"] not in ("fire", "clear"):
        raise InputError(f"{where}: state must be fire or clear")
    labels: dict[str, tuple[str, tuple[str, ...]]] = {}
    spec = raw.get("labels") or {}
    if not isinstance(spec, dict):
        raise InputError(f"{where}: labels must map label names to OID prefixes")
    for label, source in spec.items():
        if isinstance(source, dict) and set(source) == {"index_of"}:
            labels[str(label)] = ("index", _prefixes(
                source["index_of"], f"{where}: labels.{label}.index_of",
                "must be an OID prefix or a list of them"))
        else:
            labels[str(label)] = ("first", _prefixes(
                source, f"{where}: labels.{label}",
                "must be an OID prefix, a list of them, or {index_of: PREFIX}"))
    severity = raw.get("severity")
    if severity is not None and severity not in SEVERITIES:
        raise InputError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
    traps = raw["trap"] if isinstance(raw["trap"], list) else [raw["trap"]]
    describe = raw.get("describe") or []
    describe = [describe] if isinstance(describe, str) else describe
    if not isinstance(describe, list):
        raise InputError(f"{where}: describe must be an OID prefix or a list of them")
    return TrapRule(name=raw["name"], alert=raw["alert"],
                    traps=tuple(_oid(t, f"{where}: trap") for t in traps),
                    state=raw["state"], origin=origin, labels=labels, severity=severity,
                    describe=tuple(_oid(p, f"{where}: describe") for p in describe))


def read_trap_rules(path: Path) -> list[TrapRule]:
    return read_list(path, MAX_FILE_BYTES, parse_trap_rule)


def load_trap_rules(folder: Path | None) -> tuple[TrapRuleSet, list[str]]:
    """Built-in rules and the files of ``folder`` (theirs first, replacing a built-in of
    the same name); a refused file is listed and the others still load."""
    rules, errors = load_named(BUILT_IN, folder, read_trap_rules)
    return TrapRuleSet(rules), errors
