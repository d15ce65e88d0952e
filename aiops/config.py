"""Settings of the engine and of a data dir, with defaults that work out of the box."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_DATA_DIR = "aiops-data"


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """Tunables of deduplication and the first correlator, all in seconds or hops."""

    correlation_window: float = 120.0  # an incident takes alerts this close to its last one
    max_hops: int = 2  # topology distance within which alerts may share an incident
    max_incident_span: float = 300.0  # seconds after its first alert an incident takes new ones
    skew_tolerance: float = 15.0  # seconds of clock skew / reporting delay forgiven
    text_similarity: bool = True  # compare alert texts with the MiniLM sentence model
    refire_window: float = 600.0  # a re-fire sooner than this after resolve reopens the alert
    flap_window: float = 900.0
    flap_threshold: int = 4  # state changes within flap_window that mark an alert flapping
    # Labels that change between events of one condition and so must not split it.
    volatile_labels: tuple[str, ...] = ("severity", "value")
    # Seconds after which a topology item that its source has stopped reporting (while
    # reporting other things) is no longer used; 0 or None: never. Env
    # AIOPS_TOPOLOGY_MAX_AGE. Stores keep such items (docs/topology.md, "History").
    topology_max_age: float | None = 7 * 86400.0


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise ValueError(f"AIOPS_TOPOLOGY_MAX_AGE must be seconds (0: never), got {text!r}")
    return value


@dataclass(frozen=True, slots=True)
class DataDir:
    """Where one engine keeps its state; the database URL defaults to SQLite inside it."""

    path: Path
    database_url: str = ""
    settings: EngineSettings = field(default_factory=EngineSettings)
    graph_url: str = ""  # bolt://... keeps the topology in Neo4j; empty: embedded tables

    @classmethod
    def from_env(cls, path: str | os.PathLike[str] | None, database_url: str | None = None,
                 graph_url: str | None = None):
        chosen = Path(path or os.environ.get("AIOPS_DATA_DIR") or DEFAULT_DATA_DIR)
        url = database_url or os.environ.get("AIOPS_DATABASE_URL") or ""
        graph = graph_url or os.environ.get("AIOPS_GRAPH_URL") or ""
        settings = EngineSettings()
        max_age = os.environ.get("AIOPS_TOPOLOGY_MAX_AGE")
        if max_age:
            settings = replace(settings, topology_max_age=_seconds(max_age))
        return cls(path=chosen, database_url=url, graph_url=graph, settings=settings)

    def url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.path / 'aiops.db').resolve()}"
