"""What LLDP tells, independent of how it was read (lldpcli JSON or the LLDP-MIB).

One device's view: its own chassis and, per local port, the neighbour seen there.
Both readers fill these records; :func:`add_view` turns a view into nodes and links,
so the two readers cannot disagree on ids or attributes.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from topology.discovery.base import GraphBuilder, add_link

# Port id subtypes that carry an interface name; for the others (MAC address, a local
# ifIndex) the port description is the better name (lldpd and Junos put it there).
NAME_PORT_TYPES = frozenset({"ifname", "ifalias"})


@dataclass(slots=True)
class Chassis:
    """A system as LLDP names it: system name, chassis id, management addresses."""

    sysname: str | None
    chassis_id: str | None
    mgmt_ips: list[str] = field(default_factory=list)
    descr: str | None = None

    @property
    def node_id(self) -> str | None:
        if self.sysname:
            return self.sysname.strip()
        return f"chassis-{self.chassis_id}" if self.chassis_id else None


@dataclass(slots=True)
class Port:
    """A port as LLDP names it; ``name`` picks the interface name out of id/descr."""

    id_type: str | None
    id_value: str | None
    descr: str | None = None

    @property
    def name(self) -> str | None:
        if self.id_type in NAME_PORT_TYPES and self.id_value:
            return self.id_value
        return self.descr or self.id_value


@dataclass(slots=True)
class Neighbour:
    local_port: str | None
    chassis: Chassis
    port: Port
    local_ifindex: int | None = None  # the local port's IF-MIB ifIndex, where known


@dataclass(slots=True)
class DeviceView:
    """What one device's LLDP agent reports: itself and its neighbours."""

    local: Chassis
    neighbours: list[Neighbour] = field(default_factory=list)


def is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def add_device(builder: GraphBuilder, chassis: Chassis) -> str | None:
    """A device node for ``chassis``; identity attrs (FQDN, mgmt IP, chassis id) let
    the identity merge join it with what other sources call the same box."""
    node_id = chassis.node_id
    if node_id is None:
        return None
    name = chassis.sysname.strip() if chassis.sysname else node_id
    dotted = "." in name and not is_ip(name)
    ips = sorted(set(chassis.mgmt_ips))
    builder.node(node_id, "device", name,
                 hostname=name.split(".", 1)[0] if dotted else None,
                 fqdn=name if dotted else None,
                 mgmt_ip=ips[0] if ips else None, ips=ips[1:],
                 chassis_id=chassis.chassis_id, descr=chassis.descr,
                 unnamed=True if not chassis.sysname else None)
    return node_id


def add_view(builder: GraphBuilder, view: DeviceView, where: str) -> None:
    """Nodes for the device and each neighbour, a link per neighbour."""
    local = add_device(builder, view.local)
    if local is None:
        builder.warnings.append(f"{where}: the local system has no name or chassis id")
        return
    for n in view.neighbours:
        remote = add_device(builder, n.chassis)
        if remote is None:
            builder.warnings.append(f"{where}: neighbour on {n.local_port} has no name "
                                    "or chassis id; skipped")
            continue
        add_link(builder, local, n.local_port, remote, n.port.name, discovered_by="lldp",
                 a_port_attrs={"ifindex": n.local_ifindex})
