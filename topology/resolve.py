"""Alert entity → topology node.

Sources name things their own way: an id, a display name, an alias, an IP address
(in any of its spellings, with a port: ``10.0.0.5:9100``, ``[2001:db8::5]:9100``),
an FQDN where the inventory has a short name, or the reverse; an interface as
``device:ifname``, in the full or the abbreviated name (``port_key``); a pod by a name
that changes with every rollout. The index is built once per topology load so
resolving an alert is a few dict look-ups.

Two questions, two methods:

- :meth:`EntityResolver.lookup`: which node does this name denote? An interface
  name gives the interface node. Used to show a node.
- :meth:`EntityResolver.resolve`: where does an alert on this entity belong for
  correlation? An interface alert belongs to its device (``attrs.device`` of the
  interface node), because the correlator's hop distances and the ranker's
  coverage are about devices: a port going down is its device's trouble, and
  putting it one hop away would weaken every match with the device's neighbours.
  A port the topology does not list still lands on its device, and a pod that
  is gone (replaced by a rollout) lands on its deployment when its name has the
  ``<deployment>-<hash>-<suffix>`` shape and the deployment is known.

A name claimed by several nodes of the same rank resolves to none of them rather
than to a guess. Ranks settle claims between kinds: a box (device, host) before a
service, before a deployment, before a pod, before an interface, so a service and
its deployment may share a name without making it ambiguous.
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable

from topology.model import Node

KIND_RANK: dict[str, int] = {"service": 1, "deployment": 2, "pod": 3, "interface": 4}
# A port name's type prefix and number: ``TenGigabitEthernet1/0/1``, ``Te1/0/1``,
# ``ge-0/0/0``, ``Port-channel10``, ``eth0``.
PORT_NAME = re.compile(r"^(?P<type>[a-z]+)(?P<number>\d[\w/:.]*)$")
# Type prefixes whose first two letters would collide with another type's: Cisco writes
# TwoGigabitEthernet ``Tw`` and TwentyFiveGigE ``Twe``.
PORT_TYPES = {"twentyfivegige": "twe", "twentyfivegigabitethernet": "twe", "twe": "twe"}


def port_key(ifname: str) -> str:
    """A port name as its device's two spellings of it share it: the type prefix cut to
    two letters (Cisco's abbreviations: ``GigabitEthernet1/0/1`` and ``Gi1/0/1``,
    ``Ethernet1/1`` and ``Eth1/1``, ``Port-channel10`` and ``Po10``), case and dashes
    dropped; a name of another shape as it is, in lower case.

    Why: LLDP reports a port by its ifName (``Te1/0/1`` on Cisco IOS), NetBox and syslog
    by the full name (``TenGigabitEthernet1/0/1``), so the same port came in two names.
    """
    name = ifname.strip().lower().replace("-", "").replace(" ", "")
    match = PORT_NAME.match(name)
    if match is None:
        return name
    kind = match["type"]
    return PORT_TYPES.get(kind, kind[:2]) + match["number"]
POD_NAME = re.compile(r"^(?P<deployment>.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$")
# ``[2001:db8::1]:9100``: an IPv6 address with a port, as Prometheus' ``instance`` and
# URLs write it (the brackets keep the port apart from the address's own colons).
# What an address literal may look like: a cheap test before ``ipaddress`` parses (a
# name that is not one would cost a raised ValueError per look-up).
ADDRESS_LIKE = re.compile(r"[0-9a-f:.]{2,45}(?:%\S{1,64})?")
BRACKETED = re.compile(r"^\[(?P<address>[0-9A-Fa-f:.]{2,45})\](?::\d{1,5})?$")


def _address(text: str) -> str | None:
    """The canonical form of an IP address literal, or None when ``text`` is not one.

    One address has many spellings (``2001:DB8:0:0::1``, ``2001:db8::1``; an IPv4
    address mapped into IPv6): an inventory and an alert source seldom pick the same,
    so both sides are looked up by the form Python's ``ipaddress`` gives."""
    if ADDRESS_LIKE.fullmatch(text) is None:
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address)


def _keys(text: str) -> list[str]:
    """Look-up keys for one name: itself, lower-cased, and the short form of an FQDN.

    Names with ``:`` or ``/`` (interfaces, ``namespace/pod``) have no short form:
    ``sw1.dc1:eth0`` must not claim ``sw1``.
    """
    lowered = text.strip().lower()
    keys = [lowered]
    address = _address(lowered)
    if address is not None and address != lowered:
        keys.append(address)
    if ("." in lowered and not lowered.replace(".", "").isdigit()
            and ":" not in lowered and "/" not in lowered):
        keys.append(lowered.split(".", 1)[0])
    return keys


class EntityResolver:
    """Maps the names sources use to node ids; ambiguous names are not guessed."""

    def __init__(self, nodes: Iterable[Node]):
        self._nodes: dict[str, Node] = {}
        claims: dict[str, set[tuple[int, str]]] = defaultdict(set)
        self._interfaces: dict[tuple[str, str], str] = {}
        # (device, port_key) -> interface; None where two of a device's ports share a key
        self._port_keys: dict[tuple[str, str], str | None] = {}
        self._deployments: dict[str, list[Node]] = defaultdict(list)
        for node in nodes:
            self._nodes[node.id] = node
            rank = KIND_RANK.get(node.kind, 0)
            for name in (node.id, node.name, *node.aliases()):
                for key in _keys(name):
                    claims[key].add((rank, node.id))
            device, ifname = node.attrs.get("device"), node.attrs.get("ifname")
            if node.kind == "interface" and isinstance(device, str) and ifname:
                self._interfaces[(device, str(ifname).lower())] = node.id
                key = (device, port_key(str(ifname)))
                self._port_keys[key] = None if key in self._port_keys else node.id
            if node.kind == "deployment":
                self._deployments[node.name.lower()].append(node)
        self._loose: dict[str, str | None] = {}
        for key, owners in claims.items():
            best = min(rank for rank, _ in owners)
            winners = [node_id for rank, node_id in owners if rank == best]
            self._loose[key] = winners[0] if len(winners) == 1 else None

    def lookup(self, entity: str) -> str | None:
        """The node ``entity`` names (an interface for ``device:ifname``), or None."""
        if entity in self._nodes:
            return entity
        bracketed = BRACKETED.match(entity.strip())
        if bracketed is not None:
            return self.lookup(bracketed["address"])
        for key in _keys(entity):
            node_id = self._loose.get(key)
            if node_id is not None:
                return node_id
        device, ifname = self._split_interface(entity)
        if device is not None and ifname is not None:
            return (self._interfaces.get((device, ifname.lower()))
                    or self._port_keys.get((device, port_key(ifname))))
        return None

    def resolve(self, entity: str) -> str | None:
        """The node an alert on ``entity`` is placed on, or None when unknown or ambiguous."""
        node_id = self.lookup(entity)
        if node_id is not None:
            return self._anchor(node_id)
        device, _ = self._split_interface(entity)
        if device is not None:
            return self._anchor(device)  # a port the topology does not list
        return self._deployment_of_pod(entity)

    def anchor(self, node_id: str) -> str:
        """The node an alert on node ``node_id`` is placed on: an interface's device
        (when the topology has it), else the node itself."""
        return self._anchor(node_id)

    def _anchor(self, node_id: str) -> str:
        node = self._nodes.get(node_id)
        if node is not None and node.kind == "interface":
            device = node.attrs.get("device")
            if isinstance(device, str) and device in self._nodes:
                return device
        return node_id

    def _split_interface(self, entity: str) -> tuple[str | None, str | None]:
        """``device:ifname`` → (device node id, ifname) when the device part resolves."""
        head, sep, tail = entity.partition(":")
        if not sep or not head or not tail:
            return None, None
        device = self.lookup(head)
        if device is None or self._nodes[device].kind == "interface":
            return None, None
        return device, tail

    def _deployment_of_pod(self, entity: str) -> str | None:
        namespace, _, pod = entity.strip().lower().rpartition("/")
        match = POD_NAME.match(pod)
        if match is None:
            return None
        candidates = [d for d in self._deployments.get(match["deployment"], [])
                      if not namespace or str(d.attrs.get("namespace", "")).lower() == namespace]
        return candidates[0].id if len(candidates) == 1 else None
