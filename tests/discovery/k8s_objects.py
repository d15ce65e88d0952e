"""Realistic Kubernetes API objects (trimmed the way ``kubectl get -o json`` prints them)."""

from __future__ import annotations

from typing import Any

UID = "6b1f0c2e-0d7a-4c39-9c1e-{:012d}"


def node(name: str, ip: str, role: str | None = None) -> dict[str, Any]:
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux"}
    if role:
        labels[f"node-role.kubernetes.io/{role}"] = ""
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "uid": UID.format(hash(name) % 10**12), "labels": labels,
                     "resourceVersion": "48213", "creationTimestamp": "2024-05-02T08:11:04Z"},
        "spec": {"podCIDR": "10.244.1.0/24", "providerID": f"kind://docker/kind/{name}"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": ip},
                          {"type": "Hostname", "address": name}],
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}],
            "nodeInfo": {"kubeletVersion": "v1.29.2", "osImage": "Debian GNU/Linux 12"}},
    }


def deployment(ns: str, name: str, app: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "uid": UID.format(hash(name) % 10**12),
                     "labels": {"app": app}, "generation": 3},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": app}},
                 "template": {"metadata": {"labels": {"app": app}},
                              "spec": {"containers": [{"name": app, "image": f"{app}:1.4"}]}}},
        "status": {"replicas": replicas, "readyReplicas": replicas},
    }


def pod(ns: str, name: str, app: str, node_name: str | None, ip: str | None,
        rs: str | None = None, template_hash: str | None = None, phase: str = "Running",
        host_network: bool = False) -> dict[str, Any]:
    labels = {"app": app}
    meta: dict[str, Any] = {"name": name, "namespace": ns, "labels": labels,
                            "uid": UID.format(hash(name) % 10**12)}
    if template_hash:
        labels["pod-template-hash"] = template_hash
    if rs:
        meta["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                    "uid": UID.format(1), "controller": True,
                                    "blockOwnerDeletion": True}]
    spec: dict[str, Any] = {"containers": [{"name": app, "image": f"{app}:1.4"}],
                            "restartPolicy": "Always"}
    if node_name:
        spec["nodeName"] = node_name
    if host_network:
        spec["hostNetwork"] = True
    status: dict[str, Any] = {"phase": phase, "hostIP": "172.18.0.3"}
    if ip:
        status["podIP"] = ip
        status["podIPs"] = [{"ip": ip}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec,
            "status": status}


def service(ns: str, name: str, selector: dict[str, str] | None,
            cluster_ip: str = "10.96.0.10") -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "ClusterIP", "clusterIP": cluster_ip,
                            "ports": [{"port": 80, "protocol": "TCP", "targetPort": 8080}]}
    if selector is not None:
        spec["selector"] = selector
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "uid": UID.format(hash(name) % 10**12)},
            "spec": spec, "status": {"loadBalancer": {}}}


NODES = [node("kind-control-plane", "172.18.0.2", "control-plane"),
         node("kind-worker", "172.18.0.3"), node("kind-worker2", "172.18.0.4")]
DEPLOYMENTS = [deployment("shop", "web", "web"), deployment("shop", "cart", "cart", 1)]
PODS = [
    pod("shop", "web-7d9f8c6b5-x2x4z", "web", "kind-worker", "10.244.1.5",
        "web-7d9f8c6b5", "7d9f8c6b5"),
    pod("shop", "web-7d9f8c6b5-q8n2k", "web", "kind-worker2", "10.244.2.7",
        "web-7d9f8c6b5", "7d9f8c6b5"),
    pod("shop", "cart-5c4b9d7f8-pl9mz", "cart", "kind-worker", "10.244.1.9",
        "cart-5c4b9d7f8", "5c4b9d7f8"),
    pod("shop", "migrate-29001-abcde", "migrate", "kind-worker", None, phase="Succeeded"),
    pod("kube-system", "kube-proxy-7xkq2", "kube-proxy", "kind-worker", "172.18.0.3",
        host_network=True),
    pod("shop", "web-pending-zzzzz", "web", None, None, phase="Pending"),
]
SERVICES = [service("shop", "web", {"app": "web"}, "10.96.12.1"),
            service("shop", "cart", {"app": "cart"}, "10.96.12.2"),
            service("shop", "external-db", None, "None")]


def kubectl_list(*groups: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``kubectl get nodes,pods,services,deployments -A -o json`` prints."""
    return {"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": ""},
            "items": [item for group in groups for item in group]}


def api_page(kind: str, items: list[dict[str, Any]], cont: str | None) -> dict[str, Any]:
    """An API list page: items carry no kind; ``metadata.continue`` links the next."""
    stripped = [{k: v for k, v in i.items() if k not in ("kind", "apiVersion")} for i in items]
    meta: dict[str, Any] = {"resourceVersion": "48213"}
    if cont:
        meta["continue"] = cont
        meta["remainingItemCount"] = 1
    return {"kind": f"{kind}List", "apiVersion": "v1", "metadata": meta, "items": stripped}
