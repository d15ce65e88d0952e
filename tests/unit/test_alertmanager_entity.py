"""The entity of a Prometheus alert: what it is about, not where it was scraped.

Label sets as kube-prometheus' rules give them (kubernetes-mixin rules on
kube-state-metrics scraped with ``honorLabels``; node-exporter with ``instance``
relabelled to the node's name)."""

from __future__ import annotations

import pytest

from connectors.alertmanager import alert_from_am
from connectors.alertmanager_entity import entity_of, is_state_exporter

KSM = {"job": "kube-state-metrics", "instance": "10.244.1.250:8443"}


@pytest.mark.parametrize("labels, entity", [
    # a pod's container crash-loops: kube-state-metrics reports it; its own address
    # is in `instance`, which used to win over `pod`
    ({"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "cart-7d4b9-x2x9z",
      "container": "cart", "reason": "CrashLoopBackOff", **KSM}, "cart-7d4b9-x2x9z"),
    # a deployment's replicas: the deployment, named as the Kubernetes discovery's id
    # (a bare "cart" would resolve to the Service of that name)
    ({"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop",
      "deployment": "cart", "container": "kube-rbac-proxy-main", **KSM}, "deploy/shop/cart"),
    ({"alertname": "KubeStatefulSetReplicasMismatch", "namespace": "db",
      "statefulset": "pg", **KSM}, "sts/db/pg"),
    ({"alertname": "KubeHpaMaxedOut", "namespace": "shop",
      "horizontalpodautoscaler": "cart", **KSM}, "hpa/shop/cart"),
    # a node: `node` comes before everything, as it did
    ({"alertname": "KubeNodeNotReady", "node": "worker-3", "condition": "Ready", **KSM},
     "worker-3"),
    # a namespace-wide rule of kube-state-metrics: the namespace, not the exporter
    ({"alertname": "KubeQuotaAlmostFull", "namespace": "shop", "resource": "cpu",
      "resourcequota": "q", **KSM}, "shop"),
    # node-exporter: `device` is the machine's disk or NIC, part of `instance`
    ({"alertname": "NodeFilesystemSpaceFillingUp", "instance": "worker-2",
      "job": "node-exporter", "pod": "node-exporter-8kq2z", "device": "/dev/nvme0n1p1",
      "mountpoint": "/"}, "worker-2"),
    ({"alertname": "NodeNetworkReceiveErrs", "instance": "10.0.1.2:9100",
      "job": "node-exporter", "device": "eth0"}, "10.0.1.2:9100"),
    # an exporter of its own target: instance, as before
    ({"alertname": "HighLatency", "instance": "10.244.2.7:8080", "job": "shop/cart",
      "pod": "cart-7d4b9-x2x9z"}, "10.244.2.7:8080"),
    # `device` alone (an alert posted straight to Alertmanager) still names the device
    ({"alertname": "LinkDown", "device": "core-1", "interface": "Gi0/1"}, "core-1"),
    ({"alertname": "TargetDown", "job": "node-exporter", "namespace": "monitoring",
      "service": "node-exporter"}, "node-exporter"),
    ({"alertname": "Watchdog"}, "global"),
])
def test_the_entity_is_the_alerts_subject(labels: dict[str, str], entity: str) -> None:
    assert entity_of(labels) == entity
    alert = alert_from_am({"labels": labels, "startsAt": "2026-11-24T10:00:00Z"}, "a[0]")
    assert alert.entity == entity


def test_a_workload_without_a_namespace_keeps_its_bare_name() -> None:
    assert entity_of({"deployment": "cart", "job": "kube-state-metrics"}) == "cart"


def test_state_exporters_are_known_by_their_job_even_with_a_release_prefix() -> None:
    assert is_state_exporter({"job": "monitoring-kube-state-metrics"})
    assert not is_state_exporter({"job": "node-exporter"})
    assert not is_state_exporter({})
