"""Reading one device's LLDP view out of a walk of LLDP-MIB (IEEE 802.1AB, 1.0.8802.1.1.2).

Tables used (column numbers from the MIB):

- lldpLocalSystemData (…1.3): ``.1`` chassis id subtype, ``.2`` chassis id,
  ``.3`` system name, ``.4`` system description;
- lldpLocPortTable (…1.3.7.1), index lldpLocPortNum: ``.2`` port id subtype,
  ``.3`` port id, ``.4`` port description;
- lldpLocManAddrTable (…1.3.8.1), the address is in the index;
- lldpRemTable (…1.4.1.1), index (timeMark, localPortNum, remIndex): ``.4``/``.5``
  chassis id subtype/id, ``.6``/``.7`` port id subtype/id, ``.8`` port description,
  ``.9`` system name, ``.10`` system description;
- lldpRemManAddrTable (…1.4.2.1), index (timeMark, localPortNum, remIndex,
  addrSubtype, addrLen, addr...).

And from IF-MIB (RFC 2863), indexed by ifIndex: ``ifName`` (1.3.6.1.2.1.31.1.1.1.1) and
``ifDescr`` (1.3.6.1.2.1.2.2.1.2). A local port whose name is one of them gets that
ifIndex: SNMP traps name a port by it alone (IF-MIB linkDown's required varbinds), and
lldpLocPortNum need not be the ifIndex (the MIB only says it should correspond).
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict

from topology.discovery.lldp_model import Chassis, DeviceView, Neighbour, Port
from topology.discovery.snmp import SnmpValue, Varbind
from topology.resolve import port_key

LLDP_MIB = (1, 0, 8802, 1, 1, 2)
LOCAL = (*LLDP_MIB, 1, 3)
REMOTE = (*LLDP_MIB, 1, 4)
IF_NAME = (1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 1)
IF_DESCR = (1, 3, 6, 1, 2, 1, 2, 2, 1, 2)
ROOTS = [LOCAL, REMOTE, IF_NAME, IF_DESCR]

_LOC_PORT = (*LOCAL, 7, 1)
_LOC_MAN = (*LOCAL, 8, 1)
_REM = (*REMOTE, 1, 1)
_REM_MAN = (*REMOTE, 2, 1)

# LldpChassisIdSubtype / LldpPortIdSubtype values, as the names lldpcli uses.
CHASSIS_SUBTYPES = {1: "chassis", 2: "ifalias", 3: "port", 4: "mac", 5: "ip", 6: "ifname",
                    7: "local"}
PORT_SUBTYPES = {1: "ifalias", 2: "port", 3: "mac", 4: "ip", 5: "ifname", 6: "agentid",
                 7: "local"}


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _text(raw: SnmpValue) -> str | None:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace").strip("\x00").strip() or None
    return None if raw is None else str(raw)


def _network_address(raw: bytes) -> str | None:
    """IANA address family byte then the address (subtype networkAddress)."""
    if len(raw) == 5 and raw[0] == 1:
        return str(ipaddress.IPv4Address(raw[1:]))
    if len(raw) == 17 and raw[0] == 2:
        return str(ipaddress.IPv6Address(raw[1:]))
    return None


def _ident(subtype: SnmpValue, raw: SnmpValue, names: dict[int, str]) -> tuple[str | None,
                                                                              str | None]:
    """(subtype name, readable value) of a chassis or port id."""
    kind = names.get(subtype) if isinstance(subtype, int) else None
    if not isinstance(raw, bytes):
        return kind, _text(raw)
    if kind == "mac" and len(raw) == 6:
        return kind, _mac(raw)
    if kind == "ip":
        return kind, _network_address(raw) or raw.hex()
    text = _text(raw)
    if text is not None and not text.isprintable():
        return kind, raw.hex()
    return kind, text


def _address_from_index(index: tuple[int, ...]) -> str | None:
    """``(subtype, length, octets...)`` as an IP address; None for other families."""
    if len(index) < 2:
        return None
    subtype, length, octets = index[0], index[1], bytes(index[2:2 + index[1]])
    if subtype == 1 and length == 4:
        return str(ipaddress.IPv4Address(octets))
    if subtype == 2 and length == 16:
        return str(ipaddress.IPv6Address(octets))
    return None


def _under(oid: tuple[int, ...], prefix: tuple[int, ...]) -> tuple[int, ...] | None:
    return oid[len(prefix):] if oid[:len(prefix)] == prefix else None


def parse_lldp_mib(varbinds: list[Varbind]) -> DeviceView:
    """The device's chassis and its neighbours from LLDP-MIB varbinds."""
    scalars: dict[int, SnmpValue] = {}
    loc_ports: dict[int, dict[int, SnmpValue]] = defaultdict(dict)
    loc_addrs: set[str] = set()
    remotes: dict[tuple[int, int], dict[int, SnmpValue]] = defaultdict(dict)
    rem_addrs: dict[tuple[int, int], list[str]] = defaultdict(list)
    if_names: dict[int, set[str]] = defaultdict(set)  # ifIndex -> ifName, ifDescr
    for oid, value in varbinds:
        if ((rest := _under(oid, IF_NAME)) is not None
                or (rest := _under(oid, IF_DESCR)) is not None) and len(rest) == 1:
            if (text := _text(value)) is not None:
                if_names[rest[0]].add(text)
        elif (rest := _under(oid, _LOC_PORT)) is not None and len(rest) == 2:
            loc_ports[rest[1]][rest[0]] = value
        elif (rest := _under(oid, _LOC_MAN)) is not None and len(rest) > 1:
            address = _address_from_index(rest[1:])
            if address:
                loc_addrs.add(address)
        elif (rest := _under(oid, _REM)) is not None and len(rest) == 4:
            remotes[(rest[2], rest[3])][rest[0]] = value  # (local port, remote index)
        elif (rest := _under(oid, _REM_MAN)) is not None and len(rest) > 4:
            address = _address_from_index(rest[4:])
            if address and address not in rem_addrs[(rest[2], rest[3])]:
                rem_addrs[(rest[2], rest[3])].append(address)
        elif (rest := _under(oid, LOCAL)) is not None and len(rest) == 2 and rest[1] == 0:
            scalars[rest[0]] = value
    _, chassis_id = _ident(scalars.get(1), scalars.get(2), CHASSIS_SUBTYPES)
    local = Chassis(sysname=_text(scalars.get(3)), chassis_id=chassis_id,
                    mgmt_ips=sorted(loc_addrs), descr=_text(scalars.get(4)))
    ifindex = _ifindex_by_name(if_names)
    neighbours = []
    for key in sorted(remotes):
        row = remotes[key]
        local_port = loc_ports.get(key[0], {})
        port_type, port_id = _ident(local_port.get(2), local_port.get(3), PORT_SUBTYPES)
        local_name = Port(port_type, port_id, _text(local_port.get(4))).name or str(key[0])
        _, remote_chassis = _ident(row.get(4), row.get(5), CHASSIS_SUBTYPES)
        remote_port_type, remote_port = _ident(row.get(6), row.get(7), PORT_SUBTYPES)
        neighbours.append(Neighbour(
            local_name,
            Chassis(sysname=_text(row.get(9)), chassis_id=remote_chassis,
                    mgmt_ips=rem_addrs.get(key, []), descr=_text(row.get(10))),
            Port(remote_port_type, remote_port, _text(row.get(8))),
            local_ifindex=ifindex.get(local_name) or ifindex.get(port_key(local_name))))
    return DeviceView(local, neighbours)


def _ifindex_by_name(if_names: dict[int, set[str]]) -> dict[str, int]:
    """Each interface name (ifName, ifDescr, and their ``port_key``: LLDP may report
    ``Te1/0/1`` where ifName is ``TenGigabitEthernet1/0/1``) -> its ifIndex; a name two
    interfaces share names neither."""
    found: dict[str, int] = {}
    shared: set[str] = set()
    for index, names in if_names.items():
        keys = names | {k for name in names if (k := port_key(name))}
        for key in keys:
            if key in found and found[key] != index:
                shared.add(key)
            found[key] = index
    return {key: index for key, index in found.items() if key not in shared}
