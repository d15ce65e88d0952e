"""Text templates on a realistic alert stream: how many the text model must embed.

Why: the correlator embeds alert text once per template (``aiops/learning/templates.py``),
and one new template costs milliseconds of MiniLM. The other benchmarks' simulated
texts (``ALM_<i> on <device>``) share one template per type, so they never show what
real texts cost: Kubernetes pod names with random suffixes, host names, namespaces,
users, mount points and interface names each make a new template unless masked.

The stream keeps the ingestion benchmark's shape (``benchmarks/ingest.py``: bursts of
alarms around a failing device of the demo topology, 20% re-sends) and replaces each
alert's type, summary and labels by one of the kinds below, written in our own words
after the summaries of widely used public rules (kubernetes-mixin, node-exporter
mixin, blackbox exporter, Cisco IOS syslog, sshd) with the same shape of variable
parts: pods ``<deployment>-<9–10 chars>-<5 chars>`` from the Kubernetes name
alphabet, StatefulSet pods ``<name>-<n>``, host names from a word list, namespaces,
users, mount points, interface names, durations like ``15m0s``, percentages. The
alert's entity stays a device of the topology, so the engine places every alert.

It reports the distinct templates per 10,000 alerts (what the text model reads:
``alert_text`` of type and summary) and replays the stream in this process with the
text model loaded beforehand (as ``aiops serve`` has it): alerts/s, placement
latency and how many templates went through the model.

Usage: .venv/bin/python -m benchmarks.text_templates [--alerts 10000] [--seed 1] [--write-docs]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiops.learning.embeddings import load_text_model
from aiops.learning.templates import event_text
from aiops.models import parse_alert
from aiops.replay import replay_file
from aiops.runtime import open_runtime
from benchmarks.ingest import generate
from benchmarks.machine import cpu_model, fresh_data_dir, load_average
from benchmarks.remediation import module_command, write_section
from topology.model import parse_topology

START, END = "<!-- text-templates:start -->", "<!-- text-templates:end -->"
OUT_JSON = Path(__file__).resolve().parent / "out" / "text_templates.json"

# The alphabet Kubernetes draws generated name suffixes from (no vowels, no 0/1/3).
K8S_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
NAMESPACES = ("payments", "checkout", "monitoring", "kube-system", "ingress-nginx", "search",
              "auth", "billing", "orders", "logging", "data-platform", "default")
DEPLOYMENTS = ("payments-api", "checkout-web", "cart-service", "auth-proxy", "search-indexer",
               "orders-worker", "billing-gateway", "ingress-nginx-controller", "coredns",
               "metrics-server", "frontend", "recommendation", "email-sender", "shipping")
STATEFULSETS = ("postgres", "kafka", "zookeeper", "redis", "elasticsearch-data",
                "prometheus-k8s", "alertmanager-main", "rabbitmq", "etcd", "mongodb")
CONTAINERS = ("app", "server", "worker", "sidecar", "istio-proxy", "nginx", "main", "exporter")
CRONJOBS = ("billing-report", "db-backup", "cert-renew", "log-rotate", "index-compact")
HOST_ROLES = ("web", "db", "cache", "kafka", "worker", "edge", "lb", "build", "mail", "k8s-node")
SITES = ("fra", "ams", "lon", "par", "nyc", "sfo", "sin", "syd")
USERS = ("admin", "root", "jdoe", "asmith", "backup", "deploy", "oracle", "postgres", "guest",
         "test", "ubuntu", "mkowalski", "lchen", "operator", "svc-ci")
MOUNTS = ("/", "/var", "/var/lib/docker", "/var/log", "/home", "/data", "/boot", "/srv",
          "/var/lib/kubelet", "/opt")
DISKS = ("sda1", "sdb1", "nvme0n1p2", "vda1", "dm-0", "xvda1", "md0")
NICS = ("eth0", "eth1", "ens3", "ens192", "bond0", "enp0s31f6", "eno1", "br0")
CISCO_PORTS = ("GigabitEthernet1/0/{n}", "TenGigabitEthernet1/1/{n}", "FastEthernet0/{n}",
               "Ethernet1/{n}", "Port-channel{n}")
SERVICES = ("api", "shop", "login", "status", "cdn", "search", "pay", "docs")
DOMAINS = ("example.com", "example.net", "corp.example.org")


def _pick(rng: random.Random, items: Sequence[str]) -> str:
    return items[rng.randrange(len(items))]


@dataclass
class Instances:
    """Where the variable parts come from: pods are re-created (a new suffix each time),
    a rollout gives a Deployment a new ReplicaSet hash, hosts and users repeat."""

    rng: random.Random
    device: str
    hashes: dict[str, list[str]]

    def suffix(self, length: int) -> str:
        return "".join(self.rng.choice(K8S_ALPHABET) for _ in range(length))

    def pod(self) -> tuple[str, str]:
        deployment = _pick(self.rng, DEPLOYMENTS)
        rollouts = self.hashes.setdefault(deployment, [])
        if not rollouts or self.rng.random() < 0.05:
            rollouts.append(self.suffix(self.rng.choice((9, 10))))
        return deployment, f"{deployment}-{self.rng.choice(rollouts)}-{self.suffix(5)}"

    def stateful(self) -> tuple[str, str]:
        name = _pick(self.rng, STATEFULSETS)
        return name, f"{name}-{self.rng.randrange(5)}"

    def host(self) -> str:
        role, site = _pick(self.rng, HOST_ROLES), _pick(self.rng, SITES)
        return f"{role}-{site}-{'abcdef'[self.rng.randrange(6)]}"

    def percent(self) -> str:
        return f"{self.rng.uniform(0.5, 99.5):.2f}"

    def duration(self) -> str:
        return _pick(self.rng, ("5m0s", "15m0s", "1h0m0s", "30m0s", "2h15m0s", "10m30s"))

    def ip(self) -> str:
        rng = self.rng
        return f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"

    def port(self) -> str:
        return _pick(self.rng, CISCO_PORTS).format(n=self.rng.randrange(1, 49))


Kind = Callable[[Instances], tuple[str, dict[str, str]]]


def _crashloop(i: Instances) -> tuple[str, dict[str, str]]:
    ns, (_, pod), c = _pick(i.rng, NAMESPACES), i.pod(), _pick(i.rng, CONTAINERS)
    return (f"Pod {ns}/{pod} ({c}) keeps restarting: waiting with reason CrashLoopBackOff.",
            {"namespace": ns, "pod": pod, "container": c})


def _not_ready(i: Instances) -> tuple[str, dict[str, str]]:
    ns, (_, pod) = _pick(i.rng, NAMESPACES), i.pod()
    return (f"Pod {ns}/{pod} has not been ready for longer than {i.duration()}.",
            {"namespace": ns, "pod": pod})


def _waiting(i: Instances) -> tuple[str, dict[str, str]]:
    ns, (_, pod), c = _pick(i.rng, NAMESPACES), i.pod(), _pick(i.rng, CONTAINERS)
    return (f"Container {c} of pod/{pod} in namespace {ns} is stuck in waiting state "
            f"for {i.duration()}.", {"namespace": ns, "pod": pod, "container": c})


def _replicas(i: Instances) -> tuple[str, dict[str, str]]:
    ns, (deployment, _) = _pick(i.rng, NAMESPACES), i.pod()
    return (f"Deployment {ns}/{deployment} runs fewer replicas than desired for "
            f"{i.duration()}.", {"namespace": ns, "deployment": deployment})


def _sts_replicas(i: Instances) -> tuple[str, dict[str, str]]:
    ns, (sts, _) = _pick(i.rng, NAMESPACES), i.stateful()
    return (f"StatefulSet {ns}/{sts} has not matched its expected replica count for "
            f"{i.duration()}.", {"namespace": ns, "statefulset": sts})


def _throttling(i: Instances) -> tuple[str, dict[str, str]]:
    ns, (_, pod), c = _pick(i.rng, NAMESPACES), i.pod(), _pick(i.rng, CONTAINERS)
    return (f"{i.percent()}% of CPU periods throttled for container {c} of pod {pod} in "
            f"namespace {ns}.", {"namespace": ns, "pod": pod, "container": c})


def _volume(i: Instances) -> tuple[str, dict[str, str]]:
    ns, (_, pod) = _pick(i.rng, NAMESPACES), i.stateful()
    pvc = f"data-{pod}"
    return (f"Persistent volume claimed by {pvc} in namespace {ns} has only {i.percent()}% "
            "free space.", {"namespace": ns, "persistentvolumeclaim": pvc})


def _node_not_ready(i: Instances) -> tuple[str, dict[str, str]]:
    host = i.host()
    return (f"Kubernetes node {host} has been unready for more than {i.duration()}.",
            {"node": host})


def _job_failed(i: Instances) -> tuple[str, dict[str, str]]:
    ns = _pick(i.rng, NAMESPACES)
    job = f"{_pick(i.rng, CRONJOBS)}-{i.rng.randrange(28_000_000, 29_999_999)}"
    return f"Job {ns}/{job} did not complete.", {"namespace": ns, "job_name": job}


def _fs_filling(i: Instances) -> tuple[str, dict[str, str]]:
    host, dev, mount = i.host(), f"/dev/{_pick(i.rng, DISKS)}", _pick(i.rng, MOUNTS)
    instance = f"{host}:9100"
    return (f"Filesystem {dev} mounted on {mount} at {instance} has {i.percent()}% space "
            "left and is filling up fast.",
            {"instance": instance, "device": dev, "mountpoint": mount})


def _fs_full(i: Instances) -> tuple[str, dict[str, str]]:
    host, mount = i.host(), _pick(i.rng, MOUNTS)
    return (f"Only {i.percent()}% space left on {mount} of {host}.",
            {"instance": f"{host}:9100", "mountpoint": mount})


def _rx_errors(i: Instances) -> tuple[str, dict[str, str]]:
    host, nic = i.host(), _pick(i.rng, NICS)
    return (f"{host}:9100 interface {nic} saw {i.rng.randrange(1, 5000)} receive errors in "
            "the last two minutes.", {"instance": f"{host}:9100", "device": nic})


def _conntrack(i: Instances) -> tuple[str, dict[str, str]]:
    host = i.host()
    return (f"{i.percent()}% of the conntrack table is in use on {host}.",
            {"instance": f"{host}:9100"})


def _clock(i: Instances) -> tuple[str, dict[str, str]]:
    host = i.host()
    return (f"Clock of {host} is not synchronising to NTP; offset {i.rng.uniform(0.05, 3):.3f}s.",
            {"instance": f"{host}:9100"})


def _probe(i: Instances) -> tuple[str, dict[str, str]]:
    target = f"https://{_pick(i.rng, SERVICES)}.{_pick(i.rng, DOMAINS)}/healthz"
    return f"Probe of {target} failed (job blackbox-http).", {"instance": target,
                                                                "job": "blackbox-http"}


def _certificate(i: Instances) -> tuple[str, dict[str, str]]:
    target = f"{_pick(i.rng, SERVICES)}.{_pick(i.rng, DOMAINS)}:443"
    return (f"TLS certificate served by {target} expires in {i.rng.randrange(1, 30)} days.",
            {"instance": target})


def _target_down(i: Instances) -> tuple[str, dict[str, str]]:
    ns, (deployment, _) = _pick(i.rng, NAMESPACES), i.pod()
    return (f"{i.percent()}% of the {deployment}/{deployment} scrape targets in namespace "
            f"{ns} are down.", {"namespace": ns, "job": deployment, "service": deployment})


def _link(i: Instances) -> tuple[str, dict[str, str]]:
    state = _pick(i.rng, ("down", "up"))
    return f"%LINK-3-UPDOWN: Interface {i.port()}, changed state to {state}", {}


def _lineproto(i: Instances) -> tuple[str, dict[str, str]]:
    return (f"%LINEPROTO-5-UPDOWN: Line protocol on Interface {i.port()}, changed state to "
            "down", {})


def _bgp(i: Instances) -> tuple[str, dict[str, str]]:
    reason = _pick(i.rng, ("Down BGP Notification sent", "Down Peer closed the session",
                           "Up", "Down Hold Timer Expired"))
    return f"%BGP-5-ADJCHANGE: neighbor {i.ip()} {reason}", {}


def _ospf(i: Instances) -> tuple[str, dict[str, str]]:
    return (f"%OSPF-5-ADJCHG: Process 1, Nbr {i.ip()} on {i.port()} from FULL to DOWN, "
            "Neighbor Down: Dead timer expired", {})


def _login(i: Instances) -> tuple[str, dict[str, str]]:
    return (f"%SEC_LOGIN-4-LOGIN_FAILED: Login failed [user: {_pick(i.rng, USERS)}] "
            f"[Source: {i.ip()}] [localport: 22] [Reason: Login Authentication Failed]", {})


def _sshd(i: Instances) -> tuple[str, dict[str, str]]:
    return (f"Failed password for invalid user {_pick(i.rng, USERS)} from {i.ip()} port "
            f"{i.rng.randrange(1024, 65535)} ssh2", {})


# (alert type, how often, summary and labels); the shares roughly follow a mixed
# Kubernetes and network shop: pod and node alerts most, syslog from the switches next.
KINDS: tuple[tuple[str, float, Kind], ...] = (
    ("KubePodCrashLooping", 8, _crashloop), ("KubePodNotReady", 8, _not_ready),
    ("KubeContainerWaiting", 4, _waiting), ("KubeDeploymentReplicasMismatch", 4, _replicas),
    ("KubeStatefulSetReplicasMismatch", 2, _sts_replicas), ("CPUThrottlingHigh", 6, _throttling),
    ("KubePersistentVolumeFillingUp", 3, _volume), ("KubeNodeNotReady", 3, _node_not_ready),
    ("KubeJobFailed", 2, _job_failed), ("NodeFilesystemSpaceFillingUp", 5, _fs_filling),
    ("NodeFilesystemAlmostOutOfSpace", 4, _fs_full), ("NodeNetworkReceiveErrs", 4, _rx_errors),
    ("NodeHighNumberConntrackEntriesUsed", 2, _conntrack),
    ("NodeClockNotSynchronising", 2, _clock), ("ProbeFailed", 5, _probe),
    ("SSLCertExpiringSoon", 2, _certificate), ("TargetDown", 4, _target_down),
    ("LINK-3-UPDOWN", 10, _link), ("LINEPROTO-5-UPDOWN", 6, _lineproto),
    ("BGP-5-ADJCHANGE", 5, _bgp), ("OSPF-5-ADJCHG", 3, _ospf),
    ("SEC_LOGIN-4-LOGIN_FAILED", 4, _login), ("sshd_auth_failure", 3, _sshd),
)


def realistic(count: int, seed: int, now: float) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The ingestion benchmark's stream with realistic texts; deterministic for a seed.

    Each condition draws its kind by the weights of ``KINDS``; a re-send keeps the
    condition's first type, text and labels, as a source re-sends the same condition
    (and the engine folds it as a duplicate).
    """
    workload = generate(count, seed, now)
    rng = random.Random(seed + 1)
    hashes: dict[str, list[str]] = {}
    weights = [w for _, w, _ in KINDS]
    first: dict[tuple[str, str, str, float | None], tuple[str, str, dict[str, str]]] = {}
    out = []
    for alert in workload.alerts:
        key = (alert["name"], alert["entity"], alert["labels"]["interface"], alert["ends_at"])
        if key not in first:
            name, _, make = KINDS[rng.choices(range(len(KINDS)), weights)[0]]
            first[key] = (name, *make(Instances(rng, alert["entity"], hashes)))
        name, summary, labels = first[key]
        out.append({**alert, "name": name, "summary": summary,
                    "labels": {**labels, "site": alert["labels"]["site"]}})
    return workload.topology, out


def templates_per_kind(alerts: Sequence[dict[str, Any]]) -> dict[str, int]:
    """How many different texts the model would read (type and templated summary),
    per alert type."""
    texts: dict[str, set[str]] = {}
    for a in alerts:
        texts.setdefault(a["name"], set()).add(event_text(parse_alert(a)))
    return {name: len(found) for name, found in texts.items()}


def replay(topology: dict[str, Any], alerts: Sequence[dict[str, Any]], work: Path
           ) -> dict[str, Any]:
    """Replay in this process with the text model loaded first; time and latency."""
    path = work / "alerts.jsonl"
    path.write_text("".join(json.dumps(a) + "\n" for a in alerts), encoding="utf-8")
    load_text_model()
    runtime = open_runtime(fresh_data_dir(work / "data"))
    try:
        nodes, edges = parse_topology(topology)
        runtime.import_topology(nodes, edges, source="bench")
        started = time.perf_counter()
        replay_file(runtime, path, work / "out.json")
        seconds = time.perf_counter() - started
        latency = runtime.engine.stats()["placement_latency"]
        encoded = runtime.embedder.encoded
    finally:
        runtime.close()
    return {"seconds": seconds, "alerts_per_second": len(alerts) / seconds,
            "latency_ms": latency, "encoded": encoded}


def section(report: dict[str, Any]) -> str:
    r = report["replay"]
    lat = r["latency_ms"]
    lines = [
        "## Text templates on a realistic alert stream", "",
        f"Measured {report['date']} on {report['cpu']}, Python {report['python']}; 1-minute "
        f"load average {report['load']} at the end. One run.", "",
        f"Command: `{report['command']}`", "",
        f"Stream (seed {report['seed']}): {report['alerts']:,} alerts with the ingestion "
        "benchmark's timing and devices (demo topology), each given the type, summary and "
        f"labels of one of {len(KINDS)} alert kinds written after public rules "
        "(kubernetes-mixin, node-exporter mixin, blackbox exporter, Cisco IOS syslog, sshd): "
        "pods with generated suffixes, host names, namespaces, users, mount points, "
        "interfaces, durations and percentages vary as they do in production. "
        "*Templates*: distinct texts the model reads (`event_text`: type and masked "
        "summary), per 10,000 alerts. *Embedded*: templates that went through the model "
        "in the replay. The replay runs in-process with the text model loaded beforehand; "
        "each batch's new templates are embedded before its alerts are placed, so their "
        "cost shows in alerts/s and not in the placement latency (which times each "
        "alert's placement alone).",
        "",
        "| alerts | templates | per 10,000 alerts | embedded | alerts/s | placement p50 ms "
        "| p99 ms | max ms |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {report['alerts']:,} | {report['templates']:,} | "
        f"{report['templates_per_10k']:,.0f} | {r['encoded']:,} | "
        f"{r['alerts_per_second']:,.0f} | {lat['p50_ms']} | {lat['p99_ms']} | {lat['max_ms']} |",
        "",
        "Kinds with the most templates: " + ", ".join(
            f"{name} {count}" for name, count in list(report["per_kind"].items())[:6])
        + " (left apart: interface types, and the link and session states, which tell "
        "kinds apart; user names that no label gives are masked by the login messages' "
        "own wording, `aiops/learning/users.py`).", "",
        "Examples of the masked texts (one per kind, the first of each):", "",
    ]
    lines += [f"- `{text}`" for text in report["examples"]]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000, help="alerts to generate")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the stream")
    parser.add_argument("--write-docs", action="store_true",
                        help="replace the text-templates section of docs/benchmarks.md")
    args = parser.parse_args(argv)
    if args.alerts < 1:
        parser.error("--alerts must be at least 1")
    topology, alerts = realistic(args.alerts, args.seed, time.time())
    per_kind = templates_per_kind(alerts)
    templates = sum(per_kind.values())
    examples: dict[str, str] = {}
    for a in alerts:
        examples.setdefault(a["name"], event_text(parse_alert(a)))
    print(f"[text-templates] {len(alerts):,} alerts, {templates:,} templates", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="aiops-text-templates-") as tmp:
        result = replay(topology, alerts, Path(tmp))
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpu": cpu_model(),
        "python": platform.python_version(), "load": load_average(),
        "command": module_command("benchmarks.text_templates", argv), "seed": args.seed,
        "alerts": len(alerts), "templates": templates,
        "templates_per_10k": templates * 10_000 / len(alerts), "replay": result,
        "examples": [examples[name] for name in sorted(examples)],
        "per_kind": dict(sorted(per_kind.items(), key=lambda kv: (-kv[1], kv[0]))),
    }
    OUT_JSON.parent.mkdir(parents=True, exist_ok=True)
    OUT_JSON.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    text = section(report)
    print(text)
    if args.write_docs:
        write_section(text, START, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
