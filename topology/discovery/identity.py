"""One node per real thing: merging what a source found with what is already stored.

Sources name the same box differently: NetBox says ``sw1``, LLDP says
``sw1.lab.example`` with a chassis MAC, Kubernetes says ``worker-1`` with an
InternalIP. Before an upsert every incoming node that is not of a scoped kind (an
interface, a pod...) is matched against the stored nodes and the nodes already
taken from this batch, by keys of three strengths:

1. serial number or LLDP chassis id (hardware identity);
2. a name: id, name, hostname, FQDN or alias; an FQDN matches a short name and the
   reverse, but two different FQDNs never match each other;
3. a management or other IP address: reported when two nodes claim one, never a
   reason to merge (addresses get reused and mistyped; names and serials do less).

The strongest key decides; other keys that point elsewhere are reported as
conflicts, as is a key that matches several nodes (the node is then not merged).
Within one batch a serial shared by two named nodes is a conflict, not a merge:
the source itself says they are two things.

Each source's view of the identity attributes is kept under
``attrs.by_source`` so a re-sync from the same source updates its own values, while
a value from another source that disagrees is reported and does not overwrite the
stored one. Interface ids embed their device id, so they are rebuilt after the
device was merged, and edges are re-pointed to the merged ids.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from aiops.errors import InputError
from topology.discovery.base import SCOPED_KINDS, SHARED_NAME, Discovered, interface_id
from topology.discovery.lldp_model import is_ip
from topology.graph import TopologyGraph
from topology.model import Edge, Node

IDENTITY_ATTRS: tuple[str, ...] = ("serial", "chassis_id", "fqdn", "hostname", "mgmt_ip")
STRONG, NAME, ADDRESS = 3, 2, 1
STRENGTH_WORD = {STRONG: "hardware id", NAME: "name", ADDRESS: "address"}
LEGACY_SOURCE = "stored"  # what a node stored before provenance was kept is attributed to
BOOKKEEPING = ("by_source", "seen_by", "aliases", "ips")


@dataclass(slots=True)
class Conflict:
    """Two sources (or two stored nodes) disagree about one thing; reported, not fixed."""

    node: str
    what: str
    message: str
    values: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "what": self.what, "message": self.message,
                "values": self.values}


@dataclass(slots=True)
class Merged:
    """The batch as it will be upserted, and what the merge had to say about it."""

    nodes: list[Node]
    edges: list[Edge]
    conflicts: list[Conflict]
    renamed: dict[str, str]  # incoming id -> id of the node it was merged into


def _short(name: str) -> str | None:
    return name.split(".", 1)[0] if "." in name and not is_ip(name) else None


def _names(node: Node) -> set[str]:
    # A name its source gives several things (``SHARED_NAME``) identifies none of them.
    shown = None if node.attrs.get(SHARED_NAME) else node.name
    raw = [node.id, shown, node.attrs.get("hostname"), node.attrs.get("fqdn")]
    aliases = node.attrs.get("aliases")
    if isinstance(aliases, list):
        raw.extend(aliases)
    return {str(n).strip().lower() for n in raw if n and not is_ip(str(n).strip())}


def _addresses(node: Node) -> set[str]:
    raw = [node.attrs.get("mgmt_ip"), node.attrs.get("ip")]
    for key in ("ips", "aliases"):
        values = node.attrs.get(key)
        if isinstance(values, list):
            raw.extend(values)
    return {str(a).strip().lower() for a in raw if a and is_ip(str(a).strip())}


def _strong(node: Node) -> set[str]:
    return {f"{key}:{str(node.attrs[key]).strip().lower()}" for key in ("serial", "chassis_id")
            if node.attrs.get(key)}


class IdentityIndex:
    """Identity keys of mergeable nodes → the node ids that carry them."""

    def __init__(self) -> None:
        self.strong: dict[str, set[str]] = defaultdict(set)
        self.dotted: dict[str, set[str]] = defaultdict(set)  # full FQDN-like names
        self.plain: dict[str, set[str]] = defaultdict(set)  # names without a domain
        self.short: dict[str, set[str]] = defaultdict(set)  # first label of dotted names
        self.ips: dict[str, set[str]] = defaultdict(set)

    def add(self, node: Node) -> None:
        for key in _strong(node):
            self.strong[key].add(node.id)
        for name in _names(node):
            short = _short(name)
            if short:
                self.dotted[name].add(node.id)
                self.short[short].add(node.id)
            else:
                self.plain[name].add(node.id)
        for address in _addresses(node):
            self.ips[address].add(node.id)

    def matches(self, node: Node) -> list[tuple[int, str, set[str]]]:
        """(strength, key, ids) for every key of ``node`` that some node carries."""
        found: list[tuple[int, str, set[str]]] = []
        for key in sorted(_strong(node)):
            if self.strong.get(key):
                found.append((STRONG, key, set(self.strong[key])))
        for name in sorted(_names(node)):
            short = _short(name)
            ids = (self.dotted.get(name, set()) | self.plain.get(short, set())) if short \
                else (self.plain.get(name, set()) | self.short.get(name, set()))
            if ids:
                found.append((NAME, f"name:{name}", set(ids)))
        for address in sorted(_addresses(node)):
            if self.ips.get(address):
                found.append((ADDRESS, f"ip:{address}", set(self.ips[address])))
        return found


def _view(node: Node) -> dict[str, Any]:
    view = {k: node.attrs[k] for k in IDENTITY_ATTRS if node.attrs.get(k)}
    view["name"] = node.name
    return view


def _copy(node: Node) -> Node:
    attrs = {k: (dict(v) if isinstance(v, dict) else list(v) if isinstance(v, list) else v)
             for k, v in node.attrs.items()}
    if "by_source" in attrs:
        attrs["by_source"] = {s: dict(v) for s, v in attrs["by_source"].items()}
    return Node(node.id, node.kind, node.name, attrs)


class IdentityMerge:
    """Merges one source's batch into the stored topology's identities (see module doc)."""

    def __init__(self, current: TopologyGraph, source: str):
        self.current = current
        self.source = source
        self.index = IdentityIndex()
        for node in current.nodes.values():
            if node.kind not in SCOPED_KINDS:
                self.index.add(node)
        self.out: dict[str, Node] = {}
        self.renamed: dict[str, str] = {}
        self.conflicts: list[Conflict] = []
        self.fresh: set[str] = set()  # ids this batch created (not stored before)

    def run(self, batch: Discovered) -> Merged:
        boxes = [n for n in batch.nodes if n.kind not in SCOPED_KINDS]
        scoped = [n for n in batch.nodes if n.kind in SCOPED_KINDS]
        self._report_shared_names(boxes)
        for node in boxes:
            self._place_box(node)
        for node in scoped:
            self._place_scoped(node)
        edges = self._edges(batch.edges)
        return Merged(list(self.out.values()), edges, self.conflicts, self.renamed)

    def _report_shared_names(self, boxes: list[Node]) -> None:
        """One conflict per node whose source gives its name to several things: an
        alert that names it so resolves to none of them (``EntityResolver`` does not
        guess), and the operator should know why and what to name instead."""
        groups: dict[str, list[Node]] = defaultdict(list)
        for node in boxes:
            if node.attrs.get(SHARED_NAME):
                groups[node.name.lower()].append(node)
        stored = {node_id.lower(): node_id for node_id in self.current.nodes} if groups else {}
        for name, nodes in groups.items():
            ids = sorted(n.id for n in nodes)
            stale = stored.get(name)
            if stale is not None and stale not in ids:
                self.conflicts.append(Conflict(
                    stale, "shared-name",
                    f"'{stale}' is stored under a name {self.source} now gives "
                    f"{len(ids)} things ({', '.join(ids)}); it is none of them and is not "
                    "refreshed, so it ages out, but until then alerts naming "
                    f"'{stale}' land on it", {"name": stale, "ids": ids}))
            for node in nodes:
                self.conflicts.append(Conflict(
                    node.id, "shared-name",
                    f"{self.source} names {len(ids)} things '{node.name}' "
                    f"({', '.join(ids)}); an alert naming '{node.name}' resolves to none "
                    f"of them: name '{node.id}' (or its address) instead",
                    {"name": node.name, "ids": ids}))

    def _known(self, node_id: str) -> Node | None:
        return self.out.get(node_id) or self.current.nodes.get(node_id)

    def _place_box(self, node: Node) -> None:
        target_id = self._match(node)
        if target_id is None:
            fresh = _copy(node)
            fresh.attrs["by_source"] = {self.source: _view(node)}
            fresh.attrs["seen_by"] = [self.source]
            self._take(fresh)
            self.fresh.add(fresh.id)
            target_id = fresh.id
        else:
            self._merge_into(target_id, node)
        self.renamed[node.id] = target_id

    def _take(self, node: Node) -> None:
        self.out[node.id] = node
        self.index.add(node)

    def _match(self, node: Node) -> str | None:
        """Id of the node ``node`` is, or None for a new node (see the module doc)."""
        decisive: list[tuple[int, str, set[str]]] = []
        # A node stored under a name its source now says is shared (the devices it
        # merged, before their ids were qualified) is none of them: merged into, it
        # would be refreshed by every run and keep taking alerts of either.
        shared = node.name.lower() if node.attrs.get(SHARED_NAME) else None
        for strength, key, ids in self.index.matches(node):
            if strength == ADDRESS:
                continue  # an address alone never merges; checked below
            if shared is not None:
                ids = {i for i in ids if i.lower() != shared}
            if strength == STRONG:
                twins = {i for i in ids if i in self.fresh and not self._unnamed(i)}
                if twins and not node.attrs.get("unnamed"):
                    self.conflicts.append(Conflict(
                        node.id, "identity",
                        f"{key} is claimed by '{node.id}' and "
                        f"{', '.join(repr(t) for t in sorted(twins))} in {self.source}; "
                        "kept apart", {"key": key, "claimed_by": sorted(twins | {node.id})}))
                    ids = ids - twins
            if ids:
                decisive.append((strength, key, ids))
        target = self._decide(node, decisive)
        self._check_addresses(node, target)
        return target

    def _unnamed(self, node_id: str) -> bool:
        known = self._known(node_id)
        return bool(known and known.attrs.get("unnamed"))

    def _decide(self, node: Node, found: list[tuple[int, str, set[str]]]) -> str | None:
        if not found:
            return None
        best = max(strength for strength, _, _ in found)
        winners = set().union(*(ids for strength, _, ids in found if strength == best))
        if len(winners) > 1:
            keys = ", ".join(key for strength, key, _ in found if strength == best)
            self.conflicts.append(Conflict(
                node.id, "ambiguous",
                f"{self.source} node '{node.id}' matches several nodes "
                f"({', '.join(sorted(winners))}) by {keys}; kept apart",
                {"candidates": sorted(winners)}))
            return node.id if node.id in winners else None
        target = winners.pop()
        for strength, key, ids in found:
            others = ids - {target}
            if others and strength < best:
                self.conflicts.append(Conflict(
                    target, "identity",
                    f"{self.source} node '{node.id}' is '{target}' by its "
                    f"{STRENGTH_WORD[best]}, but {key} belongs to "
                    f"{', '.join(sorted(others))}",
                    {"key": key, "claimed_by": sorted(others | {target})}))
        return target

    def _check_addresses(self, node: Node, target: str | None) -> None:
        """An address also claimed by another node is reported, never used to merge."""
        me = target or node.id
        for address in sorted(_addresses(node)):
            others = sorted(self.index.ips.get(address, set()) - {me})
            if others:
                self.conflicts.append(Conflict(
                    me, "address",
                    f"address {address} of '{me}' ({self.source}) is also claimed by "
                    f"{', '.join(repr(o) for o in others)}",
                    {"address": address, "claimed_by": sorted([*others, me])}))

    def _merge_into(self, target_id: str, node: Node) -> None:
        known = self._known(target_id)
        assert known is not None
        target = self.out.get(target_id) or _copy(known)
        views: dict[str, dict[str, Any]] = target.attrs.setdefault("by_source", {})
        if not views:  # stored before provenance was kept: its values are one more source
            views[LEGACY_SOURCE] = _view(target)
        previous_owners = set(views)
        others = {s: v for s, v in views.items() if s != self.source}
        mine = views.setdefault(self.source, {})
        mine.update(_view(node))
        for attr in IDENTITY_ATTRS:
            self._merge_identity_attr(target, node, attr, others)
        self._merge_name(target, node, others)
        only_mine = previous_owners <= {self.source}
        for key, value in node.attrs.items():
            if key in BOOKKEEPING or key in IDENTITY_ATTRS:
                continue
            if only_mine or key not in target.attrs:
                target.attrs[key] = value
        for key in ("aliases", "ips"):
            merged = set(target.attrs.get(key) or []) | set(node.attrs.get(key) or [])
            if key == "aliases" and node.id != target.id:
                merged.add(node.id)  # alerts that use this source's id still resolve
            if merged:
                target.attrs[key] = sorted(merged)
        target.attrs["seen_by"] = sorted(set(target.attrs.get("seen_by") or []) | set(views))
        self._take(target)

    def _merge_identity_attr(self, target: Node, node: Node, attr: str,
                             others: dict[str, dict[str, Any]]) -> None:
        value = node.attrs.get(attr)
        if not value:
            return
        claims = {s: v[attr] for s, v in others.items() if v.get(attr)}
        if not claims:
            target.attrs[attr] = value  # nobody else says otherwise: ours to set
            return
        if any(str(v).lower() == str(value).lower() for v in claims.values()):
            return
        current = str(target.attrs.get(attr, "")).lower()
        if not any(str(v).lower() == current for v in claims.values()):
            target.attrs[attr] = value  # the stored value was this source's own, now stale
        self.conflicts.append(Conflict(
            target.id, attr,
            f"{attr} of '{target.id}': {self.source} says {value!r}, "
            + ", ".join(f"{s} says {v!r}" for s, v in sorted(claims.items()))
            + f"; kept {target.attrs.get(attr)!r}",
            {**claims, self.source: value}))

    def _merge_name(self, target: Node, node: Node, others: dict[str, dict[str, Any]]) -> None:
        mine, theirs = node.name.lower(), target.name.lower()
        if (_short(mine) or mine) == (_short(theirs) or theirs):
            return
        if not others:
            target.name = node.name
            return
        self.conflicts.append(Conflict(
            target.id, "name",
            f"'{target.name}' is called '{node.name}' by {self.source}; kept "
            f"'{target.name}', added '{node.name}' as an alias",
            {"kept": target.name, self.source: node.name}))
        aliases = set(target.attrs.get("aliases") or [])
        aliases.add(node.name)
        target.attrs["aliases"] = sorted(aliases)

    def _place_scoped(self, node: Node) -> None:
        new_id, name = node.id, node.name
        device = node.attrs.get("device")
        if node.kind == "interface" and device in self.renamed and node.attrs.get("ifname"):
            device_id = self.renamed[device]
            ifname = str(node.attrs["ifname"])
            new_id = interface_id(device_id, ifname)
            device_node = self._known(device_id)
            name = f"{device_node.name if device_node else device_id}:{ifname}"
        incoming = Node(new_id, node.kind, name, {**node.attrs})
        if incoming.kind == "interface" and device in self.renamed:
            incoming.attrs["device"] = self.renamed[device]
        self.renamed[node.id] = new_id
        known = self._known(new_id)
        if known is None:
            incoming.attrs["seen_by"] = [self.source]
            self.out[new_id] = incoming
            return
        target = self.out.get(new_id) or _copy(known)
        seen = set(target.attrs.get("seen_by") or [])
        for key, value in incoming.attrs.items():
            if key == "seen_by":
                continue
            if seen <= {self.source} or key not in target.attrs:
                target.attrs[key] = value
        target.attrs["seen_by"] = sorted(seen | {self.source})
        self.out[new_id] = target

    def _edges(self, edges: list[Edge]) -> list[Edge]:
        out: dict[tuple[str, str, str], Edge] = {}
        dangling: list[str] = []
        for edge in edges:
            source = self.renamed.get(edge.source, edge.source)
            target = self.renamed.get(edge.target, edge.target)
            if source == target:
                continue
            if edge.kind == "connected_to" and target < source:
                source, target = target, source
            for end in (source, target):
                if self._known(end) is None:
                    dangling.append(f"{edge.source}-{edge.kind}->{edge.target}")
            attrs = dict(edge.attrs)
            if isinstance(attrs.get("ports"), list):
                attrs["ports"] = sorted(self._port_id(p) for p in attrs["ports"])
            key = (source, target, edge.kind)
            if key in out:
                for k, v in attrs.items():
                    if isinstance(v, list) and isinstance(out[key].attrs.get(k), list):
                        out[key].attrs[k] = sorted(set(out[key].attrs[k]) | set(v))
                    else:
                        out[key].attrs.setdefault(k, v)
            else:
                out[key] = Edge(source, target, edge.kind, attrs)
        if dangling:
            raise InputError(f"{self.source}: edges refer to unknown nodes: "
                             + ", ".join(dangling[:20]))
        return list(out.values())

    def _port_id(self, port: str) -> str:
        return self.renamed.get(port, port)


def merge(batch: Discovered, current: TopologyGraph) -> Merged:
    """``batch`` with identities merged into ``current``'s (see the module doc)."""
    return IdentityMerge(current, batch.source).run(batch)
