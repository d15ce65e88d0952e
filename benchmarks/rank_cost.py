"""What a ranking costs, with and without the shadow (``aiops.engine.shadow``).

The ranker runs once per touched incident per batch, so what a ranking costs is
paid on every batch. Timed here, in microseconds per ``CausalTopologyRanker.rank``:

- the core-router outage of ``benchmarks/core_outage.py`` (222 devices, the
  switches' incident of 44 alarming devices);
- every incident of the development scenarios' engine groups, as
  ``benchmarks.rank_breakdown`` caches them (its ``--cache``; replayed if missing).

Each in a first pass with a new ranker (every shadow walked once per device) and a
second pass with the same ranker (the engine keeps its ranker while the topology
stands, so a device's shadow is walked once: that is what most batches pay).

Also the same outage on the campus with every link's two ports stored as interface
nodes, as LLDP and NetBox discovery store them (the ranker merges them into their
devices: ``TopologyGraph.device_view``); every fault of the Kubernetes probe's small
case (``benchmarks.k8s_node_failure``: a node failure and two bad rollouts on the
cluster its discovery finds, 88 nodes with pods ``runs_on`` nodes and ``part_of``
deployments), each fault's alerts one incident: the topology where the dependency
share reads chains through a node between (``TopologyGraph.needs``), which the
simulated networks have none of; and the link failures of
``benchmarks.inventory_probes``, whose two ends' alerts name their ports
(``aiops.engine.links``).

With ``--sites N``, also the shadow walk alone (``shadow_of``, uncached) on the
generated network of ``benchmarks.topology_scale`` (1,000 nodes a site: multi-homed
everywhere, so the walk finds nothing cut off and pays its whole budget where the
ball is large), per kind of device.

Each ranking with ``silent_shadow`` at its default and at 0, which skips the shadow entirely
(the ranking as it was before it). The best of ``--repeat`` runs is reported.

Usage: python -m benchmarks.rank_cost [--topologies ba:500] [--seeds 21] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from aiops.engine.rank import CausalTopologyRanker, RankWeights
from aiops.engine.shadow import local_ball, shadow_of
from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.learning.relations import TypeRelations
from aiops.models import parse_alert
from benchmarks.core_outage import campus, core_outage_incident, with_ports
from benchmarks.inventory_probes import links
from benchmarks.k8s_node_failure import small_case
from benchmarks.rank_breakdown import CACHE, cached, configs
from benchmarks.topology_scale import generate as scale_network
from topology.discovery.kubernetes import KubernetesConnector
from topology.graph import TopologyGraph
from topology.model import parse_topology

VARIANTS = {"shadow": RankWeights(), "no shadow": RankWeights(silent_shadow=0.0)}


def best_of(repeat: int, run: Callable[[], int]) -> float:
    """The fewest microseconds per ranking over ``repeat`` runs of ``run`` (which
    returns how many rankings it made)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        rankings = run()
        best = min(best, (time.perf_counter() - start) * 1e6 / max(rankings, 1))
    return best


def per_ranking(records: list[IncidentRecord], topology: TopologyGraph,
                relations: TypeRelations | None, repeat: int) -> dict[str, tuple[float, float]]:
    """Per variant: microseconds per ranking over ``records`` in a first pass with a new
    ranker and in a second pass with the same one. The topology view's own caches
    (neighbours) are warmed first, for both variants alike."""
    for record in records:
        CausalTopologyRanker(topology, relations=relations).rank(record)
    out = {}
    for label, weights in VARIANTS.items():
        def first(weights: RankWeights = weights) -> int:
            ranker = CausalTopologyRanker(topology, relations=relations, weights=weights)
            for record in records:
                ranker.rank(record)
            return len(records)

        kept = CausalTopologyRanker(topology, relations=relations, weights=weights)
        for record in records:
            kept.rank(record)

        def second(ranker: CausalTopologyRanker = kept) -> int:
            for record in records:
                ranker.rank(record)
            return len(records)

        out[label] = (best_of(repeat, first), best_of(repeat, second))
    return out


def k8s_faults(seed: int = 1) -> tuple[list[IncidentRecord], TopologyGraph]:
    """The Kubernetes probe's small case: one incident per fault, of its alerts, on the
    topology the discovery finds in the generated ``kubectl`` output."""
    cluster, period = small_case(seed)
    with tempfile.TemporaryDirectory(prefix="rank-cost-") as work:
        kubectl = Path(work) / "kubectl.json"
        kubectl.write_text(json.dumps(cluster.kubectl()), encoding="utf-8")
        found = KubernetesConnector(files=[str(kubectl)]).collect()
    topology = TopologyGraph(found.nodes, found.edges)
    return fault_incidents(period.alerts, period.alert_group, period.groups, topology), topology


def fault_incidents(alerts: list[dict[str, Any]], alert_group: dict[str, str],
                    groups: dict[str, dict[str, Any]], topology: TopologyGraph
                    ) -> list[IncidentRecord]:
    """One incident per fault of a probe, of its alerts (canonical dicts), resolved on
    ``topology``."""
    records: dict[str, IncidentRecord] = {}
    for k, raw in enumerate(alerts):
        group = alert_group[raw["id"]]
        if groups[group].get("kind") != "fault":
            continue
        record = records.setdefault(group, IncidentRecord(id=group, seq=len(records),
                                                          started_at=0.0, updated_at=0.0))
        alert = parse_alert(raw)
        record.alerts[k] = AlertRecord(id=k, fingerprint=str(k), event=alert,
                                       node_id=topology.resolve(alert.entity),
                                       starts_at=alert.starts_at)
    return list(records.values())


def link_faults(seed: int = 1) -> tuple[list[IncidentRecord], TopologyGraph]:
    """The link failures of ``benchmarks.inventory_probes``, one incident each, on the
    switches discovered with their ports."""
    probe = links(seed, 20)
    topology = TopologyGraph(*parse_topology(probe.topology))
    return fault_incidents(probe.alerts, probe.alert_group, probe.groups, topology), topology


def report(name: str, timings: dict[str, tuple[float, float]]) -> None:
    for label, (first, second) in timings.items():
        print(f"{name}, {label}: first pass {first:,.0f} µs, second pass {second:,.0f} µs "
              "per ranking", flush=True)


def walks(sites: int, per_kind: int, seed: int = 1) -> None:
    """Microseconds per uncached ``shadow_of`` on ``per_kind`` devices of each kind of
    the generated ``sites``-site network, and how many gave up at the budget."""
    topology = TopologyGraph(*parse_topology(scale_network(sites, seed)))
    rnd = random.Random(seed)
    by_kind: dict[str, list[str]] = {}
    for node in topology.nodes.values():
        by_kind.setdefault(node.kind, []).append(node.id)
    for kind, ids in sorted(by_kind.items()):
        chosen = rnd.sample(ids, min(per_kind, len(ids)))
        for node in chosen:  # the view's neighbour cache, as a running engine has it
            local_ball(topology.neighbours, node, 3, 10**9)
        start = time.perf_counter()
        found = [shadow_of(topology, node) for node in chosen]
        took = (time.perf_counter() - start) * 1e6 / len(chosen)
        over = sum(local_ball(topology.neighbours, node, 3, 5000) is None for node in chosen)
        print(f"{len(topology):,}-node network, {kind} ({len(chosen)}): {took:,.0f} µs per "
              f"shadow walk; {over} over the budget; {sum(map(len, found))} nodes in shadows",
              flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topologies", default="ba:500")
    parser.add_argument("--seeds", default="21")
    parser.add_argument("--causal", default="neurips")
    parser.add_argument("--noise", default="high")
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument("--history-hours", type=float, default=24.0)
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sites", type=int, default=0,
                        help="also time the shadow walk on this many sites of the "
                             "topology_scale network (100: 100,000 nodes)")
    parser.add_argument("--walks", type=int, default=200, help="devices per kind, --sites")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    if args.sites < 0 or args.walks < 1:
        parser.error(f"--sites must be at least 0 and --walks at least 1, got "
                     f"{args.sites} and {args.walks}")
    if args.sites:
        walks(args.sites, args.walks)
    report("core-router outage (1 incident, 44 alarming devices)",
           per_ranking([core_outage_incident()], TopologyGraph(*campus()), None, args.repeat))
    report("core-router outage on the campus with its 452 ports stored as discovery "
           "stores them", per_ranking([core_outage_incident()],
                                      TopologyGraph(*with_ports(*campus())), None, args.repeat))
    faults, switches = link_faults()
    report(f"link failures ({len(faults)} incidents, switches with their ports)",
           per_ranking(faults, switches, None, args.repeat))
    faults, cluster = k8s_faults()
    report(f"Kubernetes faults ({len(faults)} incidents, {len(cluster)}-node cluster)",
           per_ranking(faults, cluster, None, args.repeat))
    for name, config in configs(args.topologies, args.seeds, args.causal, args.noise,
                                args.hours, args.history_hours):
        replayed = cached(name, config, args.cache)
        records = []
        for row, (incident_id, _, alerts) in enumerate(replayed.incidents):
            if alerts:
                record = IncidentRecord(id=incident_id, seq=row, started_at=0.0, updated_at=0.0)
                record.alerts = {a.id: a for a in alerts}
                records.append(record)
        report(f"{name} ({len(records)} incidents)",
               per_ranking(records, replayed.topology, replayed.relations, args.repeat))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
