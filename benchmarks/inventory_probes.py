"""Networks as their inventories describe them, and what the engine names in them.

The simulated scenarios of ``benchmarks.correlation`` link devices only; real
topologies hold more: LLDP and NetBox store each linked port as an interface node,
virtualisation puts VMs ``runs_on`` hypervisors and services on VMs, and a hand
inventory may make a site a node that every device is ``part_of``. Each probe here
is seeded, replayed untrained through the same path as ``aiops replay`` on a fresh data
dir, and scored as the correlation benchmark scores (pair F1, AC@1, AC@3 over faults),
plus the 99th percentile of the time to place one alert (as ``/api/v1/health`` reports
it: the placement path on topologies with ports, VMs and sites) and what the probe is
about:

- ``links``: core, distribution and access switches discovered with their ports
  (``topology.discovery.base.add_link``, abbreviated port names as LLDP reports them);
  a core-distribution link fails (both ends log the port down, line protocol and OSPF
  over it, full port names as syslog writes them), single alarms as noise. Counted:
  candidates that are ports (none should be) and link faults whose incident names
  one of the two ends first with "the two ends of one link" in its evidence.
- ``hypervisors``: hypervisors dual-homed to two top-of-rack switches, VMs
  ``runs_on`` them, services ``runs_on`` two VMs on different hypervisors. A hypervisor
  dies silently; Nagios finds its VMs down 30-120 s later, the services with an
  instance there degrade 60-180 s later; noise on VMs and services. Counted: incidents
  whose candidates include a silent node that only needs an alarming one.
- ``storage``: six hypervisors and three datastores on two top-of-rack switches, six
  VMs per hypervisor, each ``runs_on`` its hypervisor and ``depends_on`` one datastore.
  Faults alternate: a datastore goes away silently (80 % of its VMs log DISK_IO_ERROR
  5-90 s later), a hypervisor dies silently (its VMs found down 30-120 s later); noise
  on VMs.
- ``power``: four racks, each a top-of-rack switch fed by both of the rack's PDUs and
  ten single-supply servers, alternately on PDU A and B (``depends_on``), their NICs
  cabled to the switch's ports. A PDU trips silently: the switch logs its five
  servers' ports down within 2 s, Nagios finds the servers down 30-120 s later; noise
  on servers that have power, one a minute.
- ``sites`` / ``sites-plain``: three sites of 60 switches (a core, five distribution,
  access switches under them), with and without site nodes that every device is
  ``part_of``. A distribution switch dies silently; its access switches log their
  uplink down within 5 s; two unrelated alarms a minute.

With ``--history N`` each probe is also scored by an engine ``aiops train`` taught on
N times as many faults before the evaluation period, on the same network.

Usage: python -m benchmarks.inventory_probes [--seed 1] [--faults 20] [--history 4]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiops.config import DataDir
from aiops.learning.training import CorrelationModel
from aiops.models import parse_alert
from aiops.replay import replay_alerts
from aiops.runtime import open_runtime
from benchmarks.correlation.metrics import Prediction, evaluate
from benchmarks.history_training import trained_on
from benchmarks.probe_periods import Period
from topology.discovery.base import GraphBuilder, add_link
from topology.model import parse_topology

T0 = 1_700_000_000.0
LINK_LINE = "are the two ends of one link"
# A fault's alarms clear this long after its onset (the device or link repaired), before
# the next fault (at least 600 s later); a background alarm clears after NOISE_LASTS.
# Without an end, a device's alarm of one fault was still firing at its next, and the
# engine took the new one for a re-send of the old (the same alert, the old incident).
REPAIRED_AFTER = 480.0
NOISE_LASTS = 120.0
NOISE = ("CPU_HIGH", "FAN_FAIL", "TEMP_HIGH", "CONFIG_CHANGE", "AUTH_FAIL", "PSU_WARN")


@dataclass
class Probe(Period):
    """A topology document and one period of alerts with their ground truth."""

    name: str = ""
    topology: dict[str, Any] = field(default_factory=dict)
    start: float = 0.0  # seconds from T0 at which the period begins

    def alert(self, group: str, name: str, entity: str, at: float, until: float,
              **labels: str) -> None:
        """An alarm firing from ``at`` to ``until`` (seconds into the period)."""
        alert_id = f"a{len(self.alerts)}"
        self.alerts.append({"id": alert_id, "source": "probe", "name": name,
                            "entity": entity, "severity": "major",
                            "summary": f"{name} on {entity}",
                            "starts_at": T0 + self.start + at,
                            "ends_at": T0 + self.start + until,
                            "labels": labels})
        self.alert_group[alert_id] = group

    def fault(self, group: str, root: str, silent: bool) -> None:
        self.groups[group] = {"kind": "fault", "root_entity": root, "silent": silent}

    def noise(self, group: str, name: str, entity: str, at: float) -> None:
        self.groups[group] = {"kind": "background", "root_entity": entity, "silent": False}
        self.alert(group, name, entity, at, at + NOISE_LASTS)


def _document(nodes: list[dict[str, Any]], edges: list[dict[str, Any]]) -> dict[str, Any]:
    return {"nodes": nodes, "edges": edges}


@dataclass
class _Inventory:
    """A hand inventory's nodes and edges, as ``aiops topology import`` reads them."""

    nodes: list[dict[str, Any]] = field(default_factory=list)
    edges: list[dict[str, Any]] = field(default_factory=list)

    def node(self, node_id: str, kind: str) -> None:
        self.nodes.append({"id": node_id, "kind": kind, "name": node_id, "attrs": {}})

    def edge(self, source: str, target: str, kind: str = "connected_to") -> None:
        self.edges.append({"source": source, "target": target, "kind": kind, "attrs": {}})

    def document(self) -> dict[str, Any]:
        return _document(self.nodes, self.edges)


def _events(seed: int, period: int, rnd: random.Random) -> random.Random:
    """The generator of a period's faults and noise: the topology's own for the
    evaluation period (0), a fresh one per history period, so a history shares the
    evaluation's network and not its events."""
    return rnd if period == 0 else random.Random(seed * 7919 + period)


def links(seed: int, faults: int, period: int = 0) -> Probe:
    """Link failures between core and distribution switches, ports discovered."""
    rnd = random.Random(seed)
    builder = GraphBuilder("lldp")
    cores = ["c1", "c2"]
    dists = [f"d{i}" for i in range(1, 7)]
    devices = [*cores, *dists]
    for name in devices:
        builder.node(name, "device", name)
    add_link(builder, "c1", "Te1/0/9", "c2", "Te1/0/9")
    uplinks = []
    for i, dist in enumerate(dists, 1):
        for core_index, core in enumerate(cores):
            add_link(builder, core, f"Te1/0/{i}", dist, f"Te0/{core_index + 1}")
            uplinks.append((core, f"TenGigabitEthernet1/0/{i}", dist,
                            f"TenGigabitEthernet0/{core_index + 1}"))
        for k in range(8):
            access = f"{dist}-a{k}"
            builder.node(access, "device", access)
            devices.append(access)
            add_link(builder, dist, f"Gi1/0/{k + 1}", access, "Gi0/49")
    probe = Probe(name="links",
                  topology=_document([n.to_dict() for n in builder.nodes.values()],
                                     [e.to_dict() for e in builder.edges.values()]),
                  start=-period * faults * 900.0)
    rnd = _events(seed, period, rnd)
    for f in range(faults):
        core, core_port, dist, dist_port = rnd.choice(uplinks)
        t0, group = f * 900.0 + rnd.uniform(0, 300), f"link-{f}"
        probe.fault(group, core, silent=False)
        for device, port in ((core, core_port), (dist, dist_port)):
            at = t0 + rnd.uniform(0, 1.5)
            until = t0 + REPAIRED_AFTER
            probe.alert(group, "LINK_DOWN", device, at, until, interface=port)
            probe.alert(group, "LINEPROTO_DOWN", device, at + 1.0, until, interface=port)
            probe.alert(group, "OSPF_ADJACENCY_DOWN", device, at + rnd.uniform(1, 3),
                        until, interface=port)
    for n in range(faults * 15):  # one a minute
        probe.noise(f"noise-{n}", rnd.choice(NOISE), rnd.choice(devices),
                    rnd.uniform(0, faults * 900.0))
    return probe


def hypervisors(seed: int, faults: int, period: int = 0) -> Probe:
    """Hypervisors dying silently under VMs and the services on them."""
    rnd = random.Random(seed)
    inventory = _Inventory()
    node, edge = inventory.node, inventory.edge

    node("tor1", "device")
    node("tor2", "device")
    edge("tor1", "tor2")
    hosts, vms, services = [f"esx{h}" for h in range(6)], [], []
    for hv in hosts:
        node(hv, "host")
        edge(hv, "tor1")
        edge(hv, "tor2")
        for v in range(6):
            vms.append(f"{hv}-vm{v}")
            node(vms[-1], "host")
            edge(vms[-1], hv, "runs_on")
    runs: dict[str, list[str]] = {}
    for s in range(12):
        service, pair = f"app{s}", rnd.sample(range(len(hosts)), 2)
        node(service, "service")
        runs[service] = [f"esx{h}-vm{rnd.randrange(6)}" for h in pair]
        for vm in runs[service]:
            edge(service, vm, "runs_on")
        services.append(service)
    probe = Probe(name="hypervisors", topology=inventory.document(),
                  start=-period * faults * 900.0)
    rnd = _events(seed, period, rnd)
    for f in range(faults):
        hv, t0, group = rnd.choice(hosts), f * 900.0 + rnd.uniform(0, 300), f"esx-{f}"
        probe.fault(group, hv, silent=True)
        for v in range(6):
            probe.alert(group, "HOST_DOWN", f"{hv}-vm{v}", t0 + rnd.uniform(30, 120),
                        t0 + REPAIRED_AFTER)
        for service in services:
            if any(vm.startswith(f"{hv}-") for vm in runs[service]):
                probe.alert(group, "ServiceDegraded", service, t0 + rnd.uniform(60, 180),
                            t0 + REPAIRED_AFTER)
    for n in range(faults * 6):  # noise on VMs and services, 24 an hour
        entity = rnd.choice(vms + services)
        name = "DISK_WARNING" if entity in vms else "SlowResponses"
        probe.noise(f"noise-{n}", name, entity, rnd.uniform(0, faults * 900.0))
    return probe


def storage(seed: int, faults: int, period: int = 0) -> Probe:
    """Datastores and hypervisors failing under the same VMs."""
    rnd = random.Random(seed)
    inventory = _Inventory()
    node, edge = inventory.node, inventory.edge

    for switch in ("tor1", "tor2"):
        node(switch, "device")
    edge("tor1", "tor2")
    hosts, stores = [f"esx{h}" for h in range(6)], ["ds0", "ds1", "ds2"]
    for unit in (*hosts, *stores):
        node(unit, "host" if unit in hosts else "storage")
        edge(unit, "tor1")
        edge(unit, "tor2")
    on_store: dict[str, list[str]] = {ds: [] for ds in stores}
    on_host: dict[str, list[str]] = {hv: [] for hv in hosts}
    for hv in hosts:
        for v in range(6):
            vm, ds = f"{hv}-vm{v}", rnd.choice(stores)
            node(vm, "vm")
            edge(vm, hv, "runs_on")
            edge(vm, ds, "depends_on")
            on_store[ds].append(vm)
            on_host[hv].append(vm)
    vms = [vm for hv in hosts for vm in on_host[hv]]
    probe = Probe(name="storage", topology=inventory.document(),
                  start=-period * faults * 900.0)
    rnd = _events(seed, period, rnd)
    for f in range(faults):
        t0 = f * 900.0 + rnd.uniform(0, 300)
        if f % 2 == 0:  # a datastore goes away: the busy VMs on it log I/O errors
            ds, group = rnd.choice(stores), f"ds-{f}"
            probe.fault(group, ds, silent=True)
            for vm in on_store[ds]:
                if rnd.random() < 0.8:
                    probe.alert(group, "DISK_IO_ERROR", vm, t0 + rnd.uniform(5, 90),
                                t0 + REPAIRED_AFTER)
        else:  # a hypervisor dies: its VMs are found down
            hv, group = rnd.choice(hosts), f"esx-{f}"
            probe.fault(group, hv, silent=True)
            for vm in on_host[hv]:
                probe.alert(group, "HOST_DOWN", vm, t0 + rnd.uniform(30, 120),
                            t0 + REPAIRED_AFTER)
    for n in range(faults * 6):  # noise on VMs, 24 an hour
        probe.noise(f"noise-{n}", rnd.choice(("DISK_WARNING", "CPU_HIGH", "MEM_HIGH")),
                    rnd.choice(vms), rnd.uniform(0, faults * 900.0))
    return probe


def power(seed: int, faults: int, period: int = 0) -> Probe:
    """PDUs tripping under the servers they feed, ports discovered."""
    rnd = random.Random(seed)
    builder = GraphBuilder("netbox")
    servers: list[str] = []
    fed: dict[str, list[tuple[str, str]]] = {}  # PDU -> (server, its ToR port)
    builder.node("spine", "device", "spine")
    for r in range(4):
        tor = f"r{r}-tor"
        builder.node(tor, "device", tor)
        add_link(builder, "spine", f"Eth1/{r + 1}", tor, "Eth1/49")
        for side in "ab":
            pdu = f"r{r}-pdu-{side}"
            builder.node(pdu, "device", pdu)
            builder.edge(tor, pdu, "depends_on", via="power")  # two supplies, both
            fed[pdu] = []
        for k in range(10):
            server = f"r{r}-srv{k}"
            builder.node(server, "host", server)
            add_link(builder, tor, f"Eth1/{k + 1}", server, "eno1")
            pdu = f"r{r}-pdu-{'ab'[k % 2]}"
            builder.edge(server, pdu, "depends_on", via="power")
            fed[pdu].append((server, f"Ethernet1/{k + 1}"))
            servers.append(server)
    probe = Probe(name="power",
                  topology=_document([n.to_dict() for n in builder.nodes.values()],
                                     [e.to_dict() for e in builder.edges.values()]),
                  start=-period * faults * 900.0)
    rnd = _events(seed, period, rnd)
    pdus = sorted(fed)
    down: dict[str, list[tuple[float, float]]] = {}  # server -> when it had no power
    for f in range(faults):
        pdu, t0, group = rnd.choice(pdus), f * 900.0 + rnd.uniform(0, 300), f"pdu-{f}"
        probe.fault(group, pdu, silent=True)
        tor = pdu.split("-pdu-")[0] + "-tor"
        for server, port in fed[pdu]:
            down.setdefault(server, []).append((t0, t0 + REPAIRED_AFTER))
            # the switch logs the port down as the server loses power; Nagios finds
            # the server down on its next host check
            probe.alert(group, "LINK_DOWN", tor, t0 + rnd.uniform(0, 2), t0 + REPAIRED_AFTER,
                        interface=port)
            probe.alert(group, "HOST_DOWN", server, t0 + rnd.uniform(30, 120),
                        t0 + REPAIRED_AFTER)
    for n in range(faults * 15):  # one a minute, from servers that have power
        name, at = rnd.choice(NOISE), rnd.uniform(0, faults * 900.0)
        up = [s for s in servers if not any(a <= at < b for a, b in down.get(s, ()))]
        probe.noise(f"noise-{n}", name, rnd.choice(up), at)
    return probe


def sites(seed: int, faults: int, period: int = 0, with_sites: bool = True) -> Probe:
    """Distribution switches dying silently in sites that are nodes (or not)."""
    rnd = random.Random(seed)
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    devices: list[str] = []

    def device(node_id: str, site: int, uplink: str | None) -> None:
        nodes.append({"id": node_id, "kind": "device", "name": node_id, "attrs": {}})
        devices.append(node_id)
        if uplink:
            edges.append({"source": node_id, "target": uplink, "kind": "connected_to",
                          "attrs": {}})
        if with_sites:
            edges.append({"source": node_id, "target": f"site{site}", "kind": "part_of",
                          "attrs": {}})

    for s in range(3):
        if with_sites:
            nodes.append({"id": f"site{s}", "kind": "site", "name": f"site{s}", "attrs": {}})
        device(f"s{s}-core", s, "s0-core" if s else None)
        for d in range(5):
            device(f"s{s}-d{d}", s, f"s{s}-core")
            for a in range(11 if d else 10):
                device(f"s{s}-d{d}-a{a}", s, f"s{s}-d{d}")
    probe = Probe(name="sites" if with_sites else "sites-plain",
                  topology=_document(nodes, edges), start=-period * faults * 900.0)
    rnd = _events(seed, period, rnd)
    for f in range(faults):
        s, d = rnd.randrange(3), rnd.randrange(1, 5)
        t0, group = f * 900.0 + rnd.uniform(0, 300), f"dist-{f}"
        probe.fault(group, f"s{s}-d{d}", silent=True)
        for a in range(11):
            probe.alert(group, "LINK_DOWN", f"s{s}-d{d}-a{a}", t0 + rnd.uniform(0, 5),
                        t0 + REPAIRED_AFTER)
    for n in range(faults * 30):  # two a minute
        probe.noise(f"noise-{n}", rnd.choice(NOISE), rnd.choice(devices),
                    rnd.uniform(0, faults * 900.0))
    return probe


def replay(probe: Probe, model: CorrelationModel | None = None) -> dict[str, Any]:
    """``aiops topology import`` + ``aiops replay`` of the probe on a fresh data dir,
    with ``model`` (trained) or without (untrained)."""
    with tempfile.TemporaryDirectory(prefix="aiops-inventory-") as work:
        runtime = open_runtime(DataDir(path=Path(work)))
        try:
            nodes, edges = parse_topology(probe.topology)
            runtime.import_topology(nodes, edges, source="probe")
            if model is not None:
                runtime.use_model(model)
            alerts = sorted((parse_alert(a) for a in probe.alerts), key=lambda a: a.starts_at)
            document = replay_alerts(runtime, alerts, None)
            latency = runtime.engine.stats()["placement_latency"]
            document["p99_placement_ms"] = latency["p99_ms"]  # type: ignore[index]
            return document
        finally:
            runtime.close()


def trained(history: Probe) -> CorrelationModel:
    """The model ``aiops train --alerts`` makes from ``history`` on its topology."""
    return trained_on(parse_topology(history.topology), history.alerts, "aiops-inventory-")[0]


def measure(probe: Probe, model: CorrelationModel | None = None) -> dict[str, Any]:
    """The correlation benchmark's scores and the probe's own counts."""
    document = replay(probe, model)
    incidents = document["incidents"]
    prediction = Prediction([list(i["alert_ids"]) for i in incidents],
                            [[rc["entity"] for rc in i.get("root_causes") or []]
                             for i in incidents])
    scores = evaluate(prediction, probe.truth())
    causes = [rc for i in incidents for rc in i.get("root_causes") or []]
    row = {"incidents": len(incidents), "pair_f1": scores["f1"],
           "ac1": scores["ac1"], "ac3": scores["ac3"],
           "p99_placement_ms": document["p99_placement_ms"],
           "ports_named": sum(1 for rc in causes if ":" in rc["entity"])}
    if probe.name == "links":
        row["links_told"] = _links_told(probe, incidents)
    return row


def _links_told(probe: Probe, incidents: list[dict[str, Any]]) -> int:
    """Link faults whose incident (the one holding most of the fault) names one of the
    link's two ends first with the link line in its evidence."""
    told = 0
    for group in (g for g, info in probe.groups.items() if info["kind"] == "fault"):
        ends = {a["entity"] for a in probe.alerts if probe.alert_group[a["id"]] == group}
        ids = {a["id"] for a in probe.alerts if probe.alert_group[a["id"]] == group}
        holder = max(incidents, key=lambda i: len(ids & set(i["alert_ids"])))
        first = (holder.get("root_causes") or [{}])[0]
        told += first.get("entity") in ends and any(
            LINK_LINE in line for line in first.get("evidence", []))
    return told


PROBES: dict[str, Callable[..., Probe]] = {
    "links": links, "hypervisors": hypervisors, "storage": storage, "power": power,
    "sites": sites,
    "sites-plain": lambda seed, faults, period=0: sites(seed, faults, period, with_sites=False)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--faults", type=int, default=20)
    parser.add_argument("--probes", default=",".join(PROBES))
    parser.add_argument("--history", type=int, default=0,
                        help="also score an engine trained (aiops train) on this many "
                             "periods of history before the evaluation (same network, "
                             "other faults and noise)")
    args = parser.parse_args(argv)
    chosen = args.probes.split(",")
    unknown = [p for p in chosen if p not in PROBES]
    if unknown or args.faults < 1 or args.history < 0:
        parser.error(f"unknown probes {unknown} (known: {', '.join(PROBES)}), --faults "
                     f"below 1 ({args.faults}) or --history below 0 ({args.history})")
    print("| probe | engine | alerts | incidents | pair F1 | AC@1 | AC@3 | ports named "
          "| links told | p99 placement ms |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in chosen:
        print(f"replaying {name} ...", file=sys.stderr, flush=True)
        probe = PROBES[name](args.seed, args.faults)
        engines: list[tuple[str, CorrelationModel | None]] = [("untrained", None)]
        if args.history:
            history = PROBES[name](args.seed, args.faults * args.history, 1)
            engines.append((f"trained on {len(history.alerts)} alerts", trained(history)))
        for label, model in engines:
            row = measure(probe, model)
            told = f"{row['links_told']} of {args.faults}" if "links_told" in row else "–"
            print(f"| {name} | {label} | {len(probe.alerts)} | {row['incidents']} "
                  f"| {row['pair_f1']:.3f} | {row['ac1']:.3f} | {row['ac3']:.3f} "
                  f"| {row['ports_named']} | {told} | {row['p99_placement_ms']:.2f} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
