"""What operator feedback (merge, split) needs besides the engine's own bookkeeping.

Everything here checks or reads; nothing changes live state, so the engine can
refuse bad input before it touches anything and a refused request leaves no trace.
Resolved incidents are accepted on purpose: operators review incidents after the
fact, and those corrections are the labels training learns the scoring from.
Merged incidents are refused: they have no alerts left, the one they went into does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from aiops.engine.restore import _incident_from_row, alert_from_row
from aiops.engine.state import FIRING, MERGED, OPEN, RESOLVED, AlertRecord, IncidentRecord
from aiops.errors import InputError, NotFound
from aiops.store.feedback import incident_alert_rows, incident_row

MAX_IDS = 10_000  # ids in one merge or split request
MAX_TEXT = {"author": 256, "comment": 8192}  # characters, as the feedback table holds


@dataclass(slots=True)
class FeedbackOutcome:
    """The stored feedback record and the incidents it left, the acted-on one first."""

    record: dict[str, Any]
    incidents: list[str] = field(default_factory=list)


def check_ids(values: object, name: str) -> list[str]:
    """A non-empty list of distinct non-empty strings, or InputError naming ``name``."""
    if not isinstance(values, (list, tuple)) or not values:
        raise InputError(f"field '{name}' must be a non-empty array of ids", field=name)
    if len(values) > MAX_IDS:
        raise InputError(f"field '{name}' lists {len(values)} ids; at most {MAX_IDS}",
                         field=name)
    seen: set[str] = set()
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value:
            raise InputError(f"{name}[{i}] must be a non-empty string", field=name)
        if value in seen:
            raise InputError(f"{name}[{i}]: '{value}' is listed twice", field=name)
        seen.add(value)
    return list(values)


def check_text(value: object, name: str, field: str | None = None) -> str | None:
    """An optional ``author`` or ``comment``: a string within MAX_TEXT, or None.
    ``field``: the request's name for it, when that is another (a decision's ``by``)."""
    field = field or name
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"field '{field}' must be a string", field=field)
    if len(value) > MAX_TEXT[name] or "\x00" in value:
        raise InputError(f"field '{field}' must be at most {MAX_TEXT[name]} characters, "
                         "no NUL", field=field)
    return value


def load_incidents(conn: sa.Connection, ids: list[str], live: Mapping[str, IncidentRecord],
                   active: Mapping[str, AlertRecord]) -> list[IncidentRecord]:
    """The incidents named, from memory when live, else from the database.

    An incident read from the database gets the live alert objects where deduplication
    still holds them, so a later resolve of such an alert updates the right incident.
    Raises NotFound naming every unknown id, then InputError naming merged ones.
    """
    found: dict[str, IncidentRecord] = {}
    missing: list[str] = []
    for incident_id in ids:
        incident = live.get(incident_id)
        if incident is None:
            incident = _from_database(conn, incident_id, active)
        if incident is None:
            missing.append(incident_id)
        else:
            found[incident_id] = incident
    if missing:
        raise NotFound("no incident with id " + ", ".join(f"'{i}'" for i in missing))
    merged = [i for i in ids if found[i].status == MERGED]
    if merged:
        where = "; ".join(f"incident '{i}' was merged into '{found[i].merged_into}'"
                          for i in merged)
        raise InputError(f"{where}: it has no alerts left; act on the incident it went into")
    return [found[i] for i in ids]


def _from_database(conn: sa.Connection, incident_id: str,
                   active: Mapping[str, AlertRecord]) -> IncidentRecord | None:
    row = incident_row(conn, incident_id)
    if row is None:
        return None
    incident = _incident_from_row(row)
    for alert_row in incident_alert_rows(conn, incident_id):
        live = active.get(alert_row.fingerprint)
        record = live if live is not None and live.id == alert_row.id else alert_from_row(alert_row)
        incident.alerts[record.id] = record
    return incident


def alert_sets(incidents: Iterable[IncidentRecord]) -> dict[str, list[str]]:
    """Incident id → its alerts' first event ids (sorted): what a record stores."""
    return {inc.id: sorted(a.event.id for a in inc.alerts.values()) for inc in incidents}


def resettle(incident: IncidentRecord) -> None:
    """Recompute firing count, status and resolution time from the incident's alerts."""
    incident.firing = sum(1 for a in incident.alerts.values() if a.status == FIRING)
    if incident.firing:
        incident.status, incident.resolved_at = OPEN, None
    else:
        incident.status = RESOLVED
        incident.resolved_at = max((a.ends_at or a.starts_at for a in incident.alerts.values()),
                                   default=incident.updated_at)
