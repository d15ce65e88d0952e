"""Regrouping a window of stored alerts after the fact, and comparing two groupings.

Why: live placement decides once, as each alert arrives. Afterwards an operator
wants to know how the same alerts *would* group with another model (a freshly
trained or fitted one, before promoting it: shadow mode) or with the current model
after a bad hour. ``regroup`` runs the correlator's own placement (join the best
incident, open one, merge the incidents an alert links) over the window's alerts in
start order, in memory, and, given the engine's hindsight splitter, splits each
incident as it leaves the index, as the engine does (``Engine._split_settled``;
incidents still open at the window's end stay whole there too), and given its
absorber, merges a small settled incident into the one its alarms most likely
followed (``aiops.engine.absorb``); nothing stored changes. ``compare`` scores the result
against the stored grouping pair by pair and lists the incidents it would split or
merge.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from aiops.engine.absorb import AlertBuffer, ParentAbsorber, buffer_cutoff
from aiops.engine.correlate import Correlator
from aiops.engine.engine import EXPIRE_EVERY
from aiops.engine.hindsight import HindsightSplitter
from aiops.engine.index import IncidentIndex
from aiops.engine.restore import alert_from_row
from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.learning.pairwise import pair_score
from aiops.store.tables import alerts

MAX_WINDOW_ALERTS = 200_000  # a regroup runs in the request; bound what it may load


# A regroup places every alert afresh, so the stored placement records are not read:
# decoding one per alert was a third of loading a window (48,000 alerts: 1.66 s, 1.12 s
# without).
_WITHOUT_PLACEMENT = (*(c for c in alerts.c if c.name != "placement"),
                      sa.null().label("placement"))


def load_window(conn: sa.Connection, since: float, until: float) -> list[AlertRecord]:
    """Stored alerts that started in [since, until), in start order, without the
    record of why each is where it is (a regroup decides that anew)."""
    rows = conn.execute(
        sa.select(*_WITHOUT_PLACEMENT)
        .where(alerts.c.starts_at >= since, alerts.c.starts_at < until)
        .order_by(alerts.c.starts_at, alerts.c.id).limit(MAX_WINDOW_ALERTS + 1)
    ).all()
    if len(rows) > MAX_WINDOW_ALERTS:
        raise ValueError(f"more than {MAX_WINDOW_ALERTS} alerts in the window: choose a "
                         "shorter one")
    return [alert_from_row(row) for row in rows]


# Minutes before a window whose alerts a regroup places first (``load_lead_in``): a
# small incident's alarms span up to 300 s and may follow alarms 300 s before them, and
# the incidents those joined began up to a correlation horizon earlier.
LEAD_IN = 900.0


def load_lead_in(conn: sa.Connection, since: float) -> list[AlertRecord]:
    """Stored alerts that started in the ``LEAD_IN`` seconds before ``since``."""
    return load_window(conn, since - LEAD_IN, since)


def regroup(records: Sequence[AlertRecord], correlator: Correlator,
            splitter: HindsightSplitter | None = None,
            absorber: ParentAbsorber | None = None) -> dict[int, str]:
    """Alert id → group id, placing ``records`` (in start order) as the engine would,
    splitting in hindsight with ``splitter`` and absorbing small settled groups with
    ``absorber`` when given."""
    index = IncidentIndex()
    group_of: dict[int, str] = {}
    members: dict[str, list[int]] = defaultdict(list)
    groups: dict[str, IncidentRecord] = {}
    buffer = AlertBuffer()
    seq = 0

    def open_group(at: float) -> IncidentRecord:
        nonlocal seq
        seq += 1
        group = groups[f"g{seq}"] = IncidentRecord(id=f"g{seq}", seq=seq, started_at=at,
                                                    updated_at=at)
        return group

    def group_of_alert(alert: AlertRecord) -> IncidentRecord | None:
        return groups.get(group_of.get(alert.id, ""))

    correlator.prepare([record.event for record in records])
    for position, record in enumerate(records):
        if position % EXPIRE_EVERY == 0:  # as the engine does, counted in alerts
            for settled in index.expire(record.starts_at - correlator.horizon):
                if absorber is not None:
                    found = absorber.absorb(settled, buffer, group_of_alert)
                    if found is not None:
                        _absorb(settled, found.target, index, groups, group_of, members)
                        continue
                if splitter is not None:
                    _split_settled(settled, splitter, open_group, group_of, members)
            buffer.prune(buffer_cutoff(record.starts_at, correlator.horizon))
        copy = AlertRecord(id=record.id, fingerprint=record.fingerprint, event=record.event,
                           node_id=record.node_id, starts_at=record.starts_at)
        matches = correlator.place(copy, index)
        if matches:
            incident = matches[0]
            for other in matches[1:]:
                index.remove(other)
                _absorb(other, incident, index, groups, group_of, members)
        else:
            incident = open_group(copy.starts_at)
        incident.alerts[copy.id] = copy
        incident.updated_at = max(incident.updated_at, copy.starts_at)
        index.add(incident, copy)
        group_of[copy.id] = incident.id
        members[incident.id].append(copy.id)
        if absorber is not None:
            buffer.add(copy)
    return group_of


def _absorb(incident: IncidentRecord, target: IncidentRecord, index: IncidentIndex,
            groups: dict[str, IncidentRecord], group_of: dict[int, str],
            members: dict[str, list[int]]) -> None:
    """Move a group's alerts into ``target`` (indexed on them only if the target still
    is, as ``Engine._absorb_settled`` leaves it): a settled group absorbed, or a live one
    that an alert merged (taken out of the index first)."""
    indexed = target.id in index.incidents
    for alert in incident.alerts.values():
        target.alerts[alert.id] = alert
        if indexed:
            index.add(target, alert)
    for alert_id in members.pop(incident.id):
        group_of[alert_id] = target.id
        members[target.id].append(alert_id)
    groups.pop(incident.id, None)
    target.started_at = min(target.started_at, incident.started_at)
    target.updated_at = max(target.updated_at, incident.updated_at)


def _split_settled(incident: IncidentRecord, splitter: HindsightSplitter,
                   open_group: Callable[[float], IncidentRecord], group_of: dict[int, str],
                   members: dict[str, list[int]]) -> None:
    """Move the alerts of the second fault ``splitter`` finds in ``incident`` (if it
    finds one) to a group of their own; the part with the earliest alert keeps the id."""
    split = splitter.split(incident.alerts.values())
    if split is None:
        return
    moved = split.parts[1]
    group = open_group(moved[0].starts_at)
    leaving = {alert.id for alert in moved}
    members[incident.id] = [a for a in members[incident.id] if a not in leaving]
    for alert in moved:
        del incident.alerts[alert.id]
        group_of[alert.id] = group.id
        members[group.id].append(alert.id)


@dataclass
class Comparison:
    """How a regrouping differs from the stored grouping of the same alerts."""

    alerts: int
    stored_incidents: int
    regrouped_incidents: int
    agreement: dict[str, float | int]  # pairwise, the stored grouping as reference
    splits: list[dict[str, Any]] = field(default_factory=list)  # stored incident -> parts
    merges: list[dict[str, Any]] = field(default_factory=list)  # new group <- incidents

    def to_dict(self) -> dict[str, Any]:
        return {"alerts": self.alerts, "stored_incidents": self.stored_incidents,
                "regrouped_incidents": self.regrouped_incidents,
                "agreement": self.agreement, "splits": self.splits, "merges": self.merges}


def compare(stored: Mapping[int, str], regrouped: Mapping[int, str],
            limit: int = 50) -> Comparison:
    """Score ``regrouped`` against ``stored`` (alert id → group) and list differences:
    stored incidents whose alerts the regrouping spreads over several groups, and new
    groups that gather alerts of several stored incidents (largest first)."""
    score = pair_score({str(k): v for k, v in regrouped.items()},
                       {str(k): v for k, v in stored.items()})
    parts: dict[str, Counter[str]] = defaultdict(Counter)
    sources: dict[str, Counter[str]] = defaultdict(Counter)
    for alert_id, incident in stored.items():
        group = regrouped.get(alert_id, f"alone-{alert_id}")
        parts[incident][group] += 1
        sources[group][incident] += 1
    splits = [{"incident": inc, "alerts": sum(c.values()), "into": len(c)}
              for inc, c in parts.items() if len(c) > 1]
    merges = [{"incidents": sorted(c), "alerts": sum(c.values())}
              for c in sources.values() if len(c) > 1]
    splits.sort(key=lambda s: (-s["alerts"], s["incident"]))
    merges.sort(key=lambda m: (-m["alerts"], m["incidents"]))
    return Comparison(alerts=len(stored), stored_incidents=len(parts),
                      regrouped_incidents=len(sources), agreement=score.to_dict(),
                      splits=splits[:limit], merges=merges[:limit])
