"""Labelled groups for fitting the scoring: incidents as the operators left them.

Strong labels come from operator feedback: every incident a merge or split touched,
with its alerts as that feedback left them (later feedback on the same alerts wins).

Weak labels are incidents no operator corrected. Which of them to trust is the
question (``WEAK_MODES``):

* ``near`` (the default): those within reach in time of a corrected incident. The
  operator who corrected one looked at what happened around it and left these as
  they were, so they say where the engine was right;
* ``all``: every uncorrected incident. Most were never looked at, so they mostly
  repeat what the current weights did and hold the fit there;
* ``none``: corrections only. Feedback only shows where the engine was wrong, so the
  fit learns the opposite mistake (a few splits teach "group less" at the price of
  everything that was grouped right).

Measured on simulated history where operators corrected a stretch of time from the
ground truth (``python -m benchmarks.feedback``; docs/benchmarks.md has the numbers):
``all`` moves nothing; ``near`` gains as much as or more than ``none``. The fit
trades precision for recall, and on an earlier engine it lowered F1 on the Huawei
topology for some seeds, which is why retraining promotes only after a shadow
comparison. Incidents
that hold a corrected alert without being corrected themselves (the engine grouped
more alerts into them later) are never labels: neither the operator's word nor
untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from aiops.learning.windows import Windows, group_spans
from aiops.store.feedback import alert_incidents, feedback_records

WEAK_MODES = ("near", "all", "none")
STRONG = "fb"  # group keys of corrected incidents start with this
WEAK = "inc"


@dataclass
class GroupLabels:
    """Alert (its first event id) → labelled group."""

    groups: dict[str, str] = field(default_factory=dict)
    records: int = 0  # feedback records they come from

    @property
    def corrected(self) -> int:
        """Incidents as operators left them (distinct strong groups)."""
        return len({g for g in self.groups.values() if g.startswith(STRONG)})

    @property
    def weak(self) -> int:
        """Uncorrected incidents used as weak labels."""
        return len({g for g in self.groups.values() if g.startswith(WEAK)})

    def restricted_to(self, alert_ids: Iterable[str]) -> GroupLabels:
        """Only the alerts in ``alert_ids`` (those of the history being trained on)."""
        keep = set(alert_ids)
        return GroupLabels({a: g for a, g in self.groups.items() if a in keep}, self.records)

    def summary(self) -> dict[str, int]:
        return {"feedback_records": self.records, "corrected_incidents": self.corrected,
                "weak_incidents": self.weak, "labelled_alerts": len(self.groups)}


def labels_from_feedback(records: list[dict[str, Any]],
                         membership: Mapping[str, tuple[str, float]],
                         weak: str = "near", reach: float = 0.0) -> GroupLabels:
    """Labels from feedback ``records`` (oldest first) and the current ``membership``
    (alert → stored incident and start) of uncorrected incidents, as ``weak`` says;
    ``reach``: seconds around a corrected incident that count as near it."""
    if weak not in WEAK_MODES:
        raise ValueError(f"weak labels must be one of {', '.join(WEAK_MODES)}, got {weak!r}")
    groups: dict[str, str] = {}
    for record in records:
        for incident_id, alert_ids in record["alerts_after"].items():
            for alert_id in alert_ids:
                groups[alert_id] = f"{STRONG}{record['id']}/{incident_id}"
    if weak == "none":
        return GroupLabels(groups, len(records))
    touched = {membership[a][0] for a in groups if a in membership}
    starts = {a: t for a, (_, t) in membership.items()}
    near = Windows.around(group_spans(groups, starts), reach)
    uncorrected: dict[str, list[str]] = {}
    for alert_id, (incident_id, _) in membership.items():
        if alert_id not in groups and incident_id not in touched:
            uncorrected.setdefault(incident_id, []).append(alert_id)
    for incident_id, alert_ids in uncorrected.items():
        if weak == "all" or any(starts[a] in near for a in alert_ids):
            groups.update(dict.fromkeys(alert_ids, f"{WEAK}/{incident_id}"))
    return GroupLabels(groups, len(records))


def read_labels(conn: sa.Connection, weak: str = "near", reach: float = 0.0) -> GroupLabels:
    """Labels from a data dir's database; empty when no operator gave feedback."""
    records = feedback_records(conn)
    if not records:
        return GroupLabels()
    return labels_from_feedback(records, alert_incidents(conn), weak, reach)
