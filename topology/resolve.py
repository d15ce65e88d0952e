"""Alert entity → topology node.

Sources name things their own way: an id, a display name, an alias, an IP address,
an FQDN where the inventory has a short name, or the reverse. The index is built
once per topology load so resolving an alert is a couple of dict look-ups.
"""

from __future__ import annotations

from collections.abc import Iterable

from topology.model import Node


def _keys(text: str) -> list[str]:
    """Look-up keys for one name: itself, lower-cased, and the short form of an FQDN."""
    lowered = text.strip().lower()
    keys = [lowered]
    if "." in lowered and not lowered.replace(".", "").isdigit():
        keys.append(lowered.split(".", 1)[0])
    return keys


class EntityResolver:
    """Maps the names sources use to node ids; ambiguous short names are not guessed."""

    def __init__(self, nodes: Iterable[Node]):
        self._exact: dict[str, str] = {}
        self._loose: dict[str, str | None] = {}
        for node in nodes:
            self._exact[node.id] = node.id
            for name in (node.id, node.name, *node.aliases()):
                for key in _keys(name):
                    owner = self._loose.get(key, node.id)
                    # A key claimed by two different nodes resolves to neither.
                    self._loose[key] = node.id if owner == node.id else None

    def resolve(self, entity: str) -> str | None:
        """The node id for ``entity``, or None when unknown or ambiguous."""
        hit = self._exact.get(entity)
        if hit is not None:
            return hit
        for key in _keys(entity):
            node_id = self._loose.get(key)
            if node_id is not None:
                return node_id
        return None
