"""Mutable in-memory state of alerts and incidents while they are live.

The engine decides on these objects and the recorder writes the ones marked dirty
at the end of each batch, so a storm of duplicates costs one UPDATE per alert per
batch rather than one per event.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiops.models import SEVERITY_RANK, Alert

FIRING = "firing"
RESOLVED = "resolved"
OPEN = "open"
MERGED = "merged"


@dataclass(slots=True, eq=False)
class AlertRecord:
    """One deduplicated alert: a condition from its first event until it clears."""

    id: int
    fingerprint: str
    event: Alert  # the first event; later ones fold into this record
    node_id: str | None
    status: str = FIRING
    starts_at: float = 0.0
    ends_at: float | None = None
    last_event_at: float = 0.0
    event_count: int = 1
    transitions: int = 0
    flapping: bool = False
    incident_id: str | None = None
    recent_transitions: deque[float] = field(default_factory=deque)
    # The latest start times reported while it fires, across the condition's episodes
    # until a clear (``aiops.engine.beat``): a steady beat of them is a sender's
    # repeat, not a restart. Stored, so a restart keeps the beat.
    recent_starts: tuple[float, ...] = ()
    persisted: bool = False
    # When the current episode began (its last re-fire; 0.0: at ``starts_at``): a late
    # clear of an earlier episode must not end it. Stored, so a restart keeps it.
    episode_start: float = 0.0
    # Why it is in its incident (``aiops.engine.placement``): the placement decision
    # and later moves, as encoded JSON text when placed (stored as it is) or a dict
    # (read back, or moved since); None: placed before migration 0026. Stored.
    placement: dict[str, Any] | str | None = None

    @property
    def name(self) -> str:
        return self.event.name

    @property
    def entity(self) -> str:
        return self.event.entity

    @property
    def severity(self) -> str:
        return self.event.severity

    def row(self) -> dict[str, Any]:
        e = self.event
        return {
            "id": self.id, "fingerprint": self.fingerprint, "first_event_id": e.id,
            "source": e.source, "name": e.name,
            "entity": e.entity, "node_id": self.node_id, "severity": e.severity,
            "summary": e.summary, "description": e.description, "labels": e.labels,
            "status": self.status, "starts_at": self.starts_at, "ends_at": self.ends_at,
            "last_event_at": self.last_event_at, "event_count": self.event_count,
            "episode_start": self.episode_start or None,
            "recent_transitions": list(self.recent_transitions) or None,
            "recent_starts": list(self.recent_starts) or None,
            "transitions": self.transitions, "flapping": self.flapping,
            "incident_id": self.incident_id, "placement": self.placement,
        }


@dataclass(slots=True, eq=False)
class RootCause:
    """A ranked root-cause candidate with the evidence a person can read."""

    entity: str
    score: float
    alert_id: str | None
    evidence: list[str]
    node_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"entity": self.entity, "score": round(self.score, 4), "alert_id": self.alert_id,
                "evidence": list(self.evidence), "node_id": self.node_id}


@dataclass(slots=True, eq=False)
class IncidentRecord:
    """A group of alerts believed to share one fault."""

    id: str
    seq: int
    started_at: float
    updated_at: float
    status: str = OPEN
    resolved_at: float | None = None
    merged_into: str | None = None
    alerts: dict[int, AlertRecord] = field(default_factory=dict)
    root_causes: list[RootCause] = field(default_factory=list)
    firing: int = 0
    persisted: bool = False
    # Why the engine split this incident in hindsight (``aiops.engine.hindsight``), if
    # it did: put first in the evidence of its top root cause at every ranking.
    split_note: str | None = None
    # Looked at by the hindsight split already, or pinned by an operator's merge or
    # split: never split (again). Stored with the incident's next write.
    settled: bool = False

    @property
    def node_ids(self) -> set[str]:
        return {a.node_id for a in self.alerts.values() if a.node_id is not None}

    @property
    def severity(self) -> str:
        if not self.alerts:
            return "info"
        return min((a.severity for a in self.alerts.values()), key=SEVERITY_RANK.__getitem__)

    def title(self) -> str:
        names = sorted({a.name for a in self.alerts.values()})
        # Node ids where the entity resolved, so aliases of one device count once.
        entities = sorted({a.node_id or a.entity for a in self.alerts.values()})
        what = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        where = ", ".join(entities[:3]) + (f" +{len(entities) - 3}" if len(entities) > 3 else "")
        return f"{what} on {where}"

    def row(self) -> dict[str, Any]:
        return {
            "id": self.id, "seq": self.seq, "status": self.status, "title": self.title(),
            "severity": self.severity, "started_at": self.started_at,
            "updated_at": self.updated_at, "resolved_at": self.resolved_at,
            "merged_into": self.merged_into, "alert_count": len(self.alerts),
            "root_causes": [rc.to_dict() for rc in self.root_causes],
            "settled": self.settled, "split_note": self.split_note,
        }
