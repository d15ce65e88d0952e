"""Lifecycle edge cases of the engine's live state: out-of-order clears, restarts and
batch cuts must not change what the engine decides or stores."""

from __future__ import annotations

import sqlalchemy as sa

from aiops.runtime import Runtime, open_runtime
from aiops.store.tables import incidents
from tests.unit.test_engine import T0, alert, incidents_of, ingest, star


def stored_resolved_at(rt: Runtime, incident_id: str) -> float | None:
    with rt.db.connect() as conn:
        return conn.execute(sa.select(incidents.c.resolved_at)
                            .where(incidents.c.id == incident_id)).scalar()


def test_resolved_at_is_the_end_of_the_alert_that_ended_last(runtime: Runtime) -> None:
    """Clears that arrive out of order (the later-ending one first) resolve the incident
    at the latest end, not at the end of the clear that came last; and the incident is
    still restored while that alert may re-fire into it."""
    star(runtime)
    ingest(runtime, alert("b", "l1", 0), alert("a", "l2", 3))
    ingest(runtime, alert("b-clear", "l1", 0, end=250))
    ingest(runtime, alert("a-clear", "l2", 3, end=100))
    [inc] = incidents_of(runtime)
    assert inc["status"] == "resolved"
    assert stored_resolved_at(runtime, inc["id"]) == T0 + 250
    # Time moves on (an alert far away), the engine restarts, and b, which ended 500 s
    # before that, re-fires (reported late): into its incident, as without the restart.
    ingest(runtime, alert("f", "far", 750))
    again = open_runtime(runtime.data_dir)
    try:
        ingest(again, alert("b-again", "l1", 280))
        live = {i["id"]: i for i in incidents_of(again)}
        assert live[inc["id"]]["status"] == "open"
        assert len(live) == 2  # b's incident and the far one's
    finally:
        again.close()
