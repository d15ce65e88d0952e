"""Kubernetes: nodes, pods, services and deployments, from the API or kubectl output.

Edges: a pod ``runs_on`` its node, ``part_of`` its deployment, and a service
``depends_on`` every pod its selector matches. A pod's deployment comes from its
owner ReplicaSet, whose name is the deployment's plus ``-<pod-template-hash>``; the
ReplicaSets themselves are not read, to keep to the four list endpoints.

Ids: a cluster node is a ``host`` node named as the cluster names it (so the
identity merge can join it with the inventory's record of the same machine); pods,
services and deployments are scoped by namespace: ``pod/NS/NAME``,
``svc/NS/NAME``, ``deploy/NS/NAME``, with ``NS/NAME`` as an alias. A pod on the
host network shares its node's IP, so that IP is left off the pod: alerts on the
address belong to the node.

Finished pods (Succeeded, Failed) are skipped: they run nowhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from aiops.errors import InputError
from topology.discovery.base import Discovered, GraphBuilder
from topology.discovery.http import JsonHttp, read_json_file
from topology.graph import TopologyGraph

NAME = "kubernetes"
ENDPOINTS: dict[str, str] = {
    "Node": "/api/v1/nodes",
    "Pod": "/api/v1/pods",
    "Service": "/api/v1/services",
    "Deployment": "/apis/apps/v1/deployments",
}
FINISHED = frozenset({"Succeeded", "Failed"})
MAX_PAGES = 100_000


def _meta(obj: dict[str, Any], where: str) -> tuple[str, str]:
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or not meta["name"]:
        raise InputError(f"{where}: 'metadata.name' is required")
    return meta.get("namespace") or "default", meta["name"]


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels if isinstance(labels, dict) else {}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    """An optional list field; anything else (a number, an object) counts as absent,
    as ``_dict`` does for objects, rather than failing with a TypeError traceback."""
    return value if isinstance(value, list) else []


class KubernetesConnector:
    """Reads saved ``kubectl get -o json`` files and/or a cluster's API server."""

    name = NAME

    def __init__(self, files: Sequence[str] = (), api: str | None = None,
                 token: str | None = None, token_file: str | None = None,
                 ca_file: str | None = None, insecure: bool = False, timeout: float = 30.0,
                 page_size: int = 500, http: JsonHttp | None = None):
        if not files and not api:
            raise InputError("kubernetes: nothing to read: give --from-file or --api")
        self.files = list(files)
        self.api = api.rstrip("/") if api else None
        if token_file and not token:
            try:
                with open(token_file, encoding="utf-8") as handle:
                    token = handle.read().strip()
            except OSError as exc:
                raise InputError(f"cannot read: {exc.strerror}", where=token_file) from None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        verify: bool | str = False if insecure else (ca_file or True)
        self.page_size = page_size
        self.http = http or JsonHttp(NAME, headers, timeout, verify)

    def _objects(self) -> list[tuple[str, dict[str, Any], str]]:
        """(kind, object, where) for every object in the files and the API."""
        found: list[tuple[str, dict[str, Any], str]] = []
        for path in self.files:
            doc = read_json_file(path, "kubectl")
            found.extend(self._from_document(doc, path))
        if self.api:
            for kind, endpoint in ENDPOINTS.items():
                for i, item in enumerate(self._list(endpoint)):
                    found.append((kind, item, f"{self.api}{endpoint} items[{i}]"))
        return found

    def _from_document(self, doc: Any, where: str) -> Iterator[tuple[str, dict[str, Any], str]]:
        if not isinstance(doc, dict):
            raise InputError(f"{where}: expected a Kubernetes object or List")
        items = doc.get("items")
        if isinstance(items, list):  # kubectl List, or a typed list such as PodList
            list_kind = str(doc.get("kind") or "")
            default = list_kind[:-4] if list_kind.endswith("List") and list_kind != "List" \
                else None
            for i, item in enumerate(items):
                if not isinstance(item, dict):
                    raise InputError(f"{where}: items[{i}] is not an object")
                kind = item.get("kind") or default
                if kind in ENDPOINTS:
                    yield kind, item, f"{where} items[{i}]"
        elif doc.get("kind") in ENDPOINTS:
            yield doc["kind"], doc, where
        else:
            raise InputError(f"{where}: expected a Kubernetes object or List, got kind "
                             f"{doc.get('kind')!r}")

    def _list(self, endpoint: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token: str | None = None
        for page in range(1, MAX_PAGES + 1):
            params: dict[str, Any] = {"limit": self.page_size}
            if token:
                params["continue"] = token
            url = f"{self.api}{endpoint}"
            body = self.http.get(url, params)
            if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                raise InputError(f"kubernetes: {url} (page {page}) is not a Kubernetes list")
            for i, item in enumerate(body["items"]):
                if not isinstance(item, dict):
                    raise InputError(f"kubernetes: {url} page {page} items[{i}] "
                                     "is not an object")
            items.extend(body["items"])
            token = _dict(body.get("metadata")).get("continue") or None
            if not token:
                return items
        raise InputError(f"kubernetes: {endpoint} pagination does not end")

    def collect(self, current: TopologyGraph | None = None) -> Discovered:
        by_kind: dict[str, list[tuple[dict[str, Any], str]]] = {k: [] for k in ENDPOINTS}
        for kind, obj, where in self._objects():
            by_kind[kind].append((obj, where))
        builder = GraphBuilder(NAME)
        for obj, where in by_kind["Node"]:
            self._node(builder, obj, where)
        deployments = {}
        for obj, where in by_kind["Deployment"]:
            ns, name = _meta(obj, where)
            deployments[(ns, name)] = builder.node(
                f"deploy/{ns}/{name}", "deployment", name, namespace=ns,
                aliases=[f"{ns}/{name}"], replicas=_dict(obj.get("spec")).get("replicas")).id
        pods: list[tuple[str, str, dict[str, str]]] = []
        for obj, where in by_kind["Pod"]:
            pod = self._pod(builder, obj, where, deployments)
            if pod:
                pods.append(pod)
        for obj, where in by_kind["Service"]:
            self._service(builder, obj, where, pods)
        return builder.result()

    def _node(self, builder: GraphBuilder, obj: dict[str, Any], where: str) -> None:
        _, name = _meta(obj, where)
        addresses = _list(_dict(obj.get("status")).get("addresses"))
        ips = [a.get("address") for a in addresses if isinstance(a, dict)
               and a.get("type") in ("InternalIP", "ExternalIP") and a.get("address")]
        roles = sorted(k.split("/", 1)[1] for k in _labels(obj)
                       if k.startswith("node-role.kubernetes.io/") and "/" in k)
        short = name.split(".", 1)[0]
        builder.node(name, "host", name, hostname=short if short != name else None,
                     fqdn=name if short != name else None, ips=ips, k8s_node=True,
                     roles=roles)

    def _pod(self, builder: GraphBuilder, obj: dict[str, Any], where: str,
             deployments: dict[tuple[str, str], str]) -> tuple[str, str, dict[str, str]] | None:
        ns, name = _meta(obj, where)
        spec, status = _dict(obj.get("spec")), _dict(obj.get("status"))
        phase = status.get("phase")
        if phase in FINISHED:
            builder.warnings.append(f"pod {ns}/{name} skipped: {phase}")
            return None
        node_name = spec.get("nodeName")
        pod_id = builder.node(
            f"pod/{ns}/{name}", "pod", name, namespace=ns, aliases=[f"{ns}/{name}"],
            ip=None if spec.get("hostNetwork") else status.get("podIP"),
            node=node_name, phase=phase).id
        if node_name:
            builder.node(node_name, "host", node_name, k8s_node=True)
            builder.edge(pod_id, node_name, "runs_on")
        deployment = self._owner_deployment(obj, ns, deployments)
        if deployment:
            builder.edge(pod_id, deployment, "part_of")
        return ns, pod_id, _labels(obj)

    @staticmethod
    def _owner_deployment(obj: dict[str, Any], ns: str,
                          deployments: dict[tuple[str, str], str]) -> str | None:
        refs = _list(_dict(obj.get("metadata")).get("ownerReferences"))
        template_hash = _labels(obj).get("pod-template-hash")
        for ref in refs:
            if not isinstance(ref, dict) or ref.get("kind") != "ReplicaSet":
                continue
            rs = str(ref.get("name") or "")
            if template_hash and rs.endswith(f"-{template_hash}"):
                owner = rs[: -len(template_hash) - 1]
            else:
                owner = rs.rsplit("-", 1)[0]
            if (ns, owner) in deployments:
                return deployments[(ns, owner)]
        return None

    def _service(self, builder: GraphBuilder, obj: dict[str, Any], where: str,
                 pods: list[tuple[str, str, dict[str, str]]]) -> None:
        ns, name = _meta(obj, where)
        spec = _dict(obj.get("spec"))
        cluster_ip = spec.get("clusterIP")
        service_id = builder.node(
            f"svc/{ns}/{name}", "service", name, namespace=ns,
            aliases=[f"{ns}/{name}", f"{name}.{ns}.svc", f"{name}.{ns}.svc.cluster.local"],
            ip=cluster_ip if cluster_ip and cluster_ip != "None" else None,
            service_type=spec.get("type")).id
        selector = spec.get("selector")
        if not isinstance(selector, dict) or not selector:
            return  # ExternalName or manually managed endpoints: no pods to depend on
        for pod_ns, pod_id, labels in pods:
            if pod_ns == ns and all(labels.get(k) == v for k, v in selector.items()):
                builder.edge(service_id, pod_id, "depends_on")
