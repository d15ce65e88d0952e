"""NetBox: devices, interfaces, cables and virtual machines from its REST API.

Reads ``/api/dcim/devices/``, ``/api/dcim/interfaces/``, ``/api/dcim/cables/``,
``/api/virtualization/virtual-machines/`` and, when a cable ends at a power feed,
``/api/dcim/power-feeds/``, following each list's ``next`` link, and only
then builds the graph: a failed page anywhere aborts the run before anything is stored.
A virtual machine ``runs_on`` the device NetBox pins it to (``device``), else on its
cluster, a node that the cluster's devices are ``part_of``: when a hypervisor dies, its
VMs are siblings (``TopologyGraph.reach``) and group as one fault. Only cables with status
``connected`` between two interfaces become links; a connected power cable makes a
device ``depends_on`` the PDU or the power feed it draws from
(``topology.discovery.netbox_power``); cables to front/rear ports or circuits are
skipped and counted in the warnings (tracing patch panels is not done yet).
Interface nodes are made for cabled interfaces only, so a 1,000-switch site does not
add 48,000 idle port nodes; an alert on an uncabled port still lands on its device
(see topology/resolve.py).

Payload shapes follow NetBox's documented API: cables with ``a_terminations`` /
``b_terminations`` (NetBox 3.3 and later) or ``termination_a``/``termination_b``
(earlier), device role under ``role`` (4.x) or ``device_role`` (3.x).
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from aiops.errors import InputError
from topology.discovery.base import SHARED_NAME, Discovered, GraphBuilder, add_link
from topology.discovery.http import HttpRefused, JsonHttp
from topology.discovery.netbox_power import PowerCabling, is_power_cable
from topology.discovery.netbox_refs import ref_id, ref_name
from topology.graph import TopologyGraph

NAME = "netbox"
MAX_PAGES = 100_000  # a loop of ``next`` links must not run forever


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _address(ip_ref: Any) -> str | None:
    """``10.0.0.1`` from a nested IP reference with ``address: 10.0.0.1/24``."""
    address = ref_name(ip_ref, "address")
    return address.split("/", 1)[0] if address else None


def _device_name(d: dict[str, Any]) -> str:
    name = d.get("name")
    return str(name) if name not in (None, "") else f"netbox-device-{d['id']}"


def _slug(obj: Any) -> str | None:
    return ref_name(obj, "slug") or ref_name(obj)


def device_node_ids(devices: list[dict[str, Any]]) -> dict[int, str]:
    """NetBox device id -> topology node id: the device's name where no other device
    has it (alerts name devices so), else qualified by its site, ``SITE/NAME``, and
    where two devices of one site share it (NetBox allows that across tenants) by
    its tenant too, ``SITE/TENANT/NAME``; NetBox's id ends any clash left. Names
    compare case-insensitively, as alerts resolve. One node id for two devices
    merged them into one node, and every alert of either landed on it."""
    names = {d["id"]: _device_name(d) for d in devices}
    ids = dict(names)
    for qualify in (lambda d: f"{_slug(d.get('site')) or 'no-site'}/{names[d['id']]}",
                    lambda d: "/".join(p for p in (_slug(d.get("site")) or "no-site",
                                                   _slug(d.get("tenant")), names[d["id"]]) if p),
                    lambda d: f"{ids[d['id']]}#{d['id']}"):
        taken = Counter(i.lower() for i in ids.values())
        clashing = [d for d in devices if taken[ids[d["id"]].lower()] > 1]
        if not clashing:
            break
        for d in clashing:
            ids[d["id"]] = qualify(d)
    return ids


def _vm_name(vm: dict[str, Any]) -> str:
    name = vm.get("name")
    return str(name) if name not in (None, "") else f"netbox-vm-{vm['id']}"


def vm_node_ids(vms: list[dict[str, Any]], taken: set[str]) -> dict[int, str]:
    """NetBox VM id -> node id: its name where no device (``taken``, lower case) or other
    VM has it, else ``vm/CLUSTER/NAME``, then NetBox's id too (``#7``): NetBox keeps a
    VM's name unique per cluster (and tenant) only, and one id for two machines would
    merge them, as for devices (``device_node_ids``)."""
    names = {vm["id"]: _vm_name(vm) for vm in vms}
    ids = dict(names)
    for qualify in (lambda vm: f"vm/{ref_name(vm.get('cluster')) or 'no-cluster'}/"
                               f"{names[vm['id']]}",
                    lambda vm: f"{ids[vm['id']]}#{vm['id']}"):
        counts = Counter(i.lower() for i in ids.values())
        clashing = [vm for vm in vms if counts[ids[vm["id"]].lower()] > 1
                    or ids[vm["id"]].lower() in taken]
        if not clashing:
            break
        for vm in clashing:
            ids[vm["id"]] = qualify(vm)
    return ids


class NetboxConnector:
    """Reads one NetBox instance; ``token`` is a NetBox API token (v1 or v2)."""

    name = NAME

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0,
                 page_size: int = 500, verify: bool | str = True,
                 http: JsonHttp | None = None, virtual_machines: bool = True):
        self.base = url.rstrip("/")
        self.virtual_machines = virtual_machines
        headers = {}
        if token:
            # NetBox 4.5 v2 tokens ("nbt_...") are Bearer tokens; older ones use "Token".
            scheme = "Bearer" if token.startswith("nbt_") else "Token"
            headers["Authorization"] = f"{scheme} {token}"
        self.page_size = page_size
        self.http = http or JsonHttp(NAME, headers, timeout, verify)

    def _list(self, endpoint: str, app: str = "dcim") -> list[dict[str, Any]]:
        """All objects of one list endpoint, page by page along ``next``."""
        url: str | None = f"{self.base}/api/{app}/{endpoint}/?limit={self.page_size}"
        items: list[dict[str, Any]] = []
        seen: set[str] = set()
        page = 0
        while url:
            page += 1
            if url in seen or page > MAX_PAGES:
                raise InputError(f"netbox: {endpoint} pagination loops at {url}")
            seen.add(url)
            body = self.http.get(url)
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list):
                raise InputError(f"netbox: {url} (page {page} of {endpoint}) is not a "
                                 "NetBox list: expected an object with 'results'")
            for i, item in enumerate(results):
                if ref_id(item) is None:  # ids are dict keys below: must be NetBox's ints
                    raise InputError(f"netbox: {url} results[{i}] is not an object with "
                                     "an integer 'id'")
            items.extend(results)
            url = self._next(body.get("next"))
        return items

    def _next(self, link: Any) -> str | None:
        """NetBox builds ``next`` from the Host header, which a proxy may rewrite; keep
        its path and query but our scheme and host."""
        if not link:
            return None
        parts = urlsplit(str(link))
        base = urlsplit(self.base)
        return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))

    def collect(self, current: TopologyGraph | None = None) -> Discovered:
        devices = self._list("devices")
        interfaces = self._list("interfaces")
        cables = self._list("cables")
        builder = GraphBuilder(NAME)
        node_ids = device_node_ids(devices)
        device_ids = {d["id"]: self._device(builder, d, node_ids[d["id"]]) for d in devices}
        ports: dict[Any, tuple[str, str, dict[str, Any]]] = {}
        for iface in interfaces:
            device = device_ids.get(ref_id(iface.get("device")))
            name = iface.get("name")
            if device and name:
                ports[iface["id"]] = (device, str(name), iface)
        power = PowerCabling(builder, device_ids, lambda: self._list("power-feeds"))
        for cable in cables:
            self._cable(builder, cable, ports, device_ids, power)
        if self.virtual_machines:
            self._virtual_machines(builder, devices, device_ids)
        return builder.result()

    def _virtual_machines(self, builder: GraphBuilder, devices: list[dict[str, Any]],
                          device_ids: dict[int, str]) -> None:
        """VM nodes, each ``runs_on`` its pinned device or its cluster (module doc)."""
        try:
            vms = self._list("virtual-machines", "virtualization")
        except HttpRefused as exc:
            if exc.status != 403:
                raise
            raise InputError(f"{exc}; a token that may not read virtual machines can "
                             "discover without them (--no-virtual-machines)") from None
        taken = {node_id.lower() for node_id in device_ids.values()}
        vm_ids = vm_node_ids(vms, taken)
        clusters: dict[int, str] = {}

        def cluster_node(ref: Any) -> str | None:
            cluster_id, name = ref_id(ref), ref_name(ref)
            if cluster_id is None or name is None:
                return None
            if cluster_id not in clusters:
                clusters[cluster_id] = f"cluster/{name}"
                builder.node(clusters[cluster_id], "cluster", name, netbox_id=cluster_id)
            return clusters[cluster_id]

        for d in devices:  # hypervisors in a cluster
            if (cluster := cluster_node(d.get("cluster"))) is not None:
                builder.edge(device_ids[d["id"]], cluster, "part_of")
        for vm in vms:
            node_id, name = vm_ids[vm["id"]], _vm_name(vm)
            status = vm.get("status")
            builder.node(
                node_id, "vm", name, netbox_id=vm["id"],
                mgmt_ip=_address(vm.get("primary_ip")) or _address(vm.get("primary_ip4")),
                ips=[a for a in (_address(vm.get("primary_ip6")),) if a],
                site=ref_name(vm.get("site")), cluster=ref_name(vm.get("cluster")),
                role=ref_name(vm.get("role")), platform=ref_name(vm.get("platform")),
                status=status.get("value") if isinstance(status, dict) else status,
                **{SHARED_NAME: node_id != name or None})
            host = device_ids.get(ref_id(vm.get("device")))
            target = host or cluster_node(vm.get("cluster"))
            if target is not None:
                builder.edge(node_id, target, "runs_on")
            else:
                builder.warnings.append(f"virtual machine {name} (#{vm['id']}) has no "
                                        "device or cluster: it runs on nothing known")

    def _device(self, builder: GraphBuilder, d: dict[str, Any], node_id: str) -> str:
        name = _device_name(d)
        ip = _address(d.get("primary_ip")) or _address(d.get("primary_ip4"))
        role = d.get("role") or d.get("device_role")
        device_type = _dict(d.get("device_type"))
        status = d.get("status")
        builder.node(
            node_id, "device", name,
            netbox_id=d["id"], serial=d.get("serial") or None, mgmt_ip=ip,
            ips=[a for a in (_address(d.get("primary_ip6")), _address(d.get("oob_ip"))) if a],
            site=ref_name(d.get("site")), role=ref_name(role),
            model=ref_name(device_type, "model"),
            manufacturer=ref_name(device_type.get("manufacturer")),
            platform=ref_name(d.get("platform")),
            status=status.get("value") if isinstance(status, dict) else status,
            **{SHARED_NAME: node_id != name or None},
        )
        return node_id

    def _ends(self, cable: dict[str, Any], side: str) -> list[dict[str, Any]]:
        """Terminations of one cable end as ``{"object_type", "object_id", "object"}``."""
        terms = cable.get(f"{side}_terminations")
        if isinstance(terms, list):
            return [t for t in terms if isinstance(t, dict)]
        old = cable.get(f"termination_{side}")  # NetBox before 3.3: one end object
        if isinstance(old, dict):
            return [{"object_type": cable.get(f"termination_{side}_type"),
                     "object_id": cable.get(f"termination_{side}_id", old.get("id")),
                     "object": old}]
        return []

    def _port(self, term: dict[str, Any], ports: dict[Any, tuple[str, str, dict[str, Any]]],
              device_ids: dict[Any, str]) -> tuple[str, str] | None:
        if term.get("object_type") != "dcim.interface":
            return None
        object_id = term.get("object_id")
        known = ports.get(object_id) if isinstance(object_id, int) else None
        if known:
            return known[0], known[1]
        obj = _dict(term.get("object"))
        device = device_ids.get(ref_id(obj.get("device")))
        return (device, str(obj["name"])) if device and obj.get("name") else None

    def _cable(self, builder: GraphBuilder, cable: dict[str, Any],
               ports: dict[Any, tuple[str, str, dict[str, Any]]],
               device_ids: dict[Any, str], power: PowerCabling) -> None:
        status = cable.get("status")
        status = status.get("value") if isinstance(status, dict) else status
        label = f"cable #{cable['id']}"
        if status not in (None, "connected"):
            builder.warnings.append(f"{label} skipped: status {status}")
            return
        a_terms, b_terms = self._ends(cable, "a"), self._ends(cable, "b")
        if is_power_cable(a_terms + b_terms):
            power.cable(cable, a_terms, b_terms)
            return
        a_ends = [self._port(t, ports, device_ids) for t in a_terms]
        b_ends = [self._port(t, ports, device_ids) for t in b_terms]
        if not a_ends or not b_ends or None in a_ends or None in b_ends:
            builder.warnings.append(f"{label} skipped: not between two interfaces")
            return
        for a_dev, a_if in a_ends:  # type: ignore[misc]
            for b_dev, b_if in b_ends:  # type: ignore[misc]
                add_link(builder, a_dev, a_if, b_dev, b_if, netbox_cable=cable["id"])

