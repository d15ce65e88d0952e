"""A Kubernetes cluster alerted by kube-prometheus: a node dies, a rollout goes bad.

Why: a Kubernetes fault reaches the engine as Prometheus rules see it, not as a
network device logs it. The alerts come minutes late (every rule has a ``for:``), they
are about objects the cluster names in its own way (``namespace`` + ``pod``, a
``deployment``, a ``node``), and most of them are computed from kube-state-metrics,
whose own address is in every alert's ``instance`` label. This generator writes such a
cluster's topology (as ``topology/discovery/kubernetes.py`` discovers it from
``kubectl get -o json`` output), a history (for ``aiops train``) and an evaluation
period with its ground truth; every alert is an Alertmanager alert made canonical by
the Alertmanager connector (``connectors/alertmanager.py``), as a webhook delivers it.

The cluster: ``nodes`` workers ``worker-<i>``; in namespace ``shop`` 15 deployments of
2-4 replicas on distinct nodes, a Service of the same name selecting each; in
``monitoring`` kube-state-metrics (one replica, on ``worker-1``) and node-exporter
(a DaemonSet on the host network) with their Services; in ``kube-system`` the
``kubelet`` Service (endpoints kept by the Prometheus operator: no selector).

Rules (names, labels and ``for:`` as in the kubernetes-mixin that kube-prometheus
ships; kube-state-metrics scraped with ``honorLabels`` and its target's ``pod``,
``service``, ``endpoint`` and ``namespace`` labels dropped, so its alerts keep the
subject's ``namespace``/``pod`` and the exporter's ``instance``, ``job`` and, on
object metrics, ``container``). An alert starts when it starts firing (after its
``for:``) and ends when the condition clears.

Faults (each a ground-truth group, root entity named as the topology's node id):

* node failure (not ``worker-1``): the node stops; NotReady and the ``unreachable``
  taint 40 s later (``KubeNodeNotReady``, ``KubeNodeUnreachable``: ``for: 15m``);
  ``TargetDown`` for the ``node-exporter`` and ``kubelet`` jobs (``for: 10m``; one
  alert per job, labels ``job``, ``namespace``, ``service``); the node's pods are
  evicted 5 minutes after NotReady and replaced elsewhere, a share of the
  replacements stay Pending for want of room (``KubePodNotReady``, ``for: 15m``, on
  a pod name the topology has never seen) and their deployments stay short
  (``KubeDeploymentReplicasMismatch``, ``for: 15m``); a Service that lost half its
  replicas answers errors (``ServiceHighErrorRate``, a site rule, ``for: 5m``,
  labels ``namespace``, ``service``);
* bad rollout of one deployment: the new ReplicaSet's surge pod crash-loops
  (``KubePodCrashLooping``, ``for: 15m``), the rollout passes its progress deadline
  (``KubeDeploymentRolloutStuck``, 10 min + ``for: 15m``), a deployment of 4 replicas
  is one short (``KubeDeploymentReplicasMismatch``); rolled back 20-60 min later.

Noise (each alert its own group): ``CPUThrottlingHigh`` on a pod,
``NodeFilesystemSpaceFillingUp`` (node-exporter: ``instance`` is the node's name, as
kube-prometheus relabels it), ``KubeHpaMaxedOut`` (kube-state-metrics), and a
``ServiceHighErrorRate`` of a Service nothing else is wrong with.

Usage:
    python -m benchmarks.k8s_node_failure --out DIR [--seed 1] [--history-hours 96]
        [--eval-hours 24] [--nodes 6] [--evaluate] [--force-scale S] [--onsets]
``--evaluate`` scores the engine untrained and trained (``aiops train`` on the
history); ``--force-scale`` also replays with the trained model's time scale forced;
``--onsets`` stamps every alert when its condition began rather than when its rule
started firing (what knowing each rule's ``for:`` would give). docs/benchmarks.md,
"A Kubernetes node failure through kube-prometheus' alerts", has the numbers.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from aiops.config import DataDir
from aiops.replay import load_alerts, replay_alerts
from aiops.runtime import open_runtime
from aiops.store.tables import incidents
from benchmarks.correlation.metrics import Prediction
from benchmarks.correlation.metrics import evaluate as score
from benchmarks.history_training import trained_on_history
from benchmarks.probe_periods import Period, write_periods
from connectors.alertmanager import alert_from_am
from topology.discovery.kubernetes import KubernetesConnector
from topology.loader import read_topology
from topology.resolve import EntityResolver

START = 1_700_000_000.0 - 4 * 86_400.0  # history starts here; the eval period follows
DEPLOYMENTS = ("frontend", "cart", "checkout", "payment", "catalog", "search", "recommend",
               "shipping", "email", "currency", "ads", "reviews", "auth", "inventory",
               "pricing")
APP_NS = "shop"
MON_NS = "monitoring"
KSM_NODE = 1  # kube-state-metrics runs on worker-1, which never fails here
KSM_INSTANCE = "10.244.1.250:8443"
HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of Kubernetes' name suffixes

NODE_PER_HOUR = 1 / 6.0
ROLLOUT_PER_HOUR = 1 / 2.0
NOISE_PER_HOUR = 4.0
PENDING_SHARE = 0.35  # replacements of an evicted pod that find no room
ERROR_RATE_SHARE = 0.7  # Services left with half their replicas that answer errors

GRACE = 40.0  # node-monitor-grace-period: NotReady and the unreachable taint
EVICTION = 300.0  # the default tolerationSeconds for not-ready / unreachable
PROGRESS_DEADLINE = 600.0  # a Deployment's progressDeadlineSeconds
MINUTE = 60.0
# Each rule's ``for:`` (kubernetes-mixin; ServiceHighErrorRate a site rule): with
# ``--onsets`` alerts are stamped when their condition began (Prometheus' ``activeAt``)
# instead of when they started firing, to measure what knowing the delay would give.
HOLD = {"KubeNodeNotReady": 900.0, "KubeNodeUnreachable": 900.0, "TargetDown": 600.0,
        "KubePodNotReady": 900.0, "KubeDeploymentReplicasMismatch": 900.0,
        "KubePodCrashLooping": 900.0, "KubeDeploymentRolloutStuck": 900.0,
        "ServiceHighErrorRate": 300.0, "CPUThrottlingHigh": 900.0,
        "NodeFilesystemSpaceFillingUp": 3600.0, "KubeHpaMaxedOut": 900.0}


def _suffix(rng: random.Random, length: int) -> str:
    return "".join(rng.choice(HASH_ALPHABET) for _ in range(length))


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")


@dataclass
class Cluster:
    """The cluster's objects: which pods each deployment has on which node."""

    nodes: int
    replicas: dict[str, int]
    pods: dict[str, list[tuple[str, int]]]  # deployment -> [(pod name, node index)]
    template_hash: dict[str, str]

    @classmethod
    def build(cls, rng: random.Random, nodes: int = 6) -> Cluster:
        if nodes < 5:
            raise ValueError("the cluster needs at least 5 nodes (4 replicas on distinct "
                             "nodes, and worker-1 never fails)")
        replicas = {d: rng.randint(2, 4) for d in DEPLOYMENTS}
        template_hash = {d: _suffix(rng, 10) for d in DEPLOYMENTS}
        pods = {d: [(f"{d}-{template_hash[d]}-{_suffix(rng, 5)}", n)
                    for n in sorted(rng.sample(range(1, nodes + 1), replicas[d]))]
                for d in DEPLOYMENTS}
        return cls(nodes, replicas, pods, template_hash)

    def node_name(self, index: int) -> str:
        return f"worker-{index}"

    def kubectl(self) -> dict[str, Any]:
        """The objects as ``kubectl get nodes,pods,services,deployments -A -o json``."""
        items: list[dict[str, Any]] = []
        for i in range(1, self.nodes + 1):
            items.append({"kind": "Node", "metadata": {
                "name": self.node_name(i), "labels": {"node-role.kubernetes.io/worker": ""}},
                "status": {"addresses": [{"type": "InternalIP", "address": f"10.0.1.{i}"}]}})
        for d in DEPLOYMENTS:
            items.append(self._deployment(APP_NS, d, self.replicas[d]))
            items.append(self._service(APP_NS, d, {"app": d}))
            for n, (pod, node) in enumerate(self.pods[d]):
                items.append(self._pod(APP_NS, pod, node, {"app": d}, f"10.244.{node}.{n + 10}",
                                       owner=("ReplicaSet", f"{d}-{self.template_hash[d]}"),
                                       template_hash=self.template_hash[d]))
        ksm_hash = "5d8f7c9b6d"
        items.append(self._deployment(MON_NS, "kube-state-metrics", 1))
        items.append(self._pod(MON_NS, f"kube-state-metrics-{ksm_hash}-x7kqp", KSM_NODE,
                               {"app.kubernetes.io/name": "kube-state-metrics"},
                               KSM_INSTANCE.split(":")[0],
                               owner=("ReplicaSet", f"kube-state-metrics-{ksm_hash}"),
                               template_hash=ksm_hash))
        items.append(self._service(MON_NS, "kube-state-metrics",
                                   {"app.kubernetes.io/name": "kube-state-metrics"}))
        for i in range(1, self.nodes + 1):
            items.append(self._pod(MON_NS, self.node_exporter(i), i,
                                   {"app.kubernetes.io/name": "node-exporter"}, f"10.0.1.{i}",
                                   owner=("DaemonSet", "node-exporter"), host_network=True))
        items.append(self._service(MON_NS, "node-exporter",
                                   {"app.kubernetes.io/name": "node-exporter"}))
        items.append(self._service("kube-system", "kubelet", None))
        return {"apiVersion": "v1", "kind": "List", "items": items}

    def node_exporter(self, index: int) -> str:
        return f"node-exporter-{'abcdefghjk'[index % 10]}{index}q{index}z"

    @staticmethod
    def _deployment(ns: str, name: str, replicas: int) -> dict[str, Any]:
        return {"kind": "Deployment", "metadata": {"name": name, "namespace": ns},
                "spec": {"replicas": replicas}}

    @staticmethod
    def _service(ns: str, name: str, selector: dict[str, str] | None) -> dict[str, Any]:
        spec: dict[str, Any] = {"type": "ClusterIP",
                                "clusterIP": "None" if selector is None else
                                f"10.96.{len(ns)}.{len(name)}"}
        if selector is not None:
            spec["selector"] = selector
        return {"kind": "Service", "metadata": {"name": name, "namespace": ns}, "spec": spec}

    def _pod(self, ns: str, name: str, node: int, labels: dict[str, str], ip: str,
             owner: tuple[str, str], template_hash: str | None = None,
             host_network: bool = False) -> dict[str, Any]:
        labels = dict(labels)
        if template_hash:
            labels["pod-template-hash"] = template_hash
        return {"kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": labels,
                             "ownerReferences": [{"kind": owner[0], "name": owner[1]}]},
                "spec": {"nodeName": self.node_name(node), "hostNetwork": host_network},
                "status": {"phase": "Running", "podIP": ip}}


KSM_LABELS = {"job": "kube-state-metrics", "instance": KSM_INSTANCE}


class _Generator:
    def __init__(self, cluster: Cluster, seed: int, onsets: bool = False):
        self.cluster = cluster
        self.onsets = onsets
        self.rng = random.Random(seed)
        self.period = Period()
        self._raw: list[tuple[float, str, dict[str, Any]]] = []

    def alert(self, group: str, name: str, labels: dict[str, str], fires: float,
              clears: float, summary: str, severity: str = "warning") -> None:
        """An Alertmanager alert firing from ``fires`` to ``clears``; none when the
        condition cleared before the rule's ``for:`` ran out."""
        if fires >= clears:
            return
        if self.onsets:
            fires -= HOLD[name]
        obj = {"status": "resolved", "labels": {"alertname": name, "severity": severity,
                                                 **labels},
               "annotations": {"summary": summary},
               "startsAt": _rfc3339(round(fires, 3)), "endsAt": _rfc3339(round(clears, 3))}
        self._raw.append((fires, group, obj))

    def _eval_delay(self) -> float:
        """Scrape (30 s) and rule evaluation (30 s) intervals between a change and the
        rule seeing it."""
        return self.rng.uniform(0, 30) + self.rng.uniform(0, 30)

    def node_failure(self, group: str, t0: float, repair: float) -> str:
        c = self.cluster
        index = self.rng.randint(2, c.nodes)
        node = c.node_name(index)
        back = t0 + repair
        not_ready = t0 + GRACE
        ksm = {**KSM_LABELS, "container": "kube-rbac-proxy-main"}
        self.alert(group, "KubeNodeNotReady",
                   {"node": node, "condition": "Ready", "status": "true", **ksm},
                   not_ready + self._eval_delay() + 15 * MINUTE, back + self._eval_delay(),
                   f"Node {node} is not ready.")
        self.alert(group, "KubeNodeUnreachable",
                   {"node": node, "key": "node.kubernetes.io/unreachable",
                    "effect": "NoSchedule", **ksm},
                   not_ready + self._eval_delay() + 15 * MINUTE, back + self._eval_delay(),
                   f"Node {node} is unreachable and some workloads may be rescheduled.")
        for job, ns in (("node-exporter", MON_NS), ("kubelet", "kube-system")):
            self.alert(group, "TargetDown", {"job": job, "namespace": ns, "service": job},
                       t0 + self._eval_delay() + 10 * MINUTE, back + self._eval_delay(),
                       f"{100 / c.nodes:.3g}% of the {job}/{job} targets in {ns} namespace "
                       "are down.")
        evicted = not_ready + EVICTION
        for deployment in DEPLOYMENTS:
            lost = [pod for pod, where in c.pods[deployment] if where == index]
            if not lost:
                continue
            short = False
            for _ in lost:
                if self.rng.random() >= PENDING_SHARE:
                    continue
                short = True
                pod = f"{deployment}-{c.template_hash[deployment]}-{_suffix(self.rng, 5)}"
                self.alert(group, "KubePodNotReady", {"namespace": APP_NS, "pod": pod},
                           evicted + self._eval_delay() + 15 * MINUTE,
                           back + self._eval_delay(),
                           f"Pod {APP_NS}/{pod} has been in a non-ready state for longer "
                           "than 15 minutes.")
            if short:
                self.alert(group, "KubeDeploymentReplicasMismatch",
                           {"deployment": deployment, "namespace": APP_NS, **ksm},
                           not_ready + self._eval_delay() + 15 * MINUTE,
                           back + self._eval_delay(),
                           f"Deployment {APP_NS}/{deployment} has not matched the expected "
                           "number of replicas for longer than 15 minutes.")
            if c.replicas[deployment] == 2 and self.rng.random() < ERROR_RATE_SHARE:
                self.alert(group, "ServiceHighErrorRate",
                           {"namespace": APP_NS, "service": deployment},
                           t0 + self.rng.uniform(30, 90) + 5 * MINUTE,
                           not_ready + EVICTION + self.rng.uniform(60, 180),
                           f"Service {APP_NS}/{deployment} answers more than 5% errors.",
                           "critical")
        return node

    def rollout(self, group: str, t0: float, repair: float) -> str:
        c = self.cluster
        deployment = self.rng.choice(DEPLOYMENTS)
        new_hash = _suffix(self.rng, 10)
        pod = f"{deployment}-{new_hash}-{_suffix(self.rng, 5)}"
        back = t0 + repair
        ksm = {**KSM_LABELS, "container": "kube-rbac-proxy-main"}
        self.alert(group, "KubePodCrashLooping",
                   {"namespace": APP_NS, "pod": pod, "container": deployment,
                    "reason": "CrashLoopBackOff", "uid": f"{_suffix(self.rng, 8)}-"
                    f"{_suffix(self.rng, 4)}", **KSM_LABELS},
                   t0 + self.rng.uniform(20, 60) + self._eval_delay() + 15 * MINUTE,
                   back + self._eval_delay(),
                   f"Pod {APP_NS}/{pod} ({deployment}) is in waiting state (reason: "
                   "\"CrashLoopBackOff\").")
        self.alert(group, "KubeDeploymentRolloutStuck",
                   {"deployment": deployment, "namespace": APP_NS, "condition": "Progressing",
                    "status": "false", **ksm},
                   t0 + PROGRESS_DEADLINE + self._eval_delay() + 15 * MINUTE,
                   back + self._eval_delay(),
                   f"Rollout of deployment {APP_NS}/{deployment} is not progressing for "
                   "longer than 15 minutes.")
        if c.replicas[deployment] >= 4:  # maxUnavailable 25% rounds down to 0 below 4
            self.alert(group, "KubeDeploymentReplicasMismatch",
                       {"deployment": deployment, "namespace": APP_NS, **ksm},
                       t0 + self._eval_delay() + 15 * MINUTE, back + self._eval_delay(),
                       f"Deployment {APP_NS}/{deployment} has not matched the expected "
                       "number of replicas for longer than 15 minutes.")
        return f"deploy/{APP_NS}/{deployment}"

    def noise(self, group: str, t0: float) -> None:
        c = self.cluster
        kind = self.rng.randrange(4)
        clears = t0 + self.rng.uniform(5 * MINUTE, 60 * MINUTE)
        deployment = self.rng.choice(DEPLOYMENTS)
        if kind == 0:
            pod, _ = self.rng.choice(c.pods[deployment])
            self.alert(group, "CPUThrottlingHigh",
                       {"namespace": APP_NS, "pod": pod, "container": deployment}, t0, clears,
                       f"{self.rng.randint(26, 60)}% throttling of CPU in namespace {APP_NS} "
                       f"for container {deployment} in pod {pod}.", "info")
        elif kind == 1:
            index = self.rng.randint(1, c.nodes)
            self.alert(group, "NodeFilesystemSpaceFillingUp",
                       {"instance": c.node_name(index), "job": "node-exporter",
                        "namespace": MON_NS, "pod": c.node_exporter(index),
                        "service": "node-exporter", "container": "node-exporter",
                        "endpoint": "https", "device": "/dev/nvme0n1p1", "fstype": "xfs",
                        "mountpoint": "/"}, t0, clears,
                       "Filesystem is predicted to run out of space within the next 24 hours.")
        elif kind == 2:
            self.alert(group, "KubeHpaMaxedOut",
                       {"horizontalpodautoscaler": deployment, "namespace": APP_NS,
                        **KSM_LABELS, "container": "kube-rbac-proxy-main"}, t0, clears,
                       f"HPA {APP_NS}/{deployment} has been running at max replicas for "
                       "longer than 15 minutes.")
        else:
            self.alert(group, "ServiceHighErrorRate", {"namespace": APP_NS, "service": deployment},
                       t0, t0 + self.rng.uniform(5 * MINUTE, 20 * MINUTE),
                       f"Service {APP_NS}/{deployment} answers more than 5% errors.",
                       "critical")

    def run(self, start: float, hours: float, prefix: str) -> Period:
        """Poisson arrivals of every kind over ``hours``."""
        end = start + hours * 3600.0
        for rate, make in ((NODE_PER_HOUR, self.node_failure),
                           (ROLLOUT_PER_HOUR, self.rollout)):
            t = start + self.rng.expovariate(rate / 3600.0)
            while t < end:
                group = f"{prefix}-{make.__name__}-{len(self.period.groups)}"
                root = make(group, t, self.rng.uniform(30 * MINUTE, 90 * MINUTE))
                self.period.groups[group] = {"kind": "fault", "root_entity": root,
                                             "fault": make.__name__}
                t += self.rng.expovariate(rate / 3600.0)
        t = start + self.rng.expovariate(NOISE_PER_HOUR / 3600.0)
        while t < end:
            group = f"{prefix}-noise-{len(self.period.groups)}"
            self.noise(group, t)
            self.period.groups[group] = {"kind": "background"}
            t += self.rng.expovariate(NOISE_PER_HOUR / 3600.0)
        return self.canonical()

    def canonical(self) -> Period:
        """The period's alerts through the Alertmanager connector, in firing order;
        groups left without alerts (every rule cleared before its ``for:``) dropped."""
        period, self.period = self.period, Period()
        for _, group, obj in sorted(self._raw, key=lambda r: r[0]):
            alert = alert_from_am(obj, f"{group} {obj['labels']['alertname']}")
            if alert.id in period.alert_group:
                raise ValueError(f"two alerts with the id {alert.id}")
            period.alerts.append(alert.to_dict())
            period.alert_group[alert.id] = group
        used = set(period.alert_group.values())
        period.groups = {g: v for g, v in period.groups.items() if g in used}
        self._raw = []
        return period


def generate(seed: int, history_hours: float, eval_hours: float, nodes: int = 6,
             onsets: bool = False) -> tuple[Cluster, Period, Period]:
    """The cluster, its history and the evaluation period right after it."""
    rng = random.Random(seed)
    cluster = Cluster.build(rng, nodes)
    gen = _Generator(cluster, seed, onsets)
    history = gen.run(START, history_hours, "h")
    evaluation = gen.run(START + history_hours * 3600.0, eval_hours, "e")
    return cluster, history, evaluation


def small_case(seed: int, at: float = 1_700_000_000.0,
               nodes: int = 6) -> tuple[Cluster, Period]:
    """One node failure, then two bad rollouts an hour apart, with ten noise alerts
    over the three hours: the integration test's case."""
    rng = random.Random(seed)
    cluster = Cluster.build(rng, nodes)
    gen = _Generator(cluster, seed)
    for n, (make, t0) in enumerate(((gen.node_failure, at), (gen.rollout, at + 3600.0),
                                    (gen.rollout, at + 7200.0))):
        group = f"{make.__name__}-{n}"
        gen.period.groups[group] = {"kind": "fault", "fault": make.__name__,
                                    "root_entity": make(group, t0, 2400.0)}
    for n in range(10):
        group = f"noise-{n}"
        gen.noise(group, at + gen.rng.uniform(0.0, 3 * 3600.0))
        gen.period.groups[group] = {"kind": "background"}
    return cluster, gen.canonical()


def write(out: Path, cluster: Cluster, history: Period, evaluation: Period) -> dict[str, Path]:
    """The kubectl output, the topology discovered from it, the alerts and the truth."""
    out.mkdir(parents=True, exist_ok=True)
    kubectl = out / "kubectl.json"
    kubectl.write_text(json.dumps(cluster.kubectl()), encoding="utf-8")
    found = KubernetesConnector(files=[str(kubectl)]).collect()
    topology = {"nodes": [n.to_dict() for n in found.nodes],
                "edges": [e.to_dict() for e in found.edges]}
    return {"kubectl": kubectl, **write_periods(out, topology, history, evaluation)}


def placement(paths: dict[str, Path], period: Period) -> dict[str, Counter[str]]:
    """Per alert name: the kinds of topology node its alerts resolve to (``-`` for none),
    by the resolver the engine uses."""
    nodes, _ = read_topology(paths["topology"])
    kinds = {n.id: n.kind for n in nodes}
    resolver = EntityResolver(nodes)
    out: dict[str, Counter[str]] = {}
    for alert in period.alerts:
        node = resolver.resolve(alert["entity"])
        where = "-" if node is None else kinds[node]
        if node == KSM_POD_ID:
            where = "kube-state-metrics pod"
        out.setdefault(alert["name"], Counter())[where] += 1
    return out


KSM_POD_ID = f"pod/{MON_NS}/kube-state-metrics-5d8f7c9b6d-x7kqp"


def pieces_per_fault(groups: list[list[str]], truth: dict[str, Any]) -> dict[str, float]:
    """Per fault kind: how many predicted groups hold a fault's alerts, on average."""
    where = {alert_id: n for n, group in enumerate(groups) for alert_id in group}
    pieces: dict[str, set[object]] = {}
    for alert_id, group in truth["alerts"].items():
        if truth["groups"][group]["kind"] == "fault":
            pieces.setdefault(group, set()).add(where.get(alert_id, alert_id))
    by_kind: dict[str, list[int]] = {}
    for group, held in pieces.items():
        by_kind.setdefault(truth["groups"][group]["fault"], []).append(len(held))
    return {kind: sum(v) / len(v) for kind, v in sorted(by_kind.items())}


def _root_id(root_cause: dict[str, Any]) -> str:
    """The topology node a named root is (its ``entity`` is the node's display name:
    ``cart`` for both ``deploy/shop/cart`` and ``svc/shop/cart``), or the entity when
    it is no node."""
    return root_cause.get("node_id") or root_cause["entity"]


def _with_node_ids(runtime: Any, document: dict[str, Any]) -> None:
    """Each named root's ``node_id``, from the stored incidents (the replay document
    names roots by display name only, CONTRACTS.md §3)."""
    with runtime.db.connect() as conn:
        stored = dict(conn.execute(sa.select(incidents.c.id, incidents.c.root_causes)).all())
    for incident in document["incidents"]:
        for shown, kept in zip(incident["root_causes"], stored.get(incident["id"]) or [],
                                 strict=False):
            shown["node_id"] = kept.get("node_id")


def roots_named(document: dict[str, Any], truth: dict[str, Any]) -> dict[str, Counter[str]]:
    """Per fault kind: what the incident holding most of a fault's alerts names first
    (``root``: the fault's root entity; ``kind:<node kind or entity>``: something else)."""
    holder: dict[str, dict[str, Any]] = {}
    for incident in document["incidents"]:
        for alert_id in incident["alert_ids"]:
            holder[alert_id] = incident
    out: dict[str, Counter[str]] = {}
    for group, spec in truth["groups"].items():
        if spec["kind"] != "fault":
            continue
        ids = [a for a, g in truth["alerts"].items() if g == group]
        counts = Counter(id(holder[a]) for a in ids if a in holder)
        if not counts:
            continue
        best = next(holder[a] for a in ids if a in holder and id(holder[a]) ==
                    counts.most_common(1)[0][0])
        roots = [_root_id(rc) for rc in best.get("root_causes") or []]
        first = roots[0] if roots else "(none)"
        label = "root" if first == spec["root_entity"] else first.split("/")[0]
        if first.startswith("pod/monitoring/kube-state-metrics"):
            label = "kube-state-metrics pod"
        out.setdefault(spec["fault"], Counter())[label] += 1
    return out


def with_root(document: dict[str, Any], period: Period,
              resolver: EntityResolver) -> dict[str, list[int]]:
    """Per alert name of the faults' alerts: [in the incident of an alert on the fault's
    root (a node's NotReady, a deployment's crash loop), all]."""
    holder = {a: i["id"] for i in document["incidents"] for a in i["alert_ids"]}
    home: dict[str, str] = {}
    for alert in period.alerts:
        group = period.alert_group[alert["id"]]
        spec = period.groups[group]
        if spec["kind"] == "fault" and group not in home and \
                resolver.resolve(alert["entity"]) == spec["root_entity"]:
            home[group] = holder.get(alert["id"], alert["id"])
    out: dict[str, list[int]] = {}
    for alert in period.alerts:
        group = period.alert_group[alert["id"]]
        if period.groups[group]["kind"] != "fault":
            continue
        row = out.setdefault(alert["name"], [0, 0])
        row[0] += holder.get(alert["id"], alert["id"]) == home.get(group)
        row[1] += 1
    return dict(sorted(out.items()))


def evaluate(paths: dict[str, Path], evaluation: Period,
             force_scale: float | None = None) -> dict[str, Any]:
    """Scores of the engine untrained and trained on the evaluation period (and, with
    ``force_scale``, trained with its time scale replaced by that: what a scale would
    do if one were learned)."""
    def replay(model: Any) -> dict[str, Any]:
        with tempfile.TemporaryDirectory(prefix="aiops-k8s-") as work:
            runtime = open_runtime(DataDir(path=Path(work)))
            try:
                nodes, edges = read_topology(paths["topology"])
                runtime.import_topology(nodes, edges, source="benchmark")
                if model is not None:
                    runtime.use_model(model)
                document = replay_alerts(runtime, load_alerts(paths["eval"]), None)
                document["time_scale"] = runtime.engine.stats()["time_scale"]
                _with_node_ids(runtime, document)
                return document
            finally:
                runtime.close()

    results: dict[str, Any] = {"placement": {k: dict(v) for k, v in
                                             placement(paths, evaluation).items()}}
    truth = evaluation.truth()
    variants = ["untrained", "trained"] + (["forced"] if force_scale else [])
    model: Any = None
    for variant in variants:
        row: dict[str, Any] = {}
        if variant == "forced":
            model = dataclasses.replace(model, time_scale=force_scale, source_scales={})
            row["forced_scale"] = force_scale
        elif variant == "trained":
            model, meta = trained_on_history(paths["topology"], paths["history"],
                                             "aiops-k8s-")
            row["learned"] = meta.get("time_scale")
        document = replay(model)
        predicted = Prediction(groups=[list(i["alert_ids"]) for i in document["incidents"]],
                               root_causes=[[_root_id(rc) for rc in i.get("root_causes") or []]
                                            for i in document["incidents"]])
        row.update(score(predicted, truth))
        row["pieces"] = pieces_per_fault(predicted.groups, truth)
        row["roots"] = {k: dict(v) for k, v in roots_named(document, truth).items()}
        row["with_root"] = with_root(document, evaluation,
                                     EntityResolver(read_topology(paths["topology"])[0]))
        row["incidents"] = len(document["incidents"])
        row["time_scale"] = document["time_scale"]
        results[variant] = row
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for the files")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--history-hours", type=float, default=96.0)
    parser.add_argument("--eval-hours", type=float, default=24.0)
    parser.add_argument("--nodes", type=int, default=6)
    parser.add_argument("--force-scale", type=float,
                        help="also replay with the trained model's time scale forced to this")
    parser.add_argument("--onsets", action="store_true",
                        help="stamp alerts at their condition's onset, not after their for:")
    parser.add_argument("--evaluate", action="store_true",
                        help="score the engine, untrained and trained on the history")
    args = parser.parse_args(argv)
    if args.history_hours <= 0 or args.eval_hours <= 0:
        parser.error("--history-hours and --eval-hours must be positive")
    if args.nodes < 5:
        parser.error("--nodes must be at least 5")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    cluster, history, evaluation = generate(args.seed, args.history_hours, args.eval_hours,
                                            args.nodes, args.onsets)
    paths = write(args.out, cluster, history, evaluation)
    faults = Counter(g["fault"] for g in evaluation.groups.values() if g["kind"] == "fault")
    print(f"history {len(history.alerts)} alerts; eval {len(evaluation.alerts)} alerts, "
          f"{len(evaluation.groups)} groups ({dict(faults)})")
    if not args.evaluate:
        return 0
    results = evaluate(paths, evaluation, args.force_scale)
    for name, kinds in sorted(results["placement"].items()):
        print(f"  {name:32s} lands on {kinds}")
    for variant in ("untrained", "trained", "forced"):
        if variant not in results:
            continue
        row = results[variant]
        pieces = ", ".join(f"{k} {v:.2f}" for k, v in row["pieces"].items())
        print(f"{variant:10s} pair F1 {row['f1']:.3f} P {row['precision']:.3f} "
              f"R {row['recall']:.3f} AC@1 {row['ac1']:.3f} AC@3 {row['ac3']:.3f} "
              f"incidents {row['incidents']} / groups {row['true_groups']}; pieces per "
              f"fault: {pieces}; first root named: {row['roots']}; "
              f"time_scale {row['time_scale']}" +
              (f" learned {row['learned']}" if "learned" in row else ""))
        print("  in the root's incident: " + ", ".join(
            f"{name} {n}/{total}" for name, (n, total) in row["with_root"].items()))
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str),
                                           encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
