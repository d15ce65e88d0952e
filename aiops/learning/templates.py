"""Alert text → template: the variable parts (numbers, addresses, ids, instance names) masked.

A storm of "LINK_DOWN on port 1/1/7 of 10.2.3.4" alerts differs only in such parts;
masking them lets one embedding serve the whole storm. Real alert texts also name
instances that are not numbers (``Pod payments/cart-7d9f8b6c4-x2k9p is not ready``,
``disk full on /var of web-fra-a``): each would make a new template, and a new
template costs milliseconds of the text model. Where the alert's own labels name the
instance, its value is masked by the label's name (the instance is evidence of its own,
through the topology); names Kubernetes generates are masked by their shape, labels or
not. The alert's type and the rest of its wording stay, so kinds stay apart.
"""

from __future__ import annotations

import re
from functools import lru_cache

from aiops.models import Alert

_K8S = "[bcdfghjklmnpqrstvwxz2456789]"  # the alphabet of Kubernetes' generated names

# Each mask with the characters one of its matches must contain, and how many of them:
# a text short of them cannot match, and skipping the pattern then leaves it as it is.
_MASKS: tuple[tuple[re.Pattern[str], str, str, int], ...] = (
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), "<uuid>",
     "-", 4),
    (re.compile(r"\b(?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2}\b"), "<mac>", ":-", 5),
    # A pod of a ReplicaSet (``cart-7d9f8b6c4-x2k9p``) or of a DaemonSet or Job
    # (``node-exporter-x2k9p``): Kubernetes draws the generated parts from an alphabet
    # without vowels, 0, 1 and 3, so they never spell a word; at least one letter, so
    # ``port-22222`` stays a number.
    (re.compile(rf"\b[a-z0-9]+(?:-[a-z0-9]+)*?-(?:{_K8S}{{6,10}}-)?(?=[2-9]*[b-z]){_K8S}{{5}}\b"),
     "<pod>", "-", 1),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?:/\d{1,2})?(?::\d{1,5})?\b"), "<ip>", ".", 3),
    (re.compile(r"\b(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{1,4}\b"), "<ip6>", ":", 2),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b"), "<hex>", "", 0),
    (re.compile(r"\d+(?:\.\d+)?"), "<num>", "", 0),
)
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=65536)
def template(text: str) -> str:
    """Lower-cased text with variable parts masked and white space folded.

    Runs for most alerts (a summary naming a device and a port rarely repeats), so a
    mask whose separators the text lacks (no '.' for an address, too few '-' for a
    UUID) is skipped without running its pattern: the same result, fewer passes.
    """
    out = text.lower()
    for pattern, mask, separators, needed in _MASKS:
        if needed and sum(map(out.count, separators)) < needed:
            continue
        out = pattern.sub(mask, out)
    return _SPACE.sub(" ", out).strip()


@lru_cache(maxsize=65536)
def alert_text(name: str, summary: str) -> str:
    """What the text model reads of an alert: its type (kept whole: ``ALM_12`` names a
    type, its digits are not a variable part) and its templated one-line summary."""
    return f"{name.replace('_', ' ').lower()}: {template(summary)}"


# Labels whose value names an instance (which pod, host, mount point, user...), not a
# kind of problem: Prometheus' and node-exporter's, kube-state-metrics', SNMP's.
IDENTITY_LABELS = frozenset({
    "instance", "pod", "namespace", "container", "device", "job", "host", "hostname",
    "node", "service", "deployment", "statefulset", "daemonset", "replicaset", "job_name",
    "cronjob", "persistentvolumeclaim", "persistentvolume", "volume", "mountpoint",
    "interface", "ifname", "ifdescr", "ifalias", "user", "username", "cluster", "endpoint",
    "target", "horizontalpodautoscaler", "exported_namespace", "exported_pod",
    "exported_job", "exported_instance", "server", "database", "queue", "topic",
})


def _identities(event: Alert) -> tuple[tuple[str, str], ...]:
    """The alert's identity labels whose value its summary names, longest value first
    (``/var/log`` is masked before ``/var``). A value of one or two characters is left
    alone unless it is a path (``/``): ``a`` or ``db`` would mask words."""
    summary = event.summary
    found = [(key, value) for key, value in event.labels.items()
             if key in IDENTITY_LABELS and value in summary
             and (len(value) > 2 or value[:1] == "/") and not value.isdigit()]
    instance = event.labels.get("instance", "")
    host, _, port = instance.rpartition(":")
    if port.isdigit() and len(host) > 2 and host in summary:
        found.append(("instance", host))  # Prometheus' ``host:port``: texts name the host
    found.sort(key=lambda kv: (-len(kv[1]), kv[0]))
    return tuple(found)


def _joins(char: str) -> bool:
    """Whether ``char`` next to a value makes it part of a longer name."""
    return char.isalnum() or char in "_-"


def _replace_whole(text: str, value: str, mask: str) -> str:
    """``text`` with every whole occurrence of ``value`` replaced by ``mask``: not
    inside a longer name (``payments`` stays in ``payments-api``, ``/var`` in
    ``/variable``). A string search, not a pattern: every value would compile a new one
    (thousands on a stream of pods, more than the regex module keeps)."""
    out, start, size = [], 0, len(value)
    at = text.find(value)
    while at != -1:
        end = at + size
        if (at == 0 or not _joins(text[at - 1])) and (end == len(text) or not _joins(text[end])):
            out += (text[start:at], mask)
            start = end
            at = text.find(value, end)
        else:
            at = text.find(value, at + 1)
    out.append(text[start:])
    return "".join(out)


@lru_cache(maxsize=65536)
def _masked_text(name: str, summary: str, identities: tuple[tuple[str, str], ...]) -> str:
    for key, value in identities:
        summary = _replace_whole(summary, value, f"<{key.lower()}>")
    return alert_text(name, summary)


def event_text(event: Alert) -> str:
    """What the correlator's text model reads of one alert event: ``alert_text`` of its
    type and its summary with the values of its identity labels masked by their names
    (``Pod <namespace>/<pod> (<container>) is crash looping``). The stored alert keeps
    its text; only the model's input changes."""
    if not event.labels:
        return alert_text(event.name, event.summary)
    identities = _identities(event)
    if not identities:
        return alert_text(event.name, event.summary)
    return _masked_text(event.name, event.summary, identities)
