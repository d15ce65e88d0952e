"""Alert text → template: the variable parts (numbers, addresses, ids, instance names) masked.

A storm of "LINK_DOWN on port 1/1/7 of 10.2.3.4" alerts differs only in such parts;
masking them lets one embedding serve the whole storm. Real alert texts also name
instances that are not numbers (``Pod payments/cart-7d9f8b6c4-x2k9p is not ready``,
``disk full on /var of web-fra-a``): each would make a new template, and a new
template costs milliseconds of the text model. Where the alert's own labels name the
instance, its value is masked by the label's name (the instance is evidence of its own,
through the topology); names Kubernetes generates are masked by their shape, labels or
not. User names that login messages give and no label does are masked by those
messages' wording (``users``). The alert's type and the rest of its wording stay, so
kinds stay apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from aiops.learning.users import mask_users
from aiops.models import Alert

_K8S = "[bcdfghjklmnpqrstvwxz2456789]"  # the alphabet of Kubernetes' generated names
_HEX = (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b"), "<hex>", "", 0)
_NUM = (re.compile(r"\d+(?:\.\d+)?"), "<num>", "", 0)

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
    # An IPv6 address as written (RFC 4291 §2.2, RFC 5952), with its zone (RFC 4007
    # §11, ``fe80::1%eth0``) and prefix: eight groups, or fewer around one "::"; with a
    # digit somewhere, so C++'s ``std::map`` stays; "<ip>" like
    # IPv4's (an address is an address, and "<ip6>" would lose its 6 to "<num>").
    (re.compile(r"(?<![0-9a-f:])(?=[0-9a-f:]*\d)(?:(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}"
                r"|(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?::"
                r"(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?)(?:%[0-9a-z_.-]+)?(?:/\d{1,3})?"
                r"(?![0-9a-f:])"),
     "<ip>", ":", 2),
    _HEX,
    _NUM,
)
# How texts were read before remediation text format 3 (``format3=False``): no user
# names masked, and IPv6 taken as any two to seven colons between hex groups, which
# also took clock times (``08:15:12``) and wrote "<ip6>", whose 6 then became "<num>".
_MASKS_BEFORE_FORMAT3 = (
    *_MASKS[:4],
    (re.compile(r"\b(?:[0-9a-f]{1,4}:){2,7}[0-9a-f]{1,4}\b"), "<ip6>", ":", 2),
    _HEX,
    _NUM,
)
_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=65536)
def template(text: str, format3: bool = True) -> str:
    """Lower-cased text with variable parts masked and white space folded.

    Runs for most alerts (a summary naming a device and a port rarely repeats), so a
    mask whose separators the text lacks (no '.' for an address, too few '-' for a
    UUID) is skipped without running its pattern: the same result, fewer passes.
    User names in authentication messages are masked first (``users.mask_users``),
    before the number masks could cut a name such as ``svc01`` in two.
    ``format3=False`` reads as texts were read before remediation text format 3 (user
    names left in, the old IPv6 pattern), for a remediation model trained then.
    """
    out = mask_users(text.lower()) if format3 else text.lower()
    for pattern, mask, separators, needed in (_MASKS if format3 else _MASKS_BEFORE_FORMAT3):
        if needed and sum(map(out.count, separators)) < needed:
            continue
        out = pattern.sub(mask, out)
    return _SPACE.sub(" ", out).strip()


@lru_cache(maxsize=65536)
def alert_text(name: str, summary: str, format3: bool = True) -> str:
    """What the text model reads of an alert: its type (kept whole: ``ALM_12`` names a
    type, its digits are not a variable part) and its templated one-line summary
    (``format3``: as ``template``)."""
    return f"{name.replace('_', ' ').lower()}: {template(summary, format3)}"


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


def _maskable(key: str, value: str) -> bool:
    """Whether a label's value is one to mask: an identity label's, and not one or two
    characters unless a path (``/``), nor a bare number: ``a``, ``db`` or ``3`` would
    mask words and counts. Stored labels are JSON: a value may be no string."""
    return key in IDENTITY_LABELS and isinstance(value, str) \
        and (len(value) > 2 or value[:1] == "/") and not value.isdigit()


def _by_length(found: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """Longest value first (``/var/log`` is masked before ``/var``), then by name."""
    found.sort(key=lambda kv: (-len(kv[1]), kv[0]))
    return tuple(found)


def _identities(summary: str, labels: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The identity labels whose value ``summary`` names, longest value first."""
    found = [(key, value) for key, value in labels.items()
             if _maskable(key, value) and value in summary]
    instance = labels.get("instance")
    host, _, port = instance.rpartition(":") if isinstance(instance, str) else ("", "", "")
    if port.isdigit() and len(host) > 2 and host in summary:
        found.append(("instance", host))  # Prometheus' ``host:port``: texts name the host
    return _by_length(found)


def identities(label_sets: Iterable[Mapping[str, str]], limit: int = 64
               ) -> tuple[tuple[str, str], ...]:
    """The instance names of a group of alerts (an incident's, a ticket's): every
    maskable identity value of their labels (and the host of ``instance``), each once,
    under the name ``labelled_text`` would give it, at most ``limit`` of them. For
    masking text written about those alerts (a ticket's) as their own texts are."""
    found: dict[str, str] = {}
    for labels in label_sets:
        instance = labels.get("instance")
        host, _, port = instance.rpartition(":") if isinstance(instance, str) else ("", "", "")
        pairs = list(labels.items())
        if port.isdigit() and len(host) > 2:
            pairs.append(("instance", host))
        for key, value in pairs:
            if not _maskable(key, value):
                continue
            if value in found:  # the first name in order, as ``_by_length`` breaks ties
                found[value] = min(key, found[value])
            elif len(found) < limit:
                found[value] = key
    return _by_length([(key, value) for value, key in found.items()])


def mask_identities(text: str, names: Sequence[tuple[str, str]]) -> str:
    """``text`` with every whole occurrence of each value of ``names`` (key, value; as
    ``identities`` orders them) replaced by ``<key>``."""
    for key, value in names:
        if value in text:
            text = _replace_whole(text, value, f"<{key.lower()}>")
    return text


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
def _masked_text(name: str, summary: str, names: tuple[tuple[str, str], ...],
                 format3: bool = True) -> str:
    return alert_text(name, mask_identities(summary, names), format3)


def labelled_text(name: str, summary: str, labels: Mapping[str, str] | None,
                  format3: bool = True) -> str:
    """What the text model reads of an alert of type ``name`` with ``summary`` and
    ``labels``: ``alert_text`` of its type and its summary with the values of its
    identity labels masked by their names (``Pod <namespace>/<pod> (<container>) is
    crash looping``). For stored alerts (rows, incident dicts) as for events: the
    correlator, ticket linking and remediation must read one text of one alert.
    ``format3=False``: read as before remediation text format 3 (``template``), for a
    remediation model trained then (``RemediationModel.text_format`` 2)."""
    if not labels:
        return alert_text(name, summary, format3)
    found = _identities(summary, labels)
    if not found:
        return alert_text(name, summary, format3)
    return _masked_text(name, summary, found, format3)


def event_text(event: Alert) -> str:
    """What the correlator's text model reads of one alert event (``labelled_text``).
    The stored alert keeps its text; only the model's input changes."""
    return labelled_text(event.name, event.summary, event.labels)
