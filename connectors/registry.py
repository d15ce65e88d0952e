"""Finding connectors by name through the ``aiops.connectors`` entry points."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

GROUP = "aiops.connectors"


def available() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=GROUP))


def load(name: str) -> Any:
    """The connector class registered as ``name``; KeyError lists the known ones."""
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            return ep.load()
    raise KeyError(f"no connector named '{name}' (known: {', '.join(available()) or 'none'})")
