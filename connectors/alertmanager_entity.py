"""Which thing a Prometheus alert is about, from its labels.

Why not simply the first of a list of labels: a Prometheus alert's labels say two
things at once, what the metric is about and where it was scraped (``instance``,
``job``, and the Prometheus operator's ``pod``/``service``/``container`` of the
target). For an exporter that measures its own machine (node-exporter, an
application's ``/metrics``) the two are the same thing or neighbours; for an exporter
that reports on *other* objects they are not. kube-state-metrics is the one every
Kubernetes installation has: every ``Kube*`` rule of the kubernetes-mixin is computed
from it, and its alerts carry the subject (``namespace`` + ``pod``, ``deployment``,
``node``) next to kube-state-metrics' own ``instance`` and ``job``. Taking
``instance`` there put every pod and deployment alert of a cluster on the
kube-state-metrics pod (docs/benchmarks.md, "A Kubernetes node failure").

The order:

1. labels that only ever name the subject: ``entity``, ``host``, ``hostname``,
   ``node``;
2. a workload object (``deployment``, ``statefulset``, ``daemonset``,
   ``job_name``, ``cronjob``, ``horizontalpodautoscaler``): no scrape target label
   has these names, so they are the subject wherever they appear. With a
   ``namespace`` the entity is ``<kind>/<namespace>/<name>`` (``deploy/shop/cart``,
   the id ``topology/discovery/kubernetes.py`` gives a Deployment): a bare name
   would resolve to the Service of the same name, which most Deployments have;
3. ``instance``, unless the alert's ``job`` is a state exporter (then it is the
   exporter's address);
4. ``device``: node-exporter's disk, filesystem or network interface (``sda``,
   ``/dev/nvme0n1p1``, ``eth0``) is a part of the ``instance`` above, so it comes
   after it; it names the subject only when nothing above does;
5. ``pod``, ``service``; ``job`` and then ``namespace`` unless the job is a state
   exporter (its own name says nothing about the subject).
"""

from __future__ import annotations

SUBJECT_LABELS = ("entity", "host", "hostname", "node")
# label -> the short kind kubectl accepts (and the Kubernetes discovery uses for ids)
WORKLOAD_LABELS = (("deployment", "deploy"), ("statefulset", "sts"), ("daemonset", "ds"),
                   ("job_name", "job"), ("cronjob", "cronjob"),
                   ("horizontalpodautoscaler", "hpa"))
# Exporters whose metrics are about other objects than their scrape target, known by
# the ``job`` label (a substring: installations prefix the release name).
STATE_EXPORTER_JOBS = ("kube-state-metrics", "openshift-state-metrics")
FALLBACK_ENTITY = "global"


def is_state_exporter(labels: dict[str, str]) -> bool:
    """Whether the alert's scrape target reports on other objects than itself."""
    job = labels.get("job", "")
    return any(name in job for name in STATE_EXPORTER_JOBS)


def entity_of(labels: dict[str, str]) -> str:
    """The entity an Alertmanager alert is about (see the module's docstring)."""
    for key in SUBJECT_LABELS:
        if labels.get(key):
            return labels[key]
    namespace = labels.get("namespace")
    for key, kind in WORKLOAD_LABELS:
        if labels.get(key):
            return f"{kind}/{namespace}/{labels[key]}" if namespace else labels[key]
    state_exporter = is_state_exporter(labels)
    order = ("pod", "service") if state_exporter else (
        "instance", "device", "pod", "service", "job")
    for key in order:
        if labels.get(key):
            return labels[key]
    if state_exporter and namespace:
        return namespace
    return FALLBACK_ENTITY
