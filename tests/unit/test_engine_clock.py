"""The engine's clock against live alerts stamped by a wrong clock: a time far ahead of
its arrival is taken as the arrival time, so it cannot expire today's incidents; a
replay keeps event time; a clock already carried ahead in the database is not
restored there for live ingestion."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from aiops.config import DataDir
from aiops.models import parse_alert
from aiops.replay import replay_alerts
from aiops.runtime import Runtime, open_runtime
from aiops.store.tables import alerts, raw_events
from aiops.timeutil import to_rfc3339
from topology.model import Edge, Node

T0 = 1_800_000_000.0  # "now" for the live batches below (received_at)
FAR = T0 + 3 * 365 * 86400.0  # a device whose clock is three years ahead


def alert(i: str, entity: str, at: float | str, end: float | None = None) -> dict:
    return {"id": i, "source": "nms", "name": "LINK_DOWN", "entity": entity,
            "severity": "major", "summary": f"down on {entity}", "starts_at": at,
            "ends_at": end}


@pytest.fixture
def bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Runtime]:
    """A runtime with the default bound (tests/conftest.py lifts it for other tests),
    r1 - r2 linked and x9 far from both; index expiry at every event, so that a clock
    carried ahead shows at once."""
    monkeypatch.delenv("AIOPS_MAX_CLOCK_AHEAD", raising=False)
    monkeypatch.setattr("aiops.engine.engine.EXPIRE_EVERY", 1)
    rt = open_runtime(DataDir.from_env(tmp_path / "data"))
    assert rt.engine.settings.max_clock_ahead == 30.0
    rt.import_topology([Node(n, "device", n) for n in ("r1", "r2", "x9")],
                       [Edge("r1", "r2")], "test")
    yield rt
    rt.close()


def live(rt: Runtime, at: float, *items: dict):
    return rt.engine.ingest([parse_alert(a) for a in items], received_at=at, live=True)


def stored_alert(rt: Runtime, event_id: str) -> tuple[float, float | None, str]:
    with rt.db.connect() as conn:
        row = conn.execute(sa.select(alerts.c.starts_at, alerts.c.ends_at,
                                     alerts.c.incident_id)
                           .where(alerts.c.first_event_id == event_id)).one()
    return row.starts_at, row.ends_at, row.incident_id


def payload_of(rt: Runtime, event_id: str) -> dict:
    with rt.db.connect() as conn:
        return conn.execute(sa.select(raw_events.c.payload)
                            .where(raw_events.c.event_id == event_id)).scalar_one()


def test_a_live_alert_far_ahead_does_not_keep_the_next_alert_from_its_incident(
        bounded: Runtime) -> None:
    first = live(bounded, T0, alert("a1", "r1", T0))
    (incident,) = first.incidents
    wrong = live(bounded, T0 + 5, alert("z1", "x9", FAR))
    assert bounded.engine.clock <= T0 + 5 + 30
    # r2 is r1's neighbour, 10 s later: it joins the incident, still open and indexed.
    after = live(bounded, T0 + 10, alert("a2", "r2", T0 + 10))
    assert after.incidents == {incident} and after.clock_ahead == []
    assert bounded.engine.incidents[incident].status == "open"
    # The sender learns what was done; the alert is stored at its arrival, the raw
    # event keeps the time sent.
    assert wrong.clock_ahead == [{
        "index": 0, "id": "z1", "sent_starts_at": to_rfc3339(FAR), "sent_ends_at": None,
        "starts_at": to_rfc3339(T0 + 5), "ends_at": None}]
    assert wrong.to_dict()["clock_ahead"] == wrong.clock_ahead
    assert stored_alert(bounded, "z1")[:2] == (T0 + 5, None)
    payload = payload_of(bounded, "z1")
    assert payload["starts_at"] == to_rfc3339(T0 + 5)
    assert payload["sent"] == {"starts_at": to_rfc3339(FAR), "ends_at": None}


def test_a_clear_stamped_ahead_ends_at_its_arrival_and_the_condition_can_fire_again(
        bounded: Runtime) -> None:
    """An end in 2030 would make every new start of the condition before then a
    re-delivery of the ended episode (a duplicate), unseen."""
    live(bounded, T0, alert("a1", "r1", T0))
    ended = live(bounded, T0 + 20, alert("a1-clear", "r1", T0, end=FAR))
    assert [(c["index"], c["sent_ends_at"], c["ends_at"]) for c in ended.clock_ahead] == [
        (0, to_rfc3339(FAR), to_rfc3339(T0 + 20))]
    assert dict(ended.dispositions) == {"resolved": 1}
    assert stored_alert(bounded, "a1")[:2] == (T0, T0 + 20)
    again = live(bounded, T0 + 100, alert("a1-again", "r1", T0 + 100))
    assert dict(again.dispositions) == {"refired": 1}


def test_times_within_the_bound_are_kept_and_one_slightly_ahead_start_keeps_its_end(
        bounded: Runtime) -> None:
    """A sender a few seconds ahead (no NTP) keeps its own times: the learned clock
    offsets correct those. A start within the bound keeps its time when only its end
    is past the bound, and the end is not taken as before it."""
    ok = live(bounded, T0, alert("a1", "r1", T0 + 29))
    assert ok.clock_ahead == [] and stored_alert(bounded, "a1")[0] == T0 + 29
    mixed = live(bounded, T0 + 1, alert("b1", "x9", T0 + 20, end=FAR))
    assert [(c["starts_at"], c["ends_at"]) for c in mixed.clock_ahead] == [
        (to_rfc3339(T0 + 20), to_rfc3339(T0 + 20))]


def test_a_replay_keeps_event_time_far_from_the_wall_clock(bounded: Runtime) -> None:
    """Replays and benchmarks run at event time, whatever the wall clock says: T0 and
    FAR are both ahead of today, and nothing is rewritten."""
    items = [parse_alert(alert("a1", "r1", T0)), parse_alert(alert("z1", "x9", FAR))]
    replay_alerts(bounded, items, None)
    assert stored_alert(bounded, "a1")[0] == T0 and stored_alert(bounded, "z1")[0] == FAR
    assert bounded.engine.clock == FAR and "sent" not in payload_of(bounded, "z1")
    result = bounded.engine.ingest([parse_alert(alert("z2", "x9", FAR + 5))])
    assert result.clock_ahead == [] and bounded.engine.clock == FAR + 5


def test_a_clock_carried_ahead_in_the_database_is_not_restored_for_live_alerts(
        bounded: Runtime) -> None:
    """A database written before live times were bounded (here: the same events
    ingested as a replay) holds an alert of 2030; after a restart the first live
    batch rebuilds live state as of now, so today's incident still takes alerts."""
    bounded.engine.ingest([parse_alert(alert("a1", "r1", T0)),
                           parse_alert(alert("z1", "x9", FAR))])
    incident = stored_alert(bounded, "a1")[2]
    again = open_runtime(bounded.data_dir)
    try:
        assert again.engine.clock == FAR  # what restore has always done
        after = live(again, T0 + 10, alert("a2", "r2", T0 + 10))
        assert after.incidents == {incident}
        assert again.engine.clock == T0 + 10
        # The 2030 alert is still stored and live as it was: nothing is lost.
        assert stored_alert(again, "z1")[0] == FAR
        assert "z1" in {r.event.id for r in again.engine.dedup.active.values()}
    finally:
        again.close()


def test_no_bound_when_it_is_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIOPS_MAX_CLOCK_AHEAD", "off")
    rt = open_runtime(DataDir.from_env(tmp_path / "data"))
    try:
        result = live(rt, T0, alert("z1", "x9", FAR))
        assert result.clock_ahead == [] and rt.engine.clock == FAR
    finally:
        rt.close()


PRE_1970 = -1_000_000_000.0  # 1938: a historical stream replayed at event time


def test_a_stream_all_before_1970_moves_the_clock_and_groups_its_alerts(
        bounded: Runtime) -> None:
    """(Epoch numbers below 0 are refused at parsing; RFC 3339 times before 1970 are
    taken.) The clock once started at 0 and took the max with each start, so events with
    negative epoch times never moved it: the index then expired every incident at
    each event (all older than 0 minus the horizon) and neighbours 10 s apart landed
    in separate incidents."""
    items = [parse_alert(alert("a1", "r1", to_rfc3339(PRE_1970))),
             parse_alert(alert("a2", "r2", to_rfc3339(PRE_1970 + 10)))]
    replay_alerts(bounded, items, None)
    assert bounded.engine.clock == PRE_1970 + 10
    assert stored_alert(bounded, "a1")[2] == stored_alert(bounded, "a2")[2]
    again = open_runtime(bounded.data_dir)
    try:
        assert again.engine.clock == PRE_1970 + 10  # restored, not taken as unset
        after = again.engine.ingest([parse_alert(alert("a3", "r2", to_rfc3339(PRE_1970 + 20)))])
        assert after.incidents == {stored_alert(bounded, "a1")[2]}
    finally:
        again.close()
