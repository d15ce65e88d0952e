"""A late alert of a type that usually comes first: the onset of another fault?

Overlapping faults are where placement loses precision: a new fault starting next to
a live incident joins it, and its cascade follows. An alert whose type, in history,
usually started *before* the types already in a nearby incident (high ``rootness``
against them, ``aiops.learning.relations``), arriving when that incident is already
some seconds old, looks more like a new fault's first alarm than a late member. So
its link to that incident is scaled down.

EXPERIMENT (branch ``late-root``): settings come from ``AIOPS_EXP_LATE_ROOT``
("age,rootness,factor,min_seen,scope,new_node"; scope ``incident`` or ``member``,
new_node 1 or 0); unset, the rule is off.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from aiops.engine.index import IncidentProfile
from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.learning.relations import TypeRelations


@dataclass(frozen=True, slots=True)
class LateRootRule:
    """Scale a link by ``factor`` when the incident is older than ``age`` seconds and
    the alert's type led the incident's types (or the linked member node's) in more
    than ``rootness`` of at least ``min_seen`` past co-occurrences (pooled)."""

    age: float
    rootness: float
    factor: float
    min_seen: int = 5
    scope: str = "incident"  # or "member": the types on the node the link goes through
    new_node_only: bool = False
    pooled: bool = False  # pool the counts over the types instead of ``rootness``'s mean
    # Raise the join threshold for that incident by 1 / factor instead of scaling the
    # link (its score, and so which incident wins and what merges, stay as they were).
    threshold_mode: bool = False
    novel_only: bool = False  # only when the alert's type is not in the incident yet
    log: str = ""  # EXPERIMENT: a file each firing is appended to (diagnostics)

    def __post_init__(self) -> None:
        if self.scope not in ("incident", "member"):
            raise ValueError(f"late-root scope must be incident or member, got {self.scope!r}")
        if not 0.0 < self.factor <= 1.0:
            raise ValueError(f"late-root factor must be in (0, 1], got {self.factor!r}")

    @classmethod
    def from_env(cls) -> LateRootRule | None:
        text = os.environ.get("AIOPS_EXP_LATE_ROOT", "").strip()
        if not text:
            return None
        parts = [p.strip() for p in text.split(",")]
        try:
            age, rootness, factor = float(parts[0]), float(parts[1]), float(parts[2])
            min_seen = int(parts[3]) if len(parts) > 3 else 5
        except (ValueError, IndexError):
            raise ValueError("AIOPS_EXP_LATE_ROOT must be age,rootness,factor"
                             f"[,min_seen,scope,new_node], got {text!r}") from None
        scope = parts[4] if len(parts) > 4 else "incident"
        new_node = len(parts) > 5 and parts[5] == "1"
        pooled = len(parts) > 6 and parts[6] == "pooled"
        threshold_mode = len(parts) > 7 and parts[7] == "threshold"
        novel = len(parts) > 8 and parts[8] == "novel"
        return cls(age, rootness, factor, min_seen, scope, new_node, pooled, threshold_mode,
                   novel, os.environ.get("AIOPS_EXP_LATE_ROOT_LOG", ""))

    def record(self, alert: AlertRecord, incident: IncidentRecord, link: float) -> None:
        """Append one firing (the alert, the incident's alerts, the unscaled link)."""
        with open(self.log, "a", encoding="utf-8") as out:
            out.write(json.dumps({"alert": alert.event.id, "link": round(link, 4),
                                  "age": alert.starts_at - incident.started_at,
                                  "members": [a.event.id for a in incident.alerts.values()]})
                      + "\n")

    def scale(self, alert: AlertRecord, profile: IncidentProfile, key: str,
              relations: TypeRelations) -> float:
        """The factor for this alert's link to an incident older than ``age`` (the
        caller checks, at the network's time scale) whose best member is on ``key``;
        1.0 when the rule does not apply."""
        if self.new_node_only and (alert.node_id or alert.entity) in profile.spans:
            return 1.0
        if self.scope == "member":
            types = {a.name for a in profile.members.get(key, ())}
        else:
            types = profile.names
        name = alert.name
        if self.novel_only and name in profile.names:
            return 1.0
        before = seen = 0
        shares = 0.0
        others = 0
        table = relations.precedence_
        for other in types:
            if other == name:
                continue
            ahead = table.get((name, other), 0)
            both = ahead + table.get((other, name), 0)
            before += ahead
            seen += both
            shares += (ahead + 1) / (both + 2)
            others += 1
        if seen < self.min_seen or not others:
            return 1.0
        lead = (before + 1) / (seen + 2) if self.pooled else shares / others
        return self.factor if lead > self.rootness else 1.0
