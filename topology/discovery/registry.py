"""Discovery sources by name: the ``aiops.connectors`` entry points, then the built-ins.

Entry points let a user add a source in their own package. The built-in table
repeats the project's own entry points so a source checkout that was not
re-installed after a new source was added still finds it.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from aiops.errors import InputError
from topology.discovery.base import TopologySource

GROUP = "aiops.connectors"
BUILTIN: dict[str, str] = {
    "lldp": "topology.discovery.lldp:LldpConnector",
    "netbox": "topology.discovery.netbox:NetboxConnector",
    "kubernetes": "topology.discovery.kubernetes:KubernetesConnector",
    "inventory": "topology.discovery.inventory:InventoryConnector",
    "learned": "topology.discovery.learned:LearnedConnector",
}


def _is_source(cls: Any) -> bool:
    return callable(getattr(cls, "collect", None))


def source_class(name: str) -> type[TopologySource]:
    """The discovery connector class registered as ``name``."""
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            cls = ep.load()
            if _is_source(cls):
                return cls
            raise InputError(f"connector '{name}' is not a topology source (no collect())")
    if name in BUILTIN:
        module, attr = BUILTIN[name].split(":")
        return getattr(import_module(module), attr)
    raise InputError(f"no discovery source named '{name}' (known: {', '.join(names())})")


def names() -> list[str]:
    """Names of all discovery sources (built-in and installed)."""
    found = set(BUILTIN)
    for ep in entry_points(group=GROUP):
        if ep.name not in found:
            try:
                if _is_source(ep.load()):
                    found.add(ep.name)
            except Exception:  # a broken third-party plug-in must not hide the others
                continue
    return sorted(found)


def build(name: str, options: dict[str, Any] | None = None) -> TopologySource:
    """An instance of source ``name`` configured with ``options`` (constructor keywords)."""
    cls = source_class(name)
    try:
        return cls(**(options or {}))
    except TypeError as exc:
        raise InputError(f"source '{name}': bad options: {exc}") from None
