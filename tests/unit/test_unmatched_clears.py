"""Clears that do not say when their condition began (Nagios recoveries, syslog and
SNMP link-ups) against the engine's memory of conditions: one that ends a known alert
resolves it, one of a condition never seen firing makes no alert and no incident."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from aiops.models import parse_alert
from aiops.runtime import Runtime, open_runtime
from aiops.store.tables import alerts, incidents, raw_events
from topology.model import Edge, Node

T0 = 1_800_000_000.0


def event(i: str, entity: str, start: float, end: float | None = None) -> dict:
    return {"id": i, "source": "syslog", "name": "LINK_DOWN", "entity": entity,
            "severity": "major", "summary": f"link on {entity}", "starts_at": start,
            "ends_at": end, "labels": {"interface": "ge-0/0/1"}}


def clear(i: str, entity: str, at: float) -> dict:
    """As the syslog mapping makes a "link up": no start, so it starts at its end."""
    return event(i, entity, at, at)


def ingest(rt: Runtime, *items: dict, unknown: tuple[int, ...] = ()):
    return rt.engine.ingest([parse_alert(a) for a in items], start_unknown=unknown)


def counts(rt: Runtime) -> tuple[int, int, int]:
    with rt.db.connect() as conn:
        return tuple(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                     for t in (alerts, incidents, raw_events))


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    runtime.import_topology([Node("r1", "device", "r1"), Node("r2", "device", "r2")],
                            [Edge("r1", "r2")], "test")
    return runtime


def test_a_clear_of_a_condition_never_seen_firing_makes_no_alert(rt: Runtime) -> None:
    ingest(rt, event("a1", "r1", T0))
    clock = rt.engine.clock
    result = ingest(rt, clear("up-r2", "r2", T0 + 30), unknown=(0,))
    assert (result.accepted, dict(result.dispositions), result.incidents) == (
        1, {"unmatched_clear": 1}, set())
    assert counts(rt) == (1, 1, 2) and rt.engine.clock == clock
    with rt.db.connect() as conn:
        row = conn.execute(sa.select(raw_events).where(raw_events.c.event_id == "up-r2")).one()
    assert (row.alert_id, row.disposition) == (None, "unmatched_clear")
    assert row.payload["ends_at"] == row.payload["starts_at"]  # kept as it came


def test_a_clear_that_states_its_start_is_still_an_episode(rt: Runtime) -> None:
    """An Alertmanager resolution of a firing the engine missed (it was down) says when
    the condition began: a real episode, stored as a resolved alert in an incident."""
    result = ingest(rt, event("am-1", "r2", T0, T0 + 90))
    assert dict(result.dispositions) == {"new": 1} and len(result.incidents) == 1
    # Stated start, and not marked start-unknown: the same for a lone clear's shape.
    result = ingest(rt, clear("up-r1", "r1", T0 + 100))
    assert dict(result.dispositions) == {"new": 1}


def test_a_start_unknown_problem_without_an_alert_is_still_an_alert(rt: Runtime) -> None:
    """A Nagios escalation (WARNING to CRITICAL) of a problem the engine missed sends no
    start either; it fires, so it is news."""
    result = ingest(rt, event("esc", "r1", T0), unknown=(0,))
    assert dict(result.dispositions) == {"new": 1} and len(result.incidents) == 1


def test_clears_of_known_conditions_resolve_or_fold_as_before(rt: Runtime) -> None:
    result = ingest(rt, event("down", "r1", T0), clear("up", "r1", T0 + 60),
                    clear("up-again", "r1", T0 + 90), clear("early", "r2", T0 - 5),
                    unknown=(1, 2, 3))
    assert dict(result.dispositions) == {"new": 1, "resolved": 1, "duplicate": 1,
                                         "unmatched_clear": 1}
    with rt.db.connect() as conn:
        row = conn.execute(sa.select(alerts)).one()
    assert (row.status, row.starts_at, row.ends_at) == ("resolved", T0, T0 + 60)


def test_a_late_clear_of_an_earlier_episode_still_ends_nothing(rt: Runtime) -> None:
    ingest(rt, event("down", "r1", T0 + 1000))
    result = ingest(rt, clear("late", "r1", T0 + 900), unknown=(0,))
    assert dict(result.dispositions) == {"duplicate": 1}
    assert rt.engine.incidents[next(iter(rt.engine.incidents))].status == "open"


def test_the_recovery_of_a_problem_from_before_a_restart_resolves_it(rt: Runtime) -> None:
    ingest(rt, event("down", "r1", T0))
    again = open_runtime(rt.data_dir)
    try:
        result = ingest(again, clear("up", "r1", T0 + 600), unknown=(0,))
        assert dict(result.dispositions) == {"resolved": 1} and len(result.incidents) == 1
    finally:
        again.close()


def test_a_clear_long_after_its_condition_was_forgotten_makes_no_alert(
        rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolved alerts leave memory once they can no longer re-fire (the re-fire window,
    600 s); a clear of such a condition hours later ends nothing either."""
    monkeypatch.setattr("aiops.engine.engine.EVICT_EVERY", 1)
    ingest(rt, event("down", "r1", T0), clear("up", "r1", T0 + 60), unknown=(1,))
    ingest(rt, event("other", "r2", T0 + 7200))  # time moves on; r1's alert is evicted
    assert counts(rt)[0] == 2
    result = ingest(rt, clear("up-again", "r1", T0 + 7300), unknown=(0,))
    assert dict(result.dispositions) == {"unmatched_clear": 1} and counts(rt)[0] == 2
