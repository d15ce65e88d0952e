"""Kubernetes discovery from kubectl JSON files and from API endpoints served locally."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aiops.errors import InputError
from tests.discovery.conftest import FakeSource, Reply, snapshot
from tests.discovery.k8s_objects import (
    DEPLOYMENTS,
    NODES,
    PODS,
    SERVICES,
    api_page,
    kubectl_list,
    node,
    pod,
)
from topology.discovery.base import SourceUnreachable
from topology.discovery.kubernetes import KubernetesConnector
from topology.discovery.sync import sync


def _check_cluster(graph) -> None:
    assert graph.nodes["kind-worker"].kind == "host"
    assert graph.nodes["kind-worker"].attrs["ips"] == ["172.18.0.3"]
    assert graph.nodes["kind-control-plane"].attrs["roles"] == ["control-plane"]
    web_pod = "pod/shop/web-7d9f8c6b5-x2x4z"
    assert graph.nodes[web_pod].attrs["ip"] == "10.244.1.5"
    assert graph.dependencies.has_edge(web_pod, "kind-worker")  # runs_on
    assert graph.dependencies.has_edge(web_pod, "deploy/shop/web")  # part_of
    assert graph.dependencies.has_edge("svc/shop/web", web_pod)  # depends_on
    assert graph.dependencies.has_edge("svc/shop/web", "pod/shop/web-7d9f8c6b5-q8n2k")
    assert not graph.dependencies.has_edge("svc/shop/web", "pod/shop/cart-5c4b9d7f8-pl9mz")
    assert graph.dependencies.has_edge("pod/shop/cart-5c4b9d7f8-pl9mz", "deploy/shop/cart")
    assert "pod/shop/migrate-29001-abcde" not in graph.nodes  # finished
    assert "ip" not in graph.nodes["pod/kube-system/kube-proxy-7xkq2"].attrs  # host network
    assert graph.nodes["svc/shop/web"].attrs["ip"] == "10.96.12.1"
    assert "ip" not in graph.nodes["svc/shop/external-db"].attrs
    assert graph.neighbours("pod/shop/web-pending-zzzzz") == {"svc/shop/web"}  # unscheduled
    # Resolution: pod by name, service by cluster DNS name, node by its IP.
    assert graph.resolve("web-7d9f8c6b5-x2x4z") == web_pod
    assert graph.resolve("shop/web-7d9f8c6b5-q8n2k") == "pod/shop/web-7d9f8c6b5-q8n2k"
    assert graph.resolve("web.shop.svc.cluster.local") == "svc/shop/web"
    assert graph.resolve("web") == "svc/shop/web"  # a service outranks its deployment
    assert graph.resolve("172.18.0.3") == "kind-worker"
    # A pod replaced by a rollout since discovery lands on its deployment.
    assert graph.resolve("web-7d9f8c6b5-zzzzz") == "deploy/shop/web"
    assert graph.resolve("shop/cart-6f7d8b9c4-aaaaa") == "deploy/shop/cart"


def test_kubectl_file(tmp_path: Path, store) -> None:
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(kubectl_list(NODES, DEPLOYMENTS, PODS, SERVICES)))
    report = sync(KubernetesConnector(files=[str(path)]), store)
    _check_cluster(store.load())
    assert any("migrate" in w and "Succeeded" in w for w in report.warnings)


def test_typed_lists_in_several_files(tmp_path: Path, store) -> None:
    files = []
    for kind, items in (("Node", NODES), ("Deployment", DEPLOYMENTS), ("Pod", PODS),
                        ("Service", SERVICES)):
        path = tmp_path / f"{kind}.json"
        path.write_text(json.dumps(api_page(kind, items, None)))
        files.append(str(path))
    sync(KubernetesConnector(files=files), store)
    _check_cluster(store.load())


ENDPOINTS = {"Node": ("/api/v1/nodes", NODES), "Pod": ("/api/v1/pods", PODS),
             "Service": ("/api/v1/services", SERVICES),
             "Deployment": ("/apis/apps/v1/deployments", DEPLOYMENTS)}


@pytest.fixture
def cluster(fake_source: FakeSource) -> FakeSource:
    """The four list endpoints, two items per page, linked by ``continue`` tokens."""
    for kind, (path, items) in ENDPOINTS.items():
        for start in range(0, len(items), 2):
            token = f"{kind}-{start + 2}" if start + 2 < len(items) else None
            query = "?limit=2" + (f"&continue={kind}-{start}" if start else "")
            fake_source.json(path + query, api_page(kind, items[start:start + 2], token))
    return fake_source


def test_api_with_continue_pages(cluster: FakeSource, store, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("eyJhbGciOi.fake.token\n")
    sync(KubernetesConnector(api=cluster.url, token_file=str(token), page_size=2), store)
    _check_cluster(store.load())
    assert {h.get("Authorization") for _, h in cluster.requests} == {
        "Bearer eyJhbGciOi.fake.token"}
    assert "/api/v1/pods?limit=2&continue=Pod-4" in [p for p, _ in cluster.requests]


@pytest.mark.parametrize(("reply", "error", "message"), [
    (Reply({"message": "etcdserver: request timed out"}, status=500), SourceUnreachable,
     "HTTP 500"),
    (Reply(raw=b'{"kind": "PodList", "items": [{"metadata": '), InputError,
     "returned invalid JSON"),
    (Reply(api_page("Pod", PODS[2:4], None), truncate=True), SourceUnreachable, "failed"),
    (Reply(api_page("Pod", PODS[2:4], None), delay=3), SourceUnreachable, "within 1 s"),
    (Reply({"kind": "Status", "status": "Failure"}), InputError, "not a Kubernetes list"),
])
def test_a_bad_second_page_changes_nothing(cluster: FakeSource, store, reply: Reply,
                                           error: type[Exception], message: str) -> None:
    sync(KubernetesConnector(api=cluster.url, page_size=2), store)
    before = snapshot(store)
    cluster.routes["/api/v1/nodes?limit=2"] = Reply(api_page("Node", [NODES[0]], None))
    cluster.routes["/api/v1/pods?limit=2&continue=Pod-2"] = reply
    with pytest.raises(error, match=message):
        sync(KubernetesConnector(api=cluster.url, page_size=2, timeout=1), store)
    assert snapshot(store) == before


@pytest.mark.parametrize(("doc", "message"), [
    ({"kind": "ConfigMap", "metadata": {"name": "x"}}, "expected a Kubernetes object or List"),
    ({"kind": "List", "items": [{"kind": "Pod", "metadata": {}}]}, "'metadata.name' is required"),
    ([1, 2], "expected a Kubernetes object or List"),
])
def test_bad_files_are_named(tmp_path: Path, doc: object, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InputError, match=message) as err:
        KubernetesConnector(files=[str(path)]).collect()
    assert "bad.json" in str(err.value)


def test_optional_lists_of_the_wrong_shape_count_as_absent(tmp_path: Path) -> None:
    odd_node = node("odd-node", "172.18.0.9")
    odd_node["status"]["addresses"] = 5  # was a TypeError traceback
    odd_pod = pod("shop", "lone", "lone", "odd-node", "10.244.9.9")
    odd_pod["metadata"]["ownerReferences"] = 5
    path = tmp_path / "odd.json"
    path.write_text(json.dumps(kubectl_list([odd_node], [odd_pod])))
    found = KubernetesConnector(files=[str(path)]).collect()
    nodes = {n.id: n for n in found.nodes}
    assert "ips" not in nodes["odd-node"].attrs
    assert {e.key for e in found.edges} == {("pod/shop/lone", "odd-node", "runs_on")}


def test_a_pod_whose_id_no_store_holds_is_skipped_not_the_whole_run(tmp_path: Path,
                                                                      store) -> None:
    """A pod of the longest name Kubernetes allows (253) is stored since migration
    0012 widened ids to 512; one past what any store holds (a file can say anything)
    is skipped with a warning: the stores refuse a whole batch for one such node, so
    the run lost everything."""
    long_name = "batch-" + "x" * 247  # 253 characters, as Kubernetes allows
    long_pod = pod("shop", long_name, long_name, "kind-worker", "10.244.1.99")
    huge_name = "huge-" + "y" * 600
    huge_pod = pod("shop", huge_name, huge_name, "kind-worker", "10.244.1.98")
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps(kubectl_list(NODES, DEPLOYMENTS, [*PODS, long_pod, huge_pod],
                                            SERVICES)))
    report = sync(KubernetesConnector(files=[str(path)]), store)
    graph = store.load()
    _check_cluster(graph)
    assert graph.nodes[f"pod/shop/{long_name}"].name == long_name
    assert not any(n.startswith("pod/shop/huge-") for n in graph.nodes)
    assert any("pod/shop/huge-" in w and "longer than 512" in w for w in report.warnings)
    assert not any("batch-" in w for w in report.warnings)
