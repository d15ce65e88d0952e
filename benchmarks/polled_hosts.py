"""A campus network whose devices log through syslog and whose hosts are polled by Nagios.

Why: real monitoring mixes sources of very different pace. A switch logs LINK_DOWN to
syslog within seconds of a fault; a Nagios host check notices a dead host only after
its next check and its retries, 30 s to 5 minutes later. The correlation benchmark's
half-polled scenarios (``--slow-share``) make some *devices* slow; here every network
device is fast and every host is slow, and a host hangs off one access switch, so a
core failure reaches its hosts two to three hops and minutes away from the first
alarms. This generator writes such a network's history (for ``aiops train``) and an
evaluation period with its ground truth, and scores the engine (untrained and trained)
and OpenNMS ALEC on it with the correlation benchmark's metrics.

The topology is that of the probe in docs/benchmarks.md ("A core failure seen through
slow host checks"): ``core1``—``core2``; ``acc0..acc{N-1}`` on ``core1``, the last
``dual`` of them also on ``core2``; ``hosts`` hosts ``h<i>-<j>`` per access switch.

Faults (each a ground-truth group, root entity named):

* core failure (``core1`` dies silently): every access switch logs LINK_DOWN (0-5 s),
  ``core2`` OSPF_ADJACENCY_DOWN, and the hosts of the single-homed access switches go
  HOST_DOWN when their checks notice;
* access switch failure: the core logs LINK_DOWN on its port (seconds), its hosts go
  HOST_DOWN (checks);
* uplink flap: LINK_DOWN on the access switch and the core, nothing behind it;
* host failure: one HOST_DOWN.

Noise (each alarm its own group): DISK_FULL, LOAD_HIGH on hosts (Nagios), FAN_FAIL and
CONFIG_CHANGED on switches (syslog).

Usage:
    python -m benchmarks.polled_hosts --out DIR [--seed 7] [--history-hours 72]
        [--eval-hours 12] [--evaluate] [--probe FILE]
``--evaluate`` runs the engine untrained and trained (``aiops train`` on the history)
and ALEC on the evaluation period; ``--probe`` replays a file of alerts (such as the
probe's cascade) on the trained engine too and prints its incident count.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from aiops.config import DataDir
from aiops.replay import load_alerts, replay_alerts
from aiops.runtime import open_runtime
from benchmarks.correlation.baselines import Event, alec
from benchmarks.correlation.metrics import Prediction
from benchmarks.correlation.metrics import evaluate as score
from benchmarks.history_training import trained_on_history
from benchmarks.probe_periods import Period, write_periods
from topology.loader import read_topology

START = 1_700_000_000.0 - 4 * 86_400.0  # history starts here; the eval period follows

# Fault rates per hour (the network has 2 cores, 20 access switches, 200 hosts).
CORE_PER_HOUR = 1 / 8.0
ACCESS_PER_HOUR = 1 / 2.0
FLAP_PER_HOUR = 1.0
HOST_PER_HOUR = 2.0
HOST_NOISE_PER_HOUR = 3.0
DEVICE_NOISE_PER_HOUR = 2.0
# Nagios host checks: a dead host is noticed at its next check plus the retries. Each
# host has its own check interval; detection = retries + U(0, interval), 30-300 s.
CHECK_INTERVALS = (60.0, 90.0, 120.0, 270.0)
RETRY_DELAY = 30.0
SYSLOG_DELAY = 5.0  # a switch logs within this many seconds


@dataclass(frozen=True)
class Network:
    """The probe's network: names and adjacency."""

    access: int = 20
    dual: int = 5
    hosts: int = 10

    def switches(self) -> list[str]:
        return [f"acc{i}" for i in range(self.access)]

    def hosts_of(self, switch: int) -> list[str]:
        return [f"h{switch}-{j}" for j in range(self.hosts)]

    def single_homed(self) -> list[int]:
        return list(range(self.access - self.dual))

    def document(self) -> dict[str, Any]:
        """The topology as ``aiops topology import`` reads it."""
        nodes = [{"id": n, "kind": "device", "name": n} for n in ("core1", "core2")]
        edges = [{"source": "core1", "target": "core2", "kind": "connected_to"}]
        for i, switch in enumerate(self.switches()):
            nodes.append({"id": switch, "kind": "device", "name": switch})
            edges.append({"source": switch, "target": "core1", "kind": "connected_to"})
            if i >= self.access - self.dual:
                edges.append({"source": switch, "target": "core2", "kind": "connected_to"})
            for host in self.hosts_of(i):
                nodes.append({"id": host, "kind": "host", "name": host})
                edges.append({"source": host, "target": switch, "kind": "connected_to"})
        return {"nodes": nodes, "edges": edges}


class _Generator:
    def __init__(self, network: Network, seed: int):
        self.net = network
        self.rng = random.Random(seed)
        hosts = [h for i in range(network.access) for h in network.hosts_of(i)]
        self.interval = {h: self.rng.choice(CHECK_INTERVALS) for h in hosts}
        self.hosts = hosts
        self.period = Period()
        # Fixed bounds of the host checks' detection delay instead of each host's own.
        self.detection: tuple[float, float] | None = None
        self._raw: list[tuple[float, str, dict[str, Any]]] = []

    def host_delay(self, host: str) -> float:
        if self.detection is not None:
            return self.rng.uniform(*self.detection)
        return RETRY_DELAY + self.rng.uniform(0.0, self.interval[host])

    def alarm(self, group: str, source: str, name: str, entity: str, at: float,
              severity: str, summary: str, repair: float,
              labels: dict[str, str] | None = None) -> None:
        row: dict[str, Any] = {"source": source, "name": name, "entity": entity,
                               "severity": severity, "summary": summary,
                               "starts_at": round(at, 3), "ends_at": round(at + repair, 3)}
        if labels:
            row["labels"] = labels
        self._raw.append((at, group, row))

    def core(self, group: str, t0: float, repair: float) -> str:
        for switch in self.net.switches():
            self.alarm(group, "syslog", "LINK_DOWN", switch,
                       t0 + self.rng.uniform(0, SYSLOG_DELAY), "major", "uplink down", repair,
                       {"interface": "Te1/1"})
        self.alarm(group, "syslog", "OSPF_ADJACENCY_DOWN", "core2",
                   t0 + self.rng.uniform(0, SYSLOG_DELAY), "major",
                   "OSPF neighbour core1 down", repair)
        for i in self.net.single_homed():
            self._hosts_down(group, i, t0, repair)
        return "core1"

    def access(self, group: str, t0: float, repair: float) -> str:
        i = self.rng.randrange(self.net.access)
        self.alarm(group, "syslog", "LINK_DOWN", "core1", t0 + self.rng.uniform(0, SYSLOG_DELAY),
                   "major", f"port to acc{i} down", repair, {"interface": f"Gi0/{i}"})
        if i >= self.net.access - self.net.dual:
            self.alarm(group, "syslog", "LINK_DOWN", "core2",
                       t0 + self.rng.uniform(0, SYSLOG_DELAY), "major", f"port to acc{i} down",
                       repair, {"interface": f"Gi0/{i}"})
        self._hosts_down(group, i, t0, repair)
        return f"acc{i}"

    def flap(self, group: str, t0: float, repair: float) -> str:
        i = self.rng.randrange(self.net.access)
        self.alarm(group, "syslog", "LINK_DOWN", f"acc{i}", t0 + self.rng.uniform(0, 2),
                   "major", "uplink down", repair, {"interface": "Te1/1"})
        self.alarm(group, "syslog", "LINK_DOWN", "core1", t0 + self.rng.uniform(0, 2),
                   "major", f"port to acc{i} down", repair, {"interface": f"Gi0/{i}"})
        return f"acc{i}"

    def host(self, group: str, t0: float, repair: float) -> str:
        host = self.rng.choice(self.hosts)
        self.alarm(group, "nagios", "HOST_DOWN", host, t0 + self.host_delay(host), "critical",
                   "PING CRITICAL - Packet loss = 100%", repair)
        return host

    def _hosts_down(self, group: str, switch: int, t0: float, repair: float) -> None:
        for host in self.net.hosts_of(switch):
            self.alarm(group, "nagios", "HOST_DOWN", host, t0 + self.host_delay(host),
                       "critical", "PING CRITICAL - Packet loss = 100%", repair)

    def noise(self, group: str, t0: float) -> None:
        if self.rng.random() < HOST_NOISE_PER_HOUR / (HOST_NOISE_PER_HOUR + DEVICE_NOISE_PER_HOUR):
            host = self.rng.choice(self.hosts)
            name, summary = self.rng.choice((("DISK_FULL", "DISK WARNING /var 91%"),
                                             ("LOAD_HIGH", "LOAD WARNING load average 12.1")))
            self.alarm(group, "nagios", name, host, t0, "warning", summary,
                       self.rng.uniform(600, 3600))
        else:
            device = self.rng.choice(["core1", "core2", *self.net.switches()])
            name, summary = self.rng.choice((("FAN_FAIL", "fan tray 1 failed"),
                                             ("CONFIG_CHANGED", "configured from console")))
            self.alarm(group, "syslog", name, device, t0, "minor", summary,
                       self.rng.uniform(60, 1800))

    def run(self, start: float, hours: float, prefix: str) -> Period:
        """Poisson arrivals of every kind over ``hours``; alarms numbered in time order."""
        end = start + hours * 3600.0
        kinds = ((CORE_PER_HOUR, self.core), (ACCESS_PER_HOUR, self.access),
                 (FLAP_PER_HOUR, self.flap), (HOST_PER_HOUR, self.host))
        for rate, make in kinds:
            t = start + self.rng.expovariate(rate / 3600.0)
            while t < end:
                group = f"{prefix}-{make.__name__}-{len(self.period.groups)}"
                repair = self.rng.uniform(900, 3600)
                root = make(group, t, repair)
                self.period.groups[group] = {"kind": "fault", "root_entity": root,
                                             "silent": make.__name__ == "core"}
                t += self.rng.expovariate(rate / 3600.0)
        t = start + self.rng.expovariate((HOST_NOISE_PER_HOUR + DEVICE_NOISE_PER_HOUR) / 3600.0)
        while t < end:
            group = f"{prefix}-noise-{len(self.period.groups)}"
            self.noise(group, t)
            self.period.groups[group] = {"kind": "background"}
            t += self.rng.expovariate((HOST_NOISE_PER_HOUR + DEVICE_NOISE_PER_HOUR) / 3600.0)
        return self.numbered(prefix)

    def numbered(self, prefix: str) -> Period:
        """The period with its alarms given ids in time order (ids leak nothing of the
        truth); the generator starts a new one."""
        for n, (_, group, row) in enumerate(sorted(self._raw, key=lambda r: r[0])):
            row["id"] = f"{prefix}{n}"
            self.period.alerts.append(row)
            self.period.alert_group[row["id"]] = group
        period, self.period, self._raw = self.period, Period(), []
        return period


def generate(seed: int, history_hours: float, eval_hours: float,
             network: Network | None = None) -> tuple[Network, Period, Period]:
    """The network, its history and the evaluation period right after it."""
    net = network or Network()
    gen = _Generator(net, seed)
    history = gen.run(START, history_hours, "h")
    evaluation = gen.run(START + history_hours * 3600.0, eval_hours, "e")
    return net, history, evaluation


def core_failure(seed: int, at: float = 1_700_000_000.0,
                 detection: tuple[float, float] = (30.0, 120.0),
                 network: Network | None = None) -> Period:
    """One core failure alone, its hosts noticed ``detection`` seconds after it (the
    probe of docs/benchmarks.md, "A core failure seen through slow host checks")."""
    gen = _Generator(network or Network(), seed)
    gen.detection = detection
    gen.period.groups["core"] = {"kind": "fault", "root_entity": gen.core("core", at, 1800.0),
                                 "silent": True}
    return gen.numbered("c")


def write(out: Path, net: Network, history: Period, evaluation: Period) -> dict[str, Path]:
    return write_periods(out, net.document(), history, evaluation)


def evaluate(paths: dict[str, Path], evaluation: Period, net: Network,
             probe: Path | None = None) -> dict[str, Any]:
    """Scores of the engine untrained and trained, and ALEC, on the evaluation period;
    the trained model's time scales; the probe's incident count per engine variant."""
    def prediction(document: dict[str, Any]) -> Prediction:
        incidents = document["incidents"]
        return Prediction(groups=[list(i["alert_ids"]) for i in incidents],
                          root_causes=[[rc["entity"] for rc in i.get("root_causes") or []]
                                       for i in incidents])

    def replay(alerts_path: Path, model: Any) -> dict[str, Any]:
        """``alerts_path`` replayed on a fresh data dir (with ``model`` if not None);
        the incidents document and the scale the engine used."""
        with tempfile.TemporaryDirectory(prefix="aiops-polled-") as work:
            runtime = open_runtime(DataDir(path=Path(work)))
            try:
                nodes, edges = read_topology(paths["topology"])
                runtime.import_topology(nodes, edges, source="benchmark")
                if model is not None:
                    runtime.use_model(model)
                document = replay_alerts(runtime, load_alerts(alerts_path), None)
                document["time_scale"] = runtime.engine.stats()["time_scale"]
                return document
            finally:
                runtime.close()

    results: dict[str, Any] = {}
    truth = evaluation.truth()
    for variant in ("untrained", "trained"):
        model, row = None, {}
        if variant == "trained":
            model, meta = trained_on_history(paths["topology"], paths["history"],
                                             "aiops-polled-")
            row["learned"] = meta.get("time_scale")
        document = replay(paths["eval"], model)
        predicted = prediction(document)
        row.update(score(predicted, truth))
        row["pieces_per_fault"] = pieces_per_fault(predicted.groups, truth)
        row["incidents"] = len(document["incidents"])
        row["time_scale"] = document["time_scale"]
        if probe is not None:
            row["probe_incidents"] = sorted(
                (len(i["alert_ids"]) for i in replay(probe, model)["incidents"]), reverse=True)
        results[variant] = row
    graph = nx.Graph()
    document = net.document()
    graph.add_edges_from((e["source"], e["target"]) for e in document["edges"])
    events = [Event(a["id"], a["entity"], a["starts_at"]) for a in evaluation.alerts]
    predicted = alec(events, graph)
    results["alec"] = score(predicted, truth)
    results["alec"]["pieces_per_fault"] = pieces_per_fault(predicted.groups, truth)
    results["alec"]["incidents"] = results["alec"]["groups"]
    return results


def pieces_per_fault(groups: list[list[str]], truth: dict[str, Any]) -> float:
    """Over the faults of ``truth``: how many predicted groups hold a fault's alarms, on
    average (1.0: every fault is one incident, whatever else joined it)."""
    where = {alert_id: n for n, group in enumerate(groups) for alert_id in group}
    pieces: dict[str, set[object]] = {}  # a missing alert is a piece of its own
    for alert_id, group in truth["alerts"].items():
        if truth["groups"][group]["kind"] == "fault":
            pieces.setdefault(group, set()).add(where.get(alert_id, alert_id))
    return sum(map(len, pieces.values())) / len(pieces) if pieces else 0.0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the files")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--history-hours", type=float, default=72.0)
    parser.add_argument("--eval-hours", type=float, default=12.0)
    parser.add_argument("--evaluate", action="store_true",
                        help="score the engine (untrained, trained) and ALEC")
    parser.add_argument("--probe", type=Path, help="alerts to replay on each engine variant")
    args = parser.parse_args(argv)
    if args.history_hours <= 0 or args.eval_hours <= 0:
        parser.error("--history-hours and --eval-hours must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    net, history, evaluation = generate(args.seed, args.history_hours, args.eval_hours)
    paths = write(args.out, net, history, evaluation)
    print(f"history {len(history.alerts)} alerts, {len(history.groups)} groups; "
          f"eval {len(evaluation.alerts)} alerts, {len(evaluation.groups)} groups "
          f"({sum(g['kind'] == 'fault' for g in evaluation.groups.values())} faults)")
    if not args.evaluate:
        return 0
    results = evaluate(paths, evaluation, net, args.probe)
    for method, row in results.items():
        extra = f" time_scale {row['time_scale']}" if "time_scale" in row else ""
        extra += f" learned {row['learned']}" if "learned" in row else ""
        probe = f" probe {row['probe_incidents']}" if "probe_incidents" in row else ""
        print(f"{method:10s} pair F1 {row['f1']:.3f} P {row['precision']:.3f} "
              f"R {row['recall']:.3f} AC@1 {row['ac1']:.3f} AC@3 {row['ac3']:.3f} "
              f"incidents {row['incidents']} / groups {row['true_groups']}, "
              f"{row['pieces_per_fault']:.2f} per fault{extra}{probe}")
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str),
                                           encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
