"""Instance names in alert texts: masked for the text model, kinds kept apart.

Real summaries name pods with generated suffixes, hosts, namespaces and mount points;
unmasked, each makes a new template and costs a pass of the text model.
"""

from __future__ import annotations

from pathlib import Path

from aiops.config import DataDir
from aiops.learning.embeddings import TemplateEmbedder
from aiops.learning.templates import event_text, template
from aiops.models import Alert
from aiops.runtime import open_runtime
from topology.model import Node


def alert(name: str, summary: str, labels: dict[str, str] | None = None,
          entity: str = "ne-01", ident: str = "a1", starts_at: float = 1000.0) -> Alert:
    return Alert(ident, "prometheus", name, entity, "warning", summary, starts_at,
                 labels=labels or {})


def test_generated_pod_names_are_masked_by_their_shape() -> None:
    a = template("Pod payments/cart-service-fjbv8ssmw-j2j4x is not ready")
    b = template("Pod payments/cart-service-7d9f8b6c4-x2k9p is not ready")
    assert a == b == "pod payments/<pod> is not ready"
    assert template("node-exporter-x2k9p is down") == "<pod> is down"  # a DaemonSet's pod
    assert template("kube-proxy-bcdfg restarted") == "<pod> restarted"
    # Words and numbers after a hyphen are no generated suffix.
    assert template("cross-check failed on port-22222") == "cross-check failed on port-<num>"
    assert template("re-sync of data-store") == "re-sync of data-store"


def test_identity_labels_are_masked_by_their_names_where_the_summary_names_them() -> None:
    crash = alert("KubePodCrashLooping", "Pod payments/payments-api-7d9f8b6c4-x2k9p (app) "
                  "is in CrashLoopBackOff",
                  {"namespace": "payments", "pod": "payments-api-7d9f8b6c4-x2k9p",
                   "container": "app", "severity": "warning"})
    assert event_text(crash) == ("kubepodcrashlooping: pod <namespace>/<pod> (<container>) "
                                 "is in crashloopbackoff")
    short = alert("X", "Container db of pod a is down", {"container": "db", "pod": "a"})
    assert event_text(short) == "x: container db of pod a is down"  # too short to be safe
    assert crash.summary.startswith("Pod payments/payments-api-")  # the alert keeps its text
    # Host names from the labels: the node's, and the host part of instance "host:port".
    one = alert("NodeClockNotSynchronising", "Clock of web-fra-a is not synchronising",
                {"instance": "web-fra-a:9100"})
    two = alert("NodeClockNotSynchronising", "Clock of db-ams-c is not synchronising",
                {"instance": "db-ams-c:9100"})
    assert event_text(one) == event_text(two)
    assert "<instance>" in event_text(one)
    node = alert("KubeNodeNotReady", "Node cache-nyc-b has been unready", {"node": "cache-nyc-b"})
    assert event_text(node) == "kubenodenotready: node <node> has been unready"
    # Whole names only: a namespace inside a longer name stays.
    deploy = alert("KubeDeploymentReplicasMismatch", "Deployment shop/shop-web lacks replicas",
                   {"namespace": "shop", "deployment": "shop-web"})
    assert event_text(deploy) == ("kubedeploymentreplicasmismatch: deployment "
                                  "<namespace>/<deployment> lacks replicas")
    web = alert("X", "shop-web lacks replicas", {"namespace": "shop"})
    assert event_text(web) == "x: shop-web lacks replicas"
    # A label that is no instance (a reason, a severity) is not masked.
    reason = alert("KubePodNotReady", "Pod stuck: ImagePullBackOff",
                   {"reason": "ImagePullBackOff"})
    assert "imagepullbackoff" in event_text(reason)


def test_kinds_stay_apart_while_instances_merge() -> None:
    labels = {"namespace": "payments", "pod": "payments-api-7d9f8b6c4-x2k9p"}
    crash = alert("KubePodCrashLooping", "Pod payments/payments-api-7d9f8b6c4-x2k9p is "
                  "crash looping", labels)
    not_ready = alert("KubePodNotReady", "Pod payments/payments-api-7d9f8b6c4-x2k9p is not "
                      "ready", labels)
    assert event_text(crash) != event_text(not_ready)
    var = alert("NodeFilesystemAlmostOutOfSpace", "disk full on /var", {"mountpoint": "/var"})
    root = alert("NodeFilesystemAlmostOutOfSpace", "disk full on /", {"mountpoint": "/"})
    assert event_text(var) == event_text(root) == (
        "nodefilesystemalmostoutofspace: disk full on <mountpoint>")


def test_a_stream_differing_only_in_instance_names_costs_one_embedding() -> None:
    embedder = TemplateEmbedder()  # the real numpy MiniLM
    pods = [f"checkout-{h}-{s}" for h, s in (("7d9f8b6c4", "x2k9p"), ("fjbv8ssmw", "j2j4x"),
                                            ("5c6d7f8g9", "bq7zt"), ("6b8kx9vq2", "mm4rt"))]
    stream = [alert("KubePodNotReady", f"Pod {ns}/{pod} on {host} is not ready",
                    {"namespace": ns, "pod": pod, "node": host}, ident=f"a{i}")
              for i, (ns, pod, host) in enumerate(
                  (ns, pod, host) for ns in ("shop", "billing", "search")
                  for pod in pods for host in ("web-fra-a", "web-ams-b", "k8s-lon-c"))]
    embedder.prepare({event_text(e) for e in stream})
    assert embedder.encoded == 1


def test_the_engine_embeds_one_template_for_a_stream_of_pods(tmp_path: Path) -> None:
    """Through the runtime: every alert placed, the model asked for one template."""
    runtime = open_runtime(DataDir(path=tmp_path / "d"))
    try:
        runtime.import_topology([Node("ne-01", "device", "ne-01")], [], source="test")
        suffixes = ("x2k9p", "j2j4x", "bq7zt", "mm4rt", "t5v6w", "zz9kq")
        stream = [alert("KubePodCrashLooping", f"Pod shop/cart-7d9f8b6c4-{s} is crash looping",
                        {"namespace": "shop", "pod": f"cart-7d9f8b6c4-{s}"},
                        ident=f"a{i}", starts_at=1000.0 + i)
                  for i, s in enumerate(suffixes)]
        runtime.engine.ingest(stream)
        assert runtime.embedder.encoded == 1
    finally:
        runtime.close()


def test_text_written_about_alerts_is_masked_as_their_own_texts_are() -> None:
    """A ticket names the instances its alerts' labels name: masked by the same label
    names, longest first, whatever alert named them; stored JSON labels that are no
    string are skipped."""
    from aiops.learning.templates import identities, labelled_text, mask_identities

    labels = [{"mountpoint": "/var", "instance": "web-fra-a:9100", "severity": "page"},
              {"mountpoint": "/var/log", "host": "web-fra-a", "replicas": 3, "instance": 7}]
    names = identities(labels)
    assert names == (("instance", "web-fra-a:9100"), ("host", "web-fra-a"),
                     ("mountpoint", "/var/log"), ("mountpoint", "/var"))
    assert mask_identities("Disk /var/log full on web-fra-a, /var too", names) == (
        "Disk <mountpoint> full on <host>, <mountpoint> too")
    # The same name ``labelled_text`` gives a value two labels hold: the first by name.
    both = {"host": "web-fra-a", "instance": "web-fra-a:9100"}
    assert labelled_text("X", "Clock of web-fra-a drifts", both) == "x: clock of <host> drifts"
    assert mask_identities("Clock of web-fra-a drifts", identities([both])) == (
        "Clock of <host> drifts")
    assert len(identities([{"pod": f"pod-{i:03d}"} for i in range(100)], limit=8)) == 8
    assert labelled_text("X", "3 replicas", {"replicas": 3, "instance": 7}) == "x: <num> replicas"


def test_ipv6_addresses_are_masked_in_every_written_form_and_times_are_not_addresses() -> None:
    """RFC 5952's compressed forms (``2001:db8::1``, ``::1``, a zone, a prefix) are one
    address each, whatever their hex groups; a clock time is numbers, not an address
    (the pattern before text format 3 took ``08:15:12`` for one and left compressed
    addresses as numbers and hex: a new template per address)."""
    assert template("BGP peer 2001:db8::1 down") == template("BGP peer fe80::a:1%eth0 down") \
        == template("BGP peer 2001:0db8:0:0:0:ff00:42:8329/64 down") == "bgp peer <ip> down"
    assert template("refused from ::1") == "refused from <ip>"
    assert template("link down at 08:15:12") == "link down at <num>:<num>:<num>"
    assert template("mac 00:1a:2b:3c:4d:5e moved") == "mac <mac> moved"
    assert template("std::map overflow in abc::def") == "std::map overflow in abc::def"
    # A remediation model trained before text format 3 reads as it was trained.
    assert template("link down at 08:15:12", format3=False) == "link down at <ip<num>>"
