"""The LLDP discovery source: saved lldpcli output, the local lldpd, or LLDP-MIB over SNMP.

Every device's view is read before any graph is built, so a host that does not
answer SNMP fails the whole run and nothing is stored (see sync.py). A saved
``lldpcli -f json show neighbors`` file does not say whose neighbours they are:
``hosts`` names it, else the file name without extension does (``sw1.json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from aiops.errors import InputError
from topology.discovery.base import Discovered, GraphBuilder
from topology.discovery.http import read_json_file
from topology.discovery.lldp_mib import ROOTS, parse_lldp_mib
from topology.discovery.lldp_model import Chassis, DeviceView, add_view, is_ip
from topology.discovery.lldpcli import local_view, parse_neighbors
from topology.discovery.snmp import walk
from topology.graph import TopologyGraph

NAME = "lldp"


class LldpConnector:
    """LLDP neighbours from files, from this host's lldpd, and from SNMP agents."""

    name = NAME

    def __init__(self, files: Sequence[str] = (), hosts: Sequence[str] = (),
                 snmp: Sequence[str] = (), community: str = "public", snmp_port: int = 161,
                 local: bool = False, lldpcli: str = "lldpcli", socket: str | None = None,
                 timeout: float = 5.0, retries: int = 1):
        if hosts and len(hosts) != len(files):
            raise InputError(f"lldp: {len(hosts)} host names for {len(files)} files; give "
                             "one --host per --from-file, or none")
        if not (files or snmp or local):
            raise InputError("lldp: nothing to read: give --from-file, --snmp or --local")
        self.files = list(files)
        self.hosts = list(hosts)
        self.snmp = list(snmp)
        self.community = community
        self.snmp_port = snmp_port
        self.local = local
        self.lldpcli = lldpcli
        self.socket = socket
        self.timeout = timeout
        self.retries = retries

    def views(self) -> list[tuple[str, DeviceView]]:
        """Every device's view, each labelled with where it came from."""
        views: list[tuple[str, DeviceView]] = []
        for i, path in enumerate(self.files):
            host = self.hosts[i] if self.hosts else Path(path).stem
            neighbours = parse_neighbors(read_json_file(path, "lldpcli"), path)
            views.append((path, DeviceView(Chassis(host, None), neighbours)))
        if self.local:
            views.append(("lldpcli", local_view(self.lldpcli, self.socket, self.timeout)))
        for host in self.snmp:
            rows = walk(host, ROOTS, self.community, self.snmp_port, self.timeout,
                        self.retries)
            view = parse_lldp_mib(rows)
            if not view.local.sysname and not view.local.chassis_id:
                raise InputError(f"lldp: {host} answered SNMP but has no LLDP-MIB data "
                                 "(is the lldpd subagent or the agent's LLDP support on?)")
            if is_ip(host) and host not in view.local.mgmt_ips:
                view.local.mgmt_ips.append(host)
            views.append((f"snmp {host}", view))
        return views

    def collect(self, current: TopologyGraph | None = None) -> Discovered:
        builder = GraphBuilder(NAME)
        for where, view in self.views():
            add_view(builder, view, where)
        return builder.result()
