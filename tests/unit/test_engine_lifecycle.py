"""Lifecycle edge cases of the engine's live state: out-of-order clears, restarts and
batch cuts must not change what the engine decides or stores."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from aiops.config import DataDir
from aiops.runtime import Runtime, open_runtime
from aiops.store.tables import alerts, incidents, raw_events
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


def dispositions(rt: Runtime) -> dict[str, tuple[str, str | None]]:
    """Event id → (disposition, incident id) of every stored raw event."""
    with rt.db.connect() as conn:
        rows = conn.execute(sa.select(raw_events.c.event_id, raw_events.c.disposition,
                                      alerts.c.incident_id)
                            .select_from(raw_events.outerjoin(
                                alerts, alerts.c.id == raw_events.c.alert_id))).all()
    return {r.event_id: (r.disposition, r.incident_id) for r in rows}


def replay_cut(path: Path, events: list[dict], cuts: list[int],
               restart_after: int | None = None) -> dict[str, tuple[str, str | None]]:
    """``events`` ingested in batches ending at ``cuts``, the engine restarted after
    the batch ending at ``restart_after``; what was stored."""
    rt = open_runtime(DataDir.from_env(path))
    star(rt)
    try:
        start = 0
        for end in [*cuts, len(events)]:
            if end > start:
                ingest(rt, *events[start:end])
            start = end
            if end == restart_after:
                rt.close()
                rt = open_runtime(DataDir.from_env(path))
        return dispositions(rt)
    finally:
        rt.close()


def test_eviction_does_not_depend_on_where_batches_end(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolved alerts leave memory every EVICT_EVERY events; swept at the end of the
    batch that passed the count, a re-fire reported late found its alert or not
    depending on where the batches were cut."""
    monkeypatch.setattr("aiops.engine.engine.EVICT_EVERY", 4)
    events = [alert("x", "l1", 0), alert("x-clear", "l1", 0, end=10),
              alert("f1", "far", 700), alert("f2", "far", 701, name="T2"),
              alert("f3", "far", 702, name="T3"),
              alert("x-late", "l1", 250)]  # 240 s after x ended: re-fires, if remembered
    whole = replay_cut(tmp_path / "whole", events, [])
    for cuts in ([5], [1, 2, 3, 4, 5], [3]):
        assert replay_cut(tmp_path / "-".join(map(str, cuts)), events, cuts) == whole


def test_a_restart_does_not_move_the_expiry_of_the_index(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Old incidents leave the correlator's index every EXPIRE_EVERY events; counted from
    0 again after a restart, an alert reported late joined an incident that one run
    through had already let go, or the other way round."""
    monkeypatch.setattr("aiops.engine.engine.EXPIRE_EVERY", 4)
    events = [alert("a1", "l1", 0), alert("n2", "x3", 1), alert("n3", "x3", 2, name="T2"),
              alert("f", "far", 200),  # the 4th event: the index expires, the clock at 200
              alert("late", "l2", 5)]  # next to a1, reported late
    whole = replay_cut(tmp_path / "whole", events, [])
    assert replay_cut(tmp_path / "restarted", events, [3], restart_after=3) == whole


def test_a_restart_keeps_a_condition_flapping(tmp_path: Path) -> None:
    """A condition's recent state changes decide whether it flaps (4 in 15 minutes);
    they were kept in memory only, so after a restart a flapping condition counted from
    nothing, stopped flapping at its next change, and its next start (more than
    max_incident_span after its onset) became a new alert instead of folding."""
    events = [alert("x", "l1", 0), alert("x-c1", "l1", 0, end=20),
              alert("x-f2", "l1", 40), alert("x-c2", "l1", 40, end=60),
              alert("x-f3", "l1", 80), alert("x-c3", "l1", 80, end=100),  # flapping
              alert("x-f4", "l1", 400)]
    whole = replay_cut(tmp_path / "whole", events, [])
    assert whole["x-f4"] == ("refired", whole["x"][1])
    assert replay_cut(tmp_path / "restarted", events, [4], restart_after=4) == whole


def test_a_restart_keeps_the_beat_of_a_condition_re_sent_on_one(tmp_path: Path) -> None:
    """A sender repeating a firing condition every 5 minutes, stamped when sent, is one
    alert (aiops.engine.beat); the starts that give the beat are stored with the alert
    (migration 0027), so a restart between the second and third start still folds the
    third, where without them it would be a new alert and incident."""
    events = [alert(f"x{i}", "l1", 300 * i) for i in range(6)]
    whole = replay_cut(tmp_path / "whole", events, [])
    assert {event: disposition for event, (disposition, _) in whole.items()} == {
        "x0": "new", **{f"x{i}": "duplicate" for i in range(1, 6)}}
    assert len({incident for _, incident in whole.values()}) == 1
    assert replay_cut(tmp_path / "restarted", events, [2], restart_after=2) == whole


def test_a_condition_that_began_before_1970_can_be_cleared(runtime: Runtime) -> None:
    """Times before the epoch are accepted (RFC 3339 from year 1); the start of a
    condition's current episode defaulted to 0.0, so every clear that ended before
    1970 read as the late clear of an earlier episode and the alert fired for ever."""
    first = {"id": "a", "source": "nms", "name": "N", "entity": "e", "severity": "major",
             "summary": "down", "starts_at": "1969-12-31T23:00:00Z"}
    ingest(runtime, first)
    result = ingest(runtime, {**first, "id": "a-clear", "ends_at": "1969-12-31T23:30:00Z"})
    assert dict(result.dispositions) == {"resolved": 1}
    [inc] = incidents_of(runtime)
    assert inc["status"] == "resolved"
