"""One live incident and a later alert, for tests of where the correlator places it."""

from __future__ import annotations

from aiops.engine.index import IncidentIndex
from aiops.engine.state import AlertRecord, IncidentRecord
from aiops.models import Alert


def one_alert_incident(node: str = "a") -> IncidentIndex:
    """An index holding incident ``inc-1``: one POWER_FAIL on ``node`` at 0 s."""
    index = IncidentIndex()
    incident = IncidentRecord(id="inc-1", seq=1, started_at=0.0, updated_at=0.0)
    first = AlertRecord(id=1, fingerprint="1", node_id=node, starts_at=0.0,
                        event=Alert("e1", "s", "POWER_FAIL", node, "major", "", 0.0))
    incident.alerts[1] = first
    index.add(incident, first)
    return index


def later_alert(node: str, at: float) -> AlertRecord:
    """A LINK_DOWN on ``node`` stamped ``at`` seconds."""
    return AlertRecord(id=2, fingerprint="2", node_id=node, starts_at=at,
                       event=Alert("e2", "s", "LINK_DOWN", node, "major", "", at))
